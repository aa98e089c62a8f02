"""Best genotypes for zoo tasks: find one by FUSE where a task lacks one (``zoo add --search``, the demo)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch

from tanas.data import Task
from tanas.errors import ConfigError
from tanas.nas.common import Budget
from tanas.nas.fuse import FuseConfig
from tanas.nas.registry import get_strategy

if TYPE_CHECKING:  # pragma: no cover
    from tanas.zoo import AddResult, TaskZoo


@dataclass
class GenotypeSeed:
    """What :func:`ensure_genotype` did for one zoo task."""

    name: str
    genotype: list[str]
    score: float
    searched: bool
    search_seconds: float = 0.0
    genotype_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ensure_genotype(
    zoo: TaskZoo,
    name: str,
    *,
    budget: Budget,
    fuse: FuseConfig | None = None,
    task: Task | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    data_root: str | None = None,
    force: bool = False,
    quiet: bool = False,
) -> GenotypeSeed:
    """Give zoo task ``name`` a best genotype by full-space FUSE, unless it has one (or ``force``).

    The genotype is stored with its validation accuracy in the search as the
    score and the search (config, history summary) as its record. ``task`` saves
    rebuilding the task from the zoo.
    """
    entry = zoo.get(name)
    if entry.best is not None and not force:
        return GenotypeSeed(name=entry.name, genotype=list(entry.best.genotype), score=entry.best.score, searched=False)
    task = task if task is not None else zoo.load_task(entry.name, data_root=data_root)
    if task.fingerprint() != entry.fingerprint:
        raise ConfigError(f"the task given for zoo task {entry.name!r} holds different data; pass the zoo's task")
    strategy = get_strategy("fuse")
    fuse = strategy.check_config(fuse)
    outcome = strategy.search(
        task, budget=budget, space=None, initial=None, config=fuse, seed=seed, device=device, quiet=quiet
    )
    record = {
        "strategy": "fuse",
        "task": task.spec,
        "val_acc": outcome.val_acc,
        "search_seconds": outcome.search_seconds,
        "space_size": outcome.space_size,
        "epochs_used": outcome.epochs_used,
        "stop_reason": outcome.stop_reason,
        "stages": len(outcome.history),
        "seed": seed,
        "C": fuse.C,
        "N": fuse.N,
        "budget": budget.to_dict(),
        "device": outcome.device,
        "fuse": fuse.to_dict(),
    }
    genotype_id = zoo.put_genotype(entry.name, outcome.genotype.to_json(), outcome.val_acc, record)
    return GenotypeSeed(
        name=entry.name,
        genotype=outcome.genotype.to_json(),
        score=outcome.val_acc,
        searched=True,
        search_seconds=outcome.search_seconds,
        genotype_id=genotype_id,
    )


@dataclass(frozen=True)
class GenotypeSearch:
    """How ``tanas zoo add --search`` gives each added task a best genotype: a full-space search by
    ``strategy`` (only ``fuse``) with a wall-clock budget of ``budget_seconds`` per task."""

    strategy: str = "fuse"
    budget_seconds: float = 60.0

    def __post_init__(self) -> None:
        if self.strategy != "fuse":
            raise ConfigError(f"--search {self.strategy!r} is not supported: use --search fuse")
        if not self.budget_seconds > 0:
            raise ConfigError(f"--budget-seconds must be positive, got {self.budget_seconds}")


def ensure_genotypes(
    zoo: TaskZoo,
    added: Iterable[AddResult],
    search: GenotypeSearch,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    data_root: str | None = None,
    quiet: bool = False,
) -> Iterator[GenotypeSeed]:
    """:func:`ensure_genotype` for each task that :meth:`TaskZoo.add` returned, in turn; yields each
    :class:`GenotypeSeed` as soon as it is found, so that a caller can report as it goes."""
    for result in added:
        yield ensure_genotype(
            zoo,
            result.entry.name,
            budget=Budget(seconds=search.budget_seconds),
            task=result.task,
            seed=seed,
            device=device,
            data_root=data_root,
            quiet=quiet,
        )
