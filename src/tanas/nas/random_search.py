"""Random search: draw distinct genotypes uniformly (seeded), train each briefly, keep the best on val.

Each trial trains a fresh network for ``epochs_per_trial`` epochs on the train
split (a trial starts only if it is expected to fit in the budget left) (the same schedule a FUSE candidate gets per stage by default) and scores
it by val accuracy; ties keep the earlier trial. With ``initial`` the first
trial is that genotype. Only the train and val splits are read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from tanas.data import Task
from tanas.nas.common import (
    Budget,
    BudgetClock,
    SearchOutcome,
    StageRecord,
    TrainConfig,
    check_search_task,
    make_candidate,
)
from tanas.errors import SearchSpaceError, StrategyConfigError
from tanas.genotypes import Genotype, as_genotype
from tanas.nas.space import SearchSpace
from tanas.runtime import derive_seed, make_generator, progress, resolve_device
from tanas.train import evaluate, train_epoch


@dataclass(frozen=True)
class RandomConfig:
    """Random-search settings; ``max_trials`` None means: until the budget ends."""

    epochs_per_trial: int = 6
    max_trials: int | None = None
    C: int = 16
    N: int = 1
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.epochs_per_trial < 1:
            raise StrategyConfigError(f"random search epochs_per_trial must be >= 1, got {self.epochs_per_trial}")
        if self.max_trials is not None and self.max_trials < 1:
            raise StrategyConfigError(f"random search max_trials must be >= 1, got {self.max_trials}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def random_search(
    task: Task,
    *,
    budget: Budget,
    space: SearchSpace | None = None,
    initial: Genotype | str | None = None,
    config: RandomConfig | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = False,
) -> SearchOutcome:
    """Random search on ``task`` over ``space`` (default: the full space)."""
    config = config or RandomConfig()
    space = space or SearchSpace.full()
    device = resolve_device(device)
    train_split, val_split = check_search_task(task)
    first = as_genotype(initial) if initial is not None else None
    if first is not None and not space.contains(first):
        raise SearchSpaceError(f"the initial genotype {first} is not in the search space ({space.describe()})")

    sampler = make_generator(derive_seed(seed, "random-sample"))
    clock = BudgetClock(budget)
    tcfg = config.train
    E = config.epochs_per_trial
    max_trials = config.max_trials if config.max_trials is not None else space.size
    history: list[StageRecord] = []
    seen: set[Genotype] = set()
    best: Genotype | None = None
    best_acc = -1.0
    stop_reason = "trials"
    bar = progress(total=config.max_trials, desc="random", quiet=quiet, unit="trial")

    trial_seconds: list[float] = []
    for trial in range(min(max_trials, space.size)):
        if history:  # every trial so far ran all E epochs (a cut one ends the search): trial_seconds is not empty
            estimate = sum(trial_seconds) / len(trial_seconds)
            if not clock.affords(E, estimate):  # start only a trial that can finish
                stop_reason = "budget"
                break
        trial_start = clock.elapsed()
        if trial == 0 and first is not None:
            genotype = first
        else:
            drawn = space.sample_distinct(1, sampler, exclude=list(seen))
            if not drawn:
                stop_reason = "space exhausted"
                break
            genotype = drawn[0]
        seen.add(genotype)
        model = make_candidate(genotype, task, C=config.C, N=config.N, seed=derive_seed(seed, "random-init", trial), device=device)
        opt = tcfg.optimizer(model.parameters())
        sched = tcfg.scheduler(opt, E)
        epochs_done = 0
        for ep in range(E):
            if ep and clock.exhausted(upcoming_epochs=1):
                break
            train_epoch(model, task, train_split, opt, batch_size=tcfg.batch_size, device=device,
                        generator=make_generator(derive_seed(seed, "random-data", trial, ep)), augment=tcfg.augment)
            sched.step()
            clock.charge(1)
            epochs_done += 1
        acc = evaluate(model, task, val_split, device=device)
        if epochs_done == E:
            trial_seconds.append(clock.elapsed() - trial_start)
        if acc > best_acc:
            best, best_acc = genotype, acc
        assert best is not None
        history.append(
            StageRecord(
                stage=trial,
                elapsed_seconds=clock.elapsed(),
                epochs_used=clock.epochs,
                incumbent=best.to_json(),
                incumbent_val_acc=best_acc,
                candidates=[{"genotype": genotype.to_json(), "val_acc": acc, "epochs": epochs_done}],
                extra={"truncated": epochs_done < E},
            )
        )
        bar.update(1)
        bar.set_postfix(best=f"{best_acc:.3f}")
        if epochs_done < E:
            stop_reason = "budget"
            break
    bar.close()
    if best is None:
        raise SearchSpaceError("random search ran no trial: the search space is empty")
    return SearchOutcome(
        strategy="random",
        genotype=best,
        val_acc=best_acc,
        search_seconds=clock.elapsed(),
        epochs_used=clock.epochs,
        space_size=space.size,
        device=str(device),
        history=history,
        config={"random": config.to_dict(), "budget": budget.to_dict(), "seed": seed,
                "initial": first.to_json() if first is not None else None},
        stop_reason=stop_reason,
    )
