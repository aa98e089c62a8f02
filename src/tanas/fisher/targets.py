"""The labels and weights of each Fisher kind (empirical, exact, mc), and the label checks.

Every kind is the weighted sum ``Σ_n Σ_m w_{n,m} g(x_n, y_{n,m})²``; only the labels
``y_{n,m}`` and weights ``w_{n,m}`` differ, so the engines never see the kind.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tanas.errors import DataError, FisherError


def count_classes(model: nn.Module, x: Tensor) -> int:
    """The number of logits ``model`` returns per sample (checked on the inputs ``x``)."""
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise FisherError(f"the model must return logits of shape (N, num_classes), got {shape}")
    if out.shape[1] < 1:
        raise FisherError("the model returns zero logits per sample")
    return int(out.shape[1])


def check_labels(y: Tensor, num_classes: int) -> None:
    """Raise :class:`DataError` unless every label names one of the model's outputs."""
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        raise DataError(
            f"labels must lie in 0..{num_classes - 1} (the model has {num_classes} outputs), got {lo}..{hi}"
        )


@torch.no_grad()
def targets(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    kind: str,
    num_classes: int,
    generator: torch.Generator,
    mc_samples: int,
) -> tuple[Tensor, Tensor]:
    """Labels ``(N, M)`` and weights ``(N, M)`` whose weighted squared gradients make the Fisher."""
    n = x.shape[0]
    if kind == "empirical":
        return y.view(n, 1), torch.ones(n, 1, dtype=x.dtype, device=x.device)
    probs = torch.softmax(model(x).to(torch.float64), dim=1)
    if kind == "exact":
        labels = torch.arange(num_classes, device=x.device).expand(n, num_classes)
        return labels, probs.to(x.dtype)
    # mc: the draw happens on the CPU generator, so it does not depend on the device
    draws = torch.multinomial(probs.cpu(), mc_samples, replacement=True, generator=generator)
    weights = torch.full((n, mc_samples), 1.0 / mc_samples, dtype=x.dtype, device=x.device)
    return draws.to(x.device), weights
