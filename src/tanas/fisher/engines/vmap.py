"""The vmap engine: ``torch.func.vmap(grad(...))`` over samples; works for any functional model."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tanas.fisher.workspace import CHUNK_ELEMENTS


class VmapEngine:
    """Per-sample gradients with ``torch.func.vmap(grad(...))``, in memory-bounded chunks."""

    name = "vmap"

    def __init__(self, model: nn.Module) -> None:
        from torch.func import functional_call, grad, vmap

        self.model = model
        self.params = {name: p.detach() for name, p in model.named_parameters()}
        self.buffers = {name: b.detach() for name, b in model.named_buffers()}
        n_params = sum(p.numel() for p in self.params.values())
        self.chunk = max(1, CHUNK_ELEMENTS // max(1, n_params))

        def log_prob(params: dict[str, Tensor], xi: Tensor, label: Tensor) -> Tensor:
            out = functional_call(model, (params, self.buffers), (xi.unsqueeze(0),))
            return torch.log_softmax(out, dim=1)[0].gather(0, label.view(1)).squeeze(0)

        self.per_sample = vmap(grad(log_prob), in_dims=(None, 0, 0))

    def batch_sums(self, x: Tensor, labels: Tensor, weights: Tensor) -> dict[str, Tensor]:
        n, m_cols = labels.shape
        sample = torch.arange(n, device=x.device).repeat_interleave(m_cols)
        flat_labels, flat_w = labels.reshape(-1), weights.reshape(-1)
        keep = flat_w > 0
        sample, flat_labels, flat_w = sample[keep], flat_labels[keep], flat_w[keep]
        sums = {name: torch.zeros_like(p) for name, p in self.params.items()}
        for s in range(0, sample.shape[0], self.chunk):
            idx = slice(s, s + self.chunk)
            grads = self.per_sample(self.params, x[sample[idx]], flat_labels[idx])
            w = flat_w[idx]
            for name, g in grads.items():
                sums[name] += torch.einsum("n,n...->...", w, g * g)
        return sums

    def close(self) -> None:
        """Nothing to release."""
