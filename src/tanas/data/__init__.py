"""Data sources and tasks.

``parse_task(spec)`` turns a spec string, a suite name or a TOML file into tasks
whose splits live in memory as uint8 tensors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tanas.data.adapt import InputAdapter, adapt_task
from tanas.data.sources import SOURCE_HELP, SOURCE_NAMES, Source, load_source, read_idx
from tanas.data.suites import SUITE_HELP, SUITES, is_suite, resolve_suite_member, suite_specs, toml_specs
from tanas.data.tasks import KINDS, SPLITS, Split, Task, TaskSpec, build_task, parse_spec

__all__ = [
    "KINDS",
    "SOURCE_HELP",
    "SOURCE_NAMES",
    "SPLITS",
    "SUITES",
    "SUITE_HELP",
    "InputAdapter",
    "Source",
    "Split",
    "Task",
    "TaskSpec",
    "adapt_task",
    "build_task",
    "load_source",
    "parse_one_task",
    "parse_spec",
    "parse_spec_tasks",
    "parse_task",
    "parse_tasks",
    "read_idx",
]


def default_data_root(data_root: str | None = None) -> str | None:
    """``data_root`` if given, else the ``TANAS_DATA`` environment variable, else None."""
    return data_root or os.environ.get("TANAS_DATA") or None


def parse_task(
    spec: str,
    *,
    seed: int = 0,
    data_root: str | None = None,
    download: bool = False,
    sources: dict[str, Source] | None = None,
) -> list[Task]:
    """Tasks for a spec string, a suite name (optionally ``SUITE/Tn``) or a TOML file.

    ``sources`` is an optional cache of loaded sources shared between calls.
    """
    root = default_data_root(data_root)
    cache = sources if sources is not None else {}

    def load(token: str, path: str | None = None, image_size: int = 32) -> Source:
        key = f"{token}@{path}|{image_size}" if path else token
        if key not in cache:
            cache[key] = load_source(token, path=path, data_root=root, download=download, image_size=image_size)
        return cache[key]

    text = spec.strip()
    if text.endswith(".toml") and not is_suite(text):
        specs = toml_specs(text) if Path(text).is_file() else None
        if specs is None:
            from tanas.errors import ConfigError

            raise ConfigError(f"task file {text} not found")
    elif is_suite(text):
        suite, member = resolve_suite_member(text)
        specs = suite_specs(suite, load)
        if member:
            specs = [s for s in specs if s.name == member]
    else:
        specs = [parse_spec(text)]
    tasks = [build_task(s, load(s.source, s.path, s.image_size), seed=seed) for s in specs]
    if text.endswith(".toml"):
        _refuse_duplicate_names(text, tasks)
    return tasks


def _refuse_duplicate_names(file: str, tasks: list[Task]) -> None:
    """A task file whose tasks share a name is an error: the zoo would keep only one of them."""
    seen: dict[str, int] = {}
    for number, task in enumerate(tasks, 1):
        if task.name in seen:
            from tanas.errors import ConfigError

            raise ConfigError(
                f"{file}: tasks {seen[task.name]} and {number} are both named {task.name!r}; "
                "give each [[task]] its own name"
            )
        seen[task.name] = number


def parse_spec_tasks(
    specs: Sequence[str], *, seed: int = 0, data_root: str | None = None, download: bool = False
) -> list[tuple[str, list[Task]]]:
    """Each spec with its tasks (as :func:`parse_task` gives them), loading each source once."""
    sources: dict[str, Source] = {}
    return [
        (spec, parse_task(spec, seed=seed, data_root=data_root, download=download, sources=sources)) for spec in specs
    ]


def parse_tasks(
    specs: Sequence[str], *, seed: int = 0, data_root: str | None = None, download: bool = False
) -> list[Task]:
    """The tasks of every spec in turn (each as :func:`parse_task`), loading each source once."""
    groups = parse_spec_tasks(specs, seed=seed, data_root=data_root, download=download)
    return [task for _, tasks in groups for task in tasks]


def parse_one_task(spec: str, *, seed: int = 0, data_root: str | None = None, download: bool = False) -> Task:
    """The one task ``spec`` names; a spec of several tasks (a suite, a TOML file) raises TaskSpecError."""
    found = parse_task(spec, seed=seed, data_root=data_root, download=download)
    if len(found) != 1:
        from tanas.errors import TaskSpecError

        if not found:
            raise TaskSpecError(f"{spec!r} names no task; give one task spec")
        names = ", ".join(t.name for t in found)
        raise TaskSpecError(f"{spec!r} names {len(found)} tasks ({names}); give one, e.g. {spec}/{found[-1].name}")
    return found[0]
