"""Garbage collection of a zoo: what ``nearest`` cached for targets outside the zoo, then unreferenced files.

``nearest`` caches an outside target as an *unlisted* task row with its own probes and
Fishers, and caches distances and transferability scores keyed by the target's data
fingerprint. :class:`Collector` removes, in order and each step in its own write
transaction (so a concurrent writer waits at most one step):

1. the unlisted task rows, with their probes and Fishers (ON DELETE CASCADE);
2. the cached distances and scores whose target is not a listed task (or whose
   probes are gone).

Both steps also drop what ``nearest`` cached for a *listed* target seen in another
zoo task's input format (an adapted view is a task of its own, with its own
fingerprint, stored unlisted): nothing is lost but compute, and the next cross-format
``nearest`` makes them again.
3. the object files no row references, and temporary files whose writer is gone.

Step 3 deletes only under the write lock and only files last modified before the
collection began (minus ``grace_seconds``): a concurrent writer stores its file
*before* taking the lock to reference it, so a file that is unreferenced under the
lock may be one that writer is about to reference. Such a file is younger than the
collection and is kept; if it were deleted anyway, the writer's
:meth:`~tanas.zoo.objects.ObjectStore.ensure_locked` would write it again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tanas.zoo.catalogue import Catalogue
from tanas.zoo.objects import ObjectStore
from tanas.zoo.rows import ArtifactRows
from tanas.zoo.values import now


@dataclass(frozen=True)
class GcReport:
    """What :meth:`TaskZoo.gc` freed: catalogue rows by table, files and their bytes."""

    tasks: int
    probes: int
    fishers: int
    distances: int
    scores: int
    files: int
    bytes: int

    @property
    def rows(self) -> int:
        """Catalogue rows removed, all tables together."""
        return self.tasks + self.probes + self.fishers + self.distances + self.scores

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "tasks": self.tasks,
            "probes": self.probes,
            "fishers": self.fishers,
            "distances": self.distances,
            "scores": self.scores,
            "files": self.files,
            "bytes": self.bytes,
        }


class Collector:
    """Garbage collection of one zoo's catalogue and object store (see the module docstring)."""

    def __init__(self, catalogue: Catalogue, artifacts: ArtifactRows, objects: ObjectStore) -> None:
        self.catalogue, self.artifacts, self.objects = catalogue, artifacts, objects
        self.db = catalogue.db

    def collect(self, *, grace_seconds: float = 0.0) -> GcReport:
        """Run the three steps; unlisted rows created and files written after ``start - grace_seconds`` stay."""
        cutoff = now() - grace_seconds
        tasks, probes, fishers = self._drop_unlisted(cutoff)
        distances, scores = self._drop_outside_caches()
        files, freed = self._delete_files(cutoff)
        return GcReport(tasks, probes, fishers, distances, scores, files, freed)

    def _drop_unlisted(self, cutoff: float) -> tuple[int, int, int]:
        with self.catalogue.write():
            unlisted = "SELECT id FROM tasks WHERE name IS NULL AND created_at < ?"
            probes = self._count(f"SELECT COUNT(*) FROM probes WHERE task_id IN ({unlisted})", cutoff)
            fishers = self._count(
                f"SELECT COUNT(*) FROM fishers WHERE probe_id IN (SELECT id FROM probes WHERE task_id IN ({unlisted}))",
                cutoff,
            )
            tasks = self.db.execute("DELETE FROM tasks WHERE name IS NULL AND created_at < ?", (cutoff,)).rowcount
        return tasks, probes, fishers

    def _drop_outside_caches(self) -> tuple[int, int]:
        with self.catalogue.write():
            # Unlisted rows younger than the cutoff survived step 1: their caches stay with them.
            known = "SELECT fingerprint FROM tasks"
            distances = self.db.execute(
                f"DELETE FROM distances WHERE target_fp NOT IN ({known}) "
                "OR source_object NOT IN (SELECT object FROM probes) "
                "OR target_object NOT IN (SELECT object FROM probes)"
            ).rowcount
            scores = self.db.execute(
                f"DELETE FROM scores WHERE target_fp NOT IN ({known}) "
                "OR source_object NOT IN (SELECT object FROM probes)"
            ).rowcount
        return distances, scores

    def _delete_files(self, cutoff: float) -> tuple[int, int]:
        files = freed = 0
        with self.catalogue.write():
            referenced = self.artifacts.referenced_objects()
            candidates = self.objects.unreferenced(referenced) + self.objects.stale_tmp_files()
            for path in candidates:
                size = _old_file_size(path, cutoff)
                if size is not None:
                    path.unlink(missing_ok=True)
                    files, freed = files + 1, freed + size
        return files, freed

    def _count(self, sql: str, *args: object) -> int:
        return int(self.db.execute(sql, args).fetchone()[0])


def _old_file_size(path: Path, cutoff: float) -> int | None:
    """The size of ``path`` if it was last modified before ``cutoff``, else None (also when it is gone)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size if stat.st_mtime < cutoff else None
