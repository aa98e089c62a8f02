"""Integrity of a zoo: check, repair, and garbage collection of unreferenced objects.

Files are only ever deleted while holding the catalogue's write lock, and only after
the rows that referenced them have been committed away: deleting inside that
transaction would let a kill roll the rows back while the files stay deleted.
"""

from __future__ import annotations

from tanas.zoo.catalogue import Catalogue
from tanas.zoo.objects import ObjectStore
from tanas.zoo.records import CheckReport
from tanas.zoo.rows import ArtifactRows


class Checker:
    """Checks and repairs the catalogue and object store of one zoo."""

    def __init__(self, catalogue: Catalogue, artifacts: ArtifactRows, objects: ObjectStore) -> None:
        self.catalogue, self.artifacts, self.objects = catalogue, artifacts, objects

    def check(self, *, repair: bool = False) -> CheckReport:
        """Verify the catalogue and every artifact; with ``repair`` fix what can (see :meth:`TaskZoo.check`)."""
        if not repair:
            return self.scan()
        counts = {"rows_removed": 0, "files_removed": 0, "tmp_removed": 0, "distances_removed": 0}
        with self.catalogue.write():
            # Scan under the lock, so that no other process commits between the scan and the repair;
            # the report's lists are what this scan found.
            found = self.scan()
            rows_before = self.artifacts.count()
            for sha in {m["object"] for m in found.missing} | {c["object"] for c in found.corrupt}:
                self.artifacts.forget_object(sha)
            counts["rows_removed"] = rows_before - self.artifacts.count()
            counts["distances_removed"] = self.artifacts.drop_stale_distances()
        # Corrupt files are unreferenced now, like the orphans.
        counts["files_removed"] = self.collect_garbage()
        with self.catalogue.write():
            for path in self.objects.stale_tmp_files():
                path.unlink(missing_ok=True)
                counts["tmp_removed"] += 1
        after = self.scan()
        return CheckReport(
            clean=after.clean,
            missing=found.missing,
            corrupt=found.corrupt,
            orphaned=found.orphaned,
            db_errors=after.db_errors,
            objects=after.objects,
            repaired=counts,
        )

    def scan(self) -> CheckReport:
        """What is wrong, without changing anything."""
        db_errors = self.catalogue.integrity_errors()
        refs = self.artifacts.references()
        missing = []
        corrupt = []
        for sha, users in sorted(refs.items()):
            if not self.objects.path(sha).is_file():
                missing.extend(users)
            elif not self.objects.ok(sha):
                corrupt.extend(users)
        orphaned = [str(p.relative_to(self.objects.root)) for p in self.objects.orphans(refs)]
        return CheckReport(
            clean=not (missing or corrupt or db_errors),
            missing=missing,
            corrupt=corrupt,
            orphaned=orphaned,
            db_errors=db_errors,
            objects=len(refs),
        )

    def collect_garbage(self) -> int:
        """Delete the object files that no catalogue row references; returns how many.

        Call it only after the transaction that dropped the references has committed. It
        holds the write lock while deleting, so no writer can reference a file meanwhile
        (a writer re-checks its file under the lock).
        """
        removed = 0
        with self.catalogue.write():
            referenced = self.artifacts.referenced_objects()
            for path in self.objects.unreferenced(referenced):
                path.unlink(missing_ok=True)
                removed += 1
        return removed
