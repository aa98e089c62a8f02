"""Reads and writes of the catalogue's tables, one method per query. Torch-free.

:class:`TaskRows` covers the tasks and what is stored *about* them (genotypes and
their searches) and builds :class:`~tanas.zoo.records.TaskEntry` values;
:class:`ArtifactRows` covers the rows that reference object files (probes, Fishers)
and the distance cache. Write methods expect to run inside
:meth:`Catalogue.write <tanas.zoo.catalogue.Catalogue.write>` unless they open it.
"""

from __future__ import annotations

import json
import re
import sqlite3
from typing import TYPE_CHECKING, Any

from tanas.errors import UnknownZooTaskError, ZooConflictError, ZooError
from tanas.zoo.catalogue import Catalogue
from tanas.zoo.records import GenotypeEntry, ProbeEntry, TaskEntry
from tanas.zoo.values import now

if TYPE_CHECKING:  # pragma: no cover
    from tanas.data import Task
    from tanas.probe import ProbeConfig
    from tanas.zoo.nearest import NearestOptions

_GENOTYPES = (
    "SELECT g.*, s.record AS search_record FROM genotypes g LEFT JOIN searches s ON s.id = g.search_id "
    "WHERE g.task_id = ? ORDER BY g.score DESC, g.id ASC"
)


