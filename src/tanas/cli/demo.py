"""``tanas demo`` (the whole pipeline on digits) and ``tanas report`` (its HTML page, rebuilt from JSON)."""

from __future__ import annotations

from typing import Annotated

import typer

from tanas.cli.options import DataRoot, Device, Json, Quiet, Seed, use_threads
from tanas.cli.output import emit_json


def demo_cmd(
    out: Annotated[str, typer.Option("--out", help="Folder for the results, figures and report.html.")] = "tanas-demo",
    quick: Annotated[
        bool, typer.Option("--quick", help="A smoke-sized run (about a minute on two CPU cores).")
    ] = False,
    zoo: Annotated[str | None, typer.Option("--zoo", help="Zoo folder to build or reuse (default OUT/zoo).")] = None,
    budget_seconds: Annotated[
        float | None,
        typer.Option(
            "--budget-seconds", help="Search budget of each strategy on the target (default 60, or 6 with --quick)."
        ),
    ] = None,
    seed: Seed = 0,
    data_root: DataRoot = None,
    device: Device = None,
    quiet: Quiet = False,
    json_out: Json = False,
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            envvar="TANAS_THREADS",
            min=1,
            help="Torch CPU threads (or TANAS_THREADS). The demo's networks "
            "are tiny: one thread is as fast as two and avoids OpenMP threads spinning against other processes on a "
            "small machine.",
        ),
    ] = 1,
) -> None:
    """The whole pipeline on digits: zoo of T0, T1, T3; FTD matrix; TA-NAS vs FUSE, random, DARTS on T2; report."""
    from tanas.demo import DemoConfig, format_table, run_demo
    from tanas.runtime import prepare_output_dir

    use_threads(threads)
    config = DemoConfig.preset(quick, budget_seconds=budget_seconds)
    prepare_output_dir(out)  # checked before the first probe
    log = None if quiet or json_out else (lambda message: typer.echo(message, err=True))
    run = run_demo(
        out, quick=quick, zoo=zoo, config=config, seed=seed, device=device, data_root=data_root, quiet=quiet, log=log
    )
    if json_out:
        emit_json(run.summary)
        return
    typer.echo(format_table(run.summary))
    typer.echo("")
    for line in run.summary["lines"]:
        typer.echo(line)
    typer.echo(f"wrote {run.report} ({run.summary['seconds']:.0f} s)")


def report_cmd(
    run_dir: Annotated[
        str,
        typer.Argument(
            metavar="RUN_DIR", help="A demo or search folder (distance.json, <strategy>/result.json, summary.json)."
        ),
    ],
    title: Annotated[str, typer.Option("--title", help="Page title.")] = "tanas report",
) -> None:
    """Rebuild RUN_DIR/report.html and its figures from the run's JSON files."""
    from pathlib import Path

    from tanas.report.html import build_report
    from tanas.runtime import prepare_output_dir

    if Path(run_dir).is_dir():  # a missing folder is build_report's error to give
        prepare_output_dir(run_dir, what="RUN_DIR")
    typer.echo(f"wrote {build_report(run_dir, title=title)}")
