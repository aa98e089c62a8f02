"""The expensive work of the zoo: training probes, computing Fishers and distances, and storing them.

Each ``ensure_*`` runs only what is missing: a stored artifact whose file is intact is
reused; one whose file is missing or damaged is forgotten and made again. Torch, the
data and the probes are imported inside the methods, never at module level.

Crash safety: the artifact is written into the object store *before* the rows that
reference it are committed, and the write transaction re-checks that the file is still
there (:meth:`ObjectStore.ensure_locked <tanas.zoo.objects.ObjectStore.ensure_locked>`).
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tanas.errors import ZooCorruptError, ZooError
from tanas.zoo.catalogue import Catalogue
from tanas.zoo.objects import ObjectStore, tensors_to_bytes
from tanas.zoo.rows import ArtifactRows, TaskRows
from tanas.zoo.values import config_dict, config_from_dict, to_json

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from tanas.data import Task
    from tanas.probe import ProbeConfig, ProbeNet, ProbeRecord
    from tanas.zoo.nearest import NearestOptions


@dataclass
class Counters:
    """How much work an add ran and how much it found stored."""

    probes_trained: int = 0
    probes_reused: int = 0
    fishers_computed: int = 0
    fishers_reused: int = 0


class Compute:
    """Makes and stores probes, Fishers and distances for the zoo's catalogue and object store."""

    def __init__(self, catalogue: Catalogue, tasks: TaskRows, artifacts: ArtifactRows, objects: ObjectStore) -> None:
        self.catalogue, self.tasks, self.artifacts, self.objects = catalogue, tasks, artifacts, objects

    def rebuild(self, row: sqlite3.Row, *, data_root: str | None, download: bool) -> Task:
        """The :class:`~tanas.data.Task` of a task row, rebuilt from its origin and checked by fingerprint."""
        from tanas.data import parse_task

        label = row["name"] or row["spec"]
        tasks = parse_task(row["origin"], seed=int(row["data_seed"]), data_root=data_root, download=download)
        matches = [t for t in tasks if t.fingerprint() == row["fingerprint"]]
        if not matches:
            raise ZooError(
                f"zoo task {label!r}: rebuilding it from {row['origin']!r} (seed {row['data_seed']}) gives different "
                f"data than when it was added (fingerprint {row['fingerprint'][:12]}); point --data-root at the data "
                "it was added with, or remove and re-add the task"
            )
        return matches[0]

    def ensure_probe(
        self,
        task_id: int,
        task: Task,
        config: ProbeConfig,
        chash: str,
        seed: int,
        *,
        device: str | torch.device | None,
        quiet: bool,
        stats: Counters | None,
    ) -> tuple[sqlite3.Row, ProbeNet | None]:
        """The probe row for (task, config, seed), training and storing the probe if it is missing.

        The model comes back too when this call trained it (and its weights are the stored ones).
        """
        from tanas.probe import train_probe

        row = self.artifacts.probe(task_id, chash, seed)
        if row is not None:
            if self.objects.ok(row["object"]):
                if stats is not None:
                    stats.probes_reused += 1
                return row, None
            with self.catalogue.write():  # damaged: forget it (and its Fishers) and train again
                self.artifacts.delete_probe(row["id"])
        model, record = train_probe(task, config, seed=seed, device=device, quiet=quiet)
        model = model.to("cpu").eval()
        data = tensors_to_bytes(
            model.state_dict(), {"tanas": "probe", "probe": config.name, "config_hash": chash, "seed": str(seed)}
        )
        sha = self.objects.put(data)
        with self.catalogue.write():
            self.objects.ensure_locked(sha, data)
            self.artifacts.insert_probe(
                task_id,
                config.name,
                chash,
                to_json(config_dict(config), "probe config"),
                seed,
                sha,
                to_json(record.to_dict(), "probe record"),
            )
            row = self.artifacts.probe(task_id, chash, seed)
            assert row is not None  # ours, or another process's that the INSERT OR IGNORE kept
        if stats is not None:
            stats.probes_trained += 1
        # If another process committed this probe first, use its weights, not ours.
        return row, (model if row["object"] == sha else None)

    def ensure_fisher(
        self,
        task_id: int,
        task: Task,
        config: ProbeConfig,
        chash: str,
        seed: int,
        kind: str,
        *,
        device: str | torch.device | None,
        quiet: bool,
        stats: Counters | None,
    ) -> tuple[sqlite3.Row, str]:
        """(probe row, Fisher object sha) for (task, config, seed, Fisher kind), computing what is missing."""
        from tanas.distance import transfer_fisher

        probe_row, model = self.ensure_probe(
            task_id, task, config, chash, seed, device=device, quiet=quiet, stats=stats
        )
        row = self.artifacts.fisher(probe_row["id"], kind)
        if row is not None:
            if self.objects.ok(row["object"]):
                if stats is not None:
                    stats.fishers_reused += 1
                return probe_row, row["object"]
            with self.catalogue.write():
                self.artifacts.delete_fisher(row["id"])
        if model is None:
            model = self.model_from_row(probe_row, what=f"probe of {task.name} seed {seed}")[0]
        start = time.perf_counter()
        # F_{b→b}: the probe as it is, on the task's validation split (as distance_matrix does).
        fisher = transfer_fisher(model, task, same_task=True, kind=kind, seed=seed, device=device, quiet=True)
        seconds = time.perf_counter() - start
        # The file's own metadata keeps the key "kind": it is part of the bytes, and so of the hash.
        data = tensors_to_bytes(fisher, {"tanas": "fisher", "kind": kind, "probe_object": probe_row["object"]})
        sha = self.objects.put(data)
        with self.catalogue.write():
            self.objects.ensure_locked(sha, data)
            self.artifacts.insert_fisher(probe_row["id"], kind, sha, seconds)
            row = self.artifacts.fisher(probe_row["id"], kind)
            assert row is not None  # ours, or another process's that the INSERT OR IGNORE kept
        if stats is not None:
            stats.fishers_computed += 1
        return probe_row, row["object"]

    def model_from_row(self, row: sqlite3.Row, *, what: str) -> tuple[ProbeNet, ProbeRecord]:
        """The stored probe of a probe row (on CPU, eval mode) and its training record."""
        from tanas.probe import ProbeRecord

        record = ProbeRecord.from_dict(json.loads(row["record"]))
        model = record.build()
        state = self.objects.load_tensors(row["object"], what)
        try:
            model.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError) as exc:
            raise ZooCorruptError(f"{what}: stored weights do not fit the {record.probe} probe ({exc})") from exc
        return model.eval(), record

    def distance(
        self,
        source_row: sqlite3.Row,
        seed: int,
        target: TargetFishers,
        fisher_bb: dict[str, torch.Tensor],
        options: NearestOptions,
        device: str | torch.device | None,
    ) -> float:
        """FTD d(source→target) for one seed, from the target's F_{b→b} and the source probe's F_{a→b}."""
        from tanas.distance import fisher_task_distance, transfer_fisher

        if source_row["fingerprint"] == target.fingerprint:
            fisher_ab = fisher_bb  # a task against itself: its own probe as it is, so F_{b→b}
        else:
            label = source_row["name"]
            prow = self.artifacts.probe(int(source_row["id"]), target.chash, seed)
            assert prow is not None  # a source is compared only when it has a probe for every seed
            model, _ = self.model_from_row(prow, what=f"probe of {label} seed {seed}")
            fisher_ab = transfer_fisher(
                model, target.task(), same_task=False, head=options.head, kind=options.kind, seed=seed, device=device
            )
        return float(
            fisher_task_distance(
                fisher_ab, fisher_bb, layers=options.layers, normalise=options.normalise, squared=options.squared
            )
        )

    def score(
        self, source_row: sqlite3.Row, seed: int, target: TargetFishers, method: str, device: str | torch.device | None
    ) -> float:
        """The transferability score ``method`` of the source's probe (one seed) on the target's data."""
        from tanas.distance import transfer_score

        prow = self.artifacts.probe(int(source_row["id"]), target.chash, seed)
        assert prow is not None  # a source is compared only when it has a probe for every seed
        model, _ = self.model_from_row(prow, what=f"probe of {source_row['name']} seed {seed}")
        return transfer_score(model, target.task(), method, device=device)


