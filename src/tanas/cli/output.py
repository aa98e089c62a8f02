"""What every command prints with: JSON on stdout, numbers that may be missing, and the words that tell a
score from a distance."""

from __future__ import annotations

import json
from typing import Any

import typer

#: how a method's values are named in a table's header
METHOD_NAMES = {
    "ftd": "FTD",
    "task2vec": "Task2Vec",
    "leep": "LEEP",
    "nce": "NCE",
    "logme": "LogME",
    "hscore": "H-score",
}


def emit_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, indent=2))


def fmt(value: Any, spec: str = ".4f") -> str:
    """``value`` formatted, or ``-`` when there is none."""
    return "-" if value is None else format(value, spec)


def value_kind(higher_is_better: bool) -> str:
    """What a column of values is: a score or a distance, and which way is better."""
    return "score (higher is better)" if higher_is_better else "distance (lower is nearer)"


def method_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)
