"""How zoo tasks are named and where they are rebuilt from (see the package docstring's **Names**)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from tanas.data import Task
    from tanas.zoo.taskzoo import TaskZoo


def zoo_task_name(arg: str, task: Task) -> str:
    """The zoo name of ``task`` parsed from the CLI argument ``arg`` (see the package docstring)."""
    if task.name == task.spec:
        return task.spec
    if reparses(arg):
        return f"{arg.split('/')[0]}/{task.name}"
    if is_task_file(arg):
        return f"{Path(arg).stem}/{task.name}"
    return task.name


def is_task_file(arg: str) -> bool:
    """Whether the CLI argument ``arg`` names a TOML task file (its tasks are rebuilt from that file)."""
    return arg.strip().endswith(".toml")


def reparses(name: str) -> bool:
    """Whether ``name`` is something parse_task accepts as it is (a suite member like ``paper-digits/T0``)."""
    from tanas.data import SUITES

    return name.split("/")[0] in SUITES


def default_origin(name: str, task: Task) -> str:
    """What rebuilds ``task`` added as ``name``: the name when it is a suite member, else the spec."""
    return name if (name != task.spec and reparses(name)) else task.spec


def nearest_target(
    zoo: TaskZoo, arg: str, *, seed: int = 0, data_root: str | None = None, download: bool = False
) -> str | Task:
    """What the argument ``arg`` names as a :meth:`TaskZoo.nearest` target: a zoo task (``arg`` itself),
    else the one task it parses to (with data seed ``seed``).

    Only an argument outside the zoo is parsed, so a target in the zoo imports no data.
    """
    if arg in zoo:
        return arg
    from tanas.data import parse_one_task

    return parse_one_task(arg, seed=seed, data_root=data_root, download=download)
