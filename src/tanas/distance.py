"""The Fisher Task Distance (FTD), distance matrices over seeds, and a Task2Vec baseline.

Definitions (DESIGN.md §1.4):

* ``F_{a→b}`` is the diagonal Fisher of the probe trained on task ``a``, taken on
  task ``b``'s **validation** inputs and labels (never the test split).
* ``head="refit"`` (default): ``b``'s labels need not exist in ``a``'s output
  layer, so a new output layer for ``b`` is fitted on ``b``'s **train** split with
  ``a``'s body frozen. That is multinomial logistic regression on fixed features,
  a convex problem, solved to convergence (L-BFGS, float64, small L2). The Fisher
  is then taken over the whole network. Only for ``a = b`` is the trained network
  used as it is.
* ``head="pad"`` (the paper's way): ``b``'s labels are read as class ids of ``a``'s
  head. No phantom logits are ever added: when ``b`` has more classes than ``a``'s
  head, the transfer is undefined and :func:`transfer_fisher` raises
  :class:`DistanceError` (a distance matrix marks such pairs as NaN / ``null``).
  When ``b`` has fewer classes, ``F_{a→b}``'s head is larger than ``F_{b→b}``'s and
  :func:`fisher_task_distance` zero-pads the smaller one (the rows of the classes
  ``b`` lacks get Fisher 0).
* ``d(a→b) = (1/√2) ‖F̃_{a→b}^{1/2} − F̃_{b→b}^{1/2}‖_F`` with F̃ the normalised
  Fisher; it lies in [0, 1], is 0 for ``a = b`` and is asymmetric.
  ``squared=True`` gives the paper's printed form ``‖·‖_F² = 2 d²`` (in [0, 2]).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tanas.data import Task
from tanas.errors import ConfigError, TanasError
from tanas.fisher import FISHER_KINDS, FISHER_METHODS, diagonal_fisher
from tanas.probe import ProbeConfig, ProbeNet, train_probe
from tanas.runtime import make_generator, mean_std, progress, resolve_device

__all__ = [
    "DISTANCE_METHODS",
    "HEADS",
    "LAYERS",
    "NORMALISATIONS",
    "DistanceError",
    "DistanceMatrix",
    "distance_matrix",
    "fisher_task_distance",
    "fit_linear_head",
    "refit_head",
    "task2vec_distance",
    "task_inputs",
    "transfer_fisher",
]

HEADS: tuple[str, ...] = ("refit", "pad")
LAYERS: tuple[str, ...] = ("all", "body")
NORMALISATIONS: tuple[str, ...] = ("whole", "per_layer")
DISTANCE_METHODS: tuple[str, ...] = ("ftd", "task2vec")

#: L2 weight (on the mean cross-entropy) of the refitted head; keeps separable tasks bounded.
REFIT_L2 = 1e-3


class DistanceError(TanasError):
    """A distance cannot be computed from these inputs."""


def _check_choice(label: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ConfigError(f"unknown {label} {value!r}: choose one of {', '.join(choices)}")


# --------------------------------------------------------------------------- inputs and heads


def task_inputs(task: Task, split: str = "val") -> tuple[Tensor, Tensor]:
    """The normalised float inputs and int64 labels of one split of ``task`` (on the CPU).

    The Fisher of a distance uses the validation split (the default).
    """
    if split not in task.splits:
        raise ConfigError(f"task {task.name!r} has no split {split!r}; it has {', '.join(task.splits)}")
    data = task.splits[split]
    if len(data) == 0:
        raise DistanceError(f"the {split} split of task {task.name!r} is empty")
    return task.normalise(data.x), data.y.to(torch.long)


def _check_probe_fits(model: nn.Module, task: Task) -> None:
    if not isinstance(model, ProbeNet):
        raise ConfigError(f"expected a tanas.probe.ProbeNet (body + head), got {type(model).__name__}")
    channels = int(task.input_shape[0])
    if model.in_channels != channels:
        raise DistanceError(
            f"the {model.name} probe takes {model.in_channels}-channel images but task {task.name!r} has "
            f"{channels} channels; tasks compared by FTD must share an input format"
        )


@torch.no_grad()
def _features(model: ProbeNet, task: Task, split: str, device: torch.device, batch_size: int = 1024) -> Tensor:
    """Body features of every sample of a split (model in eval mode), float64 on ``device``."""
    data = task.splits[split]
    chunks = []
    for start in range(0, len(data), batch_size):
        xb = data.x[start : start + batch_size].to(device)
        chunks.append(model.features(task.normalise(xb)).to(torch.float64))
    return torch.cat(chunks)


@dataclass(frozen=True)
class HeadFit:
    """How a linear head fit ended (for records and tests)."""

    loss: float  # regularised objective at the solution
    grad_norm: float  # max |gradient| at the solution (standardised coordinates)
    iterations: int
    converged: bool


def fit_linear_head(
    features: Tensor,
    labels: Tensor,
    num_classes: int,
    *,
    l2: float = REFIT_L2,
    seed: int = 0,
    max_iter: int = 1000,
    tol: float = 1e-6,
) -> tuple[Tensor, Tensor, HeadFit]:
    """Multinomial logistic regression: ``argmin_{W,b} mean CE(f W^T + b, y) + (l2/2)‖W‖²``.

    Solved in float64 with L-BFGS (strong Wolfe line search, closed-form
    gradient) in standardised feature coordinates, an exact reparametrisation
    that only improves the conditioning, until the largest gradient entry there
    is below ``tol`` (1e-6 leaves the objective within ~1e-8 of its minimum on
    the probes' features). The objective is strictly convex in ``W``
    (and convex in ``b``), so the solution does not depend on the starting
    point; ``seed`` only draws that starting point (small random weights).
    This is the problem scikit-learn's ``LogisticRegression(C=1/(l2·N))`` solves.

    Returns ``(W (num_classes × d), b (num_classes), HeadFit)`` in float64 on
    ``features``' device.
    """
    if features.dim() != 2 or labels.dim() != 1 or features.shape[0] != labels.shape[0]:
        raise DistanceError(
            f"features must be (N, d) and labels (N,), got {tuple(features.shape)} and {tuple(labels.shape)}"
        )
    if features.shape[0] == 0:
        raise DistanceError("cannot fit a head on zero samples")
    if not (math.isfinite(l2) and l2 > 0):
        raise ConfigError(f"the head's L2 weight must be positive, got {l2!r}")
    x = features.to(torch.float64)
    y = labels.to(device=x.device, dtype=torch.long)
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise DistanceError(f"labels must lie in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}")
    # Solve in standardised coordinates (x - mu) / s with W~ = W s, b~ = b + W mu and
    # the penalty l2/2 sum (W~ / s)^2: the same objective, better conditioned for L-BFGS.
    mu = x.mean(0)
    scale = x.std(0, correction=0).clamp_min(1e-6)
    x = (x - mu) / scale
    penalty = l2 / scale.pow(2)
    gen = make_generator(seed)
    w = (torch.randn(num_classes, x.shape[1], generator=gen, dtype=torch.float64) * 0.01).to(x.device)
    b = torch.zeros(num_classes, dtype=torch.float64, device=x.device)
    optimiser = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=max_iter, tolerance_grad=tol, tolerance_change=1e-15,
        history_size=20, line_search_fn="strong_wolfe",
    )

    onehot = F.one_hot(y, num_classes).to(torch.float64)
    n = x.shape[0]

    def closure() -> Tensor:
        # Loss and gradient in closed form: autograd would cost about twice as much here.
        with torch.no_grad():
            logits = torch.addmm(b, x, w.T)
            logp = torch.log_softmax(logits, dim=1)
            loss = -(logp * onehot).sum() / n + 0.5 * (penalty * w * w).sum()
            residual = (logp.exp() - onehot) / n
            w.grad = residual.T @ x + penalty * w
            b.grad = residual.sum(0)
        return loss

    optimiser.step(closure)
    loss = closure()
    grad_norm = float(max(w.grad.abs().max(), b.grad.abs().max()))
    iterations = int(optimiser.state[w].get("n_iter", 0))
    info = HeadFit(loss=float(loss), grad_norm=grad_norm, iterations=iterations, converged=grad_norm <= 10 * tol)
    w_raw = w / scale
    return w_raw, b - w_raw @ mu, info


def refit_head(
    model: ProbeNet,
    task: Task,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    l2: float = REFIT_L2,
) -> ProbeNet:
    """A copy of ``model`` whose output layer is refitted for ``task``, body frozen.

    The body's features of ``task``'s **train** split are computed once (eval
    mode, so BatchNorm uses its running statistics) and a linear head for
    ``task.num_classes`` classes is fitted to convergence with
    :func:`fit_linear_head`. ``model`` itself is not changed. The copy is in
    eval mode on ``device``; its ``refit_info`` attribute holds the fit's
    :class:`HeadFit`.
    """
    _check_probe_fits(model, task)
    if len(task.splits.get("train", ())) == 0:
        raise DistanceError(f"task {task.name!r} has an empty train split; the head is fitted on it")
    device = resolve_device(device)
    refit = copy.deepcopy(model).to(device).eval()
    feats = _features(refit, task, "train", device)
    w, b, info = fit_linear_head(feats, task.splits["train"].y, task.num_classes, l2=l2, seed=seed)
    refit.replace_head(task.num_classes)
    with torch.no_grad():
        refit.head.weight.copy_(w.to(refit.head.weight.dtype))
        refit.head.bias.copy_(b.to(refit.head.bias.dtype))
    refit.refit_info = info
    return refit


def transfer_fisher(
    model_a: ProbeNet,
    task_b: Task,
    *,
    same_task: bool,
    head: str = "refit",
    kind: str = "empirical",
    seed: int = 0,
    device: str | torch.device | None = None,
    method: str = "auto",
    quiet: bool = True,
) -> dict[str, Tensor]:
    """``F_{a→b}``: the Fisher of ``a``'s probe on ``task_b``'s validation data and labels.

    ``same_task=True`` means ``a = b``: the probe is used as it is. Otherwise
    ``head`` says how ``b``'s labels meet ``a``'s network (module docstring):
    ``"refit"`` fits a new head for ``b`` (body frozen), ``"pad"`` uses ``a``'s
    head as it is and refuses targets with more classes than that head.
    ``seed`` seeds the head's starting point and the label draws of ``kind="mc"``.
    """
    _check_choice("head", head, HEADS)
    _check_probe_fits(model_a, task_b)
    x, y = task_inputs(task_b, "val")
    if same_task:
        if model_a.num_classes != task_b.num_classes:
            raise DistanceError(
                f"same_task=True but the probe has {model_a.num_classes} outputs and task {task_b.name!r} "
                f"has {task_b.num_classes} classes; pass the probe trained on this task"
            )
        model = model_a
    elif head == "refit":
        model = refit_head(model_a, task_b, seed=seed, device=device)
    else:
        if task_b.num_classes > model_a.num_classes:
            raise DistanceError(
                f"head='pad' cannot read task {task_b.name!r}'s {task_b.num_classes} classes as ids of a "
                f"{model_a.num_classes}-class head without inventing logits; use head='refit'"
            )
        model = model_a
    return diagonal_fisher(model, (x, y), kind, method=method, seed=seed, device=device, quiet=quiet)


# --------------------------------------------------------------------------- the distance


def _as_float64(name: str, value: Any, which: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise DistanceError(f"{which}[{name!r}] is a {type(value).__name__}, not a tensor")
    t = value.detach().to("cpu", torch.float64)
    if not torch.isfinite(t).all():
        raise DistanceError(f"{which}[{name!r}] holds NaN or infinite values")
    if (t < 0).any():
        raise DistanceError(f"{which}[{name!r}] has negative entries; a diagonal Fisher is never negative")
    return t


def _pad_to(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    if tuple(t.shape) == shape:
        return t
    out = torch.zeros(shape, dtype=t.dtype)
    out[tuple(slice(0, s) for s in t.shape)] = t
    return out


def _aligned(fisher_ab: Mapping[str, Tensor], fisher_bb: Mapping[str, Tensor], layers: str
             ) -> list[tuple[str, Tensor, Tensor]]:
    """The compared parameter tensors as float64 pairs of equal shape."""
    for which, fisher in (("F_ab", fisher_ab), ("F_bb", fisher_bb)):
        if not isinstance(fisher, Mapping) or not fisher:
            raise DistanceError(f"{which} must be a non-empty dict {{parameter name: tensor}}")
    keys_ab, keys_bb = set(fisher_ab), set(fisher_bb)
    if keys_ab != keys_bb:
        only_ab, only_bb = sorted(keys_ab - keys_bb)[:5], sorted(keys_bb - keys_ab)[:5]
        raise DistanceError(
            f"the two Fishers cover different parameters (only in F_ab: {only_ab}, only in F_bb: {only_bb}); "
            "both must come from the same probe architecture"
        )
    names = [n for n in fisher_ab if layers == "all" or n.startswith("body.")]
    if not names:
        raise DistanceError("layers='body' needs parameters named 'body.*' (a tanas probe); none were found")
    pairs = []
    for name in names:
        a = _as_float64(name, fisher_ab[name], "F_ab")
        b = _as_float64(name, fisher_bb[name], "F_bb")
        if a.shape != b.shape:
            if a.dim() != b.dim():
                raise DistanceError(
                    f"parameter {name!r} has shape {tuple(a.shape)} in F_ab but {tuple(b.shape)} in F_bb"
                )
            common = tuple(max(p, q) for p, q in zip(a.shape, b.shape))
            a, b = _pad_to(a, common), _pad_to(b, common)
        pairs.append((name, a.reshape(-1), b.reshape(-1)))
    return pairs


def fisher_task_distance(
    F_ab: Mapping[str, Tensor],
    F_bb: Mapping[str, Tensor],
    *,
    layers: str = "all",
    normalise: str = "whole",
    squared: bool = False,
) -> float:
    """FTD ``d(a→b) = (1/√2) ‖F̃_ab^{1/2} − F̃_bb^{1/2}‖_F`` from two diagonal Fishers.

    Args:
        F_ab, F_bb: ``{parameter name: non-negative tensor}`` over the same names.
        layers: ``"all"`` compares every parameter; ``"body"`` only ``body.*``.
        normalise: ``"whole"`` divides each Fisher by its total trace (over the
            compared parameters). ``"per_layer"`` divides each parameter tensor by
            its own trace times the number L of compared tensors, so every tensor
            carries mass 1/L; a tensor whose Fisher is zero in *both* is left out
            (and L counts only the others), one that is zero in just one keeps
            zeros there (it then contributes the most a tensor can).
        squared: return the paper's form ``‖F̃_ab^{1/2} − F̃_bb^{1/2}‖_F² = 2 d²``.

    Tensors of one name whose shapes differ (the heads under ``head="pad"``, when
    the tasks have different numbers of classes) are zero-padded at the end of
    each axis to their common shape; a differing number of axes is an error.
    With ``head="refit"`` the shapes always match.

    Returns ``d`` in [0, 1] (``2 d²`` in [0, 2] when ``squared``). Raises
    :class:`DistanceError` on mismatched names, negative or non-finite entries,
    or a Fisher that is zero on every compared parameter.
    """
    _check_choice("layers", layers, LAYERS)
    _check_choice("normalisation", normalise, NORMALISATIONS)
    pairs = _aligned(F_ab, F_bb, layers)
    if normalise == "whole":
        trace_a = sum(float(a.sum()) for _, a, _ in pairs)
        trace_b = sum(float(b.sum()) for _, _, b in pairs)
        for which, trace in (("F_ab", trace_a), ("F_bb", trace_b)):
            if trace <= 0:
                raise DistanceError(f"{which} is zero on every compared parameter; its normalised form is undefined")
        total = sum(float(((a / trace_a).sqrt() - (b / trace_b).sqrt()).pow(2).sum()) for _, a, b in pairs)
    else:
        kept = [(n, a, b) for n, a, b in pairs if float(a.sum()) > 0 or float(b.sum()) > 0]
        if not kept:
            raise DistanceError("both Fishers are zero on every compared parameter; the distance is undefined")
        L = len(kept)
        total = 0.0
        for _, a, b in kept:
            ta, tb = float(a.sum()), float(b.sum())
            pa = a / (ta * L) if ta > 0 else torch.zeros_like(a)
            pb = b / (tb * L) if tb > 0 else torch.zeros_like(b)
            total += float((pa.sqrt() - pb.sqrt()).pow(2).sum())
    d2 = min(max(0.5 * total, 0.0), 1.0)  # rounding can step a hair outside [0, 1]
    return 2.0 * d2 if squared else math.sqrt(d2)


def task2vec_distance(F_a: Mapping[str, Tensor], F_b: Mapping[str, Tensor], *, layers: str = "body") -> float:
    """Task2Vec's symmetric normalised cosine distance between two Fisher embeddings.

    ``d = 1 − cos(F_a / (F_a + F_b), F_b / (F_a + F_b))``, elementwise division
    over the flattened compared parameters (Achille et al. 2019, "symmetric
    Task2Vec distance"); entries where both are zero are left out. Symmetric, in
    [0, 1], 0 for equal embeddings. Task2Vec embeds with the fixed feature
    extractor only, hence ``layers="body"`` by default.
    """
    _check_choice("layers", layers, LAYERS)
    pairs = _aligned(F_a, F_b, layers)
    a = torch.cat([p for _, p, _ in pairs])
    b = torch.cat([q for _, _, q in pairs])
    s = a + b
    keep = s > 0
    if not bool(keep.any()):
        raise DistanceError("both Fisher embeddings are zero; the Task2Vec distance is undefined")
    ua, ub = a[keep] / s[keep], b[keep] / s[keep]
    cos = float((ua * ub).sum() / (ua.norm() * ub.norm()).clamp_min(1e-300))
    return min(max(1.0 - cos, 0.0), 1.0)


# --------------------------------------------------------------------------- matrices over seeds


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


def _nearest(tasks: list[str], mean: list[list[float]], per_seed: list[list[list[float]]]) -> dict[str, dict[str, Any]]:
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


def _mean_std(per_seed: list[list[list[float]]]) -> tuple[list[list[float]], list[list[float]]]:
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
    _check_choice("method", method, DISTANCE_METHODS)
    _check_choice("head", head, HEADS)
    _check_choice("layers", layers, LAYERS)
    _check_choice("normalisation", normalise, NORMALISATIONS)
    _check_choice("Fisher kind", kind, FISHER_KINDS)
    _check_choice("Fisher method", fisher_method, FISHER_METHODS)
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
    mean, std = _mean_std(per_seed)
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
        nearest=_nearest(names, mean, per_seed),
        config=cfg,
        probes=records,
        specs=[t.spec for t in tasks],
    )
