"""``TaskZoo.nearest``: the FTD from every zoo task to a target, in phases.

1. :meth:`Nearest.resolve_target` finds the target's catalogue row (listed, or cached
   by an earlier query) or takes the Task the caller gave;
2. :meth:`Nearest.plan_sources` picks the zoo tasks to compare and their seeds, and
   says why the others are skipped;
3. :meth:`Nearest.plan_distances` looks each (source, seed) up in the distance cache;
4. :meth:`Nearest.compute_missing` computes and caches the misses (the only phase that
   imports torch or the data);
5. :meth:`Nearest.assemble` averages over seeds and sorts the neighbours.

One frozen :class:`NearestOptions` value is the distance's definition: it is part of
the cache key and is passed from phase to phase.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tanas.errors import ConfigError, ZooError
from tanas.runtime import mean_std
from tanas.transferability import ESTIMATORS
from tanas.zoo.compute import Compute, TargetFishers
from tanas.zoo.configs import ProbeConfigs
from tanas.zoo.records import NearestResult, Neighbor
from tanas.zoo.rows import ArtifactRows, TaskRows
from tanas.zoo.values import check_kind, seed_list

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from tanas.data import Task
    from tanas.probe import ProbeConfig


#: the ways the zoo ranks its tasks for a target: FTD, or a transferability score
ZOO_METHODS: tuple[str, ...] = ("ftd", *ESTIMATORS)
#: the method `tanas zoo nearest` and TA-NAS rank sources by unless told otherwise: LogME picked the
#: best source more reliably than FTD in the transfer benchmark (README, "Defaults, and why")
DEFAULT_METHOD = "logme"


@dataclass(frozen=True)
class NearestOptions:
    """What :meth:`TaskZoo.nearest` computes: FTD (:func:`tanas.distance.fisher_task_distance`) or a score.

    ``method`` is ``ftd`` or a transferability score (``leep``, ``nce``, ``logme``,
    ``hscore``: higher is better, cached in the ``scores`` table by method). ``kind`` is
    the Fisher kind; it and the other fields define FTD and are stored as they are in the
    distance cache, so two queries share cached distances exactly when their options are equal.
    """

    kind: str = "empirical"
    head: str = "refit"
    layers: str = "all"
    normalise: str = "whole"
    squared: bool = False
    method: str = "ftd"

    def __post_init__(self) -> None:
        if self.method not in ZOO_METHODS:
            hint = (
                "; task2vec needs one reference probe for every task, use `tanas distance --method task2vec`"
                if self.method == "task2vec"
                else ""
            )
            raise ConfigError(f"unknown zoo method {self.method!r}: choose one of {', '.join(ZOO_METHODS)}{hint}")

    @property
    def higher_is_better(self) -> bool:
        return self.method != "ftd"

    def key(self) -> tuple[str, str, str, str, int]:
        """The options' part of the distance cache key (the columns fisher_kind, head, layers, normalise, squared)."""
        return self.kind, self.head, self.layers, self.normalise, int(self.squared)

    def to_dict(self) -> dict[str, Any]:
        if self.higher_is_better:
            return {"method": self.method, "higher_is_better": True}
        return {
            "method": self.method,
            "higher_is_better": False,
            "kind": self.kind,
            "head": self.head,
            "layers": self.layers,
            "normalise": self.normalise,
            "squared": self.squared,
        }


@dataclass(frozen=True)
class Target:
    """The resolved target: ``row`` when it is stored in the catalogue, ``task`` when the caller gave one."""

    label: str
    fingerprint: str
    input_shape: list[int]
    num_classes: int
    row: sqlite3.Row | None
    task: Task | None
    adapter: str = ""  # the input adapter's key when this is the target seen in another format


@dataclass(frozen=True)
class Source:
    """A zoo task to compare with the target, and its probe objects by seed."""

    row: sqlite3.Row
    objects: dict[int, str]

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(json.loads(self.row["input_shape"]))


@dataclass(frozen=True)
class View:
    """The target as one input format sees it: itself, or adapted to a source probe's format."""

    target: Target
    fishers: TargetFishers


@dataclass
class DistancePlan:
    """Which (source index, seed) distances the cache holds (``values``) and which to compute (``misses``)."""

    values: dict[tuple[int, int], float]
    misses: list[tuple[int, int]]


