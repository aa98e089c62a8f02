"""Random search: draw distinct genotypes uniformly (seeded), train each briefly, keep the best on val.

Each trial trains a fresh network for ``epochs_per_trial`` epochs on the train
split (the same schedule a FUSE candidate gets per stage by default; a trial
starts only if it is expected to fit in the budget left) and scores it by val
accuracy; ties keep the earlier trial. With ``initial`` the first
trial is that genotype. Only the train and val splits are read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from tanas.data import Task
from tanas.errors import SearchSpaceError, StrategyConfigError
from tanas.genotypes import Genotype
from tanas.nas.common import Budget, SearchOutcome, TrainConfig, make_candidate
from tanas.nas.registry import register_strategy
from tanas.nas.search_run import SearchRun
from tanas.nas.space import SearchSpace
from tanas.runtime import derive_seed, make_generator
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


@register_strategy("random", RandomConfig)
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
    run = SearchRun(
        "random",
        task,
        config=config,
        budget=budget,
        space=space,
        seed=seed,
        device=device,
        quiet=quiet,
        total=config.max_trials,
        unit="trial",
        stop_reason="trials",
    )
    space, device, train_split, val_split = run.space, run.device, run.train, run.val
    first = run.start_from(initial, "initial genotype")

    sampler = make_generator(derive_seed(seed, "random-sample"))
    tcfg = config.train
    E = config.epochs_per_trial
    max_trials = config.max_trials if config.max_trials is not None else space.size
    seen: set[Genotype] = set()
    best: Genotype | None = None
    best_acc = -1.0

    trial_seconds: list[float] = []
    with run:
        clock = run.clock
        for trial in range(min(max_trials, space.size)):
            if run.history:  # every trial so far ran all E epochs (a cut one ends the search): trial_seconds has some
                estimate = sum(trial_seconds) / len(trial_seconds)
                if not clock.affords(E, estimate):  # start only a trial that can finish
                    run.stop_reason = "budget"
                    break
            trial_start = clock.elapsed()
            if trial == 0 and first is not None:
                genotype = first
            else:
                drawn = space.sample_distinct(1, sampler, exclude=list(seen))
                if not drawn:
                    run.stop_reason = "space exhausted"
                    break
                genotype = drawn[0]
            seen.add(genotype)
            model = make_candidate(
                genotype, task, C=config.C, N=config.N, seed=derive_seed(seed, "random-init", trial), device=device
            )
            opt = tcfg.optimizer(model.parameters())
            sched = tcfg.scheduler(opt, E)
            epochs_done = 0
            for ep in range(E):
                if ep and clock.exhausted(upcoming_epochs=1):
                    break
                train_epoch(
                    model,
                    task,
                    train_split,
                    opt,
                    batch_size=tcfg.batch_size,
                    device=device,
                    generator=make_generator(derive_seed(seed, "random-data", trial, ep)),
                    augment=tcfg.augment,
                )
                sched.step()
                clock.charge(1)
                epochs_done += 1
            acc = evaluate(model, task, val_split, device=device)
            if epochs_done == E:
                trial_seconds.append(clock.elapsed() - trial_start)
            if acc > best_acc:
                best, best_acc = genotype, acc
            assert best is not None
            run.record(
                trial,
                best,
                best_acc,
                candidates=[{"genotype": genotype.to_json(), "val_acc": acc, "epochs": epochs_done}],
                extra={"truncated": epochs_done < E},
                best=f"{best_acc:.3f}",
            )
            if epochs_done < E:
                run.stop_reason = "budget"
                break
    if best is None:
        raise SearchSpaceError("random search ran no trial: the search space is empty")
    return run.finish(best, best_acc, initial=first.to_json() if first is not None else None)
