"""Distance matrices over seeds: every ordered pair of tasks, paired seeds, mean ± std."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from tanas.data import Task
from tanas.distance.choices import DISTANCE_METHODS, HEADS, LAYERS, NORMALISATIONS, REFIT_L2, check_choice
from tanas.distance.heads import transfer_fisher
from tanas.distance.measures import fisher_task_distance, task2vec_distance
from tanas.errors import ConfigError, DistanceError
from tanas.fisher import FISHER_KINDS, FISHER_METHODS
from tanas.probe import ProbeConfig, train_probe
from tanas.runtime import mean_std, progress, resolve_device


def _nan_to_none(rows: Any) -> Any:
    if isinstance(rows, list):
        return [_nan_to_none(r) for r in rows]
    return None if isinstance(rows, float) and math.isnan(rows) else rows


def _none_to_nan(rows: Any) -> Any:
    if isinstance(rows, list):
        return [_none_to_nan(r) for r in rows]
    return float("nan") if rows is None else float(rows)


@dataclass
class DistanceMatrix:
    """Distances between tasks over seeds; row = source a, column = target b.

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; NaN (undefined pairs) becomes ``None``."""
        return {
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
    def from_dict(cls, data: Mapping[str, Any]) -> "DistanceMatrix":
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
    tasks: list[str], mean: list[list[float]], per_seed: list[list[list[float]]]
) -> dict[str, dict[str, Any]]:
    """For each target, the source of least mean distance and the share of seeds that agree."""
    def argmin(matrix: list[list[float]], target: int) -> int | None:
        best, best_value = None, math.inf
        for source in range(len(tasks)):
            value = matrix[source][target]
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
    shapes = {tuple(t.input_shape) for t in tasks}
    if len(shapes) > 1:
        raise DistanceError(
            f"the tasks have different input shapes {sorted(shapes)}; one probe architecture is shared by "
            "every task in a comparison, so they must share an input format"
        )
    return tasks


def _probe_config(probe: str | ProbeConfig) -> ProbeConfig:
    if isinstance(probe, ProbeConfig):
        probe.validate()
        return probe
    if isinstance(probe, str):
        return ProbeConfig(name=probe)  # its validation rejects an unknown name
    raise ConfigError(f"probe must be a probe name or a ProbeConfig, got {type(probe).__name__}")


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
    """Distances between every ordered pair of ``tasks``, over ``seeds`` seeds.

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
    """
    tasks = _check_tasks(tasks)
    config = _probe_config(probe)
    check_choice("method", method, DISTANCE_METHODS)
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
    fisher_kw = dict(kind=kind, device=dev, method=fisher_method, quiet=True)
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    per_seed: list[list[list[float]]] = []
    steps = seeds * (n + n * n) if method == "ftd" else seeds * (1 + n)
    ref = max(range(n), key=lambda i: (tasks[i].num_classes, -i))  # task2vec's reference task
    bar = progress(total=steps, desc=f"{method} {config.name}", quiet=quiet, unit="step")
    try:
        for s in probe_seeds:
            matrix = [[0.0] * n for _ in range(n)]
            if method == "ftd":
                models = []
                for task in tasks:
                    bar.set_postfix_str(f"seed {s}: train {task.name}")
                    model, record = train_probe(task, config, seed=s, device=dev, quiet=quiet)
                    models.append(model)
                    records.append(record.to_dict())
                    bar.update(1)
                own = []
                for b, task_b in enumerate(tasks):
                    bar.set_postfix_str(f"seed {s}: Fisher {task_b.name}→{task_b.name}")
                    own.append(transfer_fisher(models[b], task_b, same_task=True, seed=s, **fisher_kw))
                    bar.update(1)
                for b, task_b in enumerate(tasks):
                    for a in range(n):
                        if a == b:
                            continue
                        bar.set_postfix_str(f"seed {s}: Fisher {names[a]}→{task_b.name}")
                        if head == "pad" and task_b.num_classes > models[a].num_classes:
                            matrix[a][b] = float("nan")  # undefined without phantom logits
                        else:
                            f_ab = transfer_fisher(models[a], task_b, same_task=False, head=head, seed=s, **fisher_kw)
                            matrix[a][b] = fisher_task_distance(
                                f_ab, own[b], layers=layers, normalise=normalise, squared=squared
                            )
                        bar.update(1)
            else:
                bar.set_postfix_str(f"seed {s}: train reference {names[ref]}")
                ref_model, record = train_probe(tasks[ref], config, seed=s, device=dev, quiet=quiet)
                records.append(record.to_dict())
                bar.update(1)
                embeddings = []
                for task in tasks:
                    bar.set_postfix_str(f"seed {s}: embed {task.name}")
                    embeddings.append(
                        transfer_fisher(ref_model, task, same_task=False, head="refit", seed=s, **fisher_kw)
                    )
                    bar.update(1)
                for a in range(n):
                    for b in range(a + 1, n):
                        matrix[a][b] = matrix[b][a] = task2vec_distance(embeddings[a], embeddings[b])
            per_seed.append(matrix)
    finally:
        bar.close()
    mean, std = seed_mean_std(per_seed)
    cfg: dict[str, Any] = {
        "method": method,
        "probe": config.to_dict(),
        "seeds": seeds,
        "probe_seeds": probe_seeds,
        "fisher_kind": kind,
        "fisher_method": fisher_method,
        "fisher_split": "val",
        "device": str(dev),
        "cpu_threads": torch.get_num_threads(),
        "seconds": round(time.perf_counter() - start, 3),
        "std": "sample standard deviation over seeds (ddof=1); 0 with one seed",
    }
    if method == "ftd":
        cfg.update(
            head=head, layers=layers, normalise=normalise, squared=squared,
            form="2*d^2 = ||F_ab^1/2 - F_bb^1/2||_F^2 (paper's form)" if squared
            else "d = ||F_ab^1/2 - F_bb^1/2||_F / sqrt(2), in [0, 1]",
            refit_l2=REFIT_L2 if head == "refit" else None,
        )
    else:
        cfg.update(
            reference_task=names[ref],
            form="1 - cos(F_a/(F_a+F_b), F_b/(F_a+F_b)) over body parameters (symmetric)",
            refit_l2=REFIT_L2,
        )
    return DistanceMatrix(
        tasks=names,
        mean=mean,
        std=std,
        per_seed=per_seed,
        nearest=nearest_sources(names, mean, per_seed),
        config=cfg,
        probes=records,
        specs=[t.spec for t in tasks],
    )
