"""One batch's per-parameter sums of squared per-sample gradients, in reusable accumulators."""

from __future__ import annotations

import torch
from torch import Tensor

from tanas.fisher.workspace import Workspace


class SquareSums:
    """``{parameter name: Σ_n g_n²}`` for the current batch, and the ways to add to it.

    The accumulators outlive a batch (zeroed on their first use in the next one),
    and every temporary comes from :attr:`workspace`.
    """

    def __init__(self) -> None:
        self.workspace = Workspace()
        self.sums: dict[str, Tensor] = {}  # this batch's results
        self.accumulators: dict[str, Tensor] = {}

    def begin(self) -> None:
        """Start a new batch: every accumulator counts from zero again."""
        self.sums = {}

    def clear(self) -> None:
        """Release every buffer."""
        self.sums = {}
        self.accumulators = {}
        self.workspace.clear()

    def get(self, name: str) -> Tensor | None:
        return self.sums.get(name)

    def publish(self, name: str, value: Tensor) -> None:
        """Report ``value`` (e.g. a permuted view of another accumulator) as ``name``'s sum."""
        self.sums[name] = value

    def target(self, name: str, shape: torch.Size, like: Tensor) -> Tensor:
        """This batch's accumulator for parameter ``name`` (reused across batches, zeroed on first use)."""
        acc = self.accumulators.get(name)
        if acc is None or acc.shape != shape or acc.dtype != like.dtype or acc.device != like.device:
            acc = torch.zeros(shape, dtype=like.dtype, device=like.device)
            self.accumulators[name] = acc
        elif name not in self.sums:
            acc.zero_()
        self.sums[name] = acc
        return acc

    def add(self, name: str, value: Tensor) -> None:
        self.target(name, value.shape, value).add_(value)

    def add_squares(self, name: str, per_sample: Tensor) -> None:
        """Add ``Σ_n per_sample[n]²`` to ``name``'s accumulator (squares ``per_sample`` in place)."""
        self.sum_squares_into(self.target(name, per_sample.shape[1:], per_sample), per_sample)

    def sum_squares_into(self, acc: Tensor, per_sample: Tensor) -> None:
        """Add ``Σ_n per_sample[n]²`` to ``acc`` (shaped like ``per_sample[0]``; squares ``per_sample`` in place)."""
        n = per_sample.shape[0]
        if n == 1:
            acc.addcmul_(per_sample[0], per_sample[0])
            return
        # a GEMV with a ones vector sums over samples without allocating (sum() fills a fresh output)
        ones = self.workspace.buffer("ones", (1, n), per_sample).fill_(1.0)
        acc.view(1, -1).addmm_(ones, per_sample.square_().view(n, -1))

    def add_squared_products(self, name: str, shape: torch.Size, left: Tensor, right: Tensor) -> None:
        """Add ``Σ_n (left[n] @ right[n])²`` to ``name``'s accumulator (viewed as ``(o, k)``).

        ``left`` is ``(n, o, L)`` and ``right`` ``(n, L, k)``: sample n's gradient is their
        product. Small products are formed a few samples at a time with ``bmm``; large
        ones (e.g. 512x4608 for a 3x3 conv with 512 channels) one sample and one block
        of rows at a time, so that the product and its rows of the accumulator stay in
        cache while they are squared and added.
        """
        n, o, _ = left.shape
        k = right.shape[2]
        acc = self.target(name, shape, left).view(o, k)
        piece = self.workspace.piece(left)
        if o * k <= piece:
            step = max(1, min(n, piece // (o * k)))
            for s in range(0, n, step):
                e = min(n, s + step)
                pg = self.workspace.buffer("grad", (e - s, o, k), left)
                torch.bmm(left[s:e], right[s:e], out=pg)
                self.sum_squares_into(acc, pg)
            return
        rows = max(1, min(o, piece // k))
        buf = self.workspace.buffer("grad", (rows, k), left)
        for r in range(0, o, rows):
            re = min(o, r + rows)
            block, acc_rows = buf[: re - r], acc[r:re]
            for i in range(n):
                torch.mm(left[i, r:re], right[i], out=block)
                acc_rows.addcmul_(block, block)
