"""The tanas command line. Thin: it parses arguments, calls the library and prints.

Every :class:`tanas.errors.TanasError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, List, Optional

import typer

from tanas.errors import TanasError
from tanas.zoo import DEFAULT_ZOO  # the zoo module imports only the standard library at module level

app = typer.Typer(
    name="tanas",
    help="Fisher Task Distance and task-aware neural architecture search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tasks_app = typer.Typer(help="List suites and sources; show tasks and their splits.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")

# ------------------------------------------------------------------ shared options
SeedOpt = typer.Option(0, "--seed", help="Seed for every random choice (splits, balancing, training).")
DataRootOpt = typer.Option(None, "--data-root", envvar="TANAS_DATA", help="Folder holding datasets (or TANAS_DATA).")
DownloadOpt = typer.Option(False, "--download", help="Let torchvision download missing datasets (needs internet).")
JsonOpt = typer.Option(False, "--json", help="Print JSON on stdout instead of a table.")
QuietOpt = typer.Option(False, "--quiet", "-q", help="No progress bars.")
DeviceOpt = typer.Option(None, "--device", help="cpu, cuda or cuda:N (default: cuda when present, else cpu).")
ThreadsOpt = typer.Option(None, "--threads", envvar="TANAS_THREADS", min=1, help="Torch CPU threads (or "
                          "TANAS_THREADS; default one per core). 1 is often faster on a machine busy with other jobs.")


def load_tasks(specs: List[str], *, seed: int, data_root: Optional[str], download: bool = False) -> list:
    """Parse every spec (sharing loaded sources); a suite expands to T0..T3."""
    from tanas.data import parse_task

    sources: dict = {}
    tasks = []
    for spec in specs:
        tasks += parse_task(spec, seed=seed, data_root=data_root, download=download, sources=sources)
    return tasks


def use_threads(threads: Optional[int]) -> None:
    """Apply --threads; without it, import nothing (a cached `zoo nearest` never loads torch)."""
    if threads is None:
        return
    from tanas.runtime import set_threads

    set_threads(threads)


def emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2))


# ------------------------------------------------------------------ tasks
@tasks_app.command("list")
def tasks_list(json_out: bool = JsonOpt) -> None:
    """List the built-in suites and the data sources."""
    from tanas.data import KINDS, SOURCE_HELP, SUITE_HELP

    if json_out:
        emit_json({"suites": SUITE_HELP, "sources": SOURCE_HELP, "kinds": list(KINDS)})
        return
    typer.echo("Suites (each expands to tasks T0..T3; pick one with SUITE/Tn):")
    for name, text in SUITE_HELP.items():
        typer.echo(f"  {name:<22} {text}")
    typer.echo("\nSources (spec: SOURCE[@PATH]:KIND[:CLASSES], KIND one of " + ", ".join(KINDS) + "):")
    for name, text in SOURCE_HELP.items():
        typer.echo(f"  {name:<22} {text}")


@tasks_app.command("show")
def tasks_show(
    specs: List[str] = typer.Argument(..., help="Task specs, suite names or TOML files."),
    seed: int = SeedOpt,
    data_root: Optional[str] = DataRootOpt,
    download: bool = DownloadOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Show each task's splits: sizes, class counts and input shape."""
    tasks = load_tasks(specs, seed=seed, data_root=data_root, download=download)
    if json_out:
        emit_json({"tasks": [task.summary() for task in tasks]})
        return
    for task in tasks:
        summary = task.summary()
        c, h, w = task.input_shape
        typer.echo(f"{task.name}  {task.spec}  ({task.num_classes} classes, input {c}x{h}x{w}, seed {task.seed})")
        typer.echo("  classes: " + ", ".join(task.class_names))
        for split, info in summary["splits"].items():
            typer.echo(f"  {split:<5} {info['size']:>6}  per class {info['class_counts']}")


