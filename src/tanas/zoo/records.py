"""What the zoo hands back: its entries (tasks, probes, genotypes) and the results of add, nearest and check."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from tanas.data import Task


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
            "seed": self.seed,
            "probe": self.probe,
            "config_hash": self.config_hash,
            "config": self.config,
            "val_acc": self.val_acc,
            "val_error": self.record.get("val_error"),
            "epochs": self.record.get("epochs"),
            "reached_epsilon": self.record.get("reached_epsilon"),
            "train_seconds": self.record.get("train_seconds"),
            "object": self.object,
            "fishers": dict(self.fishers),
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
        return {
            "id": self.id,
            "genotype": list(self.genotype),
            "score": self.score,
            "record": self.record,
            "created_at": self.created_at,
        }


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
            "task_name": self.task_name,
            "origin": self.origin,
            "source": self.source,
            "kind": self.kind,
            "num_classes": self.num_classes,
            "input_shape": list(self.input_shape),
            "fingerprint": self.fingerprint,
            "data_seed": self.data_seed,
            "created_at": self.created_at,
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
    task: Task | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.entry.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.entry.name,
            "spec": self.entry.spec,
            "fingerprint": self.entry.fingerprint,
            "seeds": self.entry.seeds,
            "val_acc": self.entry.val_acc,
            "probes_trained": self.probes_trained,
            "probes_reused": self.probes_reused,
            "fishers_computed": self.fishers_computed,
            "fishers_reused": self.fishers_reused,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Neighbor:
    """FTD (or a transferability score) from one zoo task (the source) to the target: mean and std over paired seeds.

    ``distance`` holds the mean value whatever the method; ``higher_is_better`` says
    whether it is a score, and :meth:`to_dict` names it ``score`` then.
    """

    name: str
    distance: float
    std: float
    per_seed: dict[int, float]
    genotype: list[str] | None = None
    higher_is_better: bool = False

    @property
    def value(self) -> float:
        return self.distance

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            ("score" if self.higher_is_better else "distance"): self.distance,
            "std": self.std,
            "per_seed": {str(k): v for k, v in sorted(self.per_seed.items())},
            "genotype": self.genotype,
        }


@dataclass
class NearestResult:
    """Zoo tasks ranked for ``target``, best first (least FTD, or highest score). Iterates over the neighbours.

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

    @property
    def method(self) -> str:
        return str(self.config.get("method", "ftd"))

    @property
    def higher_is_better(self) -> bool:
        return bool(self.config.get("higher_is_better", False))

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "fingerprint": self.fingerprint,
            "method": self.method,
            "higher_is_better": self.higher_is_better,
            "nearest": [n.to_dict() for n in self.neighbors],
            "skipped": dict(self.skipped),
            "computed": self.computed,
            "cached": self.cached,
            "config": self.config,
        }


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
        return {
            "clean": self.clean,
            "missing": self.missing,
            "corrupt": self.corrupt,
            "orphaned": self.orphaned,
            "db_errors": self.db_errors,
            "objects": self.objects,
            "repaired": self.repaired,
        }
