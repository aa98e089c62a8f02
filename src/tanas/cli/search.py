"""``tanas search``: one architecture search (fuse, random, darts or zoo-guided tanas) and the final protocol."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from tanas.cli.options import (
    ZOO_METHOD_HELP,
    DataRoot,
    Device,
    Download,
    Json,
    Quiet,
    Seed,
    Threads,
    use_threads,
)
from tanas.cli.output import emit_json, method_name, value_kind


def _parse_opts(opts: list[str]) -> dict[str, str]:
    """``--opt KEY=VALUE`` items as a dict."""
    from tanas.nas import StrategyConfigError

    options = {}
    for item in opts:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise StrategyConfigError(f"--opt takes KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    return options


def _search_space(value: str) -> Any:
    """None for 'full' (every strategy's default space), else the space of that JSON file."""
    from tanas.nas import SearchSpace

    return None if value == "full" else SearchSpace.load(value)


def _echo_tanas(result: Any) -> None:
    if getattr(result, "strategy", None) != "tanas":
        return
    method, better = result.zoo.get("method", "ftd"), bool(result.zoo.get("higher_is_better"))
    key = "score" if better else "distance"
    if result.fallback:
        typer.echo(f"  fallback  {result.fallback}: searched the full space with FUSE")
    else:
        near = ", ".join(f"{n['name']} {n[key]:.3f} ± {n['std']:.3f}" for n in result.nearest if n["used"])
        typer.echo(
            f"  nearest   {near}  ({method_name(method)}, {value_kind(better)}; restricted space "
            f"{result.space_size:,} of {result.full_space_size:,})"
        )
    o = result.overhead
    typer.echo(
        f"  prep      {o.get('prep_seconds', 0.0):.1f} s of the search: {o.get('probes_trained', 0)} probe(s) "
        f"trained, {o.get('distances_computed', 0)} {key}(s) computed, {o.get('distances_cached', 0)} cached"
    )
    typer.echo(f"  zoo       stored the genotype for {result.zoo.get('target')} in {result.zoo.get('path')}")


def search_cmd(
    task_spec: Annotated[
        str, typer.Argument(metavar="TASK", help="One task spec, or SUITE/Tn (e.g. paper-digits/T2).")
    ],
    strategy: Annotated[str, typer.Option("--strategy", help="fuse, random, darts or tanas (zoo-guided).")] = "fuse",
    space: Annotated[
        str,
        typer.Option(
            "--space",
            help='\'full\', or a JSON file: {"edges": six lists of op names} or {"genotypes": a list of '
            'genotypes, "radius": r}.',
        ),
    ] = "full",
    budget_seconds: Annotated[
        float | None,
        typer.Option("--budget-seconds", help="Wall-clock search budget (default 60 when no budget is given)."),
    ] = None,
    budget_epochs: Annotated[
        int | None, typer.Option("--budget-epochs", help="Budget in network-epochs over the train split.")
    ] = None,
    initial: Annotated[
        str | None, typer.Option("--initial", help="First incumbent genotype 'op|op|op|op|op|op'.")
    ] = None,
    opts: Annotated[
        list[str] | None,
        typer.Option(
            "--opt",
            help="Strategy setting KEY=VALUE, repeatable (fuse: candidates, rounds, epochs_per_round, stages, "
            "patience, objective; random: epochs_per_trial; darts: alpha_lr, ...; all three: train.lr, "
            "train.batch_size, ...; tanas: probe_seeds, kind, head, fuse.candidates, fuse.train.lr, ...).",
        ),
    ] = None,
    final_seeds: Annotated[
        int,
        typer.Option(
            "--final-seeds", help="Retrain the winner from scratch with this many seeds (0: skip the final protocol)."
        ),
    ] = 3,
    final_epochs: Annotated[
        int, typer.Option("--final-epochs", help="Epochs per final retraining (best val epoch kept).")
    ] = 30,
    channels: Annotated[int, typer.Option("--C", help="Network width C (cells have C, 2C, 4C channels).")] = 16,
    cells: Annotated[int, typer.Option("--N", help="Cells per stage N.")] = 1,
    zoo: Annotated[
        str | None, typer.Option("--zoo", help="(tanas) Zoo folder (default: TANAS_ZOO, else tanas-zoo).")
    ] = None,
    near_k: Annotated[
        int | None, typer.Option("-k", "--k", min=1, help="(tanas) Nearest zoo tasks that shape the space (default 2).")
    ] = None,
    radius: Annotated[
        int | None,
        typer.Option(
            "--radius",
            min=0,
            max=6,
            help="(tanas) Also allow cells within R edge changes of their genotypes (default 1).",
        ),
    ] = None,
    method: Annotated[str | None, typer.Option("--method", help=f"(tanas) {ZOO_METHOD_HELP}")] = None,
    exclude: Annotated[
        list[str] | None, typer.Option("--exclude", help="(tanas) Leave this zoo task out (repeatable).")
    ] = None,
    out: Annotated[
        str | None, typer.Option("--out", help="Output folder (default tanas-runs/search-TASK-STRATEGY).")
    ] = None,
    seed: Seed = 0,
    json_out: Json = False,
    device: Device = None,
    threads: Threads = None,
    quiet: Quiet = False,
    data_root: DataRoot = None,
    download: Download = False,
) -> None:
    """Search a cell for TASK, retrain the winner, write OUT/result.json and OUT/search.png."""
    use_threads(threads)
    from tanas.data import parse_one_task
    from tanas.nas import Budget, get_strategy, run_search, strategy_config
    from tanas.report.search_plot import plot_search
    from tanas.runtime import prepare_output_dir

    spec = get_strategy(strategy)
    if budget_seconds is None and budget_epochs is None:
        budget_seconds = 60.0
    budget = Budget(seconds=budget_seconds, epochs=budget_epochs)
    # Flags of one strategy's own settings (config fields or context); the registry refuses them elsewhere.
    settings = {
        key: value for key, value in (("k", near_k), ("radius", radius), ("method", method)) if value is not None
    }
    config = strategy_config(strategy, _parse_opts(opts or []), C=channels, N=cells, **settings)
    search_space = _search_space(space)
    task = parse_one_task(task_spec, seed=seed, data_root=data_root, download=download)
    default_out = Path("tanas-runs") / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"search-{task.name}-{strategy}")
    out_dir = prepare_output_dir(Path(out) if out else default_out)  # before the search, not after it
    context: dict[str, Any] = {key: value for key, value in (("zoo", zoo), ("exclude", exclude)) if value}
    context.update(
        {key: value for key, value in (("task_arg", task_spec), ("data_root", data_root)) if key in spec.context}
    )
    result = run_search(
        task,
        strategy,
        config,
        budget=budget,
        space=search_space,
        initial=initial,
        seed=seed,
        device=device,
        final_seeds=final_seeds,
        final_epochs=final_epochs,
        quiet=quiet,
        **context,
    )
    result.save(out_dir)
    plot_search(result, out_dir / "search.png")
    if json_out:
        emit_json(result.to_dict())
        return
    typer.echo(
        f"{result.strategy} on {task.name} ({task.spec}), space of {result.space_size:,} genotypes, "
        f"{result.search_seconds:.1f} s search on {result.device} ({result.stop_reason})"
    )
    _echo_tanas(result)
    typer.echo(f"  genotype  {'|'.join(result.genotype)}")
    typer.echo(f"  params    {result.params:,}")
    typer.echo(f"  val acc   {100 * result.val_acc:.2f}% (in search)")
    if result.test_acc:
        t = result.test_acc
        typer.echo(f"  test acc  {100 * t['mean']:.2f} ± {100 * t['std']:.2f}% over {len(t['runs'])} seed(s)")
    typer.echo(f"  wrote     {out_dir / 'result.json'}, {out_dir / 'search.png'}")
