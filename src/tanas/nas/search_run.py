"""The bookkeeping every search strategy shares: one :class:`SearchRun` per search.

A strategy builds the run (which checks the task, resolves the device and the
space), prepares what it needs, then runs its own loop inside ``with run:``,
which starts the budget clock and the progress bar and closes the bar however
the loop ends. Each stage goes to :meth:`SearchRun.record`; the outcome comes
from :meth:`SearchRun.finish`::

    run = SearchRun("random", task, config=config, budget=budget, space=space, seed=seed, device=device,
                    quiet=quiet, total=config.max_trials, unit="trial", stop_reason="trials")
    with run:
        for trial in ...:
            if not run.clock.affords(epochs):
                run.stop_reason = "budget"
                break
            ...
            run.record(trial, best, best_acc, candidates=[...], best=f"{best_acc:.3f}")
    return run.finish(best, best_acc)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

import torch

from tanas.data import Task
from tanas.errors import SearchSpaceError
from tanas.genotypes import Genotype, as_genotype
from tanas.nas.common import Budget, BudgetClock, SearchOutcome, StageRecord, check_search_task
from tanas.nas.space import SearchSpace
from tanas.runtime import progress, resolve_device


class SearchRun:
    """One search: its task splits, space, device, budget clock, history, progress bar and outcome.

    Attributes:
        strategy: the strategy's name; the progress bar's label and the outcome's ``strategy``.
        space: the space searched (``None`` given: the full space).
        device: the resolved torch device.
        train, val: the splits a search may read (never ``test``).
        clock: the :class:`BudgetClock`, started on entering the run.
        history: one :class:`StageRecord` per :meth:`record`.
        stop_reason: why the loop ended; the strategy sets it when it stops early.
    """

    def __init__(
        self,
        strategy: str,
        task: Task,
        *,
        config: Any,
        budget: Budget,
        space: SearchSpace | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        quiet: bool = False,
        total: int | None = None,
        unit: str = "stage",
        stop_reason: str = "",
    ) -> None:
        self.strategy = strategy
        self.task = task
        self.config = config
        self.budget = budget
        self.seed = seed
        self.space = space or SearchSpace.full()
        self.device = resolve_device(device)
        self.train, self.val = check_search_task(task)
        self.history: list[StageRecord] = []
        self.stop_reason = stop_reason
        self.outcome: SearchOutcome | None = None
        self._bar_total, self._bar_quiet, self._bar_unit = total, quiet, unit
        self._clock: BudgetClock | None = None
        self._bar: Any = None

    def start_from(self, initial: Genotype | str | None, role: str = "initial genotype") -> Genotype | None:
        """``initial`` as a :class:`Genotype` (None stays None), refused unless it is in the space."""
        if initial is None:
            return None
        genotype = as_genotype(initial)
        if not self.space.contains(genotype):
            raise SearchSpaceError(f"the {role} {genotype} is not in the search space ({self.space.describe()})")
        return genotype

    # ----------------------------------------------------------------- the loop
    def __enter__(self) -> SearchRun:
        self._clock = BudgetClock(self.budget)
        self._bar = progress(total=self._bar_total, desc=self.strategy, quiet=self._bar_quiet, unit=self._bar_unit)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._bar.close()

    @property
    def clock(self) -> BudgetClock:
        if self._clock is None:
            raise RuntimeError("the budget clock starts when the run is entered: use 'with run:'")
        return self._clock

    def record(
        self,
        stage: int,
        incumbent: Genotype,
        incumbent_val_acc: float,
        *,
        candidates: Iterable[dict[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
        **postfix: Any,
    ) -> StageRecord:
        """Append a stage to the history at the clock's time and epochs; ``postfix`` goes on the progress bar."""
        rec = StageRecord(
            stage=stage,
            elapsed_seconds=self.clock.elapsed(),
            epochs_used=self.clock.epochs,
            incumbent=incumbent.to_json(),
            incumbent_val_acc=incumbent_val_acc,
            candidates=list(candidates),
            extra=dict(extra or {}),
        )
        self.history.append(rec)
        self._bar.update(1)
        self._bar.set_postfix(**postfix)
        return rec

    def finish(self, genotype: Genotype, val_acc: float, **config: Any) -> SearchOutcome:
        """The outcome: ``genotype`` chosen with ``val_acc``, at the clock's time.

        Its ``config`` records the strategy's settings under the strategy's name, the
        budget, the seed and ``config`` (e.g. ``initial=``).
        """
        self.outcome = SearchOutcome(
            strategy=self.strategy,
            genotype=genotype,
            val_acc=val_acc,
            search_seconds=self.clock.elapsed(),
            epochs_used=self.clock.epochs,
            space_size=self.space.size,
            device=str(self.device),
            history=self.history,
            config={self.strategy: self.config.to_dict(), "budget": self.budget.to_dict(), "seed": self.seed, **config},
            stop_reason=self.stop_reason,
            space=self.space,
        )
        return self.outcome
