"""Validation accuracy against search time for one or more searches (``search.png``).

Each search draws its incumbent's stand-alone val accuracy as a step line over
elapsed seconds (the data time-to-match is read from), and every trained
candidate's val accuracy as faint dots at the time its stage ended.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tanas.report._png import as_dict, new_figure, write_png


def plot_search(
    results: Sequence[Any] | Any,
    path: str | Path,
    *,
    title: str | None = None,
    target: float | None = None,
) -> Path:
    """Plot ``results`` (SearchResult objects or their dicts) to the PNG ``path``.

    ``target`` draws a horizontal line at that val accuracy (for time-to-match).
    """
    if isinstance(results, Mapping) or hasattr(results, "to_dict"):
        results = [results]
    rows = [as_dict(r) for r in results]
    fig = new_figure(figsize=(6.4, 4.0), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    for row in rows:
        history = row.get("history") or []
        xs = [float(h["elapsed_seconds"]) for h in history]
        ys = [100.0 * float(h["incumbent_val_acc"]) for h in history]
        label = str(row.get("strategy", "search"))
        test = row.get("test_acc")
        if test:
            label += f" (test {100 * test['mean']:.1f}±{100 * test['std']:.1f}%)"
        if xs:
            # The line starts when the first stage ends (before it there is no incumbent)
            # and holds the last value until the search ended.
            end = max(xs[-1], float(row.get("search_seconds") or xs[-1]))
            line = ax.step([*xs, end], [*ys, ys[-1]], where="post", label=label)[0]
            ax.plot(xs, ys, "o", markersize=3, color=line.get_color())
            cx, cy = [], []
            for h, x in zip(history, xs):
                for cand in h.get("candidates") or []:
                    if cand.get("val_acc") is not None:
                        cx.append(x)
                        cy.append(100.0 * float(cand["val_acc"]))
            if cx:
                ax.scatter(cx, cy, s=8, alpha=0.3, color=line.get_color())
    if target is not None:
        ax.axhline(100.0 * target, color="grey", linestyle=":", linewidth=1, label=f"target {100 * target:.1f}%")
    ax.set_xlabel("search time (s)")
    ax.set_ylabel("validation accuracy (%)")
    if title is None and rows:
        name, spec = rows[0].get("task_name") or "", rows[0].get("task") or ""
        title = f"{name} ({spec})" if name and spec and name != spec else (spec or name)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    if rows:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return write_png(fig, path)
