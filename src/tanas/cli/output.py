"""What every command prints with: JSON on stdout, numbers that may be missing, and the words that tell a
score from a distance."""

from __future__ import annotations

import json
from typing import Any

import typer

from tanas.report.tables import METHOD_NAMES, method_name, value_kind

__all__ = ["METHOD_NAMES", "emit_json", "fmt", "method_name", "value_kind"]


def emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2))


def fmt(value: Any, spec: str = ".4f") -> str:
    """``value`` formatted, or ``-`` when there is none."""
    return "-" if value is None else format(value, spec)
