"""The options several commands share, as ``typing.Annotated`` aliases: ``seed: DataSeed = 0``.

Only the standard library, typer and torch-free tanas modules are imported here, so that
a cached ``tanas zoo nearest`` never loads torch.
"""

from __future__ import annotations

from typing import Annotated

import typer

from tanas.transferability import ESTIMATORS
from tanas.zoo.nearest import DEFAULT_METHOD, ZOO_METHODS

#: the transferability scores, in the words of a --help text
SCORES_TEXT = ", ".join(ESTIMATORS)

Seed = Annotated[int, typer.Option("--seed", help="Seed for every random choice (splits, balancing, training).")]
DataSeed = Annotated[int, typer.Option("--seed", help="Seed of the data: splits and class balancing.")]
ProbeDataSeed = Annotated[
    int,
    typer.Option(
        "--seed", help="Seed of the data only (splits, class balancing); the probes use seeds 0..N-1 (see --seeds)."
    ),
]
DataRoot = Annotated[
    str | None, typer.Option("--data-root", envvar="TANAS_DATA", help="Folder holding datasets (or TANAS_DATA).")
]
Download = Annotated[
    bool, typer.Option("--download", help="Let torchvision download missing datasets (needs internet).")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout instead of a table.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Device = Annotated[
    str | None, typer.Option("--device", help="cpu, cuda or cuda:N (default: cuda when present, else cpu).")
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads",
        envvar="TANAS_THREADS",
        min=1,
        help="Torch CPU threads (or TANAS_THREADS; default one per core). "
        "1 is often faster on a machine busy with other jobs.",
    ),
]
ZooDir = Annotated[str, typer.Option("--zoo", envvar="TANAS_ZOO", help="Zoo folder (or TANAS_ZOO).")]
Fisher = Annotated[str, typer.Option("--fisher", help="Fisher kind: empirical, exact or mc.")]
ZOO_METHOD_HELP = (
    f"How zoo tasks are ranked: {', '.join(ZOO_METHODS)}. ftd is a distance (lower is nearer); "
    f"{SCORES_TEXT} are transferability scores (higher is better). Default {DEFAULT_METHOD}, the best "
    "source picker in the transfer benchmark."
)
ZooMethod = Annotated[str, typer.Option("--method", help=ZOO_METHOD_HELP)]


def use_threads(threads: int | None) -> None:
    """Apply --threads; without it, import nothing (a cached `zoo nearest` never loads torch)."""
    if threads is None:
        return
    from tanas.runtime import set_threads

    set_threads(threads)
