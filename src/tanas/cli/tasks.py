"""``tanas tasks``: the suites and data sources, and the splits of given tasks."""

from __future__ import annotations

from typing import Annotated

import typer

from tanas.cli.options import DataRoot, DataSeed, Download, Json
from tanas.cli.output import emit_json

app = typer.Typer(help="List suites and sources; show tasks and their splits.", no_args_is_help=True)


@app.command("list")
def tasks_list(json_out: Json = False) -> None:
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


@app.command("show")
def tasks_show(
    specs: Annotated[list[str], typer.Argument(help="Task specs, suite names or TOML files.")],
    seed: DataSeed = 0,
    data_root: DataRoot = None,
    download: Download = False,
    json_out: Json = False,
) -> None:
    """Show each task's splits: sizes, class counts and input shape."""
    from tanas.data import parse_tasks

    tasks = parse_tasks(specs, seed=seed, data_root=data_root, download=download)
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
