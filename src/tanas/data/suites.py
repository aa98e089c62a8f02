"""The paper's four-task suites (docs/architecture.md §1.1), and TOML task files."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from tanas.data.sources import Source
from tanas.data.tasks import VAL_FRACTION, TaskSpec, parse_spec
from tanas.errors import ConfigError, TaskSpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    # the 3.10 backport; not installed where Python has tomllib, so mypy may not find it there
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

_DIGIT_SUITE = ("indicator:0", "indicator:1", "multiclass:0,1,2,3", "full")

#: suite name -> (source, [kind:classes for T0..T3]); CIFAR-100 is built from its superclasses.
SUITES: dict[str, tuple[str, tuple[str, ...]]] = {
    "paper-digits": ("digits", _DIGIT_SUITE),
    "paper-mnist": ("mnist", _DIGIT_SUITE),
    "paper-fashion-mnist": ("fashion_mnist", _DIGIT_SUITE),
    "paper-cifar10": (
        "cifar10",
        (
            "indicator:automobile,cat,ship",
            "indicator:cat,ship,truck",
            "multiclass:bird,frog,horse",
            "full",
        ),
    ),
    "paper-cifar100": ("cifar100", ()),
}

SUITE_HELP = {
    "paper-digits": "T0 indicator{0}, T1 indicator{1}, T2 multiclass{0,1,2,3}+other, T3 full — on digits",
    "paper-mnist": "the same four tasks on MNIST",
    "paper-fashion-mnist": "the same four tasks on Fashion-MNIST",
    "paper-cifar10": (
        "T0 indicator{automobile,cat,ship}, T1 indicator{cat,ship,truck}, T2 multiclass{bird,frog,horse}+other, T3 full"
    ),
    "paper-cifar100": (
        "T0 indicator{superclasses 18,19}, T1 indicator{superclasses 5,6}, "
        "T2 multiclass{T0's 10}+other, T3 20 superclasses"
    ),
}


def suite_specs(suite: str, load: Callable[[str], Source]) -> list[TaskSpec]:
    """The four specs of ``suite``, named T0..T3. ``load(source_name)`` loads a source (CIFAR-100 only)."""
    source_name, members = SUITES[suite]
    if suite == "paper-cifar100":
        fine: Source = load("cifar100")
        groups = fine.groups
        t0 = [str(c) for g in (18, 19) for c in groups.get(g, [])]
        t1 = [str(c) for g in (5, 6) for c in groups.get(g, [])]
        texts = [
            f"cifar100:indicator:{','.join(t0)}",
            f"cifar100:indicator:{','.join(t1)}",
            f"cifar100:multiclass:{','.join(t0)}",
            "cifar100_coarse:full",
        ]
    else:
        texts = [f"{source_name}:{member}" for member in members]
    specs = []
    for i, text in enumerate(texts):
        parsed = parse_spec(text)
        specs.append(TaskSpec(parsed.source, parsed.kind, parsed.classes, parsed.path, name=f"T{i}"))
    return specs


_TOP_KEYS = {"task"}
_TASK_KEYS = {"name", "spec", "source", "kind", "classes", "path", "val_fraction", "image_size"}


def toml_specs(path: str | Path) -> list[TaskSpec]:
    """Task specs from a TOML file of ``[[task]]`` tables.

    Each table gives either ``spec = "SOURCE:KIND[:CLASSES]"`` or ``source``, ``kind``
    and ``classes`` (a list), plus optional ``name``, ``path``, ``val_fraction`` and
    ``image_size``. Unknown keys are an error.
    """
    file = Path(path)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read task file {file}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}") from exc
    unknown = set(document) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{file}: unknown top-level key(s) {sorted(unknown)}; allowed: [[task]] tables")
    tables = document.get("task", [])
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{file}: no [[task]] tables found")
    specs = []
    for number, table in enumerate(tables, 1):
        unknown = set(table) - _TASK_KEYS
        if unknown:
            raise ConfigError(
                f"{file}: task {number} has unknown key(s) {sorted(unknown)}; allowed: {sorted(_TASK_KEYS)}"
            )
        if "spec" in table:
            if {"source", "kind", "classes"} & set(table):
                raise ConfigError(f"{file}: task {number} gives both spec and source/kind/classes; give one form")
            parsed = parse_spec(str(table["spec"]))
        else:
            if "source" not in table or "kind" not in table:
                raise ConfigError(f"{file}: task {number} needs spec, or source and kind")
            classes = table.get("classes", [])
            if not isinstance(classes, list):
                raise ConfigError(f"{file}: task {number}: classes must be a list")
            source = str(table["source"]) + (f"@{table['path']}" if "path" in table else "")
            parsed = parse_spec(
                f"{source}:{table['kind']}" + (":" + ",".join(str(c) for c in classes) if classes else "")
            )
        path_value = table.get("path", parsed.path)
        if path_value and not Path(str(path_value)).is_absolute():
            path_value = str((file.parent / str(path_value)).resolve())
        val_fraction = float(table.get("val_fraction", VAL_FRACTION))
        if not 0.0 < val_fraction < 0.5:
            raise ConfigError(f"{file}: task {number}: val_fraction must lie in (0, 0.5)")
        specs.append(
            TaskSpec(
                parsed.source,
                parsed.kind,
                parsed.classes,
                path_value,
                name=table.get("name"),
                val_fraction=val_fraction,
                image_size=int(table.get("image_size", 32)),
            )
        )
    return specs


def is_suite(text: str) -> bool:
    return text.split("/")[0] in SUITES


def resolve_suite_member(text: str) -> tuple[str, str | None]:
    suite, _, member = text.partition("/")
    if member and member not in ("T0", "T1", "T2", "T3"):
        raise TaskSpecError(f"suite {suite!r} has tasks T0..T3, not {member!r}")
    return suite, member or None
