""":class:`TaskZoo`, the zoo's public face: a thin layer over its parts.

The parts: :class:`~tanas.zoo.catalogue.Catalogue` (SQLite), the table queries
(:mod:`tanas.zoo.rows`), :class:`~tanas.zoo.objects.ObjectStore` (the artifact
files), :class:`~tanas.zoo.compute.Compute` (probes, Fishers, distances),
:class:`~tanas.zoo.nearest.Nearest` and :class:`~tanas.zoo.check.Checker`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tanas.errors import UnknownZooTaskError, ZooError, ZooNotFoundError
from tanas.zoo.batch import PlannedTask, check_names, plan_batch
from tanas.zoo.catalogue import CATALOGUE, Catalogue
from tanas.zoo.check import Checker
from tanas.zoo.compute import Compute, Counters
from tanas.zoo.configs import ProbeConfigs
from tanas.zoo.gc import Collector, GcReport
from tanas.zoo.names import default_origin
from tanas.zoo.nearest import Nearest, NearestOptions
from tanas.zoo.objects import OBJECTS_DIR, TMP_DIR, ObjectStore
from tanas.zoo.records import (
    AddResult,
    CheckReport,
    GenotypeEntry,
    NearestResult,
    TaskEntry,
)
from tanas.zoo.rows import ArtifactRows, TaskRows
from tanas.zoo.values import check_kind, seed_list, to_json, validate_genotype

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from tanas.data import Task
    from tanas.probe import ProbeConfig, ProbeNet, ProbeRecord


class TaskZoo:
    """A folder of solved tasks; see the :mod:`tanas.zoo` docstring for the layout and guarantees.

    Args:
        path: the zoo folder.
        create: create the folder and catalogue if missing; with False a missing zoo
            raises :class:`ZooNotFoundError`.
        timeout: seconds to wait for another process's write lock before
            :class:`ZooBusyError`.
    """

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True, timeout: float = 120.0) -> None:
        self.path = Path(path)
        self.timeout = float(timeout)
        _prepare_folder(self.path, create)
        self._objects = ObjectStore(self.path)
        self._catalogue = Catalogue(self.path, timeout=self.timeout)
        self._tasks = TaskRows(self._catalogue)
        self._artifacts = ArtifactRows(self._catalogue)
        self._configs = ProbeConfigs(self._artifacts)
        self._compute = Compute(self._catalogue, self._tasks, self._artifacts, self._objects)
        self._nearest = Nearest(self._tasks, self._artifacts, self._configs, self._compute)
        self._checker = Checker(self._catalogue, self._artifacts, self._objects)
        self._collector = Collector(self._catalogue, self._artifacts, self._objects)

    def close(self) -> None:
        """Close the catalogue connection."""
        self._catalogue.close()

    def __enter__(self) -> TaskZoo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TaskZoo({str(self.path)!r})"

    def object_path(self, sha: str) -> Path:
        """Where the artifact with content hash ``sha`` lives."""
        return self._objects.path(sha)

    # ------------------------------------------------------------------ tasks

    def tasks(self) -> list[TaskEntry]:
        """Every listed task, sorted by name."""
        return [self._tasks.entry(row) for row in self._tasks.listed()]

    def names(self) -> list[str]:
        return [row["name"] for row in self._tasks.listed()]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self._tasks.resolve(name)
        except UnknownZooTaskError:
            return False
        return True

    def get(self, name: str) -> TaskEntry:
        """The task called ``name`` (zoo name, spec or fingerprint prefix)."""
        return self._tasks.entry(self._tasks.resolve(name))

    def find(self, task: Task) -> TaskEntry | None:
        """The listed entry holding ``task``'s data, if any (matched by fingerprint)."""
        row = self._tasks.by_fingerprint(task.fingerprint(), listed=True)
        return None if row is None else self._tasks.entry(row)

    def load_task(self, name: str, *, data_root: str | None = None, download: bool = False) -> Task:
        """Rebuild the :class:`~tanas.data.Task` of a zoo task from its origin, checking its fingerprint."""
        return self._compute.rebuild(self._tasks.resolve(name), data_root=data_root, download=download)

    # ------------------------------------------------------------------ probe configs

    def probe_configs(self) -> dict[str, dict[str, Any]]:
        """Every probe config of the listed tasks: config hash -> config dict."""
        return self._configs.listed()

    def config_key(self, config: ProbeConfig) -> str:
        """The hash under which probes of ``config`` are stored.

        A config read back from the zoo keeps the hash it was stored under, even when
        this version of :class:`~tanas.probe.ProbeConfig` has fields (with defaults)
        that the stored dict lacks; any other config is hashed as it is.
        """
        return self._configs.key(config)

    def resolve_probe_config(self, probe: str | ProbeConfig | None = None, **overrides: Any) -> ProbeConfig:
        """A ProbeConfig for training: the zoo's config of that name if it has one, else the default.

        ``overrides`` (e.g. ``epsilon=0.05``) replace fields of that config; None values are ignored.
        """
        config = self._configs.resolve(probe)
        changes = {key: value for key, value in overrides.items() if value is not None}
        return dataclasses.replace(config, **changes) if changes else config

    # ------------------------------------------------------------------ adding

    def add_task(
        self,
        task: Task,
        *,
        name: str | None = None,
        origin: str | None = None,
        probe: str | ProbeConfig = "cnn",
        seeds: int | Sequence[int] = 1,
        kind: str = "empirical",
        device: str | torch.device | None = None,
        quiet: bool = False,
    ) -> AddResult:
        """Add ``task`` with a probe and its Fisher F_{b→b} for each seed; only missing work is run.

        Args:
            name: zoo name; default ``task.name`` (the spec for single tasks).
            origin: what :func:`tanas.data.parse_task` is given to rebuild the task
                (default ``name`` when it is a suite member, else the spec).
            probe: a probe name (the zoo's config of that name if it has one, else the
                default config) or a :class:`~tanas.probe.ProbeConfig`.
            seeds: a count N (seeds 0..N-1) or explicit seeds.
            kind: Fisher kind (``empirical``, ``exact`` or ``mc``).
        """
        start = time.perf_counter()
        kind = check_kind(kind)
        seed_values = seed_list(seeds)
        config = self.resolve_probe_config(probe)
        chash = self.config_key(config)
        name = name or task.name
        if origin is None:
            origin = default_origin(name, task)
        task_id, listed_name = self._tasks.upsert(task, name=name, origin=origin)
        from tanas.runtime import progress

        stats = Counters()
        for seed in progress(seed_values, desc=f"zoo add {listed_name}", quiet=quiet, unit="seed"):
            self._compute.ensure_fisher(
                task_id, task, config, chash, seed, kind, device=device, quiet=True, stats=stats
            )
        entry = self._tasks.entry(self._tasks.by_id(task_id))
        return AddResult(
            entry=entry,
            probes_trained=stats.probes_trained,
            probes_reused=stats.probes_reused,
            fishers_computed=stats.fishers_computed,
            fishers_reused=stats.fishers_reused,
            seconds=time.perf_counter() - start,
            task=task,
        )

    def add(
        self,
        spec: str,
        *,
        data_seed: int = 0,
        data_root: str | None = None,
        download: bool = False,
        **options: Any,
    ) -> list[AddResult]:
        """Parse ``spec`` (a task spec, suite, ``SUITE/Tn`` or TOML file) and add each of its tasks.

        Tasks are named as the :mod:`tanas.zoo` docstring says (``paper-digits/T0`` for suite
        members); ``options`` are those of :meth:`add_task` (probe, seeds, kind, device, quiet).
        """
        plan = plan_batch([spec], data_seed=data_seed, data_root=data_root, download=download)
        return list(self.add_batch(plan, **options))

    def add_batch(self, plan: Sequence[PlannedTask], **options: Any) -> Iterator[AddResult]:
        """Add the tasks of a batch from :func:`~tanas.zoo.batch.plan_batch`, yielding each result.

        The names are checked against the zoo first (here, not lazily), so that a batch
        with a taken name is refused before anything is added; ``options`` as :meth:`add_task`.
        """
        check_names(plan, {entry.name: entry.fingerprint for entry in self.tasks()})
        # Without a file, add_task's default origin: the name when it reparses (SUITE/Tn), else the spec.
        return (self.add_task(item.task, name=item.name, origin=item.origin, **options) for item in plan)

    # ------------------------------------------------------------------ loading

    def load_probe(
        self, task: str | Task, seed: int = 0, *, probe: str | ProbeConfig | None = None
    ) -> tuple[ProbeNet, ProbeRecord]:
        """The stored probe (on CPU, eval mode) and its training record for ``task`` and ``seed``.

        ``task`` is a zoo name or a Task (found by fingerprint, listed or cached).
        """
        label, probe_row = self._probe_row_for(task, seed, probe)
        return self._compute.model_from_row(probe_row, what=f"probe of {label} seed {seed}")

    def load_fisher(
        self, task: str | Task, seed: int = 0, kind: str = "empirical", *, probe: str | ProbeConfig | None = None
    ) -> dict[str, torch.Tensor]:
        """The stored Fisher F_{b→b} {parameter name: tensor} of ``task``'s probe for ``seed``."""
        kind = check_kind(kind)
        label, probe_row = self._probe_row_for(task, seed, probe)
        fisher = self._artifacts.fisher(probe_row["id"], kind)
        if fisher is None:
            raise ZooError(
                f"zoo task {label!r} has no {kind} Fisher for seed {seed}; add it with "
                f"`tanas zoo add {label} --fisher {kind} --seeds {seed + 1}`"
            )
        return self._objects.load_tensors(fisher["object"], f"{kind} Fisher of {label} seed {seed}")

    def _probe_row_for(self, task: str | Task, seed: int, probe: str | ProbeConfig | None) -> tuple[str, Any]:
        row = self._tasks.for_task(task)
        label = row["name"] or row["spec"]
        chash = None if probe is None or isinstance(probe, str) else self.config_key(probe)
        return label, self._artifacts.select_probe(int(row["id"]), label, seed, probe, chash)

    # ------------------------------------------------------------------ genotypes

    def put_genotype(
        self, name: str, genotype: Sequence[str], score: float, record: dict[str, Any] | None = None
    ) -> int:
        """Store a genotype found for task ``name`` with its score (higher is better) and search record.

        Returns the genotype's id. The best genotype is the one with the highest score.
        """
        ops = validate_genotype(genotype)
        try:
            score = float(score)
        except (TypeError, ValueError) as exc:
            raise ZooError(f"a genotype score must be a number, not {score!r}") from exc
        if not math.isfinite(score):
            raise ZooError(f"a genotype score must be finite, not {score}")
        return self._tasks.put_genotype(name, ops, score, to_json(record or {}, "search record"))

    def best_genotype(self, name: str) -> GenotypeEntry | None:
        """The highest-scoring genotype stored for ``name`` (earliest on ties), or None."""
        return self.get(name).best

    def genotypes(self, name: str) -> list[GenotypeEntry]:
        """Every genotype stored for ``name``, best first."""
        return self._tasks.genotypes(int(self._tasks.resolve(name)["id"]))

    # ------------------------------------------------------------------ removal, nearest, integrity

    def remove(self, name: str) -> TaskEntry:
        """Remove a task with its probes, Fishers and genotypes; delete artifacts nothing else uses."""
        with self._catalogue.write():
            row = self._tasks.resolve(name)
            entry = self._tasks.entry(row)
            self._tasks.delete(int(row["id"]))
            self._artifacts.drop_stale_distances()
        self._checker.collect_garbage()
        return entry

    def nearest(
        self,
        target: str | Task,
        *,
        k: int | None = None,
        probe: str | ProbeConfig | None = None,
        seeds: int | Sequence[int] | None = None,
        kind: str = "empirical",
        head: str = "refit",
        layers: str = "all",
        normalise: str = "whole",
        squared: bool = False,
        method: str = "ftd",
        exclude: Sequence[str] = (),
        device: str | torch.device | None = None,
        data_root: str | None = None,
        quiet: bool = True,
    ) -> NearestResult:
        """FTD d(a→target) from every zoo task a, nearest first, mean ± std over paired seeds.

        ``target`` is a zoo name or a Task; a Task not in the zoo gets probes and
        Fishers trained and cached (unlisted) under its fingerprint. Distances are
        cached by (source probe weights, target probe weights, target data, seed,
        kind, head, layers, normalise, squared). ``seeds`` None uses every seed a
        source has; an int N or a list restricts to those seeds. The probe config
        defaults to the zoo's only config (or the only one named ``probe``).

        ``method`` ``leep``, ``nce``, ``logme`` or ``hscore`` ranks by that
        transferability score instead (highest first; cached by method). A target
        whose images differ from a zoo task's (size, grey/RGB) is adapted to that
        task's input format (:func:`tanas.data.adapt_task`); for FTD the adapted
        target gets its own probe and Fisher.
        """
        options = NearestOptions(
            kind=kind, head=head, layers=layers, normalise=normalise, squared=squared, method=method
        )
        return self._nearest.run(
            target,
            options,
            k=k,
            probe=probe,
            seeds=seeds,
            exclude=exclude,
            device=device,
            data_root=data_root,
            quiet=quiet,
        )

    def check(self, *, repair: bool = False) -> CheckReport:
        """Verify the catalogue and every artifact; with ``repair`` fix what can be fixed.

        Repair deletes orphaned and corrupt files and the catalogue rows whose artifacts
        are missing or corrupt, so that the next ``add`` recomputes them.
        """
        return self._checker.check(repair=repair)

    def gc(self, *, grace_seconds: float = 0.0) -> GcReport:
        """Free what ``nearest`` cached for targets outside the zoo, then the files nothing references.

        Removes the unlisted (outside-target) task rows with their probes and Fishers, the
        cached distances and scores whose target is not in the zoo, and unreferenced object
        files and stale temporary files. Safe beside a running writer: each step holds the
        write lock, and files written after the collection began (minus ``grace_seconds``)
        are kept; see :mod:`tanas.zoo.gc`.
        """
        return self._collector.collect(grace_seconds=grace_seconds)


def _prepare_folder(path: Path, create: bool) -> None:
    """Make sure ``path`` is (or can become) a zoo folder; create it when ``create``."""
    if path.exists() and not path.is_dir():
        raise ZooError(f"zoo path {path} is a file, not a folder; give a folder with --zoo")
    if not (path / CATALOGUE).exists():
        if not create:
            raise ZooNotFoundError(
                f"no zoo at {path} (no {CATALOGUE}); create one with `tanas zoo add TASK --zoo {path}`"
            )
        ours = {OBJECTS_DIR, TMP_DIR, CATALOGUE, *(CATALOGUE + x for x in ("-wal", "-shm", "-journal"))}
        if path.exists() and any(p.name not in ours for p in path.iterdir()):
            raise ZooError(f"{path} is a non-empty folder without {CATALOGUE}; give an empty or new folder for the zoo")
    path.mkdir(parents=True, exist_ok=True)
