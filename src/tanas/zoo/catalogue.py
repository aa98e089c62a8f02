"""The catalogue: the zoo's SQLite database, its schema, migrations and write transactions.

Torch-free (standard library only): ``tanas zoo list`` and a fully cached ``tanas
zoo nearest`` read the catalogue without importing torch.

**Schema versions** (``PRAGMA user_version``): 1 is the first release; 2 renames
the Fisher-kind column of ``fishers`` and ``distances`` from ``kind`` to
``fisher_kind`` (``kind`` is the *task* kind in ``tasks``) and adds the ``scores``
cache of transferability scores (keyed by method). Opening an older
catalogue migrates it in one transaction under the write lock; a newer one raises
:class:`~tanas.errors.ZooVersionError`.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tanas.errors import ZooBusyError, ZooCorruptError, ZooError, ZooVersionError
from tanas.zoo.values import now

#: Version of the catalogue schema this code writes (stored as ``PRAGMA user_version``).
SCHEMA_VERSION = 2
CATALOGUE = "zoo.sqlite"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tasks (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        name TEXT UNIQUE,                -- NULL: an unlisted, cached nearest() target
        spec TEXT NOT NULL,
        task_name TEXT NOT NULL,
        origin TEXT NOT NULL,            -- what parse_task() is given to rebuild the task
        source TEXT NOT NULL,
        kind TEXT NOT NULL,              -- the task kind (indicator, subset, ...)
        num_classes INTEGER NOT NULL,
        input_shape TEXT NOT NULL,
        data_seed INTEGER NOT NULL,
        created_at REAL NOT NULL,
        listed_at REAL)""",
    """CREATE TABLE IF NOT EXISTS probes (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        probe TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        config TEXT NOT NULL,
        seed INTEGER NOT NULL,
        object TEXT NOT NULL,
        record TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (task_id, config_hash, seed))""",
    """CREATE TABLE IF NOT EXISTS fishers (
        id INTEGER PRIMARY KEY,
        probe_id INTEGER NOT NULL REFERENCES probes(id) ON DELETE CASCADE,
        fisher_kind TEXT NOT NULL,
        object TEXT NOT NULL,
        seconds REAL NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (probe_id, fisher_kind))""",
    """CREATE TABLE IF NOT EXISTS searches (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        record TEXT NOT NULL,
        created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS genotypes (
        id INTEGER PRIMARY KEY,
        task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        genotype TEXT NOT NULL,
        score REAL NOT NULL,
        search_id INTEGER REFERENCES searches(id) ON DELETE SET NULL,
        created_at REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS distances (
        source_object TEXT NOT NULL,     -- sha of the source probe's weights
        target_object TEXT NOT NULL,     -- sha of the target probe's weights
        target_fp TEXT NOT NULL,
        seed INTEGER NOT NULL,
        fisher_kind TEXT NOT NULL,
        head TEXT NOT NULL,
        layers TEXT NOT NULL,
        normalise TEXT NOT NULL,
        squared INTEGER NOT NULL,
        source_fp TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        value REAL NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (source_object, target_object, target_fp, seed, fisher_kind, head, layers, normalise, squared))""",
    """CREATE TABLE IF NOT EXISTS scores (
        source_object TEXT NOT NULL,     -- sha of the source probe's weights
        target_fp TEXT NOT NULL,         -- the target's data as the source probe sees it (adapted or not)
        seed INTEGER NOT NULL,
        method TEXT NOT NULL,            -- leep, nce, logme, hscore
        source_fp TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        value REAL NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (source_object, target_fp, seed, method))""",
    "CREATE INDEX IF NOT EXISTS probes_object ON probes(object)",
    "CREATE INDEX IF NOT EXISTS fishers_object ON fishers(object)",
    "CREATE INDEX IF NOT EXISTS genotypes_task ON genotypes(task_id, score)",
)

#: Backoff between retries of a busy ``BEGIN IMMEDIATE`` (seconds; doubled each time, jittered).
_FIRST_BACKOFF = 0.01
_MAX_BACKOFF = 1.0

#: Statements that take a catalogue from version N to N + 1. RENAME COLUMN (SQLite 3.25) also
#: renames the column in the table's UNIQUE and PRIMARY KEY constraints.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE fishers RENAME COLUMN kind TO fisher_kind",
        "ALTER TABLE distances RENAME COLUMN kind TO fisher_kind",
        next(statement for statement in _SCHEMA if "TABLE IF NOT EXISTS scores" in statement),
    ),
}


