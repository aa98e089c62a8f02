"""``nn.Conv2d`` (any stride, padding, dilation, groups; zero padding only).

Sample n's weight gradient is its output gradient ``(O, Ho*Wo)`` times its unfolded
input ``(Ho*Wo, C*kh*kw)``; the input is unfolded a few samples at a time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tanas.fisher.rules.base import ParamNames
from tanas.fisher.squares import SquareSums
from tanas.fisher.workspace import Pads, Workspace


def _pads(module: nn.Conv2d) -> Pads:
    """(left, right, top, bottom) zero padding of ``module``."""
    kh, kw = module.kernel_size
    dh, dw = module.dilation
    padding: Any = module.padding
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        th, tw = dh * (kh - 1), dw * (kw - 1)  # "same": PyTorch puts the odd pixel at the end
        return tw // 2, tw - tw // 2, th // 2, th - th // 2
    ph, pw = padding
    return pw, pw, ph, ph


def _im2col(module: nn.Conv2d, a: Tensor, out_hw: tuple[int, int], workspace: Workspace) -> Tensor:
    """``F.unfold`` of the layer input, ``(N, C*kh*kw, Ho*Wo)``, as one strided copy.

    ``F.unfold`` (aten::im2col) is several times slower on the CPU than copying
    this strided view of the padded input into the workspace.
    """
    kh, kw = module.kernel_size
    dh, dw = module.dilation
    sh, sw = module.stride
    n, c = a.shape[:2]
    ho, wo = out_hw
    pads = _pads(module)
    padded = workspace.padded(a, pads, channels_last=False) if any(pads) else a.contiguous()
    s_n, s_c, s_h, s_w = padded.stride()
    view = padded.as_strided((n, c, kh, kw, ho, wo), (s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w))
    unf = workspace.buffer("unfold", (n, c, kh, kw, ho, wo), a)
    unf.copy_(view)
    return unf.view(n, c * kh * kw, ho * wo)


def _im2row(module: nn.Conv2d, a: Tensor, out_hw: tuple[int, int], workspace: Workspace) -> Tensor:
    """The channels-last unfolding, ``(N, Ho*Wo, kh*kw*C)``: each row is a patch.

    Its copy moves runs of C contiguous channels, which is several times faster
    than :func:`_im2col` when the map is small and the channels many (late layers).
    """
    kh, kw = module.kernel_size
    dh, dw = module.dilation
    sh, sw = module.stride
    n, c = a.shape[:2]
    ho, wo = out_hw
    padded = workspace.padded(a, _pads(module), channels_last=True)
    s_n, s_h, s_w, s_c = padded.stride()
    view = padded.as_strided((n, ho, wo, kh, kw, c), (s_n, sh * s_h, sw * s_w, dh * s_h, dw * s_w, s_c))
    rows = workspace.buffer("unfold", (n, ho, wo, kh, kw, c), a)
    rows.copy_(view)
    return rows.view(n, ho * wo, kh * kw * c)


class Conv2dRule:
    def unsupported(self, module: nn.Module) -> str | None:
        assert isinstance(module, nn.Conv2d)
        if module.padding_mode != "zeros":
            return f"uses padding_mode={module.padding_mode!r}"
        return None

    def accumulate(self, module: nn.Module, a: Tensor, g: Tensor, names: ParamNames, sums: SquareSums) -> None:
        assert isinstance(module, nn.Conv2d)
        wname, workspace = names.weight, sums.workspace
        n = a.shape[0]
        kh, kw = module.kernel_size
        groups, c_out, c_in = module.groups, module.out_channels, module.in_channels
        k_group = (c_in // groups) * kh * kw
        o_group = c_out // groups
        spatial = g.shape[2] * g.shape[3]
        go = g.reshape(n, groups, o_group, spatial)
        # unfold a few samples at a time (the unfolded input is c_in*kh*kw*spatial per sample)
        step = workspace.unfold_samples(n, c_in * kh * kw * spatial)
        out_hw = (g.shape[2], g.shape[3])
        if groups == 1 and 1 < spatial <= 4 * c_in:
            # channels-last patches: the gradient comes out as (o, kh, kw, c), hence
            # its own accumulator, seen by the caller through a permuted view
            key = f"{wname}#channels_last"
            for s in range(0, n, step):
                e = min(n, s + step)
                rows = _im2row(module, a[s:e], out_hw, workspace)
                sums.add_squared_products(key, torch.Size((c_out, kh, kw, c_in)), go[s:e, 0], rows)
            channels_last = sums.get(key)
            assert channels_last is not None
            sums.publish(wname, channels_last.permute(0, 3, 1, 2))
        else:
            wshape = torch.Size((groups, o_group, k_group))
            for s in range(0, n, step):
                e = min(n, s + step)
                unf = _im2col(module, a[s:e], out_hw, workspace).view(e - s, groups, k_group, spatial)
                gs = go[s:e]
                if spatial == 1:  # outer products: Σ_n g² (x²)^T
                    part = torch.einsum("ngo,ngk->gok", gs[..., 0].square(), unf[..., 0].square())
                    sums.target(wname, wshape, a).add_(part)
                elif groups == 1:
                    sums.add_squared_products(wname, wshape, gs[:, 0], unf[:, 0].transpose(1, 2))
                else:
                    sums.add_squares(wname, torch.einsum("ngol,ngkl->ngok", gs, unf))
            grouped = sums.get(wname)
            assert grouped is not None
            sums.publish(wname, grouped.view(module.weight.shape))
        if module.bias is not None:
            gb = g.sum((2, 3))
            sums.add(names.bias, (gb * gb).sum(0))