class TargetFishers:
    """The target of a nearest query: its data, probes and Fishers, made (and stored) on demand.

    ``task`` is the Task when the caller gave one, ``row`` the target's catalogue row
    when it is stored (listed, or cached by an earlier query).
    """

    def __init__(
        self,
        compute: Compute,
        task: Task | None,
        row: sqlite3.Row | None,
        fingerprint: str,
        config: dict[str, Any],
        chash: str,
        kind: str,
        device: str | torch.device | None,
        data_root: str | None,
    ) -> None:
        self.compute, self._task, self.row, self.fingerprint = compute, task, row, fingerprint
        self.config, self.chash, self.kind, self.device, self.data_root = config, chash, kind, device, data_root
        self.task_id = None if row is None else int(row["id"])
        self._fishers: dict[int, tuple[str, dict[str, Any]]] = {}

    def task(self) -> Task:
        if self._task is None:
            assert self.row is not None
            self._task = self.compute.rebuild(self.row, data_root=self.data_root, download=False)
        return self._task

    def stored_object(self, seed: int) -> str | None:
        """The sha of the stored target probe for ``seed``, without training anything."""
        if seed in self._fishers:
            return self._fishers[seed][0]
        if self.task_id is None:
            return None
        row = self.compute.artifacts.probe(self.task_id, self.chash, seed)
        return None if row is None else row["object"]

    def fisher(self, seed: int) -> tuple[str, dict[str, Any]]:
        """(target probe sha, F_{b→b}) for ``seed``; trains and stores the probe and Fisher if missing."""
        if seed not in self._fishers:
            task = self.task()
            if self.task_id is None:  # not stored yet: cache it, unlisted, under its fingerprint
                self.task_id = self.compute.tasks.upsert(task, name=None, origin=task.spec)[0]
            probe_row, sha = self.compute.ensure_fisher(
                self.task_id,
                task,
                config_from_dict(self.config),
                self.chash,
                seed,
                self.kind,
                device=self.device,
                quiet=True,
                stats=None,
            )
            fisher = self.compute.objects.load_tensors(sha, f"{self.kind} Fisher of the target, seed {seed}")
            self._fishers[seed] = (probe_row["object"], fisher)
        return self._fishers[seed]
