"""TA-NAS steps 1–4: the target's probe, its nearest zoo tasks and the search space they span.

See :mod:`tanas.nas.task_aware` for the whole pipeline (docs/architecture.md §1.7).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from tanas.data import Task
from tanas.errors import ConfigError, StrategyConfigError
from tanas.genotypes import Genotype, as_genotype
from tanas.nas.fuse import FuseConfig
from tanas.nas.space import SearchSpace
from tanas.zoo.nearest import DEFAULT_METHOD

if TYPE_CHECKING:  # pragma: no cover
    from tanas.probe import ProbeConfig
    from tanas.zoo import AddResult, TaskZoo


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
            see :meth:`TaskZoo.nearest`. Default ``logme`` (the transfer benchmark's best; README).
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
    method: str = DEFAULT_METHOD
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
