"""The task zoo: a persistent, crash-safe store of solved tasks.

A zoo is a folder::

    zoo.sqlite                 the catalogue (SQLite, WAL mode)
    objects/ab/abcdef….safetensors   content-addressed artifacts (probe weights, Fishers);
                               the file name is the SHA-256 of the file's bytes
    tmp/                       partial writes (``<pid>-<random>.part``)

The catalogue holds, per task: its zoo name, spec, data fingerprint
(``Task.fingerprint()``) and how to rebuild it; per (task, probe config, seed): the
probe weights and training record; per (probe, Fisher kind): the Fisher F_{b→b};
best genotypes with their scores and search records; and a cache of distances.

**Names.** A task added from a suite is named ``SUITE/Tn`` (``paper-digits/T0``),
which is also a spec that ``parse_task`` accepts; a task added from a TOML file
with a ``name`` is ``STEM/NAME``; any other task is named by its canonical spec
(``digits:indicator:0``). A task's identity is its data fingerprint: adding the
same data under another name reuses the entry that is there. Lookups
(:meth:`TaskZoo.get`) accept the zoo name, the spec, or a fingerprint prefix.

**Cached targets.** :meth:`TaskZoo.nearest` trains probes and Fishers for a
target that is not in the zoo. They are stored under the target's fingerprint in
an *unlisted* task row, so that a repeated query (or a later ``add`` of the same
target) reuses them. Unlisted rows never appear in :meth:`TaskZoo.tasks`.

**Crash safety.** Every artifact is written to ``tmp/``, fsynced and renamed into
``objects/`` *before* the catalogue rows that reference it are committed, in one
``BEGIN IMMEDIATE`` transaction, and the transaction re-checks that the file is
still there. So a kill at any point leaves at worst an unreferenced file (an
*orphan*) or a stale temporary file; :meth:`TaskZoo.check` reports those but does
not count them as damage, and ``check(repair=True)`` deletes them. Files are only
ever deleted while holding the catalogue's write lock, and only after the rows that
referenced them have been committed away. Unique constraints plus
``INSERT OR IGNORE`` keep two processes that add the same task from creating
duplicates: the first commit wins and the other process uses the winner's rows.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import secrets
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from tanas.errors import (  # noqa: F401  (the zoo errors are re-exported from here)
    ConfigError,
    TanasError,
    UnknownZooTaskError,
    ZooBusyError,
    ZooConflictError,
    ZooCorruptError,
    ZooError,
    ZooNotFoundError,
    ZooVersionError,
)
from tanas.runtime import atomic_write_bytes, mean_std

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from tanas.data import Task
    from tanas.probe import ProbeConfig, ProbeNet, ProbeRecord

#: Version of the catalogue schema this code writes (stored as ``PRAGMA user_version``).
SCHEMA_VERSION = 1
CATALOGUE = "zoo.sqlite"
OBJECTS_DIR = "objects"
TMP_DIR = "tmp"
#: Default zoo folder of the CLI (overridden by ``--zoo`` or ``TANAS_ZOO``). At module level this module
#: imports only the standard library and torch-free tanas modules, so the CLI can import it when it starts.
DEFAULT_ZOO = "tanas-zoo"
#: A genotype is the op names of the cell's 6 edges (DESIGN §1.6).
GENOTYPE_EDGES = 6
#: Temporary files whose owner cannot be checked are stale after this many seconds.
STALE_TMP_SECONDS = 24 * 3600.0

_OBJECT_NAME = re.compile(r"^[0-9a-f]{64}\.safetensors$")
_TMP_NAME = re.compile(r"^(\d+)-[0-9a-f]+\.part$")


# --------------------------------------------------------------------------- records


@dataclass
class ProbeEntry:
    """One stored probe: (task, probe config, seed) -> weights + training record."""

    seed: int
    probe: str
    config_hash: str
    config: dict[str, Any]
    record: dict[str, Any]
    object: str
    fishers: dict[str, str] = field(default_factory=dict)  # Fisher kind -> object sha

    @property
    def val_acc(self) -> float | None:
        value = self.record.get("val_acc")
        return None if value is None else float(value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed, "probe": self.probe, "config_hash": self.config_hash, "config": self.config,
            "val_acc": self.val_acc, "val_error": self.record.get("val_error"), "epochs": self.record.get("epochs"),
            "reached_epsilon": self.record.get("reached_epsilon"), "train_seconds": self.record.get("train_seconds"),
            "object": self.object, "fishers": dict(self.fishers),
        }


@dataclass
class GenotypeEntry:
    """A genotype stored for a task, with its score and the search that found it."""

    id: int
    genotype: list[str]
    score: float
    record: dict[str, Any]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "genotype": list(self.genotype), "score": self.score,
                "record": self.record, "created_at": self.created_at}


@dataclass
class TaskEntry:
    """A zoo task as stored in the catalogue."""

    name: str
    spec: str
    task_name: str
    origin: str
    source: str
    kind: str
    num_classes: int
    input_shape: tuple[int, int, int]
    fingerprint: str
    data_seed: int
    created_at: float
    probes: list[ProbeEntry]
    best: GenotypeEntry | None
    num_genotypes: int

    @property
    def seeds(self) -> list[int]:
        return sorted({p.seed for p in self.probes})

    @property
    def probe_names(self) -> list[str]:
        return sorted({p.probe for p in self.probes})

    @property
    def val_acc(self) -> float | None:
        """Mean validation accuracy of the stored probes (over seeds and configs)."""
        values = [p.val_acc for p in self.probes if p.val_acc is not None]
        return float(sum(values) / len(values)) if values else None

    @property
    def genotype(self) -> list[str] | None:
        return None if self.best is None else list(self.best.genotype)

    def summary(self) -> dict[str, Any]:
        """The row of ``tanas zoo list --json``."""
        names = self.probe_names
        return {
            "name": self.name,
            "spec": self.spec,
            "probe": names[0] if len(names) == 1 else (names or None),
            "seeds": len(self.seeds),
            "val_acc": self.val_acc,
            "genotype": self.genotype,
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``tanas zoo show``."""
        return {
            **self.summary(),
            "task_name": self.task_name, "origin": self.origin, "source": self.source, "kind": self.kind,
            "num_classes": self.num_classes, "input_shape": list(self.input_shape),
            "fingerprint": self.fingerprint, "data_seed": self.data_seed, "created_at": self.created_at,
            "probes": [p.to_dict() for p in self.probes],
            "best": None if self.best is None else self.best.to_dict(),
            "num_genotypes": self.num_genotypes,
        }


