"""The caller's data as checked ``(x, y)`` batches on the computation's device and dtype."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from tanas.errors import DataError


def iter_batches(data: Any, batch_size: int) -> tuple[Iterator[tuple[Any, Any]], int | None]:
    """Batches of ``data`` (a tuple of tensors or an iterable of batches) and their count if known."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        x, y = data
        if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0]:
            raise DataError(
                f"x and y must have the same number of samples, got x of shape {tuple(x.shape)} "
                f"and y of shape {tuple(y.shape)}"
            )
        starts = range(0, x.shape[0], batch_size)
        return ((x[s : s + batch_size], y[s : s + batch_size]) for s in starts), len(starts)
    if isinstance(data, (Tensor, str, bytes, dict)) or not isinstance(data, Iterable):
        raise DataError(
            f"data must be a tuple (x, y) of tensors or an iterable of (x, y) batches such as a "
            f"DataLoader, got {type(data).__name__}; for a Task use tanas.distance.task_inputs(task)"
        )
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, Tensor) for t in data):
        raise DataError(f"data as a tuple must hold exactly two tensors (x, y), got {len(data)}")
    try:
        total: int | None = len(data)  # type: ignore[arg-type]
    except TypeError:
        total = None
    return iter(data), total


def prepare_batch(x: Any, y: Any, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``(x, y)`` checked, with x in ``dtype`` and y as long labels, both on ``device``."""
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise DataError(f"each batch must be a pair of tensors (x, y), got ({type(x).__name__}, {type(y).__name__})")
    if not x.is_floating_point():
        raise DataError(
            f"x must be a float tensor of normalised inputs, got dtype {x.dtype}; normalise it first "
            "(e.g. task.normalise(x) or tanas.distance.task_inputs(task))"
        )
    if y.dim() != 1 or y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise DataError(
            f"y must be a 1-D tensor of integer class labels, got dtype {y.dtype} and shape {tuple(y.shape)}"
        )
    if x.dim() == 0 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"x and y must have the same number of samples, got x of shape {tuple(x.shape)} "
            f"and y of shape {tuple(y.shape)}"
        )
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=torch.long)
