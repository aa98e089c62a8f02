"""Text forms of a distance matrix (``distance.json``), shared by the CLI, the demo and the HTML report."""

from __future__ import annotations

from typing import Any

#: how a method's values are named in headers and titles
METHOD_NAMES = {
    "ftd": "FTD",
    "task2vec": "Task2Vec",
    "leep": "LEEP",
    "nce": "NCE",
    "logme": "LogME",
    "hscore": "H-score",
}


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def value_kind(higher_is_better: bool) -> str:
    """What a column of values is: a score or a distance, and which way is better."""
    return "score (higher is better)" if higher_is_better else "distance (lower is nearer)"


def neighbour_value(neighbour: dict[str, Any]) -> float:
    """The value of one ranked source (``nearest`` entry): its score, or its distance."""
    return float(neighbour["score"] if "score" in neighbour else neighbour.get("distance", 0.0))


def distance_cell(mean: float | None, std: float | None, *, with_std: bool = True) -> str:
    """One entry: ``mean ± std``, just ``mean``, or ``n/a`` for a pair with no defined distance."""
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {std:.3f}" if with_std and std is not None else f"{mean:.3f}"


def shows_spread(matrix: dict[str, Any]) -> bool:
    """Whether the matrix has a spread worth printing (more than one seed)."""
    return int(matrix.get("config", {}).get("seeds", 1)) > 1


def format_distance_matrix(matrix: dict[str, Any], *, with_std: bool | None = None) -> str:
    """The matrix as an aligned text table, rows sources, columns targets.

    ``with_std`` None shows ``± std`` only when the matrix comes from several seeds.
    """
    names = matrix["tasks"]
    spread = shows_spread(matrix) if with_std is None else with_std
    cells = [
        [distance_cell(matrix["mean"][i][j], matrix["std"][i][j], with_std=spread) for j in range(len(names))]
        for i in range(len(names))
    ]
    width = max([len(c) for row in cells for c in row] + [len(n) for n in names])
    corner = "source \\ target"
    first = max(len(corner), *(len(n) for n in names))
    lines = [corner.ljust(first) + "  " + "  ".join(f"{n:>{width}}" for n in names)]
    lines += [f"{name:<{first}}  " + "  ".join(f"{c:>{width}}" for c in row) for name, row in zip(names, cells)]
    return "\n".join(lines)
