"""Heads and transfer Fishers: the inputs of a task, a refitted linear head, ``F_{a→b}``.

See ``tanas.distance`` for the definitions (docs/architecture.md §1.4).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tanas.data import Task
from tanas.distance.choices import HEADS, REFIT_L2, check_choice
from tanas.errors import ConfigError, DistanceError
from tanas.fisher import diagonal_fisher
from tanas.probe import ProbeNet
from tanas.runtime import make_generator, resolve_device


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


def check_probe_fits(model: nn.Module, task: Task) -> None:
    """Reject a model that is no probe, or a task whose images the probe cannot take as they are."""
    if not isinstance(model, ProbeNet):
        raise ConfigError(f"expected a tanas.probe.ProbeNet (body + head), got {type(model).__name__}")
    channels = int(task.input_shape[0])
    if model.in_channels != channels:
        raise DistanceError(
            f"the {model.name} probe takes {model.in_channels}-channel images but task {task.name!r} has "
            f"{channels} channels; adapt the task to the probe's input format first (tanas.data.adapt_task)"
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
        [w, b],
        lr=1.0,
        max_iter=max_iter,
        tolerance_grad=tol,
        tolerance_change=1e-15,
        history_size=20,
        line_search_fn="strong_wolfe",
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
    assert w.grad is not None and b.grad is not None  # the closure has just set them
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
    check_probe_fits(model, task)
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
    refit.refit_info = info  # type: ignore[assignment]  # torch types Module.__setattr__ as Tensor | Module only
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
    check_choice("head", head, HEADS)
    check_probe_fits(model_a, task_b)
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
