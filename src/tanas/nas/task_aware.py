"""TA-NAS: architecture search guided by the task zoo (docs/architecture.md §1.7).

For a target task, in order:

1. train (or reuse) the target's probe and its Fisher, and list the target in the zoo;
2. compute the FTD d(a→target) from every zoo task a, or a transferability score
   (``method``; :meth:`TaskZoo.nearest`, which caches probes, Fishers, distances and scores);
3. take the ``k`` nearest tasks (least FTD, or highest score) that have a best genotype;
4. restrict the space to the per-edge union of their genotypes' ops, plus every
   cell within ``radius`` edge changes of one of them
   (:meth:`SearchSpace.restricted`);
5. run FUSE over that space with the nearest task's genotype as the first incumbent;
6. retrain the winner from scratch (the final protocol);
7. store the winner in the zoo, so the next task benefits.

Registered as strategy ``tanas``: :func:`tanas_search` is steps 1–5, the
registry's final protocol step 6, and its finish step (``_store_winner``) step 7;
``run_search(task, "tanas", TanasConfig(...), budget=..., zoo=...)`` or
:func:`run_tanas` runs them all.

**One clock.** ``search_seconds`` is everything the strategy spent: probe,
Fisher, distances and FUSE. The FUSE history's ``elapsed_seconds`` are shifted by
the preparation time so that a time-to-match read off it is on the same clock as
another strategy's. A wall-clock budget covers the preparation too: FUSE gets
what is left of it.

**Fallback.** When no zoo task can guide the search (the zoo is empty, every task
is excluded, none has a genotype or none has a comparable probe) TA-NAS runs FUSE
over the full space, says so in ``fallback``, and still adds the target (probe,
Fisher and the genotype found) to the zoo afterwards; that bookkeeping is
recorded as ``store_seconds`` and is not search time, since the search did not
use it.

**The target itself.** If the target is already in the zoo *with* a genotype (an
earlier run solved it), it is its own nearest task at distance 0 and guides the
search, unless it is excluded (``exclude=[name]``). Without a genotype it is
never a neighbour of itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tanas.data import Task
from tanas.distance import higher_is_better
from tanas.errors import StrategyConfigError
from tanas.genotypes import Genotype
from tanas.nas.common import Budget, SearchOutcome, TrainConfig
from tanas.nas.fuse import fuse_search
from tanas.nas.registry import register_strategy, run_search
from tanas.nas.result import SearchResult
from tanas.nas.space import SearchSpace
from tanas.runtime import resolve_device

if TYPE_CHECKING:  # pragma: no cover
    from tanas.zoo import TaskZoo

from tanas.nas.task_plan import TanasConfig, TanasPlan, _add_target, plan_search

__all__ = [
    "TanasConfig",
    "TanasOutcome",
    "TanasPlan",
    "TanasResult",
    "plan_search",
    "run_tanas",
    "tanas_search",
]

#: Smallest FUSE budget (seconds) when the preparation already used the whole budget:
#: FUSE then runs its first stage only (a stage is never cut before it has trained once).
MIN_FUSE_SECONDS = 1e-3


@dataclass
class TanasOutcome(SearchOutcome):
    """The FUSE outcome on the TA-NAS clock, with the plan that shaped it.

    ``store_seconds``: adding the target to the zoo after a fallback search (not search time).
    """

    plan: TanasPlan | None = None
    store_seconds: float = 0.0


@dataclass
class TanasResult(SearchResult):
    """``result.json`` of a TA-NAS search: the common schema plus

    ``nearest`` ([{"name", "distance" (or "score" for a score method), "std", "per_seed", "genotype", "used"}],
    best first),
    ``full_space_size``, ``fallback`` (None, or why the zoo could not guide the search),
    ``overhead`` (probe/distance seconds and what was trained, computed or cached) and
    ``zoo`` (zoo path, target name, k, radius, probe config, method, higher_is_better, exclusions, stored
    genotype id).
    ``space_size`` is the size of the space searched (the restricted one).
    """

    nearest: list[dict[str, Any]] = field(default_factory=list)
    full_space_size: int = 0
    fallback: str | None = None
    overhead: dict[str, Any] = field(default_factory=dict)
    zoo: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- steps 5 and 7


#: The zoo a search uses when none is given: ``$TANAS_ZOO``, else ``tanas.zoo.DEFAULT_ZOO``.
ZOO_ENV = "TANAS_ZOO"


@contextlib.contextmanager
def _open_zoo(zoo: TaskZoo | str | Path | None) -> Iterator[TaskZoo]:
    """``zoo`` itself when it is an open :class:`TaskZoo`; else the zoo at that folder, opened (and
    created) for the block."""
    from tanas.zoo import DEFAULT_ZOO, TaskZoo

    if isinstance(zoo, TaskZoo):
        yield zoo
        return
    with TaskZoo(zoo or os.environ.get(ZOO_ENV) or DEFAULT_ZOO, create=True) as store:
        yield store


def _target_names(
    task: Task, name: str | None, origin: str | None, task_arg: str | None
) -> tuple[str | None, str | None]:
    """The target's zoo name and origin; ``task_arg`` (the text the task was parsed from, e.g. a
    command-line argument) fills in those not given, as ``tanas zoo add`` would name it."""
    if task_arg is None:
        return name, origin
    from tanas.zoo import is_task_file, zoo_task_name

    if origin is None and is_task_file(task_arg):
        origin = str(Path(task_arg).resolve())
    return name or zoo_task_name(task_arg, task), origin


def _shift_history(outcome: SearchOutcome, offset: float) -> SearchOutcome:
    for record in outcome.history:
        record.elapsed_seconds += offset
    outcome.search_seconds += offset
    return outcome


def _store_winner(
    found: TanasOutcome,
    base: SearchResult,
    *,
    task: Task,
    config: TanasConfig,
    budget: Budget,
    seed: int,
    device: torch.device,
    zoo: TaskZoo | str | Path | None = None,
    **_context: Any,
) -> TanasResult:
    """Step 7, after the final protocol (``base``): store the winner for the target; the TA-NAS record.

    The genotype is scored by its validation accuracy in the search (as :func:`ensure_genotype` scores it).
    """
    plan = found.plan
    assert plan is not None
    record = {
        "strategy": "tanas",
        "task": task.spec,
        "val_acc": found.val_acc,
        "test_acc": base.test_acc,
        "search_seconds": found.search_seconds,
        "space_size": plan.space.size,
        "nearest": [
            {k: v for k, v in n.items() if k in ("name", "distance", "score", "std")} for n in plan.nearest if n["used"]
        ],
        "fallback": plan.fallback,
        "seed": seed,
        "C": config.fuse.C,
        "N": config.fuse.N,
        "budget": budget.to_dict(),
        "device": str(device),
    }
    with _open_zoo(zoo) as store:
        start = time.perf_counter()
        genotype_id = store.put_genotype(plan.target, found.genotype.to_json(), found.val_acc, record)
        store_seconds = found.store_seconds + time.perf_counter() - start
        zoo_path = str(store.path)
    return TanasResult(
        **{f.name: getattr(base, f.name) for f in dataclasses.fields(SearchResult)},
        nearest=plan.nearest,
        full_space_size=SearchSpace.full().size,
        fallback=plan.fallback,
        overhead={**plan.overhead(), "store_seconds": store_seconds},
        zoo={
            "path": zoo_path,
            "target": plan.target,
            "k": config.k,
            "radius": plan.radius,
            "radius_asked": config.radius,
            "used": plan.used,
            "excluded": plan.excluded,
            "skipped": plan.skipped,
            "probe": plan.probe,
            "probe_seeds": config.probe_seeds,
            "kind": config.kind,
            "head": config.head,
            "method": config.method,
            "higher_is_better": higher_is_better(config.method),
            "genotype_id": genotype_id,
        },
    )


@register_strategy("tanas", TanasConfig, network="fuse", finish=_store_winner)
def tanas_search(
    task: Task,
    *,
    budget: Budget,
    space: SearchSpace | None = None,
    initial: Genotype | str | None = None,
    config: TanasConfig | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = False,
    zoo: TaskZoo | str | Path | None = None,
    name: str | None = None,
    origin: str | None = None,
    task_arg: str | None = None,
    exclude: Sequence[str] = (),
    data_root: str | None = None,
) -> TanasOutcome:
    """Steps 1–5 on one clock: plan, then FUSE over the planned space for what is left of ``budget``.

    TA-NAS builds its own space and first incumbent, so ``space`` and ``initial`` must be
    None. ``zoo`` is an open :class:`TaskZoo` or a folder (default: ``$TANAS_ZOO``, else
    ``tanas-zoo``); ``name``/``origin`` name and rebuild the target there (see
    :meth:`TaskZoo.add_task`), or ``task_arg`` gives both as ``tanas zoo add`` would.
    Does not store the genotype (the registered finish step does, after the final
    protocol; see :func:`run_tanas`); in the fallback case it does add the target's
    probe and Fisher after the search.
    """
    if space is not None:
        raise StrategyConfigError("--strategy tanas builds its own space from the zoo; drop --space")
    if initial is not None:
        raise StrategyConfigError("--strategy tanas starts from the nearest zoo task's genotype; drop --initial")
    config = config or TanasConfig()
    device = resolve_device(device)
    name, origin = _target_names(task, name, origin, task_arg)
    with _open_zoo(zoo) as store:
        plan = plan_search(
            task,
            store,
            config=config,
            name=name,
            origin=origin,
            exclude=exclude,
            device=device,
            data_root=data_root,
            quiet=quiet,
        )
        prep = plan.prep_seconds
        fuse_budget = budget
        if budget.seconds is not None:
            fuse_budget = Budget(seconds=max(budget.seconds - prep, MIN_FUSE_SECONDS), epochs=budget.epochs)
        outcome = fuse_search(
            task,
            budget=fuse_budget,
            space=plan.space,
            initial=plan.initial,
            config=config.fuse,
            seed=seed,
            device=device,
            quiet=quiet,
        )
        outcome = _shift_history(outcome, prep)
        outcome.strategy = "tanas"
        outcome.config = {
            **outcome.config,
            "tanas": config.to_dict(),
            "budget": budget.to_dict(),
            "fuse_budget": fuse_budget.to_dict(),
            "history_offset_seconds": prep,
        }
        store_seconds = 0.0
        if plan.fallback is not None:
            start = time.perf_counter()
            _add_target(store, task, plan, config, origin=origin, device=device)
            store_seconds = time.perf_counter() - start
    values = {f.name: getattr(outcome, f.name) for f in dataclasses.fields(SearchOutcome)}
    return TanasOutcome(**values, plan=plan, store_seconds=store_seconds)


def run_tanas(
    task: Task,
    *,
    zoo: TaskZoo | str | Path | None,
    budget: Budget,
    config: TanasConfig | None = None,
    name: str | None = None,
    origin: str | None = None,
    exclude: Sequence[str] = (),
    seed: int = 0,
    device: str | torch.device | None = None,
    final_seeds: int = 3,
    final_epochs: int = 30,
    final_train: TrainConfig | None = None,
    data_root: str | None = None,
    quiet: bool = False,
) -> TanasResult:
    """The whole TA-NAS pipeline (steps 1–7): ``run_search(task, "tanas", config, ...)``; returns the
    ``result.json`` record. The genotype found is stored in the zoo for the target."""
    result = run_search(
        task,
        "tanas",
        config,
        budget=budget,
        seed=seed,
        device=device,
        final_seeds=final_seeds,
        final_epochs=final_epochs,
        final_train=final_train,
        quiet=quiet,
        zoo=zoo,
        name=name,
        origin=origin,
        exclude=exclude,
        data_root=data_root,
    )
    assert isinstance(result, TanasResult)  # the strategy's finish step (_store_winner) makes one
    return result
