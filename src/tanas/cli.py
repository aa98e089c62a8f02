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


def load_tasks(specs: List[str], *, seed: int, data_root: Optional[str], download: bool = False) -> list:
    """Parse every spec (sharing loaded sources); a suite expands to T0..T3."""
    from tanas.data import parse_task

    sources: dict = {}
    tasks = []
    for spec in specs:
        tasks += parse_task(spec, seed=seed, data_root=data_root, download=download, sources=sources)
    return tasks


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
ZooDirOpt = typer.Option("tanas-zoo", "--zoo", envvar="TANAS_ZOO", help="Zoo folder (or TANAS_ZOO).")


def _open_zoo(path: str, *, create: bool = False) -> Any:
    from tanas.zoo import TaskZoo

    return TaskZoo(path, create=create)


def _fmt(value: Any, spec: str = ".4f") -> str:
    return "-" if value is None else format(value, spec)


@zoo_app.command("add")
def zoo_add(
    specs: List[str] = typer.Argument(..., help="Task specs, suite names (each member becomes SUITE/Tn) or TOML files."),
    probe: str = typer.Option("cnn", "--probe", help="Probe network (the zoo's stored config of that name is reused)."),
    seeds: int = typer.Option(1, "--seeds", min=1, help="Probe seeds 0..N-1 to train (one probe and Fisher each)."),
    fisher: str = typer.Option("empirical", "--fisher", help="Fisher kind: empirical, exact or mc."),
    epsilon: Optional[float] = typer.Option(None, "--epsilon", help="Probe target validation error (new configs only)."),
    max_epochs: Optional[int] = typer.Option(None, "--max-epochs", help="Probe epoch cap (new configs only)."),
    zoo: str = ZooDirOpt,
    seed: int = SeedOpt,
    data_root: Optional[str] = DataRootOpt,
    download: bool = DownloadOpt,
    device: Optional[str] = DeviceOpt,
    quiet: bool = QuietOpt,
    json_out: bool = JsonOpt,
) -> None:
    """Add tasks with a probe and Fisher per seed; only missing work runs (resumable, idempotent)."""
    import dataclasses

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
        if json_out:
            emit_json({"zoo": str(store.path), "added": [r.to_dict() for r in results]})


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
    quiet: bool = QuietOpt,
    json_out: bool = JsonOpt,
) -> None:
    """FTD from every zoo task to TASK, nearest first (mean ± std over seeds; distances are cached)."""
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


# ------------------------------------------------------------------ entry point
def main(argv: Optional[List[str]] = None) -> None:
    """Console entry point: runs the app and turns tanas errors into one-line messages."""
    try:
        app(args=argv, prog_name="tanas")
    except TanasError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted; finished work is kept", err=True)
        sys.exit(130)