class Catalogue:
    """The connection to ``zoo.sqlite`` in the zoo folder ``path``, created, checked and migrated on open.

    ``db`` is the connection (autocommit, rows as :class:`sqlite3.Row`); writes go through
    :meth:`write`. ``timeout`` is how long to wait for another process's write lock.
    """

    def __init__(self, path: Path, *, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        db_path = path / CATALOGUE
        try:
            self.db = sqlite3.connect(str(db_path), timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise ZooError(f"cannot open the zoo catalogue {db_path}: {exc}") from exc
        self.db.row_factory = sqlite3.Row
        try:
            self._open()
        except BaseException:
            self.db.close()
            raise

    def _open(self) -> None:
        try:
            self.db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            version = self.user_version()
            self._check_version(version)
            self._enable_wal()
            self.db.execute("PRAGMA synchronous = FULL")
            if version < SCHEMA_VERSION:
                with self.write():
                    self._upgrade()
        except sqlite3.DatabaseError as exc:  # OperationalError (locked, busy, ...) is a DatabaseError
            if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
                raise self.busy_error(exc) from exc
            raise ZooCorruptError(
                f"{self.path / CATALOGUE} is not a readable zoo catalogue ({exc}); "
                "restore it from a backup or start a new zoo"
            ) from exc

    def _upgrade(self) -> None:
        """Inside a write transaction: create the schema (version 0) or migrate it to :data:`SCHEMA_VERSION`.

        The version is read again under the lock: another process may have done it meanwhile.
        """
        version = self.user_version()
        self._check_version(version)
        if version == SCHEMA_VERSION:
            return
        if version == 0:
            for statement in _SCHEMA:
                self.db.execute(statement)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (repr(now()),))
        else:
            try:
                for step in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[step]:
                        self.db.execute(statement)
            except sqlite3.DatabaseError as exc:  # rolled back by write(): the catalogue is left as it was
                raise ZooCorruptError(
                    f"cannot migrate the zoo catalogue {self.path / CATALOGUE} from schema version "
                    f"{version} to {SCHEMA_VERSION} ({exc}); it was left unchanged"
                ) from exc
        self.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def busy_error(self, exc: sqlite3.OperationalError) -> ZooBusyError:
        return ZooBusyError(
            f"the zoo at {self.path} stayed locked by another process for {self.timeout:.0f} s "
            f"({exc}); try again when it has finished"
        )

    def _enable_wal(self) -> None:
        """Switch to WAL (persistent); another process opening a new zoo at once may hold a lock briefly."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def user_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ZooVersionError(
                f"the zoo at {self.path} has catalogue schema version {version}, but this tanas reads versions up to "
                f"{SCHEMA_VERSION}; upgrade tanas (pip install -U tanas) to use it"
            )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the catalogue's write lock from the start."""
        self._begin()
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")

    def _begin(self) -> None:
        """``BEGIN IMMEDIATE``, retried with jittered exponential backoff until :attr:`timeout` has passed.

        SQLite's busy handler alone can give up early (a writer that holds the lock while
        checkpointing, or many writers queueing at once); "database is locked" must reach
        the user only as the one-line :class:`ZooBusyError` after the full timeout.
        """
        deadline = time.monotonic() + self.timeout
        delay = _FIRST_BACKOFF
        while True:
            try:
                self.db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                left = deadline - time.monotonic()
                if not _is_busy(exc) or left <= 0:
                    raise self.busy_error(exc) from exc
                time.sleep(min(left, delay * (0.5 + random.random())))
                delay = min(delay * 2, _MAX_BACKOFF)

    def integrity_errors(self) -> list[str]:
        """What SQLite's integrity and foreign-key checks find (empty when the database is sound)."""
        errors: list[str] = []
        try:
            result = [r[0] for r in self.db.execute("PRAGMA integrity_check").fetchall()]
            if result != ["ok"]:
                errors.extend(str(r) for r in result)
            for fk in self.db.execute("PRAGMA foreign_key_check").fetchall():
                errors.append(f"foreign key violation in {fk[0]} row {fk[1]} -> {fk[2]}")
        except sqlite3.DatabaseError as exc:
            errors.append(str(exc))
        return errors

    def close(self) -> None:
        self.db.close()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" / "busy" (worth waiting for)."""
    return "locked" in str(exc) or "busy" in str(exc)
