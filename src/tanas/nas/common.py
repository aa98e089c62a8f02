"""What the search strategies share: budgets, the candidate trainer's settings,
the per-stage history and the outcome of a search.

History and time-to-match
-------------------------
Every strategy appends one :class:`StageRecord` per stage (FUSE: a stage;
random search: a trial; DARTS: a supernet epoch) holding
``(elapsed_seconds, incumbent, incumbent_val_acc)``. ``incumbent_val_acc`` is
the *stand-alone* validation accuracy of the incumbent genotype's network as
trained inside the search at that point:

- FUSE: the incumbent candidate's own network (not the fused ensemble) after
  the stage's training rounds;
- random search: the best trial so far, as trained in its trial;
- DARTS: the one-shot estimate — the supernet with every edge reduced to the
  incumbent's op, shared weights, BN on batch statistics.

:func:`time_to_match` reads the first elapsed time at which it reached a target.
Strategies read only the ``train`` and ``val`` splits, never ``test``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from types import UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin, get_type_hints

import torch
from torch import nn

from tanas.data import Split, Task
from tanas.errors import StrategyConfigError
from tanas.genotypes import Genotype
from tanas.nas.network import build_network

if TYPE_CHECKING:  # pragma: no cover
    from tanas.nas.space import SearchSpace


@dataclass(frozen=True)
class Budget:
    """A search budget: wall-clock ``seconds`` and/or ``epochs``; the search stops at whichever ends first.

    One *epoch* is one pass of one network over the train split (a FUSE round
    with K candidates costs K epochs; a DARTS supernet pass counts as one
    epoch although it costs more). Use ``seconds`` to compare strategies at
    equal cost. FUSE and random search start a stage or trial only when its
    epochs, and its seconds as estimated from those already done, fit in what
    is left (the first always runs); inside a unit the budget is checked
    between epochs (DARTS: between batches), so a search may overrun by at
    most one epoch, e.g. when the machine slows down.
    """

    seconds: float | None = None
    epochs: int | None = None

    def __post_init__(self) -> None:
        if self.seconds is None and self.epochs is None:
            raise StrategyConfigError(
                "a search needs a budget: give seconds (--budget-seconds) and/or epochs (--budget-epochs)"
            )
        if self.seconds is not None and not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise StrategyConfigError(f"budget seconds must be a positive number, got {self.seconds}")
        if self.epochs is not None and (
            isinstance(self.epochs, bool) or int(self.epochs) != self.epochs or self.epochs < 1
        ):
            raise StrategyConfigError(f"budget epochs must be a positive integer, got {self.epochs}")

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "epochs": self.epochs}


class BudgetClock:
    """Tracks elapsed seconds and charged epochs against a :class:`Budget`."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.start = time.perf_counter()
        self.epochs = 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def charge(self, epochs: int = 1) -> None:
        self.epochs += epochs

    def affords(self, epochs: int, seconds: float | None = None) -> bool:
        """Whether a unit of work of ``epochs`` epochs, expected to take ``seconds``, fits in what is left.

        Strategies ask this before starting a stage (FUSE) or a trial (random search),
        with ``seconds`` estimated from the units already done, so that the budget is
        not spent on a unit that would be cut short and then judged on less training.
        """
        b = self.budget
        if b.epochs is not None and self.epochs + epochs > b.epochs:
            return False
        if b.seconds is not None:
            remaining = b.seconds - self.elapsed()
            if remaining <= 0 or (seconds is not None and seconds > remaining):
                return False
        return True

    def exhausted(self, upcoming_epochs: int = 0) -> bool:
        """True when time is up, or when ``upcoming_epochs`` more would exceed the epoch budget."""
        b = self.budget
        if b.seconds is not None and self.elapsed() >= b.seconds:
            return True
        return b.epochs is not None and self.epochs + upcoming_epochs > b.epochs


@dataclass(frozen=True)
class TrainConfig:
    """How search candidates (and the final retraining) are trained: SGD with cosine decay over each run."""

    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    batch_size: int = 64
    augment: bool = False

    def __post_init__(self) -> None:
        if not self.lr > 0 or self.batch_size < 1 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise StrategyConfigError(
                f"invalid training settings {self}: need lr > 0, batch_size >= 1, weight_decay >= 0, 0 <= momentum < 1"
            )

    def optimizer(self, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            params,
            lr=self.lr,
            momentum=self.momentum,
            weight_decay=self.weight_decay,
            nesterov=self.nesterov and self.momentum > 0,
        )

    def scheduler(self, optimizer: torch.optim.Optimizer, epochs: int) -> torch.optim.lr_scheduler.LRScheduler:
        """Cosine decay stepped once per epoch over a run of ``epochs`` epochs."""
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))


