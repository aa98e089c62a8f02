"""Plumbing shared by the report's figures: Agg figures without pyplot, written atomically as PNG.

A :class:`~matplotlib.figure.Figure` with its own Agg canvas needs no pyplot state and
does not switch the backend of the process that draws it (a notebook keeps its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tanas.runtime import atomic_write_bytes


def as_dict(value: Any) -> Mapping[str, Any]:
    """``value.to_dict()`` for a result object; a dict as it is."""
    return value.to_dict() if hasattr(value, "to_dict") else value


def new_figure(**options: Any) -> Figure:
    """A :class:`Figure` (``options`` as for its constructor) drawn on its own Agg canvas."""
    fig = Figure(**options)
    FigureCanvasAgg(fig)
    return fig


def write_png(fig: Figure, path: str | Path, **options: Any) -> Path:
    """Render ``fig`` as PNG (``options`` as for ``savefig``) and write it to ``path`` atomically."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", **options)
    path = Path(path)
    atomic_write_bytes(path, buffer.getvalue())
    return path
