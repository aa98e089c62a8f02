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
target) reuses them. Unlisted rows never appear in :meth:`TaskZoo.tasks`;
:meth:`TaskZoo.gc` removes them with their artifacts and cached values.

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
A busy ``BEGIN IMMEDIATE`` is retried with jittered exponential backoff up to the
zoo's timeout, then raises the one-line :class:`ZooBusyError`.

**Layout of this package.** :class:`TaskZoo` (:mod:`~tanas.zoo.taskzoo`) is a thin
facade over: :mod:`~tanas.zoo.catalogue` (SQLite, schema and migrations),
:mod:`~tanas.zoo.rows` (the queries), :mod:`~tanas.zoo.objects` (the object store),
:mod:`~tanas.zoo.compute` (probes, Fishers, distances), :mod:`~tanas.zoo.nearest`
(the phases of a nearest query), :mod:`~tanas.zoo.check` (check, repair, garbage
collection of unreferenced files), :mod:`~tanas.zoo.gc` (``zoo gc``: outside targets'
caches, then unreferenced files), :mod:`~tanas.zoo.records` (what the zoo hands back),
:mod:`~tanas.zoo.values` and :mod:`~tanas.zoo.names`. At module level every one of
them imports only the standard library and torch-free tanas modules, so the CLI can
import the zoo when it starts and a cached query never loads torch.
"""

from __future__ import annotations

from tanas.errors import (
    UnknownZooTaskError,
    ZooBusyError,
    ZooConflictError,
    ZooCorruptError,
    ZooError,
    ZooNotFoundError,
    ZooVersionError,
)
from tanas.zoo.catalogue import CATALOGUE, SCHEMA_VERSION
from tanas.zoo.gc import GcReport
from tanas.zoo.names import is_task_file, nearest_target, zoo_task_name
from tanas.zoo.nearest import DEFAULT_METHOD, ZOO_METHODS, NearestOptions
from tanas.zoo.objects import OBJECTS_DIR, STALE_TMP_SECONDS, TMP_DIR
from tanas.zoo.records import (
    AddResult,
    CheckReport,
    GenotypeEntry,
    NearestResult,
    Neighbor,
    ProbeEntry,
    TaskEntry,
)
from tanas.zoo.taskzoo import TaskZoo
from tanas.zoo.values import GENOTYPE_EDGES, config_dict, config_hash, validate_genotype

#: Default zoo folder of the CLI (overridden by ``--zoo`` or ``TANAS_ZOO``).
DEFAULT_ZOO = "tanas-zoo"

__all__ = [
    "CATALOGUE",
    "DEFAULT_METHOD",
    "DEFAULT_ZOO",
    "GENOTYPE_EDGES",
    "OBJECTS_DIR",
    "SCHEMA_VERSION",
    "STALE_TMP_SECONDS",
    "TMP_DIR",
    "ZOO_METHODS",
    "AddResult",
    "CheckReport",
    "GcReport",
    "GenotypeEntry",
    "NearestOptions",
    "NearestResult",
    "Neighbor",
    "ProbeEntry",
    "TaskEntry",
    "TaskZoo",
    "UnknownZooTaskError",
    "ZooBusyError",
    "ZooConflictError",
    "ZooCorruptError",
    "ZooError",
    "ZooNotFoundError",
    "ZooVersionError",
    "config_dict",
    "config_hash",
    "is_task_file",
    "nearest_target",
    "validate_genotype",
    "zoo_task_name",
]