class TaskRows:
    """The ``tasks``, ``genotypes`` and ``searches`` tables."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.db = catalogue.db

    def listed(self) -> list[sqlite3.Row]:
        """Every listed task row, sorted by name."""
        return self.db.execute("SELECT * FROM tasks WHERE name IS NOT NULL ORDER BY name").fetchall()

    def by_id(self, task_id: int) -> sqlite3.Row:
        return self.db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()

    def by_fingerprint(self, fingerprint: str, *, listed: bool = False) -> sqlite3.Row | None:
        """The row holding data ``fingerprint``; with ``listed`` only a listed one."""
        where = " AND name IS NOT NULL" if listed else ""
        return self.db.execute(f"SELECT * FROM tasks WHERE fingerprint = ?{where}", (fingerprint,)).fetchone()

    def resolve(self, name: str) -> sqlite3.Row:
        """A listed task by zoo name, then by spec, then by fingerprint prefix (>= 6 hex digits)."""
        row = self.db.execute("SELECT * FROM tasks WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return row
        rows = self.db.execute("SELECT * FROM tasks WHERE name IS NOT NULL AND spec = ?", (name,)).fetchall()
        if len(rows) == 1:
            return rows[0]
        if len(rows) > 1:
            names = ", ".join(r["name"] for r in rows)
            raise UnknownZooTaskError(
                f"{len(rows)} zoo tasks have the spec {name!r} ({names}); give one of these names"
            )
        if re.fullmatch(r"[0-9a-f]{6,64}", name):
            rows = self.db.execute(
                "SELECT * FROM tasks WHERE name IS NOT NULL AND fingerprint LIKE ?", (name + "%",)
            ).fetchall()
            if len(rows) == 1:
                return rows[0]
        known = [r["name"] for r in self.listed()]
        shown = ", ".join(known[:8]) + (", …" if len(known) > 8 else "")
        hint = f"zoo tasks: {shown}" if known else "the zoo is empty"
        raise UnknownZooTaskError(
            f"no task {name!r} in the zoo at {self.catalogue.path} ({hint}); see `tanas zoo list`"
        )

    def for_task(self, task: str | Task) -> sqlite3.Row:
        """The row of a zoo name (see :meth:`resolve`) or of a Task's data (listed or cached)."""
        if isinstance(task, str):
            return self.resolve(task)
        row = self.by_fingerprint(task.fingerprint())
        if row is None:
            raise UnknownZooTaskError(
                f"task {task.name!r} (fingerprint {task.fingerprint()[:12]}) is not in the zoo "
                f"at {self.catalogue.path}; add it first"
            )
        return row

    def entry(self, row: sqlite3.Row) -> TaskEntry:
        """The :class:`TaskEntry` of a task row: its probes with their Fishers, and its best genotype."""
        probes = []
        for p in self.db.execute("SELECT * FROM probes WHERE task_id = ? ORDER BY config_hash, seed", (row["id"],)):
            fishers = {
                f["fisher_kind"]: f["object"]
                for f in self.db.execute(
                    "SELECT fisher_kind, object FROM fishers WHERE probe_id = ? ORDER BY fisher_kind", (p["id"],)
                )
            }
            probes.append(
                ProbeEntry(
                    seed=int(p["seed"]),
                    probe=p["probe"],
                    config_hash=p["config_hash"],
                    config=json.loads(p["config"]),
                    record=json.loads(p["record"]),
                    object=p["object"],
                    fishers=fishers,
                )
            )
        best_row = self.db.execute(_GENOTYPES + " LIMIT 1", (row["id"],)).fetchone()
        count = int(self.db.execute("SELECT COUNT(*) FROM genotypes WHERE task_id = ?", (row["id"],)).fetchone()[0])
        return TaskEntry(
            name=row["name"],
            spec=row["spec"],
            task_name=row["task_name"],
            origin=row["origin"],
            source=row["source"],
            kind=row["kind"],
            num_classes=int(row["num_classes"]),
            input_shape=tuple(json.loads(row["input_shape"])),
            fingerprint=row["fingerprint"],
            data_seed=int(row["data_seed"]),
            created_at=float(row["created_at"]),
            probes=probes,
            best=None if best_row is None else _genotype_entry(best_row),
            num_genotypes=count,
        )

    def upsert(self, task: Task, *, name: str | None, origin: str) -> tuple[int, str | None]:
        """The row id for ``task``'s data (created if new); ``name`` lists it, None keeps it unlisted."""
        fp = task.fingerprint()
        if name is not None and not name.strip():
            raise ZooError("a zoo task name must not be empty")
        with self.catalogue.write():
            if name is not None:
                clash = self.db.execute("SELECT fingerprint FROM tasks WHERE name = ?", (name,)).fetchone()
                if clash is not None and clash["fingerprint"] != fp:
                    raise ZooConflictError(
                        f"the zoo already has a task named {name!r} with different data (fingerprint "
                        f"{clash['fingerprint'][:12]}, now {fp[:12]}); remove it with `tanas zoo rm {name}` or add "
                        "the task under another name"
                    )
            row = self.db.execute("SELECT id, name FROM tasks WHERE fingerprint = ?", (fp,)).fetchone()
            if row is not None:
                if row["name"] is None and name is not None:
                    self.db.execute(
                        "UPDATE tasks SET name = ?, origin = ?, task_name = ?, listed_at = ? WHERE id = ?",
                        (name, origin, task.name, now(), row["id"]),
                    )
                    return int(row["id"]), name
                return int(row["id"]), row["name"]
            cursor = self.db.execute(
                "INSERT INTO tasks (fingerprint, name, spec, task_name, origin, source, kind, num_classes, "
                "input_shape, data_seed, created_at, listed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    fp,
                    name,
                    task.spec,
                    task.name,
                    origin,
                    task.source,
                    task.kind,
                    int(task.num_classes),
                    json.dumps(list(task.input_shape)),
                    int(task.seed),
                    now(),
                    None if name is None else now(),
                ),
            )
            return _inserted_id(cursor), name

    def delete(self, task_id: int) -> None:
        """Delete a task row; its probes, Fishers, searches and genotypes go with it (ON DELETE CASCADE)."""
        self.db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))

    def put_genotype(self, name: str, ops: list[str], score: float, record_json: str) -> int:
        """Store a genotype and its search record for the task ``name``; returns the genotype's id."""
        with self.catalogue.write():
            row = self.resolve(name)
            cursor = self.db.execute(
                "INSERT INTO searches (task_id, record, created_at) VALUES (?, ?, ?)", (row["id"], record_json, now())
            )
            cursor = self.db.execute(
                "INSERT INTO genotypes (task_id, genotype, score, search_id, created_at) VALUES (?, ?, ?, ?, ?)",
                (row["id"], json.dumps(ops), score, cursor.lastrowid, now()),
            )
            return _inserted_id(cursor)

    def genotypes(self, task_id: int) -> list[GenotypeEntry]:
        """Every genotype stored for the task, best first (earliest on ties)."""
        return [_genotype_entry(r) for r in self.db.execute(_GENOTYPES, (task_id,)).fetchall()]

    def best_ops(self, task_id: int) -> list[str] | None:
        """The op names of the task's best genotype, or None."""
        best = self.db.execute(
            "SELECT genotype FROM genotypes WHERE task_id = ? ORDER BY score DESC, id ASC LIMIT 1", (task_id,)
        ).fetchone()
        return None if best is None else json.loads(best[0])


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row the INSERT on ``cursor`` just made (sqlite3 types it as optional for other statements)."""
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def _genotype_entry(row: sqlite3.Row) -> GenotypeEntry:
    # sqlite3.Row's own `in` tests the values, not the column names
    record = row["search_record"] if "search_record" in row.keys() else None  # noqa: SIM118
    return GenotypeEntry(
        id=int(row["id"]),
        genotype=json.loads(row["genotype"]),
        score=float(row["score"]),
        record=json.loads(record) if record else {},
        created_at=float(row["created_at"]),
    )


class ArtifactRows:
    """The ``probes`` and ``fishers`` tables (rows that reference object files) and the ``distances`` cache."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.db = catalogue.db

    # ------------------------------------------------------------------ probes

    def probe(self, task_id: int, chash: str, seed: int) -> sqlite3.Row | None:
        """The probe row of (task, probe config hash, seed), if stored."""
        return self.db.execute(
            "SELECT * FROM probes WHERE task_id = ? AND config_hash = ? AND seed = ?", (task_id, chash, seed)
        ).fetchone()

    def probe_objects(self, task_id: int, chash: str) -> dict[int, str]:
        """Seed -> probe object sha of the task's probes of one config."""
        return {
            int(r["seed"]): r["object"]
            for r in self.db.execute(
                "SELECT seed, object FROM probes WHERE task_id = ? AND config_hash = ?", (task_id, chash)
            )
        }

    def insert_probe(
        self, task_id: int, probe: str, chash: str, config_json: str, seed: int, sha: str, record_json: str
    ) -> None:
        """Reference a probe's weights; a probe another process stored first wins (INSERT OR IGNORE)."""
        self.db.execute(
            "INSERT OR IGNORE INTO probes (task_id, probe, config_hash, config, seed, object, record, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id, probe, chash, config_json, seed, sha, record_json, now()),
        )

    def delete_probe(self, probe_id: int) -> None:
        """Forget a probe and (by cascade) its Fishers."""
        self.db.execute("DELETE FROM probes WHERE id = ?", (probe_id,))

    def select_probe(
        self, task_id: int, label: str, seed: int, probe: str | ProbeConfig | None, chash: str | None
    ) -> sqlite3.Row:
        """The one probe row of (task, seed): of the probe named ``probe`` (a str), of config hash ``chash``
        (when ``probe`` is a ProbeConfig), or the only one (``probe`` None)."""
        rows = self.db.execute("SELECT * FROM probes WHERE task_id = ? AND seed = ?", (task_id, seed)).fetchall()
        if probe is not None:
            wanted = probe if isinstance(probe, str) else None
            rows = [r for r in rows if (r["probe"] == wanted if wanted else r["config_hash"] == chash)]
        if not rows:
            seeds = sorted(
                {int(r["seed"]) for r in self.db.execute("SELECT seed FROM probes WHERE task_id = ?", (task_id,))}
            )
            which = "" if probe is None else str(getattr(probe, "name", probe)) + " "
            raise ZooError(
                f"zoo task {label!r} has no {which}probe for seed {seed} (stored seeds: {seeds or 'none'}); "
                f"add it with `tanas zoo add {label} --seeds {seed + 1}`"
            )
        if len(rows) > 1:
            listed = ", ".join(r["probe"] + ":" + r["config_hash"] for r in rows)
            raise ZooError(
                f"zoo task {label!r} has {len(rows)} probes for seed {seed} ({listed}); say which probe config to use"
            )
        return rows[0]

    def configs(self, *, listed: bool) -> list[tuple[str, dict[str, Any]]]:
        """The distinct (config hash, config dict) of the stored probes (with ``listed``, of the listed tasks only)."""
        if listed:
            rows = self.db.execute(
                "SELECT DISTINCT p.config_hash, p.config FROM probes p JOIN tasks t ON "
                "t.id = p.task_id WHERE t.name IS NOT NULL"
            ).fetchall()
        else:
            rows = self.db.execute("SELECT DISTINCT config_hash, config FROM probes").fetchall()
        return [(r["config_hash"], json.loads(r["config"])) for r in rows]

    # ------------------------------------------------------------------ Fishers

    def fisher(self, probe_id: int, fisher_kind: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM fishers WHERE probe_id = ? AND fisher_kind = ?", (probe_id, fisher_kind)
        ).fetchone()

    def insert_fisher(self, probe_id: int, fisher_kind: str, sha: str, seconds: float) -> None:
        """Reference a Fisher's tensors; one another process stored first wins (INSERT OR IGNORE)."""
        self.db.execute(
            "INSERT OR IGNORE INTO fishers (probe_id, fisher_kind, object, seconds, created_at) VALUES (?, ?, ?, ?, ?)",
            (probe_id, fisher_kind, sha, seconds, now()),
        )

    def delete_fisher(self, fisher_id: int) -> None:
        self.db.execute("DELETE FROM fishers WHERE id = ?", (fisher_id,))

    # ------------------------------------------------------------------ distances

    def cached_distance(
        self, source_object: str, target_object: str, target_fp: str, seed: int, options: NearestOptions
    ) -> float | None:
        """The cached FTD of (source probe, target probe, target data, seed, options), if any."""
        hit = self.db.execute(
            "SELECT value FROM distances WHERE source_object = ? AND target_object = ? AND target_fp = ? AND "
            "seed = ? AND fisher_kind = ? AND head = ? AND layers = ? AND normalise = ? AND squared = ?",
            (source_object, target_object, target_fp, seed, *options.key()),
        ).fetchone()
        return None if hit is None else float(hit["value"])

    def put_distance(
        self,
        source_object: str,
        target_object: str,
        target_fp: str,
        seed: int,
        options: NearestOptions,
        source_fp: str,
        chash: str,
        value: float,
    ) -> None:
        with self.catalogue.write():
            self.db.execute(
                "INSERT OR REPLACE INTO distances (source_object, target_object, target_fp, seed, fisher_kind, "
                "head, layers, normalise, squared, source_fp, config_hash, value, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (source_object, target_object, target_fp, seed, *options.key(), source_fp, chash, value, now()),
            )

    def cached_score(self, source_object: str, target_fp: str, seed: int, method: str) -> float | None:
        """The cached transferability score ``method`` of (source probe, target data, seed), if any."""
        hit = self.db.execute(
            "SELECT value FROM scores WHERE source_object = ? AND target_fp = ? AND seed = ? AND method = ?",
            (source_object, target_fp, seed, method),
        ).fetchone()
        return None if hit is None else float(hit["value"])

    def put_score(
        self, source_object: str, target_fp: str, seed: int, method: str, source_fp: str, chash: str, value: float
    ) -> None:
        with self.catalogue.write():
            self.db.execute(
                "INSERT OR REPLACE INTO scores (source_object, target_fp, seed, method, source_fp, config_hash, value, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (source_object, target_fp, seed, method, source_fp, chash, value, now()),
            )

    def drop_stale_distances(self) -> int:
        """Inside a write transaction: forget cached distances and scores whose probes are gone."""
        scores = self.db.execute("DELETE FROM scores WHERE source_object NOT IN (SELECT object FROM probes)").rowcount
        return (
            scores
            + self.db.execute(
                "DELETE FROM distances WHERE source_object NOT IN (SELECT object FROM probes) "
                "OR target_object NOT IN (SELECT object FROM probes)"
            ).rowcount
        )

    # ------------------------------------------------------------------ integrity

    def referenced_objects(self) -> set[str]:
        rows = self.db.execute("SELECT object FROM probes UNION SELECT object FROM fishers").fetchall()
        return {r[0] for r in rows}

    def references(self) -> dict[str, list[dict[str, Any]]]:
        """Object sha -> what references it (``check``'s report rows: probe or fisher, task, seed, ...)."""
        refs: dict[str, list[dict[str, Any]]] = {}
        for r in self.db.execute(
            "SELECT p.object, p.seed, p.probe, t.name, t.spec FROM probes p JOIN tasks t ON t.id = p.task_id"
        ):
            refs.setdefault(r["object"], []).append(
                {
                    "what": "probe",
                    "task": r["name"] or r["spec"],
                    "seed": int(r["seed"]),
                    "probe": r["probe"],
                    "object": r["object"],
                }
            )
        for r in self.db.execute(
            "SELECT f.object, f.fisher_kind, p.seed, t.name, t.spec FROM fishers f JOIN probes p "
            "ON p.id = f.probe_id JOIN tasks t ON t.id = p.task_id"
        ):
            refs.setdefault(r["object"], []).append(
                {
                    "what": "fisher",
                    "task": r["name"] or r["spec"],
                    "seed": int(r["seed"]),
                    "kind": r["fisher_kind"],
                    "object": r["object"],
                }
            )
        return refs

    def count(self) -> int:
        """How many probe and Fisher rows there are."""
        query = "SELECT (SELECT COUNT(*) FROM probes) + (SELECT COUNT(*) FROM fishers)"
        return int(self.db.execute(query).fetchone()[0])

    def forget_object(self, sha: str) -> None:
        """Inside a write transaction: delete the rows referencing ``sha``.

        Deleting a probe cascades to its Fishers: they describe weights that are gone.
        """
        self.db.execute("DELETE FROM fishers WHERE object = ?", (sha,))
        self.db.execute("DELETE FROM probes WHERE object = ?", (sha,))
