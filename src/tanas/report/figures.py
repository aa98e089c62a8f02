"""Plots for the HTML report: task map by MDS, search curves, and cells drawn as graphs.

Like the heatmap, they draw on Agg figures of their own (no pyplot), so importing this
module leaves the process's matplotlib backend alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tanas.genotypes import EDGES
from tanas.report._png import new_figure, write_png

#: edge order of a genotype (docs/architecture.md §1.6): (from node, to node)
CELL_EDGES = EDGES


def mds_coordinates(distances: Sequence[Sequence[float]]) -> np.ndarray:
    """2-D coordinates whose Euclidean distances approximate the symmetrised ``distances``.

    FTD is asymmetric; the map uses (d + dᵀ) / 2 and classical (Torgerson) MDS, which is
    deterministic: double-centre the squared distances and keep the top two eigenvectors.
    """
    matrix = np.asarray(distances, dtype=float)
    sym = (matrix + matrix.T) / 2.0
    np.fill_diagonal(sym, 0.0)
    n = len(sym)
    centring = np.eye(n) - np.full((n, n), 1.0 / n)
    gram = -0.5 * centring @ (sym**2) @ centring
    values, vectors = np.linalg.eigh(gram)
    order = np.argsort(values)[::-1][:2]
    coords = vectors[:, order] * np.sqrt(np.clip(values[order], 0.0, None))
    if coords.shape[1] < 2:
        coords = np.column_stack([coords, np.zeros((n, 2 - coords.shape[1]))])
    # fix the sign of each axis so the picture does not flip between runs
    signs = np.sign(coords[np.argmax(np.abs(coords), axis=0), range(2)])
    return coords * np.where(signs == 0, 1.0, signs)


def plot_task_map(
    names: Sequence[str], distances: Sequence[Sequence[float]], path: str | Path, *, highlight: str | None = None
) -> Path:
    """A scatter of the tasks placed by MDS of their (symmetrised) distances."""
    coords = mds_coordinates(distances)
    fig = new_figure(figsize=(4.6, 4.0), dpi=110)
    ax = fig.subplots()
    for (x, y), name in zip(coords, names):
        colour = "tab:red" if name == highlight else "tab:blue"
        ax.scatter([x], [y], s=70, color=colour, zorder=3)
        ax.annotate(name, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=10)
    ax.set_title("Tasks by MDS of the FTD matrix")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.margins(0.25)
    fig.tight_layout()
    return write_png(fig, path)


def plot_search_curves(
    results: Mapping[str, Mapping[str, Any]], path: str | Path, *, match_line: float | None = None
) -> Path:
    """Incumbent validation accuracy against search seconds, one line per strategy.

    Two panels: the whole range, and a zoom on the top, from a little below the median
    of the strategies' best accuracies (a one-shot DARTS estimate or a budget-truncated
    stage can sit far below the rest and would flatten every other curve there).
    """
    curves = {}
    for strategy, result in results.items():
        history = result.get("history") or []
        points = [
            (h["elapsed_seconds"], 100.0 * h["incumbent_val_acc"])
            for h in history
            if h.get("incumbent_val_acc") is not None
        ]
        if points:
            curves[strategy] = points
    fig = new_figure(figsize=(10.0, 4.0), dpi=110)
    axes = fig.subplots(1, 2)
    for ax in axes:
        for index, (strategy, points) in enumerate(curves.items()):
            ax.step(
                [p[0] for p in points],
                [p[1] for p in points],
                where="post",
                marker="o",
                markersize=3,
                label=strategy,
                color=f"C{index}",
            )
        if match_line is not None:
            ax.axhline(100.0 * match_line, color="grey", linestyle=":", linewidth=1, label="full FUSE final")
        ax.set_xlabel("search time (s)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("incumbent validation accuracy (%)")
    axes[0].set_title("all", fontsize=9)
    if curves:
        best = sorted(max(p[1] for p in points) for points in curves.values())
        floor = float(np.median(best)) - 5.0
        if match_line is not None and 100.0 * match_line >= floor - 10.0:
            floor = min(floor, 100.0 * match_line - 2.0)
        axes[1].set_ylim(max(0.0, floor), min(100.5, best[-1] + 1.0))
    axes[1].set_title("zoom on the best", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return write_png(fig, path)


def plot_cell(genotype: Sequence[str], path: str | Path, *, title: str = "") -> Path:
    """Draw a cell: nodes 0..3 in a row (0 input, 3 output), one labelled arc per edge that is not ``none``."""
    # height of each edge's arc: neighbours are straight, longer edges bow above or below
    heights = {(0, 1): 0.0, (1, 2): 0.0, (2, 3): 0.0, (0, 2): 0.9, (1, 3): -0.9, (0, 3): 1.8}
    fig = new_figure(figsize=(5.2, 2.8), dpi=110)
    ax = fig.subplots()
    t = np.linspace(0.0, 1.0, 50)
    for (src, dst), op in zip(CELL_EDGES, genotype):
        if op == "none":
            continue
        h = heights[(src, dst)]
        start, end, control = np.array([src, 0.0]), np.array([dst, 0.0]), np.array([(src + dst) / 2, h])
        curve = ((1 - t) ** 2)[:, None] * start + (2 * (1 - t) * t)[:, None] * control + (t**2)[:, None] * end
        keep = slice(5, 44)  # stop short of the node discs
        ax.plot(curve[keep, 0], curve[keep, 1], color="tab:gray", lw=1.2)
        ax.annotate("", xy=curve[44], xytext=curve[41], arrowprops=dict(arrowstyle="-|>", color="tab:gray", lw=1.2))
        label_x, label_y = curve[25]
        ax.text(
            label_x,
            label_y,
            op,
            fontsize=7,
            ha="center",
            va="center",
            bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="tab:blue", lw=0.6),
        )
    for node in range(4):
        ax.scatter([node], [0.0], s=380, color="tab:orange" if node in (0, 3) else "tab:blue", zorder=3)
        ax.text(node, 0.0, str(node), color="white", ha="center", va="center", fontsize=9, zorder=4, weight="bold")
    ax.set_xlim(-0.4, 3.4)
    ax.set_ylim(-0.7, 1.1)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return write_png(fig, path)