class Nearest:
    """Runs nearest queries against a zoo's parts (see the module docstring for the phases)."""

    def __init__(self, tasks: TaskRows, artifacts: ArtifactRows, configs: ProbeConfigs, compute: Compute) -> None:
        self.tasks, self.artifacts, self.configs, self.compute = tasks, artifacts, configs, compute

    def run(
        self,
        target: str | Task,
        options: NearestOptions,
        *,
        k: int | None,
        probe: str | ProbeConfig | None,
        seeds: int | Sequence[int] | None,
        exclude: Sequence[str],
        device: str | torch.device | None,
        data_root: str | None,
        quiet: bool,
    ) -> NearestResult:
        # Everything up to the first cache miss reads only the catalogue: a fully cached
        # query imports neither torch nor the data (and so answers in a fraction of a second).
        if k is not None and k < 1:
            raise ConfigError(f"k must be at least 1, not {k}")
        stored = self.configs.stored(probe)
        if stored is None:
            what = (
                "any probe"
                if probe is None
                else f"a {probe} probe"
                if isinstance(probe, str)
                else "a probe of this config"
            )
            raise ZooError(
                f"no task in the zoo at {self.tasks.catalogue.path} has {what}; add tasks first with "
                f"`tanas zoo add TASK --probe {getattr(probe, 'name', probe) or 'cnn'}`"
            )
        chash, cfg = stored
        wanted = None if seeds is None else set(seed_list(seeds))
        excluded = {self.tasks.resolve(n)["name"] for n in exclude}

        resolved = self.resolve_target(target)
        sources, skipped = self.plan_sources(resolved, chash, cfg, wanted, excluded, options)
        views = self.views(resolved, sources, cfg, chash, options, device, data_root)
        plan = self.plan_distances(sources, views, options)
        cached = len(plan.values)
        if plan.misses:
            self.compute_missing(plan, sources, views, options, chash, device=device, quiet=quiet)
        neighbors = self.assemble(plan, sources, k, options)
        adapted = sorted({view.target.adapter for view in views.values() if view.target.adapter})
        return NearestResult(
            target=resolved.label,
            fingerprint=resolved.fingerprint,
            neighbors=neighbors,
            skipped=skipped,
            computed=len(plan.misses),
            cached=cached,
            config={
                "probe": cfg["name"],
                "config_hash": chash,
                "seeds": sorted({s for source in sources for s in source.objects}),
                **options.to_dict(),
                **({"adapted": adapted} if adapted else {}),
            },
        )

    def resolve_target(self, target: str | Task) -> Target:
        """A zoo name, or a Task found by fingerprint (listed or cached) when stored, else taken as it is."""
        if isinstance(target, str):
            listed = self.tasks.resolve(target)
            return Target(
                label=listed["name"],
                fingerprint=listed["fingerprint"],
                input_shape=json.loads(listed["input_shape"]),
                num_classes=int(listed["num_classes"]),
                row=listed,
                task=None,
            )
        row = self.tasks.by_fingerprint(target.fingerprint())
        if row is None:
            return Target(
                label=target.name,
                fingerprint=target.fingerprint(),
                input_shape=list(target.input_shape),
                num_classes=int(target.num_classes),
                row=None,
                task=target,
            )
        return Target(
            label=row["name"] or target.name,
            fingerprint=row["fingerprint"],
            input_shape=json.loads(row["input_shape"]),
            num_classes=int(row["num_classes"]),
            row=row,
            task=target,
        )

    def plan_sources(
        self,
        target: Target,
        chash: str,
        cfg: dict[str, Any],
        wanted: set[int] | None,
        excluded: set[str],
        options: NearestOptions,
    ) -> tuple[list[Source], dict[str, str]]:
        """The listed tasks to compare with ``target`` (with the seeds to use) and why the others are skipped."""
        sources: list[Source] = []
        skipped: dict[str, str] = {}
        for row in self.tasks.listed():
            if row["name"] in excluded:
                continue
            if options.head == "pad" and int(row["num_classes"]) < target.num_classes:
                skipped[row["name"]] = (
                    f"head=pad cannot read the target's {target.num_classes} classes with its "
                    f"{row['num_classes']}-class head; use head=refit"
                )
                continue
            have = self.artifacts.probe_objects(int(row["id"]), chash)
            use = {s: o for s, o in have.items() if wanted is None or s in wanted}
            if not use:
                skipped[row["name"]] = (
                    f"no {cfg['name']} probe with config {chash}"
                    if not have
                    else f"no probe for seeds {sorted(wanted or [])}"
                )
                continue
            sources.append(Source(row=row, objects=use))
        if not sources:
            reasons = "; ".join(f"{n}: {why}" for n, why in skipped.items()) or "the zoo has no other task"
            raise ZooError(
                f"no zoo task to compare with ({reasons}); add tasks with `tanas zoo add TASK --probe {cfg['name']}`"
            )
        return sources, skipped

    def views(
        self,
        target: Target,
        sources: list[Source],
        cfg: dict[str, Any],
        chash: str,
        options: NearestOptions,
        device: str | torch.device | None,
        data_root: str | None,
    ) -> dict[tuple[int, ...], View]:
        """The target as each source input format sees it: itself for its own format, else adapted.

        An adapted target is a task of its own (its fingerprint includes the adapter), so its
        probe, Fisher and cached distances never mix with the original's. Only a query over a
        zoo of several formats adapts anything, and so imports torch before the cache is read.
        """
        fishers = TargetFishers(
            self.compute, target.task, target.row, target.fingerprint, cfg, chash, options.kind, device, data_root
        )
        own = tuple(target.input_shape)
        views = {own: View(target, fishers)}
        for shape in sorted({source.input_shape for source in sources} - {own}):
            from tanas.data.adapt import adapt_task

            task = adapt_task(fishers.task(), shape)
            assert task.adapter is not None  # adapt_task records its adapter on the task
            row = self.tasks.by_fingerprint(task.fingerprint())
            adapted = Target(
                label=target.label,
                fingerprint=task.fingerprint(),
                input_shape=list(shape),
                num_classes=target.num_classes,
                row=row,
                task=task,
                adapter=task.adapter["key"],
            )
            views[shape] = View(
                adapted,
                TargetFishers(
                    self.compute, task, row, adapted.fingerprint, cfg, chash, options.kind, device, data_root
                ),
            )
        return views

    def plan_distances(
        self, sources: list[Source], views: dict[tuple[int, ...], View], options: NearestOptions
    ) -> DistancePlan:
        """Look every (source, seed) up in the cache (FTD: by the stored target probe; none yet: all misses)."""
        plan = DistancePlan(values={}, misses=[])
        for index, source in enumerate(sources):
            view = views[source.input_shape]
            for seed in sorted(source.objects):
                if options.higher_is_better:
                    hit = self.artifacts.cached_score(
                        source.objects[seed], view.target.fingerprint, seed, options.method
                    )
                else:
                    target_object = view.fishers.stored_object(seed)
                    hit = (
                        None
                        if target_object is None
                        else self.artifacts.cached_distance(
                            source.objects[seed], target_object, view.target.fingerprint, seed, options
                        )
                    )
                if hit is None:
                    plan.misses.append((index, seed))
                else:
                    plan.values[(index, seed)] = hit
        return plan

    def compute_missing(
        self,
        plan: DistancePlan,
        sources: list[Source],
        views: dict[tuple[int, ...], View],
        options: NearestOptions,
        chash: str,
        *,
        device: str | torch.device | None,
        quiet: bool,
    ) -> None:
        """Compute each missing value, cache it (one transaction each) and add it to ``plan.values``."""
        from tanas.runtime import progress

        check_kind(options.kind)
        label = views[next(iter(views))].target.label
        bar = progress(total=len(plan.misses), desc=f"nearest {label}", quiet=quiet, unit="pair")
        try:
            for index, seed in plan.misses:
                source = sources[index]
                view = views[source.input_shape]
                if options.higher_is_better:
                    value = self.compute.score(source.row, seed, view.fishers, options.method, device)
                    self.artifacts.put_score(
                        source.objects[seed],
                        view.target.fingerprint,
                        seed,
                        options.method,
                        source.row["fingerprint"],
                        chash,
                        value,
                    )
                else:
                    target_object, fisher_bb = view.fishers.fisher(seed)
                    value = self.compute.distance(source.row, seed, view.fishers, fisher_bb, options, device)
                    self.artifacts.put_distance(
                        source.objects[seed],
                        target_object,
                        view.target.fingerprint,
                        seed,
                        options,
                        source.row["fingerprint"],
                        chash,
                        value,
                    )
                plan.values[(index, seed)] = value
                bar.update(1)
        finally:
            bar.close()

    def assemble(
        self, plan: DistancePlan, sources: list[Source], k: int | None, options: NearestOptions
    ) -> list[Neighbor]:
        """One neighbour per source (mean ± std over its seeds, with its best genotype), best first."""
        neighbors: list[Neighbor] = []
        for index, source in enumerate(sources):
            per_seed = {seed: plan.values[(index, seed)] for seed in sorted(source.objects)}
            mean, std = mean_std(list(per_seed.values()))
            neighbors.append(
                Neighbor(
                    name=source.row["name"],
                    distance=mean,
                    std=std,
                    per_seed=per_seed,
                    genotype=self.tasks.best_ops(int(source.row["id"])),
                    higher_is_better=options.higher_is_better,
                )
            )
        sign = -1.0 if options.higher_is_better else 1.0
        neighbors.sort(key=lambda n: (sign * n.distance, n.name))
        return neighbors if k is None else neighbors[:k]