@dataclass
class AddResult:
    """What :meth:`TaskZoo.add_task` did: which work it ran and which it found stored.

    ``task`` is the :class:`~tanas.data.Task` that was added (not part of :meth:`to_dict`),
    so that follow-up work on the entry need not rebuild it from its origin.
    """

    entry: TaskEntry
    probes_trained: int = 0
    probes_reused: int = 0
    fishers_computed: int = 0
    fishers_reused: int = 0
    seconds: float = 0.0
    task: "Task | None" = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.entry.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.entry.name, "spec": self.entry.spec, "fingerprint": self.entry.fingerprint,
                "seeds": self.entry.seeds, "val_acc": self.entry.val_acc,
                "probes_trained": self.probes_trained, "probes_reused": self.probes_reused,
                "fishers_computed": self.fishers_computed, "fishers_reused": self.fishers_reused,
                "seconds": round(self.seconds, 3)}


@dataclass
class Neighbor:
    """FTD from one zoo task (the source) to the target: mean and std over paired seeds."""

    name: str
    distance: float
    std: float
    per_seed: dict[int, float]
    genotype: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "distance": self.distance, "std": self.std,
                "per_seed": {str(k): v for k, v in sorted(self.per_seed.items())}, "genotype": self.genotype}


@dataclass
class NearestResult:
    """Zoo tasks sorted by FTD to ``target``, nearest first. Iterates over the neighbours.

    ``computed`` and ``cached`` count the (source, seed) distances this call computed
    and found in the cache; ``skipped`` maps zoo tasks that could not be compared to why.
    """

    target: str
    fingerprint: str
    neighbors: list[Neighbor]
    skipped: dict[str, str]
    computed: int
    cached: int
    config: dict[str, Any]

    def __iter__(self) -> Iterator[Neighbor]:
        return iter(self.neighbors)

    def __len__(self) -> int:
        return len(self.neighbors)

    def __getitem__(self, index: int) -> Neighbor:
        return self.neighbors[index]

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "fingerprint": self.fingerprint,
                "nearest": [n.to_dict() for n in self.neighbors], "skipped": dict(self.skipped),
                "computed": self.computed, "cached": self.cached, "config": self.config}


@dataclass
class CheckReport:
    """Result of :meth:`TaskZoo.check`.

    ``clean`` is True when the catalogue is sound and every artifact it references
    is present with the right hash. ``missing`` and ``corrupt`` (damage) make it
    False. ``orphaned`` files (unreferenced objects, stale temporary files: the
    normal leftovers of an interrupted write) do not: the zoo works with them.
    With ``repair=True`` the lists describe what was found and ``repaired``
    counts what was done; ``clean`` then describes the zoo *after* the repair.
    """

    clean: bool
    missing: list[dict[str, Any]]
    corrupt: list[dict[str, Any]]
    orphaned: list[str]
    db_errors: list[str]
    objects: int
    repaired: dict[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"clean": self.clean, "missing": self.missing, "corrupt": self.corrupt,
                "orphaned": self.orphaned, "db_errors": self.db_errors, "objects": self.objects,
                "repaired": self.repaired}


# --------------------------------------------------------------------------- helpers


def _now() -> float:
    return time.time()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ZooError(f"{what} is not JSON-serialisable ({exc}); pass plain dicts, lists, str, int and finite floats") from exc


def _json_default(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover
        return False
    return True


def config_dict(config: Any) -> dict[str, Any]:
    """A probe config as a plain, JSON-stable dict."""
    if is_dataclass(config) and not isinstance(config, type):
        data = asdict(config)
    elif isinstance(config, dict):
        data = dict(config)
    else:
        raise ConfigError(f"probe config must be a ProbeConfig or a dict, not {type(config).__name__}")
    return json.loads(_json(data, "probe config"))


def config_hash(config: Any) -> str:
    """Stable identity of a probe config: sha256 of its sorted JSON (first 16 hex digits)."""
    return _sha256(_json(config_dict(config), "probe config").encode())[:16]


def zoo_task_name(arg: str, task: "Task") -> str:
    """The zoo name of ``task`` parsed from the CLI argument ``arg`` (see the module doc)."""
    if task.name == task.spec:
        return task.spec
    if _reparses(arg):
        return f"{arg.split('/')[0]}/{task.name}"
    if is_task_file(arg):
        return f"{Path(arg).stem}/{task.name}"
    return task.name


def is_task_file(arg: str) -> bool:
    """Whether the CLI argument ``arg`` names a TOML task file (its tasks are rebuilt from that file)."""
    return arg.strip().endswith(".toml")


def validate_genotype(genotype: Sequence[str]) -> list[str]:
    """A genotype as a list of 6 op names; raises :class:`ZooError` otherwise."""
    if isinstance(genotype, str) or not isinstance(genotype, Sequence):
        ops = getattr(genotype, "ops", None)  # a tanas.nas.Genotype-like object
        if ops is None:
            raise ZooError(f"a genotype is a list of {GENOTYPE_EDGES} op names, not {type(genotype).__name__}")
        genotype = list(ops)
    ops = list(genotype)
    if len(ops) != GENOTYPE_EDGES or not all(isinstance(op, str) and op for op in ops):
        raise ZooError(f"a genotype is a list of {GENOTYPE_EDGES} op names (edges 0→1, 0→2, 1→2, 0→3, 1→3, 2→3), got {ops!r}")
    return ops


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
        kind TEXT NOT NULL,
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
        kind TEXT NOT NULL,
        object TEXT NOT NULL,
        seconds REAL NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (probe_id, kind))""",
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
        kind TEXT NOT NULL,
        head TEXT NOT NULL,
        layers TEXT NOT NULL,
        normalise TEXT NOT NULL,
        squared INTEGER NOT NULL,
        source_fp TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        value REAL NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (source_object, target_object, target_fp, seed, kind, head, layers, normalise, squared))""",
    "CREATE INDEX IF NOT EXISTS probes_object ON probes(object)",
    "CREATE INDEX IF NOT EXISTS fishers_object ON fishers(object)",
    "CREATE INDEX IF NOT EXISTS genotypes_task ON genotypes(task_id, score)",
)


# --------------------------------------------------------------------------- the zoo


