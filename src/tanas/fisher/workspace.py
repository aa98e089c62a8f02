"""Reusable scratch buffers and the chunk sizes that bound them.

On the CPU, fresh multi-MB allocations cost page faults on every batch, so the
hooks engine forms its per-sample gradients, unfolded inputs and zero-padded
inputs in buffers that live as long as the engine.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

# Largest temporary (in elements) materialised at once: the vmap engine's per-sample
# gradients of the whole model for a chunk of samples. 2**24 float32 = 64 MiB.
CHUNK_ELEMENTS = 2**24
# The hooks engine forms per-sample gradients in pieces of at most this many
# elements (2 MiB in float32) per CPU thread squared, which stay in cache while they
# are squared and summed: with one thread 1.5-3x faster than materialising a whole
# batch of them; with more threads each op needs more work to pay for waking them
# (2 threads: 4x the elements measured 2x faster than 1x). On a GPU: CHUNK_ELEMENTS.
CACHE_ELEMENTS = 2**19
# ... and unfolds (im2col) convolution inputs in chunks of at most this many elements.
UNFOLD_ELEMENTS = 2**22

Pads = tuple[int, int, int, int]  # (left, right, top, bottom)


class Workspace:
    """Scratch tensors by slot name, and zero-bordered copies of inputs shared by shape."""

    def __init__(self) -> None:
        self.slots: dict[str, Tensor] = {}
        self.padded_inputs: dict[tuple[Any, ...], Tensor] = {}

    def clear(self) -> None:
        self.slots = {}
        self.padded_inputs = {}

    def buffer(self, slot: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A tensor of ``shape`` (contents undefined), reusing ``slot``'s storage when it is large enough."""
        numel = math.prod(shape)
        buf = self.slots.get(slot)
        if buf is None or buf.numel() < numel or buf.dtype != like.dtype or buf.device != like.device:
            buf = torch.empty(numel, dtype=like.dtype, device=like.device)
            self.slots[slot] = buf
        return buf[:numel].view(shape)

    def padded(self, a: Tensor, pads: Pads, channels_last: bool) -> Tensor:
        """The input ``a`` ``(N, C, H, W)`` copied into a zero-bordered buffer (borders never written).

        Inputs with the same padding and padded shape share one buffer: each use
        overwrites its whole interior, and is consumed before the next layer's.
        """
        left, right, top, bottom = pads
        n, c, h, w = a.shape
        hp, wp = h + top + bottom, w + left + right
        shape = (n, hp, wp, c) if channels_last else (n, c, hp, wp)
        key = (pads, channels_last, shape[1:], a.dtype, a.device)
        padded = self.padded_inputs.get(key)
        if padded is None or padded.shape[0] < n:
            padded = torch.zeros(shape, dtype=a.dtype, device=a.device)
            self.padded_inputs[key] = padded
        padded = padded[:n]
        if channels_last:
            padded[:, top : top + h, left : left + w, :].copy_(a.permute(0, 2, 3, 1))
        else:
            padded[:, :, top : top + h, left : left + w].copy_(a)
        return padded

    @staticmethod
    def piece(like: Tensor) -> int:
        """Elements per piece of per-sample gradients (see ``CACHE_ELEMENTS``)."""
        if like.device.type != "cpu":
            return CHUNK_ELEMENTS
        return min(CHUNK_ELEMENTS, CACHE_ELEMENTS * max(1, torch.get_num_threads()) ** 2)

    @staticmethod
    def unfold_samples(n: int, per_sample: int) -> int:
        """Samples to unfold at once, of ``n``, when each unfolds to ``per_sample`` elements."""
        return max(1, min(n, UNFOLD_ELEMENTS // max(1, per_sample)))