@dataclass
class StageRecord:
    """One stage of a search (see module doc)."""

    stage: int
    elapsed_seconds: float
    epochs_used: int
    incumbent: list[str]
    incumbent_val_acc: float
    candidates: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SearchOutcome:
    """What a strategy returns: the chosen genotype and how the search got there."""

    strategy: str
    genotype: Genotype
    val_acc: float
    search_seconds: float
    epochs_used: int
    space_size: int
    device: str
    history: list[StageRecord]
    config: dict[str, Any] = field(default_factory=dict)
    stop_reason: str = ""
    space: SearchSpace | None = None  # the space searched (its size is space_size)


def time_to_match(history: Sequence[dict[str, Any] | StageRecord], target: float) -> float | None:
    """The elapsed seconds at which the incumbent's val accuracy first reached ``target`` (None: never)."""
    for rec in history:
        if isinstance(rec, StageRecord):
            acc, elapsed = rec.incumbent_val_acc, rec.elapsed_seconds
        else:
            acc, elapsed = rec["incumbent_val_acc"], rec["elapsed_seconds"]
        if acc >= target:
            return float(elapsed)
    return None


def check_search_task(task: Task) -> tuple[Split, Split]:
    """The train and val splits a search may use (it never touches ``test``)."""
    splits = task.splits
    missing = [name for name in ("train", "val") if name not in splits]
    if missing:
        raise StrategyConfigError(f"task {task.name} has no {', '.join(missing)} split; a search needs train and val")
    train, val = splits["train"], splits["val"]
    if len(train) == 0 or len(val) == 0:
        raise StrategyConfigError(f"task {task.name} has an empty train or val split; a search needs both")
    return train, val


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(1) == y.to(logits.device)).float().mean()) if len(y) else 0.0


Objective = Literal["independent", "fused"]


def make_candidate(genotype: Genotype, task: Task, *, C: int, N: int, seed: int, device: torch.device) -> nn.Module:
    """A freshly initialised stand-alone network for ``genotype`` on ``task`` (init is a function of ``seed``)."""
    channels = task.input_shape[0]
    return build_network(genotype, channels, task.num_classes, C=C, N=N, seed=seed).to(device)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    if not isinstance(value, str):
        return value
    origin = get_origin(hint)
    if origin in (Union, UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        if value.strip().lower() in ("none", "null"):
            return None
        return _coerce(value, args[0], key)
    if origin is Literal:
        return value
    try:
        if hint is bool:
            lowered = value.strip().lower()
            if lowered not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(value)
            return lowered in ("1", "true", "yes")
        if hint is int:
            return int(value)
        if hint is float:
            return float(value)
    except ValueError:
        raise StrategyConfigError(f"option {key}={value!r}: expected {getattr(hint, '__name__', hint)}") from None
    return value


def configure(cls: type, options: Mapping[str, Any] | None = None, **fixed: Any) -> Any:
    """Build the config dataclass ``cls`` from ``fixed`` values and ``options``.

    ``options`` maps field names to values or strings (``"6"``, ``"fused"``,
    ``"none"``), coerced to the field's type; ``"train.lr"`` sets a field of a
    nested config. Unknown keys raise :class:`StrategyConfigError` listing the valid ones.
    ``fixed`` values are set by their own command-line flags, so options may not
    set them; a dotted key (``**{"fuse.C": 8}``) fixes a field of a nested config.
    """
    hints = get_type_hints(cls)
    names = [f.name for f in fields(cls) if f.init]
    kwargs: dict[str, Any] = {}
    nested_fixed: dict[str, dict[str, Any]] = {}
    for key, value in fixed.items():
        head, _, sub = key.partition(".")
        if sub:
            nested_fixed.setdefault(head, {})[sub] = value
        else:
            kwargs[head] = value
    own_flags = set(kwargs)
    nested: dict[str, dict[str, Any]] = {}
    for key, value in (options or {}).items():
        head, _, sub = key.partition(".")
        if head not in names or (sub and not is_dataclass(hints[head])):
            valid = [n for n in names if n not in own_flags]
            raise StrategyConfigError(f"unknown {cls.__name__} option {key!r}: valid options are {', '.join(valid)}")
        if head in own_flags:
            raise StrategyConfigError(f"option {key!r} is set by its own command-line flag (--{head}); use that")
        if sub:
            nested.setdefault(head, {})[sub] = value
        else:
            kwargs[head] = _coerce(value, hints[head], key)
    for head in {**nested_fixed, **nested}:
        if head not in names or not is_dataclass(hints[head]):
            raise StrategyConfigError(f"{cls.__name__} has no nested config {head!r}")
        kwargs[head] = configure(hints[head], nested.get(head), **nested_fixed.get(head, {}))
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise StrategyConfigError(f"invalid {cls.__name__} options: {exc}") from None