class TaskZoo:
    """A folder of solved tasks; see the module docstring for the layout and guarantees.

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
        if self.path.exists() and not self.path.is_dir():
            raise ZooError(f"zoo path {self.path} is a file, not a folder; give a folder with --zoo")
        db_path = self.path / CATALOGUE
        if not db_path.exists():
            if not create:
                raise ZooNotFoundError(f"no zoo at {self.path} (no {CATALOGUE}); create one with `tanas zoo add TASK --zoo {self.path}`")
            ours = {OBJECTS_DIR, TMP_DIR, CATALOGUE, *(CATALOGUE + x for x in ("-wal", "-shm", "-journal"))}
            if self.path.exists() and any(p.name not in ours for p in self.path.iterdir()):
                raise ZooError(f"{self.path} is a non-empty folder without {CATALOGUE}; give an empty or new folder for the zoo")
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / OBJECTS_DIR).mkdir(exist_ok=True)
        (self.path / TMP_DIR).mkdir(exist_ok=True)
        try:
            self._db = sqlite3.connect(str(db_path), timeout=self.timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise ZooError(f"cannot open the zoo catalogue {db_path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        try:
            self._init_db()
        except BaseException:
            self._db.close()
            raise

    # ------------------------------------------------------------------ plumbing

    def _init_db(self) -> None:
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            self._db.execute("PRAGMA foreign_keys = ON")
            version = self._user_version()
            self._check_version(version)
            self._enable_wal()
            self._db.execute("PRAGMA synchronous = FULL")
            if version == 0:
                with self._write():
                    version = self._user_version()
                    self._check_version(version)
                    if version == 0:
                        for statement in _SCHEMA:
                            self._db.execute(statement)
                        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('created_at', ?)", (repr(_now()),))
                        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:  # OperationalError (locked, busy, ...) is a DatabaseError
            if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
                raise self._busy_error(exc) from exc
            raise ZooCorruptError(f"{self.path / CATALOGUE} is not a readable zoo catalogue ({exc}); "
                                  "restore it from a backup or start a new zoo") from exc

    def _busy_error(self, exc: sqlite3.OperationalError) -> ZooBusyError:
        return ZooBusyError(f"the zoo at {self.path} stayed locked by another process for {self.timeout:.0f} s "
                            f"({exc}); try again when it has finished")

    def _enable_wal(self) -> None:
        """Switch to WAL (persistent); another process opening a new zoo at once may hold a lock briefly."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _user_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ZooVersionError(
                f"the zoo at {self.path} has catalogue schema version {version}, but this tanas reads versions up to "
                f"{SCHEMA_VERSION}; upgrade tanas (pip install -U tanas) to use it"
            )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the catalogue's write lock from the start."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._busy_error(exc) from exc
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the catalogue connection."""
        self._db.close()

    def __enter__(self) -> "TaskZoo":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TaskZoo({str(self.path)!r})"

    # ------------------------------------------------------------------ objects

    def object_path(self, sha: str) -> Path:
        """Where the artifact with content hash ``sha`` lives."""
        return self.path / OBJECTS_DIR / sha[:2] / f"{sha}.safetensors"

    def _object_ok(self, sha: str) -> bool:
        path = self.object_path(sha)
        try:
            return _sha256(path.read_bytes()) == sha
        except OSError:
            return False

    def _write_object_file(self, sha: str, data: bytes) -> None:
        # the temporary file is named by our pid in tmp/, so `check` can tell a crashed writer's leftover
        tmp = self.path / TMP_DIR / f"{os.getpid()}-{secrets.token_hex(8)}.part"
        atomic_write_bytes(self.object_path(sha), data, temp=tmp, durable=True)

    def _put_object(self, data: bytes) -> str:
        """Store ``data`` content-addressed (durably) and return its sha256."""
        sha = _sha256(data)
        if not self._object_ok(sha):
            self._write_object_file(sha, data)
        return sha

    def _ensure_object_locked(self, sha: str, data: bytes) -> None:
        """Inside a write transaction: make sure the file is (still) there before referencing it.

        Files are only deleted under the write lock, so once this returns the file
        stays until the rows that reference it are gone.
        """
        if not self.object_path(sha).is_file():
            self._write_object_file(sha, data)

    def _read_object(self, sha: str, what: str) -> bytes:
        path = self.object_path(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ZooCorruptError(f"{what}: artifact {path} is missing; run `tanas zoo check --repair --zoo {self.path}` "
                                  "and add the task again") from exc
        except OSError as exc:
            raise ZooCorruptError(f"{what}: cannot read artifact {path} ({exc})") from exc
        if _sha256(data) != sha:
            raise ZooCorruptError(f"{what}: artifact {path} is corrupt (its bytes do not match their hash); run "
                                  f"`tanas zoo check --repair --zoo {self.path}` and add the task again")
        return data

    @staticmethod
    def _tensors_to_bytes(tensors: dict[str, "torch.Tensor"], metadata: dict[str, str]) -> bytes:
        from safetensors.torch import save

        # One metadata key only: safetensors writes a multi-key metadata map in a random
        # order, which would give equal content different hashes.
        header = {"tanas": json.dumps(metadata, sort_keys=True)}
        return save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, metadata=header)

    def _load_tensors(self, sha: str, what: str) -> dict[str, "torch.Tensor"]:
        from safetensors.torch import load

        data = self._read_object(sha, what)
        try:
            return load(data)
        except Exception as exc:  # safetensors raises its own error types
            raise ZooCorruptError(f"{what}: artifact {self.object_path(sha)} is not a safetensors file ({exc})") from exc

    # ------------------------------------------------------------------ tasks

    def _task_rows(self, *, listed: bool = True) -> list[sqlite3.Row]:
        where = "name IS NOT NULL" if listed else "1"
        return self._db.execute(f"SELECT * FROM tasks WHERE {where} ORDER BY name").fetchall()

    def _resolve_row(self, name: str) -> sqlite3.Row:
        """A listed task by zoo name, then by spec, then by fingerprint prefix (>= 6 hex digits)."""
        row = self._db.execute("SELECT * FROM tasks WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return row
        rows = self._db.execute("SELECT * FROM tasks WHERE name IS NOT NULL AND spec = ?", (name,)).fetchall()
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            raise UnknownZooTaskError(f"{len(rows)} zoo tasks have the spec {name!r} ({', '.join(r['name'] for r in rows)}); "
                                      "give one of these names")
        if re.fullmatch(r"[0-9a-f]{6,64}", name):
            rows = self._db.execute("SELECT * FROM tasks WHERE name IS NOT NULL AND fingerprint LIKE ?",
                                    (name + "%",)).fetchall()
            if len(rows) == 1:
                return rows[0]
        known = [r["name"] for r in self._task_rows()]
        shown = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
        hint = f"zoo tasks: {shown}" if known else "the zoo is empty"
        raise UnknownZooTaskError(f"no task {name!r} in the zoo at {self.path} ({hint}); see `tanas zoo list`")

    def _entry(self, row: sqlite3.Row) -> TaskEntry:
        probes = []
        for p in self._db.execute("SELECT * FROM probes WHERE task_id = ? ORDER BY config_hash, seed", (row["id"],)):
            fishers = {f["kind"]: f["object"] for f in
                       self._db.execute("SELECT kind, object FROM fishers WHERE probe_id = ? ORDER BY kind", (p["id"],))}
            probes.append(ProbeEntry(seed=int(p["seed"]), probe=p["probe"], config_hash=p["config_hash"],
                                     config=json.loads(p["config"]), record=json.loads(p["record"]),
                                     object=p["object"], fishers=fishers))
        best_row = self._db.execute(
            "SELECT g.*, s.record AS search_record FROM genotypes g LEFT JOIN searches s ON s.id = g.search_id "
            "WHERE g.task_id = ? ORDER BY g.score DESC, g.id ASC LIMIT 1", (row["id"],)).fetchone()
        count = int(self._db.execute("SELECT COUNT(*) FROM genotypes WHERE task_id = ?", (row["id"],)).fetchone()[0])
        return TaskEntry(
            name=row["name"], spec=row["spec"], task_name=row["task_name"], origin=row["origin"], source=row["source"],
            kind=row["kind"], num_classes=int(row["num_classes"]), input_shape=tuple(json.loads(row["input_shape"])),
            fingerprint=row["fingerprint"], data_seed=int(row["data_seed"]), created_at=float(row["created_at"]),
            probes=probes, best=None if best_row is None else self._genotype_entry(best_row), num_genotypes=count,
        )

    @staticmethod
    def _genotype_entry(row: sqlite3.Row) -> GenotypeEntry:
        record = row["search_record"] if "search_record" in row.keys() else None
        return GenotypeEntry(id=int(row["id"]), genotype=json.loads(row["genotype"]), score=float(row["score"]),
                             record=json.loads(record) if record else {}, created_at=float(row["created_at"]))

    def tasks(self) -> list[TaskEntry]:
        """Every listed task, sorted by name."""
        return [self._entry(row) for row in self._task_rows()]

    def names(self) -> list[str]:
        return [row["name"] for row in self._task_rows()]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self._resolve_row(name)
        except UnknownZooTaskError:
            return False
        return True

    def get(self, name: str) -> TaskEntry:
        """The task called ``name`` (zoo name, spec or fingerprint prefix)."""
        return self._entry(self._resolve_row(name))

    def find(self, task: "Task") -> TaskEntry | None:
        """The listed entry holding ``task``'s data, if any (matched by fingerprint)."""
        row = self._db.execute("SELECT * FROM tasks WHERE fingerprint = ? AND name IS NOT NULL",
                               (task.fingerprint(),)).fetchone()
        return None if row is None else self._entry(row)

    def load_task(self, name: str, *, data_root: str | None = None, download: bool = False) -> "Task":
        """Rebuild the :class:`~tanas.data.Task` of a zoo task from its origin, checking its fingerprint."""
        return self._rebuild(self._resolve_row(name), data_root=data_root, download=download)

    def _rebuild(self, row: sqlite3.Row, *, data_root: str | None, download: bool) -> "Task":
        from tanas.data import parse_task

        label = row["name"] or row["spec"]
        tasks = parse_task(row["origin"], seed=int(row["data_seed"]), data_root=data_root, download=download)
        matches = [t for t in tasks if t.fingerprint() == row["fingerprint"]]
        if not matches:
            raise ZooError(
                f"zoo task {label!r}: rebuilding it from {row['origin']!r} (seed {row['data_seed']}) gives different data "
                f"than when it was added (fingerprint {row['fingerprint'][:12]}); point --data-root at the data it was "
                "added with, or remove and re-add the task"
            )
        return matches[0]

    def _upsert_task(self, task: "Task", *, name: str | None, origin: str) -> tuple[int, str | None]:
        """The row id for ``task``'s data (created if new); ``name`` lists it, None keeps it unlisted."""
        fp = task.fingerprint()
        if name is not None and not name.strip():
            raise ZooError("a zoo task name must not be empty")
        with self._write():
            if name is not None:
                clash = self._db.execute("SELECT fingerprint FROM tasks WHERE name = ?", (name,)).fetchone()
                if clash is not None and clash["fingerprint"] != fp:
                    raise ZooConflictError(
                        f"the zoo already has a task named {name!r} with different data (fingerprint "
                        f"{clash['fingerprint'][:12]}, now {fp[:12]}); remove it with `tanas zoo rm {name}` or add "
                        "the task under another name")
            row = self._db.execute("SELECT id, name FROM tasks WHERE fingerprint = ?", (fp,)).fetchone()
            if row is not None:
                if row["name"] is None and name is not None:
                    self._db.execute("UPDATE tasks SET name = ?, origin = ?, task_name = ?, listed_at = ? WHERE id = ?",
                                     (name, origin, task.name, _now(), row["id"]))
                    return int(row["id"]), name
                return int(row["id"]), row["name"]
            cursor = self._db.execute(
                "INSERT INTO tasks (fingerprint, name, spec, task_name, origin, source, kind, num_classes, input_shape, "
                "data_seed, created_at, listed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fp, name, task.spec, task.name, origin, task.source, task.kind, int(task.num_classes),
                 json.dumps(list(task.input_shape)), int(task.seed), _now(), None if name is None else _now()))
            return int(cursor.lastrowid), name

    # ------------------------------------------------------------------ probe configs

    def probe_configs(self) -> dict[str, dict[str, Any]]:
        """Every probe config of the listed tasks: config hash -> config dict."""
        rows = self._db.execute("SELECT DISTINCT p.config_hash, p.config FROM probes p JOIN tasks t ON t.id = p.task_id "
                                "WHERE t.name IS NOT NULL").fetchall()
        return {r["config_hash"]: json.loads(r["config"]) for r in rows}

    def _stored_config(self, probe: "str | ProbeConfig | None") -> tuple[str, dict[str, Any]] | None:
        """(hash, config dict) to use for ``probe``: a ProbeConfig is matched to a stored config (else
        hashed as it is); a name (or None) means the listed tasks' config of that name, if there is
        exactly one. None when there is none."""
        if probe is not None and not isinstance(probe, str):
            return self.config_key(probe), config_dict(probe)
        matching = {h: c for h, c in self.probe_configs().items() if probe is None or c.get("name") == probe}
        if len(matching) > 1:
            listed = "; ".join(f"{h}: {c}" for h, c in sorted(matching.items()))
            raise ConfigError(f"the zoo holds {len(matching)} probe configs{'' if probe is None else f' named {probe!r}'} "
                              f"({listed}); pass the ProbeConfig to use")
        return next(iter(matching.items()), None)

    def config_key(self, config: "ProbeConfig") -> str:
        """The hash under which probes of ``config`` are stored.

        A config read back from the zoo keeps the hash it was stored under, even when
        this version of :class:`~tanas.probe.ProbeConfig` has fields (with defaults)
        that the stored dict lacks; any other config is hashed as it is.
        """
        rows = self._db.execute("SELECT DISTINCT config_hash, config FROM probes").fetchall()
        for row in rows:
            try:
                if _config_from_dict(json.loads(row["config"])) == config:
                    return str(row["config_hash"])
            except TanasError:
                continue
        return config_hash(config)

    def resolve_probe_config(self, probe: "str | ProbeConfig | None" = None) -> "ProbeConfig":
        """A ProbeConfig for training: the zoo's config of that name if it has one, else the default."""
        from tanas.probe import ProbeConfig

        if probe is not None and not isinstance(probe, (str, ProbeConfig)):
            raise ConfigError(f"probe must be a probe name or a ProbeConfig, not {type(probe).__name__}")
        if isinstance(probe, ProbeConfig):
            probe.validate()
            return probe
        stored = self._stored_config(probe)
        return _config_from_dict(stored[1]) if stored is not None else ProbeConfig(name=probe or "cnn")

    # ------------------------------------------------------------------ adding

    def add_task(
        self,
        task: "Task",
        *,
        name: str | None = None,
        origin: str | None = None,
        probe: "str | ProbeConfig" = "cnn",
        seeds: int | Sequence[int] = 1,
        kind: str = "empirical",
        device: "str | torch.device | None" = None,
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
        kind = _check_kind(kind)
        seed_list = _seed_list(seeds)
        config = self.resolve_probe_config(probe)
        chash = self.config_key(config)
        name = name or task.name
        if origin is None:
            origin = name if (name != task.spec and _reparses(name)) else task.spec
        task_id, listed_name = self._upsert_task(task, name=name, origin=origin)
        from tanas.runtime import progress

        stats = _Counters()
        for seed in progress(seed_list, desc=f"zoo add {listed_name}", quiet=quiet, unit="seed"):
            self._ensure_fisher(task_id, task, config, chash, seed, kind, device=device, quiet=True, stats=stats)
        entry = self._entry(self._db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone())
        return AddResult(entry=entry, probes_trained=stats.probes_trained, probes_reused=stats.probes_reused,
                         fishers_computed=stats.fishers_computed, fishers_reused=stats.fishers_reused,
                         seconds=time.perf_counter() - start, task=task)

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

        Tasks are named as the module docstring says (``paper-digits/T0`` for suite
        members); ``options`` are those of :meth:`add_task` (probe, seeds, kind, device, quiet).
        """
        from tanas.data import parse_task

        tasks = parse_task(spec, seed=data_seed, data_root=data_root, download=download)
        origin_file = str(Path(spec).resolve()) if is_task_file(spec) else None
        # Without a file, add_task's default origin: the name when it reparses (SUITE/Tn), else the spec.
        return [self.add_task(task, name=zoo_task_name(spec, task), origin=origin_file, **options) for task in tasks]

    def _probe_row(self, task_id: int, chash: str, seed: int) -> sqlite3.Row | None:
        return self._db.execute("SELECT * FROM probes WHERE task_id = ? AND config_hash = ? AND seed = ?",
                                (task_id, chash, seed)).fetchone()

    def _ensure_probe(self, task_id: int, task: "Task", config: "ProbeConfig", chash: str, seed: int, *,
                      device: Any, quiet: bool, stats: "_Counters | None") -> tuple[sqlite3.Row, "ProbeNet | None"]:
        """The probe row for (task, config, seed), training and storing the probe if it is missing."""
        from tanas.probe import train_probe

        row = self._probe_row(task_id, chash, seed)
        if row is not None:
            if self._object_ok(row["object"]):
                if stats is not None:
                    stats.probes_reused += 1
                return row, None
            with self._write():  # damaged: forget it (and its Fishers) and train again
                self._db.execute("DELETE FROM probes WHERE id = ?", (row["id"],))
        model, record = train_probe(task, config, seed=seed, device=device, quiet=quiet)
        model = model.to("cpu").eval()
        data = self._tensors_to_bytes(model.state_dict(), {"tanas": "probe", "probe": config.name,
                                                           "config_hash": chash, "seed": str(seed)})
        sha = self._put_object(data)
        with self._write():
            self._ensure_object_locked(sha, data)
            self._db.execute(
                "INSERT OR IGNORE INTO probes (task_id, probe, config_hash, config, seed, object, record, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (task_id, config.name, chash, _json(config_dict(config), "probe config"), seed, sha,
                 _json(record.to_dict(), "probe record"), _now()))
            row = self._probe_row(task_id, chash, seed)
        if stats is not None:
            stats.probes_trained += 1
        # If another process committed this probe first, use its weights, not ours.
        return row, (model if row["object"] == sha else None)

    def _ensure_fisher(self, task_id: int, task: "Task", config: "ProbeConfig", chash: str, seed: int, kind: str, *,
                       device: Any, quiet: bool, stats: "_Counters | None") -> tuple[sqlite3.Row, str]:
        """(probe row, Fisher object sha) for (task, config, seed, kind), computing what is missing."""
        from tanas.distance import transfer_fisher

        probe_row, model = self._ensure_probe(task_id, task, config, chash, seed, device=device, quiet=quiet,
                                              stats=stats)
        row = self._db.execute("SELECT * FROM fishers WHERE probe_id = ? AND kind = ?",
                               (probe_row["id"], kind)).fetchone()
        if row is not None:
            if self._object_ok(row["object"]):
                if stats is not None:
                    stats.fishers_reused += 1
                return probe_row, row["object"]
            with self._write():
                self._db.execute("DELETE FROM fishers WHERE id = ?", (row["id"],))
        if model is None:
            model = self._model_from_row(probe_row, what=f"probe of {task.name} seed {seed}")[0]
        start = time.perf_counter()
        # F_{b→b}: the probe as it is, on the task's validation split (as distance_matrix does).
        fisher = transfer_fisher(model, task, same_task=True, kind=kind, seed=seed, device=device, quiet=True)
        seconds = time.perf_counter() - start
        data = self._tensors_to_bytes(fisher, {"tanas": "fisher", "kind": kind, "probe_object": probe_row["object"]})
        sha = self._put_object(data)
        with self._write():
            self._ensure_object_locked(sha, data)
            self._db.execute("INSERT OR IGNORE INTO fishers (probe_id, kind, object, seconds, created_at) "
                             "VALUES (?, ?, ?, ?, ?)", (probe_row["id"], kind, sha, seconds, _now()))
            row = self._db.execute("SELECT * FROM fishers WHERE probe_id = ? AND kind = ?",
                                   (probe_row["id"], kind)).fetchone()
        if stats is not None:
            stats.fishers_computed += 1
        return probe_row, row["object"]

    # ------------------------------------------------------------------ loading

    def _model_from_row(self, row: sqlite3.Row, *, what: str) -> tuple["ProbeNet", "ProbeRecord"]:
        from tanas.probe import ProbeRecord

        record = ProbeRecord.from_dict(json.loads(row["record"]))
        model = record.build()
        state = self._load_tensors(row["object"], what)
        try:
            model.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError) as exc:
            raise ZooCorruptError(f"{what}: stored weights do not fit the {record.probe} probe ({exc})") from exc
        return model.eval(), record

    def _select_probe_row(self, task_id: int, label: str, seed: int, probe: "str | ProbeConfig | None") -> sqlite3.Row:
        rows = self._db.execute("SELECT * FROM probes WHERE task_id = ? AND seed = ?", (task_id, seed)).fetchall()
        if probe is not None:
            wanted = probe if isinstance(probe, str) else None
            chash = None if isinstance(probe, str) else self.config_key(probe)
            rows = [r for r in rows if (r["probe"] == wanted if wanted else r["config_hash"] == chash)]
        if not rows:
            seeds = sorted({int(r["seed"]) for r in self._db.execute("SELECT seed FROM probes WHERE task_id = ?", (task_id,))})
            raise ZooError(f"zoo task {label!r} has no {'' if probe is None else str(getattr(probe, 'name', probe)) + ' '}"
                           f"probe for seed {seed} (stored seeds: {seeds or 'none'}); add it with "
                           f"`tanas zoo add {label} --seeds {seed + 1}`")
        if len(rows) > 1:
            raise ZooError(f"zoo task {label!r} has {len(rows)} probes for seed {seed} "
                           f"({', '.join(r['probe'] + ':' + r['config_hash'] for r in rows)}); say which probe config to use")
        return rows[0]

    def _row_for(self, task: "str | Task") -> sqlite3.Row:
        if isinstance(task, str):
            return self._resolve_row(task)
        row = self._db.execute("SELECT * FROM tasks WHERE fingerprint = ?", (task.fingerprint(),)).fetchone()
        if row is None:
            raise UnknownZooTaskError(f"task {task.name!r} (fingerprint {task.fingerprint()[:12]}) is not in the zoo "
                                      f"at {self.path}; add it first")
        return row

    def load_probe(self, task: "str | Task", seed: int = 0, *, probe: "str | ProbeConfig | None" = None
                   ) -> tuple["ProbeNet", "ProbeRecord"]:
        """The stored probe (on CPU, eval mode) and its training record for ``task`` and ``seed``.

        ``task`` is a zoo name or a Task (found by fingerprint, listed or cached).
        """
        row = self._row_for(task)
        label = row["name"] or row["spec"]
        probe_row = self._select_probe_row(int(row["id"]), label, seed, probe)
        return self._model_from_row(probe_row, what=f"probe of {label} seed {seed}")

    def load_fisher(self, task: "str | Task", seed: int = 0, kind: str = "empirical", *,
                    probe: "str | ProbeConfig | None" = None) -> dict[str, "torch.Tensor"]:
        """The stored Fisher F_{b→b} {parameter name: tensor} of ``task``'s probe for ``seed``."""
        kind = _check_kind(kind)
        row = self._row_for(task)
        label = row["name"] or row["spec"]
        probe_row = self._select_probe_row(int(row["id"]), label, seed, probe)
        fisher = self._db.execute("SELECT object FROM fishers WHERE probe_id = ? AND kind = ?",
                                  (probe_row["id"], kind)).fetchone()
        if fisher is None:
            raise ZooError(f"zoo task {label!r} has no {kind} Fisher for seed {seed}; add it with "
                           f"`tanas zoo add {label} --fisher {kind} --seeds {seed + 1}`")
        return self._load_tensors(fisher["object"], f"{kind} Fisher of {label} seed {seed}")

    # ------------------------------------------------------------------ genotypes

    def put_genotype(self, name: str, genotype: Sequence[str], score: float, record: dict[str, Any] | None = None) -> int:
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
        record_json = _json(record or {}, "search record")
        with self._write():
            row = self._resolve_row(name)
            cursor = self._db.execute("INSERT INTO searches (task_id, record, created_at) VALUES (?, ?, ?)",
                                      (row["id"], record_json, _now()))
            cursor = self._db.execute(
                "INSERT INTO genotypes (task_id, genotype, score, search_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (row["id"], json.dumps(ops), score, cursor.lastrowid, _now()))
            return int(cursor.lastrowid)

    def best_genotype(self, name: str) -> GenotypeEntry | None:
        """The highest-scoring genotype stored for ``name`` (earliest on ties), or None."""
        return self.get(name).best

    def genotypes(self, name: str) -> list[GenotypeEntry]:
        """Every genotype stored for ``name``, best first."""
        row = self._resolve_row(name)
        rows = self._db.execute(
            "SELECT g.*, s.record AS search_record FROM genotypes g LEFT JOIN searches s ON s.id = g.search_id "
            "WHERE g.task_id = ? ORDER BY g.score DESC, g.id ASC", (row["id"],)).fetchall()
        return [self._genotype_entry(r) for r in rows]

    # ------------------------------------------------------------------ removal

    def remove(self, name: str) -> TaskEntry:
        """Remove a task with its probes, Fishers and genotypes; delete artifacts nothing else uses."""
        with self._write():
            row = self._resolve_row(name)
            entry = self._entry(row)
            self._db.execute("DELETE FROM tasks WHERE id = ?", (row["id"],))
            self._drop_stale_distances()
        self._collect_garbage()
        return entry

    def _referenced_objects(self) -> set[str]:
        rows = self._db.execute("SELECT object FROM probes UNION SELECT object FROM fishers").fetchall()
        return {r[0] for r in rows}

    def _drop_stale_distances(self) -> int:
        """Inside a write transaction: forget cached distances whose probes are gone."""
        return self._db.execute("DELETE FROM distances WHERE source_object NOT IN (SELECT object FROM probes) "
                                "OR target_object NOT IN (SELECT object FROM probes)").rowcount

    def _collect_garbage(self) -> int:
        """Delete the object files that no catalogue row references; returns how many.

        Call it only after the transaction that dropped the references has committed:
        deleting inside that transaction would let a kill roll the rows back while the
        files stay deleted. It holds the write lock while deleting, so no writer can
        reference a file meanwhile (a writer re-checks its file under the lock).
        """
        removed = 0
        with self._write():
            referenced = self._referenced_objects()
            for path in self._object_files():
                if path.name[:-len(".safetensors")] not in referenced:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _object_files(self) -> list[Path]:
        root = self.path / OBJECTS_DIR
        return sorted(p for p in root.rglob("*") if p.is_file())

    # ------------------------------------------------------------------ nearest

    def nearest(
        self,
        target: "str | Task",
        *,
        k: int | None = None,
        probe: "str | ProbeConfig | None" = None,
        seeds: int | Sequence[int] | None = None,
        kind: str = "empirical",
        head: str = "refit",
        layers: str = "all",
        normalise: str = "whole",
        squared: bool = False,
        exclude: Sequence[str] = (),
        device: "str | torch.device | None" = None,
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
        """
        # Everything up to the first cache miss reads only the catalogue: a fully cached
        # query imports neither torch nor the data (and so answers in a fraction of a second).
        if k is not None and k < 1:
            raise ConfigError(f"k must be at least 1, not {k}")
        stored = self._stored_config(probe)
        if stored is None:
            what = "any probe" if probe is None else f"a {probe} probe" if isinstance(probe, str) else "a probe of this config"
            raise ZooError(f"no task in the zoo at {self.path} has {what}; add tasks first with "
                           f"`tanas zoo add TASK --probe {getattr(probe, 'name', probe) or 'cnn'}`")
        chash, cfg = stored
        wanted = None if seeds is None else set(_seed_list(seeds))
        excluded = {self._resolve_row(n)["name"] for n in exclude}

        # The target's catalogue row if it is stored (listed, or cached by an earlier query).
        if isinstance(target, str):
            target_row: sqlite3.Row | None = self._resolve_row(target)
            target_label = target_row["name"]
        else:
            target_row = self._db.execute("SELECT * FROM tasks WHERE fingerprint = ?", (target.fingerprint(),)).fetchone()
            target_label = target_row["name"] if target_row is not None and target_row["name"] else target.name
        target_fp = target_row["fingerprint"] if target_row is not None else target.fingerprint()  # type: ignore[union-attr]
        target_shape = (json.loads(target_row["input_shape"]) if target_row is not None
                        else list(target.input_shape))  # type: ignore[union-attr]
        target_classes = int(target_row["num_classes"] if target_row is not None
                             else target.num_classes)  # type: ignore[union-attr]

        plan: list[tuple[sqlite3.Row, dict[int, str]]] = []
        skipped: dict[str, str] = {}
        for row in self._task_rows():
            if row["name"] in excluded:
                continue
            if json.loads(row["input_shape"]) != target_shape:
                skipped[row["name"]] = (f"its inputs are {'x'.join(map(str, json.loads(row['input_shape'])))}, the "
                                        f"target's {'x'.join(map(str, target_shape))}")
                continue
            if head == "pad" and int(row["num_classes"]) < target_classes:
                skipped[row["name"]] = (f"head=pad cannot read the target's {target_classes} classes with its "
                                        f"{row['num_classes']}-class head; use head=refit")
                continue
            have = {int(r["seed"]): r["object"] for r in self._db.execute(
                "SELECT seed, object FROM probes WHERE task_id = ? AND config_hash = ?", (row["id"], chash))}
            use = {s: o for s, o in have.items() if wanted is None or s in wanted}
            if not use:
                skipped[row["name"]] = (f"no {cfg['name']} probe with config {chash}" if not have else
                                        f"no probe for seeds {sorted(wanted or [])}")
                continue
            plan.append((row, use))
        if not plan:
            reasons = "; ".join(f"{n}: {why}" for n, why in skipped.items()) or "the zoo has no other task"
            raise ZooError(f"no zoo task to compare with ({reasons}); add tasks with `tanas zoo add TASK --probe {cfg['name']}`")

        ctx = _TargetContext(self, None if isinstance(target, str) else target, target_row, cfg, chash, kind, device,
                             data_root)
        query = ("SELECT value FROM distances WHERE source_object = ? AND target_object = ? AND target_fp = ? AND "
                 "seed = ? AND kind = ? AND head = ? AND layers = ? AND normalise = ? AND squared = ?")
        values: dict[tuple[int, int], float] = {}  # (plan index, seed) -> distance
        misses: list[tuple[int, int]] = []
        for index, (row, use) in enumerate(plan):
            for seed in sorted(use):
                stored = ctx.stored_object(seed)
                hit = None if stored is None else self._db.execute(
                    query, (use[seed], stored, target_fp, seed, kind, head, layers, normalise, int(squared))).fetchone()
                if hit is None:
                    misses.append((index, seed))
                else:
                    values[(index, seed)] = float(hit["value"])
        cached = len(values)

        if misses:
            from tanas.runtime import progress

            _check_kind(kind)
            bar = progress(total=len(misses), desc=f"nearest {target_label}", quiet=quiet, unit="pair")
            try:
                for index, seed in misses:
                    row, use = plan[index]
                    target_object, fisher_bb = ctx.fisher(seed)
                    value = self._compute_distance(row, seed, target_fp, ctx, fisher_bb, kind, head, layers,
                                                   normalise, squared, device)
                    with self._write():
                        self._db.execute(
                            "INSERT OR REPLACE INTO distances (source_object, target_object, target_fp, seed, kind, "
                            "head, layers, normalise, squared, source_fp, config_hash, value, created_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (use[seed], target_object, target_fp, seed, kind, head, layers, normalise, int(squared),
                             row["fingerprint"], chash, value, _now()))
                    values[(index, seed)] = value
                    bar.update(1)
            finally:
                bar.close()

        neighbors: list[Neighbor] = []
        for index, (row, use) in enumerate(plan):
            per_seed = {seed: values[(index, seed)] for seed in sorted(use)}
            series = list(per_seed.values())
            best = self._db.execute("SELECT genotype FROM genotypes WHERE task_id = ? ORDER BY score DESC, id ASC "
                                    "LIMIT 1", (row["id"],)).fetchone()
            mean, std = mean_std(series)
            neighbors.append(Neighbor(
                name=row["name"], distance=mean, std=std, per_seed=per_seed,
                genotype=None if best is None else json.loads(best[0])))
        neighbors.sort(key=lambda n: (n.distance, n.name))
        if k is not None:
            neighbors = neighbors[:k]
        return NearestResult(
            target=target_label, fingerprint=target_fp, neighbors=neighbors, skipped=skipped,
            computed=len(misses), cached=cached,
            config={"probe": cfg["name"], "config_hash": chash, "seeds": sorted({s for _, u in plan for s in u}),
                    "kind": kind, "head": head, "layers": layers, "normalise": normalise, "squared": squared})

    def _compute_distance(self, source_row: sqlite3.Row, seed: int, target_fp: str, ctx: "_TargetContext",
                          fisher_bb: dict[str, "torch.Tensor"], kind: str, head: str, layers: str, normalise: str,
                          squared: bool, device: Any) -> float:
        from tanas.distance import fisher_task_distance, transfer_fisher

        if source_row["fingerprint"] == target_fp:
            fisher_ab = fisher_bb  # a task against itself: its own probe as it is, so F_{b→b}
        else:
            label = source_row["name"]
            prow = self._probe_row(int(source_row["id"]), ctx.chash, seed)
            model, _ = self._model_from_row(prow, what=f"probe of {label} seed {seed}")
            fisher_ab = transfer_fisher(model, ctx.task(), same_task=False, head=head, kind=kind, seed=seed,
                                        device=device)
        return float(fisher_task_distance(fisher_ab, fisher_bb, layers=layers, normalise=normalise, squared=squared))

    # ------------------------------------------------------------------ integrity

    def check(self, *, repair: bool = False) -> CheckReport:
        """Verify the catalogue and every artifact; with ``repair`` fix what can be fixed.

        Repair deletes orphaned and corrupt files and the catalogue rows whose artifacts
        are missing or corrupt, so that the next ``add`` recomputes them.
        """
        if not repair:
            return self._scan()
        counts = {"rows_removed": 0, "files_removed": 0, "tmp_removed": 0, "distances_removed": 0}
        with self._write():
            # Scan under the lock, so that no other process commits between the scan and the repair;
            # the report's lists are what this scan found.
            found = self._scan()
            rows_before = self._artifact_rows()
            for sha in {m["object"] for m in found.missing} | {c["object"] for c in found.corrupt}:
                # Deleting a probe cascades to its Fishers: they describe weights that are gone.
                self._db.execute("DELETE FROM fishers WHERE object = ?", (sha,))
                self._db.execute("DELETE FROM probes WHERE object = ?", (sha,))
            counts["rows_removed"] = rows_before - self._artifact_rows()
            counts["distances_removed"] = self._drop_stale_distances()
        # Corrupt files are unreferenced now, like the orphans.
        counts["files_removed"] = self._collect_garbage()
        with self._write():
            for path in self._stale_tmp_files():
                path.unlink(missing_ok=True)
                counts["tmp_removed"] += 1
        after = self._scan()
        return CheckReport(clean=after.clean, missing=found.missing, corrupt=found.corrupt, orphaned=found.orphaned,
                           db_errors=after.db_errors, objects=after.objects, repaired=counts)

    def _artifact_rows(self) -> int:
        return int(self._db.execute("SELECT (SELECT COUNT(*) FROM probes) + (SELECT COUNT(*) FROM fishers)").fetchone()[0])

    def _stale_tmp_files(self) -> list[Path]:
        stale = []
        now = _now()
        for path in sorted((self.path / TMP_DIR).iterdir()):
            match = _TMP_NAME.match(path.name)
            owner_alive = match is not None and _pid_alive(int(match.group(1)))
            try:
                old = now - path.stat().st_mtime > STALE_TMP_SECONDS
            except OSError:
                continue
            if not owner_alive or old:
                stale.append(path)
        return stale

    def _scan(self) -> CheckReport:
        db_errors: list[str] = []
        try:
            result = [r[0] for r in self._db.execute("PRAGMA integrity_check").fetchall()]
            if result != ["ok"]:
                db_errors.extend(str(r) for r in result)
            for fk in self._db.execute("PRAGMA foreign_key_check").fetchall():
                db_errors.append(f"foreign key violation in {fk[0]} row {fk[1]} -> {fk[2]}")
        except sqlite3.DatabaseError as exc:
            db_errors.append(str(exc))
        refs: dict[str, list[dict[str, Any]]] = {}
        for r in self._db.execute("SELECT p.object, p.seed, p.probe, t.name, t.spec FROM probes p JOIN tasks t ON t.id = p.task_id"):
            refs.setdefault(r["object"], []).append({"what": "probe", "task": r["name"] or r["spec"], "seed": int(r["seed"]),
                                                     "probe": r["probe"], "object": r["object"]})
        for r in self._db.execute("SELECT f.object, f.kind, p.seed, t.name, t.spec FROM fishers f JOIN probes p ON "
                                  "p.id = f.probe_id JOIN tasks t ON t.id = p.task_id"):
            refs.setdefault(r["object"], []).append({"what": "fisher", "task": r["name"] or r["spec"], "seed": int(r["seed"]),
                                                     "kind": r["kind"], "object": r["object"]})
        missing: list[dict[str, Any]] = []
        corrupt: list[dict[str, Any]] = []
        for sha, users in sorted(refs.items()):
            path = self.object_path(sha)
            if not path.is_file():
                missing.extend(users)
            elif not self._object_ok(sha):
                corrupt.extend(users)
        orphaned = []
        for path in self._object_files():
            stem = path.name[:-len(".safetensors")] if path.name.endswith(".safetensors") else None
            if not _OBJECT_NAME.match(path.name) or stem not in refs or path.parent.name != stem[:2]:
                orphaned.append(str(path.relative_to(self.path)))
        orphaned.extend(str(p.relative_to(self.path)) for p in self._stale_tmp_files())
        return CheckReport(clean=not (missing or corrupt or db_errors), missing=missing, corrupt=corrupt,
                           orphaned=orphaned, db_errors=db_errors, objects=len(refs))


@dataclass
class _Counters:
    probes_trained: int = 0
    probes_reused: int = 0
    fishers_computed: int = 0
    fishers_reused: int = 0


class _TargetContext:
    """The target of a :meth:`TaskZoo.nearest` query: its data, probes and Fishers, made on demand."""

    def __init__(self, zoo: TaskZoo, task: "Task | None", row: sqlite3.Row | None, config: dict[str, Any], chash: str,
                 kind: str, device: Any, data_root: str | None) -> None:
        self.zoo, self._task, self.row, self.config = zoo, task, row, config
        self.chash, self.kind, self.device, self.data_root = chash, kind, device, data_root
        self.task_id = None if row is None else int(row["id"])
        self._fishers: dict[int, tuple[str, dict[str, Any]]] = {}

    def task(self) -> "Task":
        if self._task is None:
            assert self.row is not None
            self._task = self.zoo._rebuild(self.row, data_root=self.data_root, download=False)
        return self._task

    def stored_object(self, seed: int) -> str | None:
        """The sha of the stored target probe for ``seed``, without training anything."""
        if seed in self._fishers:
            return self._fishers[seed][0]
        if self.task_id is None:
            return None
        row = self.zoo._probe_row(self.task_id, self.chash, seed)
        return None if row is None else row["object"]

    def fisher(self, seed: int) -> tuple[str, dict[str, Any]]:
        """(target probe sha, F_{b→b}) for ``seed``; trains and stores the probe and Fisher if missing."""
        if seed not in self._fishers:
            task = self.task()
            if self.task_id is None:  # not stored yet: cache it, unlisted, under its fingerprint
                self.task_id = self.zoo._upsert_task(task, name=None, origin=task.spec)[0]
            probe_row, sha = self.zoo._ensure_fisher(self.task_id, task, _config_from_dict(self.config), self.chash,
                                                     seed, self.kind, device=self.device, quiet=True, stats=None)
            fisher = self.zoo._load_tensors(sha, f"{self.kind} Fisher of the target, seed {seed}")
            self._fishers[seed] = (probe_row["object"], fisher)
        return self._fishers[seed]


# --------------------------------------------------------------------------- module helpers


def _check_kind(kind: str) -> str:
    from tanas.fisher import FISHER_KINDS

    if kind not in FISHER_KINDS:
        raise ConfigError(f"unknown Fisher kind {kind!r}; choose one of {', '.join(FISHER_KINDS)}")
    return kind


def _seed_list(seeds: int | Sequence[int]) -> list[int]:
    if isinstance(seeds, bool):
        raise ConfigError("seeds must be a count or a list of seeds")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"seeds must be at least 1, not {seeds}")
        return list(range(seeds))
    values = sorted({int(s) for s in seeds})
    if not values or values[0] < 0:
        raise ConfigError(f"seeds must be non-negative and not empty, not {list(seeds)!r}")
    return values


def _reparses(name: str) -> bool:
    """Whether ``name`` is something parse_task accepts as it is (a suite member like ``paper-digits/T0``)."""
    from tanas.data import SUITES

    return name.split("/")[0] in SUITES


def _config_from_dict(data: dict[str, Any]) -> "ProbeConfig":
    from dataclasses import fields

    from tanas.probe import ProbeConfig

    unknown = set(data) - {f.name for f in fields(ProbeConfig)}
    if unknown:
        raise ZooVersionError(f"the zoo's probe config has fields this tanas does not know ({sorted(unknown)}); "
                              "upgrade tanas")
    return ProbeConfig.from_dict(data)
