"""Distance matrices over seeds: every ordered pair of tasks, paired seeds, mean ± std."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import torch

from tanas.data import Task
from tanas.data.adapt import InputAdapter, adapt_task, shape_text
from tanas.distance.choices import HEADS, LAYERS, METHODS, NORMALISATIONS, REFIT_L2, check_choice, higher_is_better
from tanas.distance.heads import transfer_fisher
from tanas.distance.measures import fisher_task_distance, task2vec_distance
from tanas.distance.scores import SCORE_SPLIT, transfer_score
from tanas.errors import ConfigError
from tanas.fisher import FISHER_KINDS, FISHER_METHODS
from tanas.probe import ProbeConfig, ProbeNet, as_probe_config, train_probe
from tanas.runtime import mean_std, progress, resolve_device


def _nan_to_none(rows: Any) -> Any:
    if isinstance(rows, list):
        return [_nan_to_none(r) for r in rows]
    return None if isinstance(rows, float) and math.isnan(rows) else rows


def _none_to_nan(rows: Any) -> Any:
    if isinstance(rows, list):
        return [_none_to_nan(r) for r in rows]
    return float("nan") if rows is None else float(rows)


class _FisherKw(TypedDict):
    """The Fisher settings every :func:`transfer_fisher` call of one matrix shares."""

    kind: str
    device: torch.device
    method: str
    quiet: bool


@dataclass
class DistanceMatrix:
    """Distances (or transferability scores) between tasks over seeds; row = source a, column = target b.

    Attributes:
        tasks: task names, in row/column order.
        mean, std: ``[a][b]`` mean and sample standard deviation (ddof=1; 0 for
            one seed) over seeds. NaN marks an undefined pair (``head="pad"``
            with a target that has more classes than the source's head).
        per_seed: ``[seed][a][b]``.
        nearest: ``{target: {"source": name, "agreement": share of seeds whose
            own nearest source is the same}}``; the target itself is excluded.
        config: how the matrix was computed.
        probes: the training records of the probes used (one per task and seed).
        specs: the task specs, in row order.
    """

    tasks: list[str]
    mean: list[list[float]]
    std: list[list[float]]
    per_seed: list[list[list[float]]]
    nearest: dict[str, dict[str, Any]]
    config: dict[str, Any]
    probes: list[dict[str, Any]] = field(default_factory=list)
    specs: list[str] = field(default_factory=list)

    @property
    def method(self) -> str:
        return str(self.config.get("method", "ftd"))

    @property
    def higher_is_better(self) -> bool:
        """True for a transferability score, False for a distance."""
        return higher_is_better(self.method)

    def val_errors(self) -> dict[str, float]:
        """Each task's probe validation error, mean over the probes trained for it (one per seed), in probe order."""
        errors: dict[str, list[float]] = {}
        for record in self.probes:
            errors.setdefault(record["task"], []).append(record["val_error"])
        return {name: sum(values) / len(values) for name, values in errors.items()}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; NaN (undefined pairs) becomes ``None``."""
        return {
            "method": self.method,
            "higher_is_better": self.higher_is_better,
            "tasks": list(self.tasks),
            "specs": list(self.specs),
            "mean": _nan_to_none(self.mean),
            "std": _nan_to_none(self.std),
            "per_seed": _nan_to_none(self.per_seed),
            "nearest": {k: dict(v) for k, v in self.nearest.items()},
            "config": dict(self.config),
            "probes": list(self.probes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DistanceMatrix:
        """Inverse of :meth:`to_dict` (e.g. for a ``distance.json`` read back)."""
        missing = [k for k in ("tasks", "mean", "std", "per_seed", "nearest", "config") if k not in data]
        if missing:
            raise ConfigError(f"not a tanas distance matrix: it lacks {missing}")
        return cls(
            tasks=list(data["tasks"]),
            mean=_none_to_nan(list(data["mean"])),
            std=_none_to_nan(list(data["std"])),
            per_seed=_none_to_nan(list(data["per_seed"])),
            nearest={k: dict(v) for k, v in data["nearest"].items()},
            config=dict(data["config"]),
            probes=list(data.get("probes", [])),
            specs=list(data.get("specs", [])),
        )


def nearest_sources(
    tasks: list[str], mean: list[list[float]], per_seed: list[list[list[float]]], *, higher_is_better: bool = False
) -> dict[str, dict[str, Any]]:
    """For each target, the best source by mean (least distance, or highest score) and the share of seeds agreeing."""
    sign = -1.0 if higher_is_better else 1.0

    def argmin(matrix: list[list[float]], target: int) -> int | None:
        best, best_value = None, math.inf
        for source in range(len(tasks)):
            value = sign * matrix[source][target]
            if source != target and not math.isnan(value) and value < best_value:
                best, best_value = source, value
        return best

    nearest: dict[str, dict[str, Any]] = {}
    for target, name in enumerate(tasks):
        choice = argmin(mean, target)
        if choice is None:
            nearest[name] = {"source": None, "agreement": None}
            continue
        agree = sum(argmin(seed_matrix, target) == choice for seed_matrix in per_seed)
        nearest[name] = {"source": tasks[choice], "agreement": agree / len(per_seed)}
    return nearest


def seed_mean_std(per_seed: list[list[list[float]]]) -> tuple[list[list[float]], list[list[float]]]:
    """Cell-wise mean and std over the seed axis of (seeds, sources, targets) matrices."""
    n = len(per_seed[0])
    cells = [[mean_std(m[a][b] for m in per_seed) for b in range(n)] for a in range(n)]
    return [[c[0] for c in row] for row in cells], [[c[1] for c in row] for row in cells]


def _check_tasks(tasks: Sequence[Task]) -> list[Task]:
    tasks = list(tasks)
    if len(tasks) < 2:
        raise ConfigError(f"a distance matrix needs at least two tasks, got {len(tasks)}")
    if not all(isinstance(t, Task) for t in tasks):
        raise ConfigError("distance_matrix takes tanas.data.Task objects (see tanas.data.parse_task)")
    names = [t.name for t in tasks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"task names must be unique, but {dupes} appear more than once; list each task once")
    # Every task must be readable by every other task's probe: checked here, before any training.
    for a in tasks:
        adapter = InputAdapter.for_shape(a.input_shape)
        for b in tasks:
            adapter.check(b.input_shape)
    return tasks


class _SeedProbes:
    """The probes and own Fishers of one seed, trained lazily per (task, input format).

    A task is seen by another task's probe through the input adapter; for FTD its own
    reference Fisher ``F_{b'→b'}`` then comes from a probe trained on the adapted task
    ``b'``, so both Fishers live on the same architecture.
    """

    def __init__(
        self,
        config: ProbeConfig,
        seed: int,
        device: torch.device,
        quiet: bool,
        fisher_kw: _FisherKw,
        records: list[dict[str, Any]],
        bar: Any,
    ) -> None:
        self.config, self.seed, self.device, self.quiet = config, seed, device, quiet
        self.fisher_kw, self.records, self.bar = fisher_kw, records, bar
        self._probes: dict[tuple[str, tuple[int, ...]], ProbeNet] = {}
        self._own: dict[tuple[str, tuple[int, ...]], dict[str, torch.Tensor]] = {}

    def probe(self, task: Task) -> ProbeNet:
        key = (task.name, tuple(task.input_shape))
        if key not in self._probes:
            self.bar.set_postfix_str(f"seed {self.seed}: train {task.name}")
            model, record = train_probe(task, self.config, seed=self.seed, device=self.device, quiet=self.quiet)
            self._probes[key] = model
            self.records.append(record.to_dict())
            self.bar.update(1)
        return self._probes[key]

    def own_fisher(self, task: Task) -> dict[str, torch.Tensor]:
        key = (task.name, tuple(task.input_shape))
        if key not in self._own:
            self.bar.set_postfix_str(f"seed {self.seed}: Fisher {task.name}→{task.name}")
            self._own[key] = transfer_fisher(self.probe(task), task, same_task=True, seed=self.seed, **self.fisher_kw)
            self.bar.update(1)
        return self._own[key]


def _formats_needed(tasks: list[Task]) -> set[tuple[int, tuple[int, ...]]]:
    """(target index, source input shape) pairs where a target must be adapted to a source's format."""
    return {
        (b, tuple(a.input_shape))
        for a in tasks
        for b, tb in enumerate(tasks)
        if tuple(a.input_shape) != tuple(tb.input_shape)
    }


def distance_matrix(
    tasks: Sequence[Task],
    *,
    probe: str | ProbeConfig = "cnn",
    seeds: int = 3,
    kind: str = "empirical",
    head: str = "refit",
    layers: str = "all",
    normalise: str = "whole",
    squared: bool = False,
    method: str = "ftd",
    device: str | torch.device | None = None,
    quiet: bool = False,
    seed: int = 0,
    fisher_method: str = "auto",
) -> DistanceMatrix:
    """Distances (or transferability scores) between every ordered pair of ``tasks``, over ``seeds`` seeds.

    Seed ``i`` uses probe seed ``seed + i`` for every task, so seed ``i`` of a
    source is paired with seed ``i`` of the target.

    ``method="ftd"``: for each seed, train the probe on each task, compute each
    ``F_{b→b}`` and every ``F_{a→b}`` (a ≠ b) with :func:`transfer_fisher`, and
    take :func:`fisher_task_distance` with ``layers``, ``normalise``, ``squared``.

    ``method="task2vec"``: the Task2Vec-style baseline. For each seed ONE probe is
    trained, on the reference task: the task with the most classes (the first
    such task on a tie; for the paper suites, T3 = full). For every task
    (the reference included) its head is refitted (body frozen) and the Fisher
    of the body on the task's validation split is the task's embedding; the
    distance is :func:`task2vec_distance` (symmetric). ``head``, ``layers``,
    ``normalise`` and ``squared`` do not apply and are not recorded.

    ``method`` in ``leep``, ``nce``, ``logme``, ``hscore``: a transferability score
    of ``a``'s probe on ``b``'s validation split (:func:`transfer_score`); higher is
    better, the diagonal holds a probe's score on its own task.

    Tasks of different input formats are compared through the input adapter: the
    target ``b`` is converted to the source's format (``b'``), and for FTD ``b``'s
    own Fisher comes from a probe trained on ``b'``. ``config["adapted"]`` lists
    every conversion.
    """
    tasks = _check_tasks(tasks)
    config = as_probe_config(probe)
    check_choice("method", method, METHODS)
    check_choice("head", head, HEADS)
    check_choice("layers", layers, LAYERS)
    check_choice("normalisation", normalise, NORMALISATIONS)
    check_choice("Fisher kind", kind, FISHER_KINDS)
    check_choice("Fisher method", fisher_method, FISHER_METHODS)
    if not isinstance(seeds, int) or isinstance(seeds, bool) or seeds < 1:
        raise ConfigError(f"seeds must be a positive integer, got {seeds!r}")
    dev = resolve_device(device)
    names = [t.name for t in tasks]
    n = len(tasks)
    probe_seeds = [seed + i for i in range(seeds)]
    fisher_kw = _FisherKw(kind=kind, device=dev, method=fisher_method, quiet=True)
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    per_seed: list[list[list[float]]] = []
    extra = len(_formats_needed(tasks))
    ref = max(range(n), key=lambda i: (tasks[i].num_classes, -i))  # task2vec's reference task
    steps = {"ftd": n + extra + n + extra + n * (n - 1), "task2vec": 1 + n}.get(method, n + n * n)
    bar = progress(total=seeds * steps, desc=f"{method} {config.name}", quiet=quiet, unit="step")
    adapted: dict[tuple[str, tuple[int, ...]], Task] = {}

    def seen_by(source: Task, target: Task) -> Task:
        """``target`` in ``source``'s input format (itself when they match); adapted once per run."""
        shape = tuple(source.input_shape)
        if shape == tuple(target.input_shape):
            return target
        key = (target.name, shape)
        if key not in adapted:
            adapted[key] = adapt_task(target, shape)
        return adapted[key]

    try:
        for s in probe_seeds:
            matrix = [[0.0] * n for _ in range(n)]
            probes = _SeedProbes(config, s, dev, quiet, fisher_kw, records, bar)
            if method == "ftd":
                for task in tasks:
                    probes.own_fisher(task)
                for b, task_b in enumerate(tasks):
                    for a, task_a in enumerate(tasks):
                        if a == b:
                            continue
                        view = seen_by(task_a, task_b)
                        own = probes.own_fisher(view)
                        model_a = probes.probe(task_a)
                        bar.set_postfix_str(f"seed {s}: Fisher {names[a]}→{task_b.name}")
                        if head == "pad" and task_b.num_classes > model_a.num_classes:
                            matrix[a][b] = float("nan")  # undefined without phantom logits
                        else:
                            f_ab = transfer_fisher(model_a, view, same_task=False, head=head, seed=s, **fisher_kw)
                            matrix[a][b] = fisher_task_distance(
                                f_ab, own, layers=layers, normalise=normalise, squared=squared
                            )
                        bar.update(1)
            elif method == "task2vec":
                ref_model = probes.probe(tasks[ref])
                embeddings = []
                for task in tasks:
                    bar.set_postfix_str(f"seed {s}: embed {task.name}")
                    embeddings.append(
                        transfer_fisher(
                            ref_model, seen_by(tasks[ref], task), same_task=False, head="refit", seed=s, **fisher_kw
                        )
                    )
                    bar.update(1)
                for a in range(n):
                    for b in range(a + 1, n):
                        matrix[a][b] = matrix[b][a] = task2vec_distance(embeddings[a], embeddings[b])
            else:
                for a, task_a in enumerate(tasks):
                    model_a = probes.probe(task_a)
                    for b, task_b in enumerate(tasks):
                        bar.set_postfix_str(f"seed {s}: {method} {names[a]}→{task_b.name}")
                        matrix[a][b] = transfer_score(model_a, seen_by(task_a, task_b), method, device=dev)
                        bar.update(1)
            per_seed.append(matrix)
    finally:
        bar.close()
    mean, std = seed_mean_std(per_seed)
    better = higher_is_better(method)
    cfg: dict[str, Any] = {
        "method": method,
        "higher_is_better": better,
        "probe": config.to_dict(),
        "seeds": seeds,
        "probe_seeds": probe_seeds,
        "device": str(dev),
        "cpu_threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - start, 3),
        "std": "sample standard deviation over seeds (ddof=1); 0 with one seed",
    }
    if method in ("ftd", "task2vec"):
        cfg.update(fisher_kind=kind, fisher_method=fisher_method, fisher_split="val")
    if method == "ftd":
        cfg.update(
            head=head,
            layers=layers,
            normalise=normalise,
            squared=squared,
            form="2*d^2 = ||F_ab^1/2 - F_bb^1/2||_F^2 (paper's form)"
            if squared
            else "d = ||F_ab^1/2 - F_bb^1/2||_F / sqrt(2), in [0, 1]",
            refit_l2=REFIT_L2 if head == "refit" else None,
        )
    elif method == "task2vec":
        cfg.update(
            reference_task=names[ref],
            form="1 - cos(F_a/(F_a+F_b), F_b/(F_a+F_b)) over body parameters (symmetric)",
            refit_l2=REFIT_L2,
        )
    else:
        cfg.update(score_split=SCORE_SPLIT, form=f"{method} of the source probe on the target (higher is better)")
    if adapted:
        cfg["adapted"] = sorted(
            (
                {"task": t.name, "from": shape_text(t.adapter["from_shape"]), "adapter": t.adapter["key"]}
                for t in adapted.values()
                if t.adapter is not None  # all of them: adapt_task records its adapter
            ),
            key=lambda r: (r["task"], r["adapter"]),
        )
    return DistanceMatrix(
        tasks=names,
        mean=mean,
        std=std,
        per_seed=per_seed,
        nearest=nearest_sources(names, mean, per_seed, higher_is_better=better),
        config=cfg,
        probes=records,
        specs=[t.spec for t in tasks],
    )
