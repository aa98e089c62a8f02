"""``tanas zoo``: add, list, show, remove, check and gc zoo tasks, and rank them for a target (``nearest``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tanas.cli.options import (
    DataRoot,
    Device,
    Download,
    Fisher,
    Json,
    ProbeDataSeed,
    Quiet,
    Threads,
    ZooDir,
    ZooMethod,
    use_threads,
)
from tanas.cli.output import emit_json, fmt, method_name, value_kind
from tanas.zoo import DEFAULT_ZOO  # the zoo package imports only the standard library at module level
from tanas.zoo.nearest import DEFAULT_METHOD

app = typer.Typer(
    help="The task zoo: solved tasks with their probes, Fishers and best genotypes.", no_args_is_help=True
)


def _open_zoo(path: str, *, create: bool = False) -> Any:
    from tanas.zoo import TaskZoo

    return TaskZoo(path, create=create)


@app.command("add")
def zoo_add(
    specs: Annotated[
        list[str], typer.Argument(help="Task specs, suite names (each member becomes SUITE/Tn) or TOML files.")
    ],
    probe: Annotated[
        str, typer.Option("--probe", help="Probe network (the zoo's stored config of that name is reused).")
    ] = "cnn",
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds",
            min=1,
            help="Probe seeds 0..N-1 to train (one probe and Fisher each); --seed fixes the data only.",
        ),
    ] = 1,
    fisher: Fisher = "empirical",
    epsilon: Annotated[
        float | None,
        typer.Option(
            "--epsilon", help="Probe target validation error (default: the zoo's stored config, else ProbeConfig's)."
        ),
    ] = None,
    max_epochs: Annotated[
        int | None,
        typer.Option("--max-epochs", help="Probe epoch cap (default: the zoo's stored config, else ProbeConfig's)."),
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            help="fuse: also find each task's best genotype by full-space FUSE (skipped for tasks that have one).",
        ),
    ] = None,
    search_budget: Annotated[
        float, typer.Option("--budget-seconds", help="Wall-clock budget of each --search.")
    ] = 60.0,
    zoo: ZooDir = DEFAULT_ZOO,
    seed: ProbeDataSeed = 0,
    data_root: DataRoot = None,
    download: Download = False,
    device: Device = None,
    threads: Threads = None,
    quiet: Quiet = False,
    json_out: Json = False,
) -> None:
    """Add tasks with a probe and Fisher per seed; only missing work runs (resumable, idempotent)."""
    use_threads(threads)
    searching = None
    if search is not None:  # a bad --search is refused before any work
        from tanas.nas.zoo_seeding import GenotypeSearch

        searching = GenotypeSearch(search, search_budget)
    from tanas.zoo.batch import plan_batch
    from tanas.zoo.values import check_kind

    check_kind(fisher)
    from tanas.probe import ProbeConfig

    given = (("epsilon", epsilon), ("max_epochs", max_epochs))
    overrides: dict[str, Any] = {key: value for key, value in given if value is not None}
    ProbeConfig(name=probe, **overrides)  # a bad probe: refused here

    # the whole batch parses and its names are unique before the zoo is opened (or created)
    plan = plan_batch(specs, data_seed=seed, data_root=data_root, download=download)
    with _open_zoo(zoo, create=True) as store:
        config = store.resolve_probe_config(probe, epsilon=epsilon, max_epochs=max_epochs)
        results = []
        for result in store.add_batch(plan, probe=config, seeds=seeds, kind=fisher, device=device, quiet=quiet):
            results.append(result)
            if not json_out:
                e = result.entry
                typer.echo(
                    f"{e.name:<24} {e.spec:<28} seeds {len(e.seeds)}  val_acc {fmt(e.val_acc)}  "
                    f"trained {result.probes_trained} probe(s) + {result.fishers_computed} Fisher(s), "
                    f"reused {result.probes_reused} + {result.fishers_reused}"
                )
        searched = []
        if searching is not None:
            from tanas.nas.zoo_seeding import ensure_genotypes

            for found in ensure_genotypes(
                store, results, searching, seed=seed, device=device, data_root=data_root, quiet=quiet
            ):
                searched.append(found.to_dict())
                if not json_out:
                    how = f"searched in {found.search_seconds:.1f} s" if found.searched else "kept (already stored)"
                    typer.echo(
                        f"{found.name:<24} genotype {'|'.join(found.genotype)}  val_acc {found.score:.4f}  {how}"
                    )
        if json_out:
            emit_json(
                {
                    "zoo": str(store.path),
                    "added": [r.to_dict() for r in results],
                    **({"genotypes": searched} if search else {}),
                }
            )


@app.command("list")
def zoo_list(zoo: ZooDir = DEFAULT_ZOO, json_out: Json = False) -> None:
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
        typer.echo(f"{e.name:<24} {e.spec:<28} {probe_name or '-':<6} {s['seeds']:>5} {fmt(e.val_acc):>8}  {genotype}")


@app.command("show")
def zoo_show(
    name: Annotated[str, typer.Argument(help="Zoo task name (e.g. paper-digits/T0), spec or fingerprint prefix.")],
    zoo: ZooDir = DEFAULT_ZOO,
    json_out: Json = False,
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
        typer.echo(
            f"  probe {p.probe} [{p.config_hash}] seed {p.seed}: val_acc {fmt(p.val_acc)}, {r.get('epochs')} "
            f"epochs, {fmt(r.get('train_seconds'), '.1f')} s, Fishers: {', '.join(p.fishers) or 'none'}"
        )
    if entry.best is None:
        typer.echo("  best genotype: none yet")
    else:
        typer.echo(
            f"  best genotype: {'|'.join(entry.best.genotype)} (score {entry.best.score:.4f}, "
            f"{entry.num_genotypes} stored)"
        )


@app.command("rm")
def zoo_rm(
    name: Annotated[str, typer.Argument(help="Zoo task name, spec or fingerprint prefix.")],
    zoo: ZooDir = DEFAULT_ZOO,
    json_out: Json = False,
) -> None:
    """Remove a task with its probes, Fishers and genotypes."""
    with _open_zoo(zoo) as store:
        entry = store.remove(name)
    if json_out:
        emit_json({"removed": entry.name, "fingerprint": entry.fingerprint})
    else:
        typer.echo(f"removed {entry.name}")


@app.command("nearest")
def zoo_nearest(
    task: Annotated[
        str, typer.Argument(help="Target: a zoo task name, or a task spec / SUITE/Tn (probes trained and cached).")
    ],
    k: Annotated[int | None, typer.Option("-k", "--k", min=1, help="Show only the K nearest.")] = None,
    probe: Annotated[
        str | None, typer.Option("--probe", help="Probe name (default: the zoo's only probe config).")
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds",
            min=1,
            help="Use probe seeds 0..N-1 (default: every stored seed); --seed fixes the target's data only.",
        ),
    ] = None,
    method: ZooMethod = DEFAULT_METHOD,
    fisher: Fisher = "empirical",
    head: Annotated[
        str, typer.Option("--head", help="refit (new head fitted on the target) or pad (the paper's).")
    ] = "refit",
    layers: Annotated[str, typer.Option("--layers", help="all or body.")] = "all",
    normalise: Annotated[str, typer.Option("--normalise", help="whole or per_layer.")] = "whole",
    squared: Annotated[bool, typer.Option("--squared", help="The paper's squared form (no 1/sqrt 2).")] = False,
    zoo: ZooDir = DEFAULT_ZOO,
    seed: ProbeDataSeed = 0,
    data_root: DataRoot = None,
    download: Download = False,
    device: Device = None,
    threads: Threads = None,
    quiet: Quiet = False,
    json_out: Json = False,
) -> None:
    """Every zoo task ranked for TASK, best first (FTD, or a --method score); mean ± std over seeds, cached."""
    use_threads(threads)
    from tanas.zoo import nearest_target

    with _open_zoo(zoo) as store:
        target = nearest_target(store, task, seed=seed, data_root=data_root, download=download)
        result = store.nearest(
            target,
            k=k,
            probe=probe,
            seeds=seeds,
            kind=fisher,
            head=head,
            layers=layers,
            normalise=normalise,
            squared=squared,
            method=method,
            device=device,
            data_root=data_root,
            quiet=quiet,
        )
    if json_out:
        emit_json(result.to_dict())
        return
    cfg = result.config
    how = f"{cfg['probe']} probe, seeds {cfg['seeds']}"
    if not result.higher_is_better:
        how += f", {cfg['kind']} Fisher, head {cfg['head']}{', squared' if cfg['squared'] else ''}"
    typer.echo(
        f"{method_name(result.method)} to {result.target}, {value_kind(result.higher_is_better)}; {how}; "
        f"{result.cached} cached, {result.computed} computed:"
    )
    for rank, n in enumerate(result.neighbors, 1):
        genotype = "" if n.genotype is None else "  " + "|".join(n.genotype)
        typer.echo(f"  {rank:>2}. {n.name:<24} {n.distance:.4f} ± {n.std:.4f}{genotype}")
    for name, why in result.skipped.items():
        typer.echo(f"  skipped {name}: {why}")


@app.command("check")
def zoo_check(
    repair: Annotated[
        bool, typer.Option("--repair", help="Delete orphans and corrupt files; forget rows whose files are bad.")
    ] = False,
    zoo: ZooDir = DEFAULT_ZOO,
    json_out: Json = False,
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


@app.command("gc")
def zoo_gc(
    grace_seconds: Annotated[
        float,
        typer.Option("--grace-seconds", min=0.0, help="Keep files and outside-target rows younger than this."),
    ] = 0.0,
    zoo: ZooDir = DEFAULT_ZOO,
    json_out: Json = False,
) -> None:
    """Free the caches of targets outside the zoo (rows, probes, Fishers, distances, scores), then unused files.

    Cross-format caches of zoo tasks (a target adapted to another task's input format) go too; they are remade
    on demand.

    Safe beside a running `zoo add`: each step holds the write lock, and files written after gc began are kept.
    """
    with _open_zoo(zoo) as store:
        report = store.gc(grace_seconds=grace_seconds)
    if json_out:
        emit_json(report.to_dict())
    else:
        typer.echo(
            f"freed {report.rows} row(s) ({report.tasks} outside task(s), {report.probes} probe(s), "
            f"{report.fishers} Fisher(s), {report.distances} distance(s), {report.scores} score(s)) and "
            f"{report.files} file(s), {report.bytes} bytes"
        )