# ------------------------------------------------------------------ zoo
zoo_app = typer.Typer(help="The task zoo: solved tasks with their probes, Fishers and best genotypes.",
                      no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")
ZooDirOpt = typer.Option(DEFAULT_ZOO, "--zoo", envvar="TANAS_ZOO", help="Zoo folder (or TANAS_ZOO).")


def _open_zoo(path: str, *, create: bool = False) -> Any:
    from tanas.zoo import TaskZoo

    return TaskZoo(path, create=create)


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


# ---- zoo add --search (TA-NAS helper block)
def _check_zoo_search(search: Optional[str], budget_seconds: float) -> None:
    from tanas.errors import ConfigError

    if search is not None and search != "fuse":
        raise ConfigError(f"--search {search!r} is not supported: use --search fuse")
    if search is not None and not budget_seconds > 0:
        raise ConfigError(f"--budget-seconds must be positive, got {budget_seconds}")


def _zoo_add_search(store: Any, results: list, search: Optional[str], budget_seconds: float, *, seed: int,
                    device: Optional[str], quiet: bool, data_root: Optional[str], echo: bool) -> list:
    """For ``zoo add --search fuse``: a best genotype per added task, by full-space FUSE."""
    if search is None:
        return []
    from tanas.nas import Budget
    from tanas.nas.task_aware import ensure_genotype

    seeded = []
    for result in results:
        found = ensure_genotype(store, result.entry.name, budget=Budget(seconds=budget_seconds), task=result.task,
                                seed=seed, device=device, data_root=data_root, quiet=quiet)
        seeded.append(found.to_dict())
        if echo:
            how = f"searched in {found.search_seconds:.1f} s" if found.searched else "kept (already stored)"
            typer.echo(f"{found.name:<24} genotype {'|'.join(found.genotype)}  val_acc {found.score:.4f}  {how}")
    return seeded


@zoo_app.command("add")
def zoo_add(
    specs: List[str] = typer.Argument(..., help="Task specs, suite names (each member becomes SUITE/Tn) or TOML files."),
    probe: str = typer.Option("cnn", "--probe", help="Probe network (the zoo's stored config of that name is reused)."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Probe seeds 0..N-1 to train (one probe and Fisher each)."),
    fisher: str = typer.Option("empirical", "--fisher", help="Fisher kind: empirical, exact or mc."),
    epsilon: Optional[float] = typer.Option(
        None, "--epsilon", help="Probe target validation error (default: the zoo's stored config, else ProbeConfig's)."),
    max_epochs: Optional[int] = typer.Option(
        None, "--max-epochs", help="Probe epoch cap (default: the zoo's stored config, else ProbeConfig's)."),
    search: Optional[str] = typer.Option(
        None, "--search", help="fuse: also find each task's best genotype by full-space FUSE (skipped for tasks "
        "that have one)."),
    search_budget: float = typer.Option(60.0, "--budget-seconds", help="Wall-clock budget of each --search."),
    zoo: str = ZooDirOpt,
    seed: int = SeedOpt,
    data_root: Optional[str] = DataRootOpt,
    download: bool = DownloadOpt,
    device: Optional[str] = DeviceOpt,
    threads: Optional[int] = ThreadsOpt,
    quiet: bool = QuietOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Add tasks with a probe and Fisher per seed; only missing work runs (resumable, idempotent)."""
    use_threads(threads)
    import dataclasses

    _check_zoo_search(search, search_budget)
    with _open_zoo(zoo, create=True) as store:
        config = store.resolve_probe_config(probe)
        overrides = {k: v for k, v in (("epsilon", epsilon), ("max_epochs", max_epochs)) if v is not None}
        if overrides:
            config = dataclasses.replace(config, **overrides)
        results = []
        for spec in specs:
            for result in store.add(spec, data_seed=seed, data_root=data_root, download=download, probe=config,
                                    seeds=seeds, kind=fisher, device=device, quiet=quiet):
                results.append(result)
                if not json_out:
                    e = result.entry
                    typer.echo(f"{e.name:<24} {e.spec:<28} seeds {len(e.seeds)}  val_acc {_fmt(e.val_acc)}  "
                               f"trained {result.probes_trained} probe(s) + {result.fishers_computed} Fisher(s), "
                               f"reused {result.probes_reused} + {result.fishers_reused}")
        searched = _zoo_add_search(store, results, search, search_budget, seed=seed, device=device, quiet=quiet,
                                   data_root=data_root, echo=not json_out)
        if json_out:
            emit_json({"zoo": str(store.path), "added": [r.to_dict() for r in results],
                       **({"genotypes": searched} if search else {})})


@zoo_app.command("list")
def zoo_list(zoo: str = ZooDirOpt, json_out: bool = JsonOpt) -> None:
    """List the zoo's tasks: probe, seeds, mean probe validation accuracy and best genotype."""
    with _open_zoo(zoo) as store:
        entries = store.tasks()
    if json_out:
        emit_json({"tasks": [e.summary() for e in entries]})
        return
    if not entries:
        typer.echo(f"the zoo at {zoo} is empty")
        return
    typer.echo(f"{'name':<24} {'spec':<28} {'probe':<6} {'seeds':>5} {'val_acc':>8}  genotype")
    for e in entries:
        s = e.summary()
        probe_name = s["probe"] if isinstance(s["probe"], str) or s["probe"] is None else ",".join(s["probe"])
        genotype = "-" if e.genotype is None else "|".join(e.genotype)
        typer.echo(f"{e.name:<24} {e.spec:<28} {probe_name or '-':<6} {s['seeds']:>5} {_fmt(e.val_acc):>8}  {genotype}")


@zoo_app.command("show")
def zoo_show(
    name: str = typer.Argument(..., help="Zoo task name (e.g. paper-digits/T0), spec or fingerprint prefix."),
    zoo: str = ZooDirOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Show one zoo task: data fingerprint, probes per seed, Fishers, best genotype."""
    with _open_zoo(zoo) as store:
        entry = store.get(name)
    if json_out:
        emit_json(entry.to_dict())
        return
    typer.echo(f"{entry.name}  {entry.spec}  ({entry.num_classes} classes, data seed {entry.data_seed})")
    typer.echo(f"  fingerprint {entry.fingerprint}")
    typer.echo(f"  origin      {entry.origin}")
    for p in entry.probes:
        r = p.record
        typer.echo(f"  probe {p.probe} [{p.config_hash}] seed {p.seed}: val_acc {_fmt(p.val_acc)}, {r.get('epochs')} epochs, "
                   f"{_fmt(r.get('train_seconds'), '.1f')} s, Fishers: {', '.join(p.fishers) or 'none'}")
    if entry.best is None:
        typer.echo("  best genotype: none yet")
    else:
        typer.echo(f"  best genotype: {'|'.join(entry.best.genotype)} (score {entry.best.score:.4f}, "
                   f"{entry.num_genotypes} stored)")


@zoo_app.command("rm")
def zoo_rm(
    name: str = typer.Argument(..., help="Zoo task name, spec or fingerprint prefix."),
    zoo: str = ZooDirOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Remove a task with its probes, Fishers and genotypes."""
    with _open_zoo(zoo) as store:
        entry = store.remove(name)
    if json_out:
        emit_json({"removed": entry.name, "fingerprint": entry.fingerprint})
    else:
        typer.echo(f"removed {entry.name}")


@zoo_app.command("nearest")
def zoo_nearest(
    task: str = typer.Argument(..., help="Target: a zoo task name, or a task spec / SUITE/Tn (probes trained and cached)."),
    k: Optional[int] = typer.Option(None, "-k", "--k", min=1, help="Show only the K nearest."),
    probe: Optional[str] = typer.Option(None, "--probe", help="Probe name (default: the zoo's only probe config)."),
    seeds: Optional[int] = typer.Option(None, "--seeds", min=1, help="Use seeds 0..N-1 (default: every stored seed)."),
    fisher: str = typer.Option("empirical", "--fisher", help="Fisher kind: empirical, exact or mc."),
    head: str = typer.Option("refit", "--head", help="refit (new head fitted on the target) or pad (the paper's)."),
    layers: str = typer.Option("all", "--layers", help="all or body."),
    normalise: str = typer.Option("whole", "--normalise", help="whole or per_layer."),
    squared: bool = typer.Option(False, "--squared", help="The paper's squared form (no 1/sqrt 2)."),
    zoo: str = ZooDirOpt,
    seed: int = SeedOpt,
    data_root: Optional[str] = DataRootOpt,
    download: bool = DownloadOpt,
    device: Optional[str] = DeviceOpt,
    threads: Optional[int] = ThreadsOpt,
    quiet: bool = QuietOpt,
    json_out: bool = JsonOpt,
) -> None:
    """FTD from every zoo task to TASK, nearest first (mean ± std over seeds; distances are cached)."""
    use_threads(threads)
    with _open_zoo(zoo) as store:
        target: Any = task
        if task not in store:
            found = load_tasks([task], seed=seed, data_root=data_root, download=download)
            if len(found) != 1:
                from tanas.errors import ConfigError

                raise ConfigError(f"{task!r} holds {len(found)} tasks; give one target, e.g. {task}/T{len(found) - 1}")
            target = found[0]
        result = store.nearest(target, k=k, probe=probe, seeds=seeds, kind=fisher, head=head, layers=layers,
                               normalise=normalise, squared=squared, device=device, data_root=data_root, quiet=quiet)
    if json_out:
        emit_json(result.to_dict())
        return
    cfg = result.config
    typer.echo(f"FTD to {result.target} ({cfg['probe']} probe, seeds {cfg['seeds']}, {cfg['kind']} Fisher, "
               f"head {cfg['head']}{', squared' if cfg['squared'] else ''}; {result.cached} cached, "
               f"{result.computed} computed):")
    for rank, n in enumerate(result.neighbors, 1):
        genotype = "" if n.genotype is None else "  " + "|".join(n.genotype)
        typer.echo(f"  {rank:>2}. {n.name:<24} {n.distance:.4f} ± {n.std:.4f}{genotype}")
    for name, why in result.skipped.items():
        typer.echo(f"  skipped {name}: {why}")


@zoo_app.command("check")
def zoo_check(
    repair: bool = typer.Option(False, "--repair", help="Delete orphans and corrupt files; forget rows whose files are bad."),
    zoo: str = ZooDirOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Verify the catalogue and every artifact's hash. Exit 0 when clean, 1 when damage remains.

    Orphaned files (left by an interrupted write) are reported but are not damage.
    """
    with _open_zoo(zoo) as store:
        report = store.check(repair=repair)
    if json_out:
        emit_json(report.to_dict())
    else:
        for item in report.missing:
            typer.echo(f"missing {item['what']} of {item['task']} seed {item['seed']}: {item['object']}")
        for item in report.corrupt:
            typer.echo(f"corrupt {item['what']} of {item['task']} seed {item['seed']}: {item['object']}")
        for error in report.db_errors:
            typer.echo(f"catalogue: {error}")
        if report.orphaned:
            typer.echo(f"{len(report.orphaned)} orphaned file(s) (harmless; `--repair` deletes them)")
        if report.repaired is not None:
            typer.echo("repaired: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report.repaired.items()))
        typer.echo(f"{'clean' if report.clean else 'DAMAGED'}: {report.objects} artifact(s) referenced")
    if not report.clean:
        raise typer.Exit(1)


# ------------------------------------------------------------------ distance
@app.command("distance")
def distance_cmd(
    specs: List[str] = typer.Argument(..., metavar="TASK", help="Task specs or suite names (a suite expands to "
                                      "T0..T3); two tasks or more."),
    probe: str = typer.Option("cnn", "--probe", help="Probe network: cnn, resnet18, vgg16 or densenet121."),
    seeds: int = typer.Option(3, "--seeds", help="Probe seeds SEED..SEED+N-1; seed i of a source is paired with "
                              "seed i of the target."),
    fisher: str = typer.Option("empirical", "--fisher", help="Fisher kind: empirical, exact or mc."),
    head: str = typer.Option("refit", "--head", help="refit: fit a new head for the target on its train split, body "
                             "frozen; pad: the paper's way (target labels as source class ids; pairs whose target "
                             "has more classes than the source are n/a)."),
    layers: str = typer.Option("all", "--layers", help="all, or body (compare only the shared body)."),
    normalise: str = typer.Option("whole", "--normalise", help="whole (divide by the trace) or per_layer."),
    squared: bool = typer.Option(False, "--squared", help="Print the paper's form ||F~ab^1/2 - F~bb^1/2||^2 = 2d^2."),
    method: str = typer.Option("ftd", "--method", help="ftd, or task2vec (symmetric baseline: one probe, trained "
                               "on the task with the most classes)."),
    epsilon: Optional[float] = typer.Option(None, "--epsilon", help="Probe target validation error (default 0.02)."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Probe epoch cap (default 100)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Probe optimiser-step cap (default 1500)."),
    out: str = typer.Option("tanas-runs/distance", "--out", help="Folder for distance.json and distance.png."),
    json_out: bool = JsonOpt,
    seed: int = SeedOpt,
    device: Optional[str] = DeviceOpt,
    threads: Optional[int] = ThreadsOpt,
    data_root: Optional[str] = DataRootOpt,
    download: bool = DownloadOpt,
    quiet: bool = QuietOpt,
) -> None:
    """FTD matrix d(row→column) over seeds; writes OUT/distance.json and OUT/distance.png."""
    use_threads(threads)
    from tanas.distance import distance_matrix
    from tanas.probe import ProbeConfig
    from tanas.report.heatmap import plot_distance_heatmap
    from tanas.report.tables import format_distance_matrix
    from tanas.runtime import atomic_write_text

    overrides = {k: v for k, v in (("epsilon", epsilon), ("max_epochs", max_epochs), ("max_steps", max_steps))
                 if v is not None}
    config = ProbeConfig(name=probe, **overrides)
    tasks = load_tasks(specs, seed=seed, data_root=data_root, download=download)
    matrix = distance_matrix(tasks, probe=config, seeds=seeds, kind=fisher, head=head, layers=layers,
                             normalise=normalise, squared=squared, method=method, device=device, quiet=quiet,
                             seed=seed)
    payload = matrix.to_dict()
    out_dir = Path(out)
    atomic_write_text(out_dir / "distance.json", json.dumps(payload, indent=2) + "\n")
    plot_distance_heatmap(payload, out_dir / "distance.png")
    if json_out:
        emit_json(payload)
        typer.echo(f"wrote {out_dir / 'distance.json'}, {out_dir / 'distance.png'}", err=True)
        return
    cfg = payload["config"]
    what = "Task2Vec distance" if method == "task2vec" else ("squared FTD (2d²)" if squared else "FTD d")
    typer.echo(f"{what}, probe {probe}, {seeds} seed(s), Fisher {fisher}"
               + ("" if method == "task2vec" else f", head {head}, layers {layers}, normalise {normalise}")
               + f"; {cfg['seconds']:.1f} s on {cfg['device']}")
    typer.echo(format_distance_matrix(payload))
    typer.echo("nearest source per target (share of seeds agreeing):")
    for target, info in payload["nearest"].items():
        if info["source"] is None:
            typer.echo(f"  {target} <- n/a")
        else:
            typer.echo(f"  {target} <- {info['source']} ({info['agreement']:.0%})")
    errors: dict = {}
    for record in payload["probes"]:
        errors.setdefault(record["task"], []).append(record["val_error"])
    typer.echo("probe validation error (mean over seeds): "
               + ", ".join(f"{name} {sum(v) / len(v):.3f}" for name, v in errors.items()))
    typer.echo(f"wrote {out_dir / 'distance.json'}, {out_dir / 'distance.png'}")


# ------------------------------------------------------------------ search
def _search_task(spec: str, *, seed: int, data_root: Optional[str], download: bool) -> Any:
    from tanas.errors import TaskSpecError

    found = load_tasks([spec], seed=seed, data_root=data_root, download=download)
    if len(found) != 1:
        names = ", ".join(t.name for t in found)
        raise TaskSpecError(f"{spec!r} names {len(found)} tasks ({names}); search one, e.g. {spec}/{found[-1].name}")
    return found[0]


def _search_space(value: str) -> Any:
    """None for 'full' (every strategy's default space), else the space of that JSON file."""
    from tanas.nas import SearchSpace

    return None if value == "full" else SearchSpace.load(value)


def _echo_tanas(result: Any) -> None:
    if getattr(result, "strategy", None) != "tanas":
        return
    if result.fallback:
        typer.echo(f"  fallback  {result.fallback}: searched the full space with FUSE")
    else:
        near = ", ".join(f"{n['name']} {n['distance']:.3f} ± {n['std']:.3f}" for n in result.nearest if n["used"])
        typer.echo(f"  nearest   {near}  (restricted space {result.space_size:,} of {result.full_space_size:,})")
    o = result.overhead
    typer.echo(f"  prep      {o.get('prep_seconds', 0.0):.1f} s of the search: {o.get('probes_trained', 0)} probe(s) "
               f"trained, {o.get('distances_computed', 0)} distance(s) computed, {o.get('distances_cached', 0)} cached")
    typer.echo(f"  zoo       stored the genotype for {result.zoo.get('target')} in {result.zoo.get('path')}")


@app.command("search")
def search_cmd(
    task_spec: str = typer.Argument(..., metavar="TASK", help="One task spec, or SUITE/Tn (e.g. paper-digits/T2)."),
    strategy: str = typer.Option("fuse", "--strategy", help="fuse, random, darts or tanas (zoo-guided)."),
    space: str = typer.Option("full", "--space", help="'full', or a JSON file: {\"edges\": six lists of op names} "
                              "or {\"genotypes\": a list of genotypes, \"radius\": r}."),
    budget_seconds: Optional[float] = typer.Option(None, "--budget-seconds", help="Wall-clock search budget "
                                                   "(default 60 when no budget is given)."),
    budget_epochs: Optional[int] = typer.Option(None, "--budget-epochs", help="Budget in network-epochs over the "
                                                "train split."),
    initial: Optional[str] = typer.Option(None, "--initial", help="First incumbent genotype 'op|op|op|op|op|op'."),
    opts: List[str] = typer.Option([], "--opt", help="Strategy setting KEY=VALUE, repeatable (fuse: candidates, "
                                   "rounds, epochs_per_round, stages, patience, objective; random: epochs_per_trial; "
                                   "darts: alpha_lr, ...; all three: train.lr, train.batch_size, ...; tanas: "
                                   "probe_seeds, kind, head, fuse.candidates, fuse.train.lr, ...)."),
    final_seeds: int = typer.Option(3, "--final-seeds", help="Retrain the winner from scratch with this many seeds "
                                    "(0: skip the final protocol)."),
    final_epochs: int = typer.Option(30, "--final-epochs", help="Epochs per final retraining (best val epoch kept)."),
    channels: int = typer.Option(16, "--C", help="Network width C (cells have C, 2C, 4C channels)."),
    cells: int = typer.Option(1, "--N", help="Cells per stage N."),
    zoo: Optional[str] = typer.Option(None, "--zoo", help="(tanas) Zoo folder (default: TANAS_ZOO, else tanas-zoo)."),
    near_k: Optional[int] = typer.Option(None, "-k", "--k", min=1, help="(tanas) Nearest zoo tasks that shape the "
                                         "space (default 2)."),
    radius: Optional[int] = typer.Option(None, "--radius", min=0, max=6, help="(tanas) Also allow cells within R "
                                         "edge changes of their genotypes (default 1)."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="(tanas) Leave this zoo task out "
                                                "(repeatable)."),
    out: Optional[str] = typer.Option(None, "--out", help="Output folder (default tanas-runs/search-TASK-STRATEGY)."),
    seed: int = SeedOpt,
    json_out: bool = JsonOpt,
    device: Optional[str] = DeviceOpt,
    threads: Optional[int] = ThreadsOpt,
    quiet: bool = QuietOpt,
    data_root: Optional[str] = DataRootOpt,
    download: bool = DownloadOpt,
) -> None:
    """Search a cell for TASK, retrain the winner, write OUT/result.json and OUT/search.png."""
    use_threads(threads)
    import re

    from tanas.nas import Budget, StrategyConfigError, get_strategy, run_search, strategy_config
    from tanas.report.search_plot import plot_search

    spec = get_strategy(strategy)
    if budget_seconds is None and budget_epochs is None:
        budget_seconds = 60.0
    budget = Budget(seconds=budget_seconds, epochs=budget_epochs)
    options = {}
    for item in opts:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise StrategyConfigError(f"--opt takes KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    # Flags of one strategy's own settings (config fields or context); the registry refuses them elsewhere.
    settings = {key: value for key, value in (("k", near_k), ("radius", radius)) if value is not None}
    config = strategy_config(strategy, options, C=channels, N=cells, **settings)
    search_space = _search_space(space)
    task = _search_task(task_spec, seed=seed, data_root=data_root, download=download)
    context = {key: value for key, value in (("zoo", zoo), ("exclude", exclude)) if value}
    context.update({key: value for key, value in (("task_arg", task_spec), ("data_root", data_root))
                    if key in spec.context})
    result = run_search(task, strategy, config, budget=budget, space=search_space, initial=initial, seed=seed,
                        device=device, final_seeds=final_seeds, final_epochs=final_epochs, quiet=quiet, **context)
    out_dir = Path(out) if out else Path("tanas-runs") / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"search-{task.name}-{strategy}")
    result.save(out_dir)
    plot_search(result, out_dir / "search.png")
    if json_out:
        emit_json(result.to_dict())
        return
    typer.echo(f"{result.strategy} on {task.name} ({task.spec}), space of {result.space_size:,} genotypes, "
               f"{result.search_seconds:.1f} s search on {result.device} ({result.stop_reason})")
    _echo_tanas(result)
    typer.echo(f"  genotype  {'|'.join(result.genotype)}")
    typer.echo(f"  params    {result.params:,}")
    typer.echo(f"  val acc   {100 * result.val_acc:.2f}% (in search)")
    if result.test_acc:
        t = result.test_acc
        typer.echo(f"  test acc  {100 * t['mean']:.2f} ± {100 * t['std']:.2f}% over {len(t['runs'])} seed(s)")
    typer.echo(f"  wrote     {out_dir / 'result.json'}, {out_dir / 'search.png'}")


# ------------------------------------------------------------------ demo and report (TA-NAS block)
@app.command("demo")
def demo_cmd(
    out: str = typer.Option("tanas-demo", "--out", help="Folder for the results, figures and report.html."),
    quick: bool = typer.Option(False, "--quick", help="A smoke-sized run (about a minute on two CPU cores)."),
    zoo: Optional[str] = typer.Option(None, "--zoo", help="Zoo folder to build or reuse (default OUT/zoo)."),
    budget_seconds: Optional[float] = typer.Option(None, "--budget-seconds", help="Search budget of each strategy on "
                                                   "the target (default 60, or 6 with --quick)."),
    seed: int = SeedOpt,
    data_root: Optional[str] = DataRootOpt,
    device: Optional[str] = DeviceOpt,
    quiet: bool = QuietOpt,
    json_out: bool = JsonOpt,
    threads: int = typer.Option(1, "--threads", envvar="TANAS_THREADS", min=1, help="Torch CPU threads (or "
                                "TANAS_THREADS). The demo's networks are "
                                "tiny: one thread is as fast as two and avoids OpenMP threads spinning against "
                                "other processes on a small machine."),
) -> None:
    """The whole pipeline on digits: zoo of T0, T1, T3; FTD matrix; TA-NAS vs FUSE, random, DARTS on T2; report."""
    import dataclasses

    from tanas.demo import DemoConfig, format_table, run_demo

    use_threads(threads)

    config = None
    if budget_seconds is not None:
        base = DemoConfig.quick() if quick else DemoConfig.full()
        config = dataclasses.replace(base, budget_seconds=budget_seconds)
    log = None if quiet or json_out else (lambda message: typer.echo(message, err=True))
    run = run_demo(out, quick=quick, zoo=zoo, config=config, seed=seed, device=device, data_root=data_root,
                   quiet=quiet, log=log)
    if json_out:
        emit_json(run.summary)
        return
    typer.echo(format_table(run.summary))
    typer.echo("")
    for line in run.summary["lines"]:
        typer.echo(line)
    typer.echo(f"wrote {run.report} ({run.summary['seconds']:.0f} s)")


@app.command("report")
def report_cmd(
    run_dir: str = typer.Argument(..., metavar="RUN_DIR", help="A demo or search folder (distance.json, "
                                  "<strategy>/result.json, summary.json)."),
    title: str = typer.Option("tanas report", "--title", help="Page title."),
) -> None:
    """Rebuild RUN_DIR/report.html and its figures from the run's JSON files."""
    from tanas.report.html import build_report

    typer.echo(f"wrote {build_report(run_dir, title=title)}")


# ------------------------------------------------------------------ entry point
def _parser_error_types() -> tuple[type[Exception], type[Exception]]:
    """The argument parser's (ClickException, UsageError) classes.

    Found through typer's public ``BadParameter``: recent typer vendors click
    privately, older typer uses click itself.
    """
    mro = {c.__name__: c for c in typer.BadParameter.__mro__}
    return mro["ClickException"], mro["UsageError"]


def main(argv: Optional[List[str]] = None) -> None:
    """Console entry point: every error becomes one ``error:`` line on stderr.

    tanas errors and bad command lines (unknown option, value out of range,
    missing argument) exit with status 2; an interrupt exits with 130.
    """
    click_error, usage_error = _parser_error_types()
    try:
        # standalone_mode=False: parser errors reach us instead of being drawn as a box
        code = app(args=argv, prog_name="tanas", standalone_mode=False)
    except TanasError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        code = 130
    except click_error as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # bare `tanas` or `tanas zoo`: the help
            exc.show()
            sys.exit(exc.exit_code)
        message = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        if isinstance(exc, usage_error) and ctx is not None:
            message += f" (see '{ctx.command_path} --help')"
        typer.echo(f"error: {message}", err=True)
        sys.exit(exc.exit_code)
    # with standalone_mode=False, --help and typer.Exit come back as an exit status
    if code == 130:  # typer turns Ctrl-C inside a command into exit status 130
        typer.echo("interrupted; finished work is kept", err=True)
    if isinstance(code, int) and code:
        sys.exit(code)
