"""The loop engine: one forward and backward pass per sample, the slow reference."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class LoopEngine:
    """One forward and backward per sample: the reference."""

    name = "loop"

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.named = list(model.named_parameters())

    def batch_sums(self, x: Tensor, labels: Tensor, weights: Tensor) -> dict[str, Tensor]:
        params = [p for _, p in self.named]
        for p in params:  # another engine (hooks) may have frozen them since the last call
            p.requires_grad_(True)
        sums = [torch.zeros_like(p) for p in params]
        n, m_cols = labels.shape
        for i in range(n):
            logp = torch.log_softmax(self.model(x[i : i + 1]), dim=1)[0]
            for m in range(m_cols):
                w = float(weights[i, m])
                if w == 0.0:
                    continue
                grads = torch.autograd.grad(logp[labels[i, m]], params, retain_graph=m < m_cols - 1, allow_unused=True)
                for s, g in zip(sums, grads):
                    if g is not None:
                        s.addcmul_(g, g, value=w)
        return {name: s for (name, _), s in zip(self.named, sums)}

    def close(self) -> None:
        """Nothing to release."""
