"""Annotated heatmap of a distance matrix (rows: source tasks, columns: targets)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.patches import Rectangle

from tanas.errors import ConfigError
from tanas.report._png import as_dict, new_figure, write_png
from tanas.report.tables import method_name


def _matrix_dict(matrix: Any) -> Mapping[str, Any]:
    matrix = as_dict(matrix)
    if not isinstance(matrix, Mapping) or not {"tasks", "mean"} <= set(matrix):
        raise ConfigError("plot_distance_heatmap takes a DistanceMatrix or its dict (with 'tasks' and 'mean')")
    return matrix


def _grid(rows: Any, n: int, label: str) -> np.ndarray:
    values = np.array([[math.nan if v is None else float(v) for v in row] for row in rows], dtype=float)
    if values.shape != (n, n):
        raise ConfigError(f"the distance matrix's {label} must be {n}x{n} for {n} tasks, got shape {values.shape}")
    return values


def plot_distance_heatmap(matrix: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Write a PNG heatmap of ``matrix`` (a :class:`~tanas.distance.DistanceMatrix` or its dict).

    Each cell shows the mean and, when there is more than one seed, ``± std``.
    Undefined pairs (``None``/NaN) are grey and marked ``n/a``. The nearest source
    of each target (``matrix["nearest"]``) is outlined. Uses matplotlib's Agg
    canvas directly (no pyplot state), and writes the file atomically.
    """
    data = _matrix_dict(matrix)
    names = [str(t) for t in data["tasks"]]
    n = len(names)
    if n == 0:
        raise ConfigError("the distance matrix has no tasks to plot")
    mean = _grid(data["mean"], n, "mean")
    std = _grid(data["std"], n, "std") if data.get("std") is not None else np.zeros((n, n))
    config = data.get("config", {}) or {}
    seeds = int(config.get("seeds", 1) or 1)

    finite = mean[np.isfinite(mean)]
    higher = bool(config.get("higher_is_better", False))
    if higher:  # a score: its own range, and the best (highest) shown dark like the nearest distance
        vmin = float(finite.min()) if finite.size else 0.0
        vmax = float(finite.max()) if finite.size and finite.max() > vmin else vmin + 1.0
    else:
        vmin = 0.0
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    size = 1.2 + 1.1 * n
    fig = new_figure(figsize=(size + 1.2, size))
    ax = fig.add_subplot(1, 1, 1)
    masked = np.ma.masked_invalid(mean)
    cmap = matplotlib.colormaps["viridis" if higher else "viridis_r"].with_extremes(bad="#d0d0d0")
    image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=vmax)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), labels=names)
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel("target task")
    ax.set_ylabel("source task")
    for i in range(n):
        for j in range(n):
            if not math.isfinite(mean[i, j]):
                text = "n/a"
            elif seeds > 1 and math.isfinite(std[i, j]):
                text = f"{mean[i, j]:.3f}\n±{std[i, j]:.3f}"
            else:
                text = f"{mean[i, j]:.3f}"
            midpoint = 0.5 * (vmin + vmax)
            dark = math.isfinite(mean[i, j]) and ((mean[i, j] < midpoint) if higher else (mean[i, j] > midpoint))
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
    nearest = data.get("nearest") or {}
    for j, target in enumerate(names):
        source = (nearest.get(target) or {}).get("source")
        if source in names:
            i = names.index(source)
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2))
    if title is None:
        method = config.get("method", "ftd")
        probe = config.get("probe", {})
        probe_name = probe.get("name") if isinstance(probe, Mapping) else probe
        form = "squared FTD" if config.get("squared") else method_name(str(method))
        form += " (higher is better)" if higher else ""
        title = f"{form}, probe {probe_name}, {seeds} seed{'s' if seeds != 1 else ''} (red: nearest source)"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return write_png(fig, path, dpi=120)
