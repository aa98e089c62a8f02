"""``nn.BatchNorm1d/2d`` in eval mode, which normalises with the running statistics."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tanas.fisher.rules.base import ParamNames
from tanas.fisher.squares import SquareSums


class BatchNormRule:
    def unsupported(self, module: nn.Module) -> str | None:
        assert isinstance(module, nn.modules.batchnorm._BatchNorm)
        if not module.track_running_stats or module.running_mean is None or module.running_var is None:
            return "has no running statistics, so its outputs depend on the whole batch"
        return None

    def accumulate(self, module: nn.Module, a: Tensor, g: Tensor, names: ParamNames, sums: SquareSums) -> None:
        # eval mode: y = γ x̂ + β with x̂ = (x - μ) r, r = 1/sqrt(σ² + eps), so per sample
        # ∂/∂γ_c = Σ_hw g x̂ = r_c (Σ_hw g x - μ_c Σ_hw g) and ∂/∂β_c = Σ_hw g.
        assert isinstance(module, nn.modules.batchnorm._BatchNorm)
        assert module.running_mean is not None and module.running_var is not None
        n, c = a.shape[:2]
        a3, g3 = a.reshape(n, c, -1), g.reshape(n, c, -1)
        gb = g3.sum(2)
        if module.weight is not None:
            r = torch.rsqrt(module.running_var + module.eps).to(a.dtype)
            gx = torch.linalg.vecdot(g3, a3, dim=2)
            gw = (gx - gb * module.running_mean.to(a.dtype)) * r
            sums.add(names.weight, (gw * gw).sum(0))
        if module.bias is not None:
            sums.add(names.bias, (gb * gb).sum(0))
