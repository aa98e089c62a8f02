"""``tanas distance``: the matrix of FTD, Task2Vec distances or transferability scores between tasks."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from tanas.cli.options import (
    SCORES_TEXT,
    DataRoot,
    Device,
    Download,
    Fisher,
    Json,
    ProbeDataSeed,
    Quiet,
    Threads,
    use_threads,
)
from tanas.cli.output import emit_json, method_name, value_kind


def distance_cmd(
    specs: Annotated[
        list[str],
        typer.Argument(
            metavar="TASK", help="Task specs or suite names (a suite expands to T0..T3); two tasks or more."
        ),
    ],
    probe: Annotated[str, typer.Option("--probe", help="Probe network: cnn, resnet18, vgg16 or densenet121.")] = "cnn",
    seeds: Annotated[
        int,
        typer.Option(
            "--seeds",
            help="Probe seeds 0..N-1 (--seed fixes the data only); seed i of a source is paired with seed i "
            "of the target.",
        ),
    ] = 3,
    fisher: Fisher = "empirical",
    head: Annotated[
        str,
        typer.Option(
            "--head",
            help="refit: fit a new head for the target on its train split, body frozen; pad: the paper's way "
            "(target labels as source class ids; pairs whose target has more classes than the source are n/a).",
        ),
    ] = "refit",
    layers: Annotated[str, typer.Option("--layers", help="all, or body (compare only the shared body).")] = "all",
    normalise: Annotated[str, typer.Option("--normalise", help="whole (divide by the trace) or per_layer.")] = "whole",
    squared: Annotated[
        bool, typer.Option("--squared", help="Print the paper's form ||F~ab^1/2 - F~bb^1/2||^2 = 2d^2.")
    ] = False,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="A distance (lower is nearer): ftd, or task2vec (symmetric baseline: one probe, trained "
            f"on the task with the most classes); or a transferability score (higher is better): {SCORES_TEXT}.",
        ),
    ] = "ftd",
    epsilon: Annotated[
        float | None, typer.Option("--epsilon", help="Probe target validation error (default 0.02).")
    ] = None,
    max_epochs: Annotated[int | None, typer.Option("--max-epochs", help="Probe epoch cap (default 100).")] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Probe optimiser-step cap (default 1500).")
    ] = None,
    out: Annotated[
        str, typer.Option("--out", help="Folder for distance.json and distance.png.")
    ] = "tanas-runs/distance",
    json_out: Json = False,
    seed: ProbeDataSeed = 0,
    device: Device = None,
    threads: Threads = None,
    data_root: DataRoot = None,
    download: Download = False,
    quiet: Quiet = False,
) -> None:
    """FTD matrix d(row→column) over seeds (or another --method); writes OUT/distance.json and OUT/distance.png."""
    use_threads(threads)
    from tanas.data import parse_tasks
    from tanas.distance import distance_matrix
    from tanas.probe import ProbeConfig
    from tanas.report.heatmap import plot_distance_heatmap
    from tanas.report.tables import format_distance_matrix
    from tanas.runtime import atomic_write_text, prepare_output_dir

    given = (("epsilon", epsilon), ("max_epochs", max_epochs), ("max_steps", max_steps))
    overrides: dict[str, Any] = {k: v for k, v in given if v is not None}
    config = ProbeConfig(name=probe, **overrides)
    tasks = parse_tasks(specs, seed=seed, data_root=data_root, download=download)
    out_dir = prepare_output_dir(out)  # before the probes: a bad --out must not throw their work away
    # probe seeds 0..N-1, as everywhere: --seed fixed the data above and nothing else
    matrix = distance_matrix(
        tasks,
        probe=config,
        seeds=seeds,
        kind=fisher,
        head=head,
        layers=layers,
        normalise=normalise,
        squared=squared,
        method=method,
        device=device,
        quiet=quiet,
    )
    payload = matrix.to_dict()
    atomic_write_text(out_dir / "distance.json", json.dumps(payload, indent=2) + "\n")
    plot_distance_heatmap(payload, out_dir / "distance.png")
    if json_out:
        emit_json(payload)
        typer.echo(f"wrote {out_dir / 'distance.json'}, {out_dir / 'distance.png'}", err=True)
        return
    cfg = payload["config"]
    what = method_name(method) if method != "ftd" else ("squared FTD (2d²)" if squared else "FTD d")
    how = f"probe {probe}, {seeds} seed(s)"
    if method in ("ftd", "task2vec"):
        how += f", Fisher {fisher}"
    if method == "ftd":
        how += f", head {head}, layers {layers}, normalise {normalise}"
    typer.echo(f"{what}, {value_kind(matrix.higher_is_better)}; {how}; {cfg['seconds']:.1f} s on {cfg['device']}")
    typer.echo(format_distance_matrix(payload))
    best = "highest score; " if matrix.higher_is_better else ""
    typer.echo(f"nearest source per target ({best}share of seeds agreeing):")
    for target, info in payload["nearest"].items():
        if info["source"] is None:
            typer.echo(f"  {target} <- n/a")
        else:
            typer.echo(f"  {target} <- {info['source']} ({info['agreement']:.0%})")
    typer.echo(
        "probe validation error (mean over seeds): "
        + ", ".join(f"{name} {error:.3f}" for name, error in matrix.val_errors().items())
    )
    typer.echo(f"wrote {out_dir / 'distance.json'}, {out_dir / 'distance.png'}")
