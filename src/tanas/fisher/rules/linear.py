"""``nn.Linear``: the per-sample weight gradient is ``g_nᵀ a_n`` (summed over any extra dimensions)."""

from __future__ import annotations

from torch import Tensor, nn

from tanas.fisher.rules.base import ParamNames
from tanas.fisher.squares import SquareSums


class LinearRule:
    def unsupported(self, module: nn.Module) -> str | None:
        return None

    def accumulate(self, module: nn.Module, a: Tensor, g: Tensor, names: ParamNames, sums: SquareSums) -> None:
        assert isinstance(module, nn.Linear)
        n = a.shape[0]
        a3 = a.reshape(n, -1, a.shape[-1])
        g3 = g.reshape(n, -1, g.shape[-1])
        if a3.shape[1] == 1:
            # per-sample gradient is an outer product: Σ_n (g_n x_n^T)² = (g²)^T (x²)
            a2, g2 = a3[:, 0], g3[:, 0]
            sums.target(names.weight, module.weight.shape, a).addmm_((g2 * g2).t(), a2 * a2)
            if module.bias is not None:
                sums.add(names.bias, (g2 * g2).sum(0))
            return
        sums.add_squared_products(names.weight, module.weight.shape, g3.transpose(1, 2), a3)
        if module.bias is not None:
            gb = g3.sum(1)
            sums.add(names.bias, (gb * gb).sum(0))
