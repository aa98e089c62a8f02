"""TA-NAS: architecture search guided by the task zoo (DESIGN §1.7).

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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tanas.data import Task
from tanas.distance import higher_is_better
from tanas.errors import ConfigError, StrategyConfigError
from tanas.genotypes import Genotype, as_genotype
from tanas.nas.common import Budget, SearchOutcome, TrainConfig
from tanas.nas.fuse import FuseConfig, fuse_search
from tanas.nas.registry import get_strategy, register_strategy, run_search
from tanas.nas.result import SearchResult
from tanas.nas.space import SearchSpace
from tanas.runtime import resolve_device

if TYPE_CHECKING:  # pragma: no cover
    from tanas.probe import ProbeConfig
    from tanas.zoo import AddResult, TaskZoo

__all__ = [
    "GenotypeSearch",
    "GenotypeSeed",
    "TanasConfig",
    "TanasOutcome",
    "TanasPlan",
    "TanasResult",
    "ensure_genotype",
    "ensure_genotypes",
    "plan_search",
    "run_tanas",
    "tanas_search",
]

#: Smallest FUSE budget (seconds) when the preparation already used the whole budget:
#: FUSE then runs its first stage only (a stage is never cut before it has trained once).
MIN_FUSE_SECONDS = 1e-3


@dataclass(frozen=True)
class TanasConfig:
    """TA-NAS settings.

    Attributes:
        k: how many of the nearest zoo tasks (those with a genotype) shape the space.
        radius: also admit cells within this many edge changes of one of their genotypes.
        probe: the probe to compare tasks with: a name (the zoo's stored config of that
            name), a :class:`~tanas.probe.ProbeConfig`, or None (the zoo's only config;
            the default config for an empty zoo).
        probe_seeds: probe seeds 0..N-1 whose distances are averaged.
        kind: Fisher kind (``empirical``, ``exact`` or ``mc``).
        head: how a source probe meets the target's labels (``refit`` or ``pad``).
        method: how zoo tasks are ranked for the target: ``ftd`` (least distance first) or a
            transferability score, ``leep``, ``nce``, ``logme`` or ``hscore`` (highest first);
            see :meth:`TaskZoo.nearest`.
        fuse: the FUSE settings of the search (C and N set the network size).
    """

    k: int = 2
    radius: int = 1
    # str | ProbeConfig | None; kept Any because strategy_config reads these hints at run time
    # (an --opt string is coerced by them) and ProbeConfig is imported for type checking only
    probe: Any = None
    probe_seeds: int = 1
    kind: str = "empirical"
    head: str = "refit"
    method: str = "ftd"
    fuse: FuseConfig = field(default_factory=FuseConfig)

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise StrategyConfigError(f"TA-NAS k (nearest tasks) must be a positive integer, got {self.k!r}")
        if isinstance(self.radius, bool) or not isinstance(self.radius, int) or not 0 <= self.radius <= 6:
            raise StrategyConfigError(f"TA-NAS radius must be an integer in 0..6 (edge changes), got {self.radius!r}")
        if isinstance(self.probe_seeds, bool) or not isinstance(self.probe_seeds, int) or self.probe_seeds < 1:
            raise StrategyConfigError(f"TA-NAS probe_seeds must be a positive integer, got {self.probe_seeds!r}")
        if self.head not in ("refit", "pad"):
            raise StrategyConfigError(f"TA-NAS head must be 'refit' or 'pad', got {self.head!r}")
        if not isinstance(self.fuse, FuseConfig):
            raise StrategyConfigError("TA-NAS fuse must be a tanas.nas.FuseConfig")
        from tanas.zoo import NearestOptions

        try:
            NearestOptions(method=self.method)  # the zoo's rule: ftd or a score (task2vec refused, with why)
        except ConfigError as exc:
            raise StrategyConfigError(f"TA-NAS method: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        probe = self.probe
        if probe is not None and not isinstance(probe, str):
            is_config = dataclasses.is_dataclass(probe) and not isinstance(probe, type)  # asdict takes instances
            probe = asdict(probe) if is_config else dict(probe)
        return {
            "k": self.k,
            "radius": self.radius,
            "probe": probe,
            "probe_seeds": self.probe_seeds,
            "kind": self.kind,
            "head": self.head,
            "method": self.method,
            "fuse": self.fuse.to_dict(),
        }


@dataclass
class TanasPlan:
    """What the preparation (steps 1–4) decided and what it cost."""

    target: str
    nearest: list[dict[str, Any]]
    used: list[str]
    fallback: str | None
    space: SearchSpace
    initial: Genotype | None
    radius: int
    excluded: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    probe: dict[str, Any] = field(default_factory=dict)
    probe_config: ProbeConfig | None = None  # the resolved config that ``probe`` describes
    probe_seconds: float = 0.0
    distance_seconds: float = 0.0
    probes_trained: int = 0
    probes_reused: int = 0
    fishers_computed: int = 0
    fishers_reused: int = 0
    distances_computed: int = 0
    distances_cached: int = 0

    @property
    def prep_seconds(self) -> float:
        """Seconds spent before FUSE started: target probe and Fisher, distances, space."""
        return self.probe_seconds + self.distance_seconds

    def overhead(self) -> dict[str, Any]:
        return {
            "probe_seconds": self.probe_seconds,
            "distance_seconds": self.distance_seconds,
            "prep_seconds": self.prep_seconds,
            "probes_trained": self.probes_trained,
            "probes_reused": self.probes_reused,
            "fishers_computed": self.fishers_computed,
            "fishers_reused": self.fishers_reused,
            "distances_computed": self.distances_computed,
            "distances_cached": self.distances_cached,
        }


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


# --------------------------------------------------------------------------- steps 1-4


def _excluded_names(zoo: TaskZoo, exclude: Sequence[str], target_aliases: set[str]) -> set[str]:
    """Zoo names of the excluded tasks. Naming the target itself is allowed before it is in the zoo."""
    from tanas.zoo import UnknownZooTaskError

    names: set[str] = set()
    for item in exclude:
        try:
            names.add(zoo.get(item).name)
        except UnknownZooTaskError:
            if item not in target_aliases:
                raise
    return names


def _add_target(
    zoo: TaskZoo,
    task: Task,
    plan: TanasPlan,
    config: TanasConfig,
    *,
    origin: str | None,
    device: torch.device | str | None,
) -> AddResult:
    """List the target in the zoo with its probes and Fishers (trained, or reused); the counts go on ``plan``."""
    assert plan.probe_config is not None  # the preparation resolved it when it made the plan
    added = zoo.add_task(
        task,
        name=plan.target,
        origin=origin,
        probe=plan.probe_config,
        seeds=config.probe_seeds,
        kind=config.kind,
        device=device,
        quiet=True,
    )
    plan.target = added.entry.name
    plan.probes_trained, plan.probes_reused = added.probes_trained, added.probes_reused
    plan.fishers_computed, plan.fishers_reused = added.fishers_computed, added.fishers_reused
    return added


def plan_search(
    task: Task,
    zoo: TaskZoo,
    *,
    config: TanasConfig | None = None,
    name: str | None = None,
    origin: str | None = None,
    exclude: Sequence[str] = (),
    device: str | torch.device | None = None,
    data_root: str | None = None,
    quiet: bool = True,
) -> TanasPlan:
    """Steps 1–4: the target's probe, the distances, the k nearest and the restricted space.

    ``name`` is the target's zoo name (default: the name of a zoo entry holding its
    data, else ``task.name``); ``origin`` is what rebuilds it (see
    :meth:`TaskZoo.add_task`). In the fallback case nothing is trained here.
    """
    config = config or TanasConfig()
    full = SearchSpace.full()
    probe_cfg = zoo.resolve_probe_config(config.probe)
    chash = zoo.config_key(probe_cfg)  # the hash its probes are stored under (kept across config versions)
    seeds = list(range(config.probe_seeds))
    existing = zoo.find(task)
    target_name = existing.name if existing is not None else (name or task.name)
    aliases = {target_name, task.name, task.spec} | ({name} if name else set())
    excluded = _excluded_names(zoo, exclude, aliases)

    # Which zoo tasks could guide the search: listed, not excluded, with a genotype and a
    # probe of this config for every seed. The target guides itself only with a genotype.
    entries = zoo.tasks()
    others = [e for e in entries if not (existing is not None and e.name == existing.name and e.genotype is None)]
    allowed = [e for e in others if e.name not in excluded]
    with_genotype = [e for e in allowed if e.genotype is not None]
    comparable = [
        e for e in with_genotype if all(any(p.config_hash == chash and p.seed == s for p in e.probes) for s in seeds)
    ]
    fallback = None
    if not others:
        fallback = "empty zoo"
    elif not allowed:
        fallback = "every zoo task is excluded"
    elif not with_genotype:
        fallback = "no zoo task has a genotype"
    elif not comparable:
        fallback = f"no zoo task with a genotype has a {probe_cfg.name} probe of config {chash} for seeds {seeds}"
    plan = TanasPlan(
        target=target_name,
        nearest=[],
        used=[],
        fallback=fallback,
        space=full,
        initial=None,
        radius=config.radius,
        excluded=sorted(excluded),
        probe=probe_cfg.to_dict(),
        probe_config=probe_cfg,
    )
    if fallback is not None:
        return plan

    # Step 1: the target's probe and Fisher (trained, or reused from the zoo), target listed.
    start = time.perf_counter()
    added = _add_target(zoo, task, plan, config, origin=origin, device=device)
    target_name = plan.target
    plan.probe_seconds = time.perf_counter() - start

    # Step 2: FTD (or the score) from every (non-excluded) zoo task to the target, best first.
    start = time.perf_counter()
    leave_out = set(excluded)
    if added.entry.genotype is None:
        leave_out.add(target_name)
    result = zoo.nearest(
        target_name,
        probe=probe_cfg,
        seeds=seeds,
        kind=config.kind,
        head=config.head,
        method=config.method,
        exclude=sorted(leave_out),
        device=device,
        data_root=data_root,
        quiet=quiet,
    )
    plan.distances_computed, plan.distances_cached = result.computed, result.cached
    plan.skipped = dict(result.skipped)

    # Steps 3-4: the k nearest with a genotype; the restricted space around their genotypes.
    chosen = [n for n in result.neighbors if n.genotype is not None][: config.k]
    if not chosen:  # every task with a genotype was skipped by nearest() (e.g. damaged probes)
        plan.fallback = "no zoo task with a genotype could be compared with the target"
        plan.distance_seconds = time.perf_counter() - start
        return plan
    used = {n.name for n in chosen}
    value = "score" if result.higher_is_better else "distance"  # named as `tanas zoo nearest --json` names it
    plan.nearest = [
        {
            "name": n.name,
            value: n.distance,
            "std": n.std,
            "per_seed": {str(s): v for s, v in sorted(n.per_seed.items())},
            "genotype": n.genotype,
            "used": n.name in used,
        }
        for n in result.neighbors
    ]
    plan.used = [n.name for n in chosen]
    genotypes = [as_genotype(n.genotype) for n in chosen if n.genotype is not None]  # all of them: see above
    radius = config.radius
    space = SearchSpace.restricted(genotypes, radius=radius)
    while space.size < 2 and radius < 6:  # one genotype and radius 0: nothing to search; widen minimally
        radius += 1
        space = SearchSpace.restricted(genotypes, radius=radius)
    plan.space, plan.radius, plan.initial = space, radius, genotypes[0]
    plan.distance_seconds = time.perf_counter() - start
    return plan


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


# --------------------------------------------------------------------------- zoo seeding


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
