"""The one supervised trainer shared by probes and NAS candidates.

Data stay as uint8 tensors; each batch is moved to the device and normalised
there, which is about twice as fast here as a torchvision Dataset + DataLoader.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from tanas.data import Split, Task
from tanas.runtime import resolve_device


def iterate_batches(
    split: Split,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    device: str | torch.device | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x_uint8, y)`` batches on ``device``; shuffled with ``generator`` when asked."""
    device = resolve_device(device)
    n = len(split)
    order = torch.randperm(n, generator=generator) if shuffle else None
    x, y = split.x, split.y
    for start in range(0, n, batch_size):
        if order is None:
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        else:
            idx = order[start : start + batch_size]
            xb, yb = x[idx], y[idx]
        yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)


def random_shift(x: torch.Tensor, generator: torch.Generator, pad: int = 2) -> torch.Tensor:
    """Light augmentation: a random translation of up to ``pad`` pixels per batch (seeded)."""
    if pad <= 0:
        return x
    dx, dy = (int(v) for v in torch.randint(-pad, pad + 1, (2,), generator=generator))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def train_epoch(
    model: nn.Module,
    task: Task,
    split: Split,
    optimizer: torch.optim.Optimizer,
    *,
    batch_size: int = 128,
    device: str | torch.device | None = None,
    generator: torch.Generator | None = None,
    augment: bool = False,
) -> float:
    """One pass over ``split``; returns the mean training loss."""
    device = resolve_device(device)
    model.train()
    total, count = 0.0, 0
    for xb, yb in iterate_batches(split, batch_size, shuffle=True, generator=generator, device=device):
        inputs = task.normalise(xb)
        if augment and generator is not None:
            inputs = random_shift(inputs, generator)
        loss = F.cross_entropy(model(inputs), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(yb)
        count += len(yb)
    return total / max(count, 1)


@torch.no_grad()
def predict_logits(
    model: nn.Module, task: Task, split: Split, *, batch_size: int = 512, device: str | torch.device | None = None
) -> torch.Tensor:
    """Logits for every sample of ``split`` (model in eval mode), on the CPU."""
    device = resolve_device(device)
    was_training = model.training
    model.eval()
    outputs = [
        model(task.normalise(xb)).float().cpu()
        for xb, _ in iterate_batches(split, batch_size, shuffle=False, device=device)
    ]
    model.train(was_training)
    return torch.cat(outputs)


def evaluate(
    model: nn.Module, task: Task, split: Split, *, batch_size: int = 512, device: str | torch.device | None = None
) -> float:
    """Accuracy of ``model`` on ``split``, in [0, 1]."""
    logits = predict_logits(model, task, split, batch_size=batch_size, device=device)
    return float((logits.argmax(1) == split.y).float().mean())
