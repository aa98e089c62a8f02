"""One ``zoo add`` batch, validated whole before any work: every spec parses, and no name is given twice.

A command that adds several specs (or a TOML file of several tasks) either adds them all
or, when any of them is bad, nothing: parsing and name checks come before the first probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tanas.errors import ZooConflictError
from tanas.zoo.names import is_task_file, zoo_task_name

if TYPE_CHECKING:  # pragma: no cover
    from tanas.data import Task


@dataclass(frozen=True)
class PlannedTask:
    """A task of the batch with the name and origin it will be added under (origin None: the default)."""

    task: Task
    name: str
    origin: str | None
    arg: str


def plan_batch(
    specs: Sequence[str], *, data_seed: int = 0, data_root: str | None = None, download: bool = False
) -> list[PlannedTask]:
    """Parse every spec of one command (each source loaded once) and name its tasks.

    Raises the spec's :class:`~tanas.errors.TanasError` for a bad spec, and
    :class:`ZooConflictError` when two tasks of the batch get one name for different data.
    """
    from tanas.data import parse_spec_tasks

    plan: list[PlannedTask] = []
    for arg, tasks in parse_spec_tasks(specs, seed=data_seed, data_root=data_root, download=download):
        origin = str(Path(arg).resolve()) if is_task_file(arg) else None
        plan += [PlannedTask(task, zoo_task_name(arg, task), origin, arg) for task in tasks]
    first: dict[str, PlannedTask] = {}
    for item in plan:
        other = first.setdefault(item.name, item)
        if other is not item and other.task.fingerprint() != item.task.fingerprint():
            raise ZooConflictError(
                f"two tasks of this command are named {item.name!r} with different data ({other.arg} and "
                f"{item.arg}); rename one of them"
            )
    return plan


def check_names(plan: Sequence[PlannedTask], taken: dict[str, str]) -> None:
    """Refuse the batch when a name in it is ``taken`` (name -> fingerprint) by other data in the zoo."""
    for item in plan:
        fingerprint = taken.get(item.name)
        if fingerprint is not None and fingerprint != item.task.fingerprint():
            raise ZooConflictError(
                f"the zoo already has a task named {item.name!r} with different data (fingerprint "
                f"{fingerprint[:12]}, now {item.task.fingerprint()[:12]}); remove it with "
                f"`tanas zoo rm {item.name}` or add the task under another name"
            )
