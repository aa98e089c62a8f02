"""The 11 edge operations of the search space (docs/architecture.md §1.6).

They implement the names of :data:`tanas.genotypes.OP_NAMES`.

Every op maps ``(N, C, H, W)`` to ``(N, C, H, W)``: inside a cell all edges keep
the channel count and the resolution. Convolutions are ReLU-Conv-BN as in DARTS;
pools carry no parameters (as in NAS-Bench-201).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from tanas.genotypes import OP_NAMES, check_op


class Zero(nn.Module):
    """The ``none`` op: the edge carries nothing (an all-zero tensor of the input's shape)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


class ReLUConvBN(nn.Sequential):
    """ReLU → Conv → BatchNorm, with 'same' padding for odd kernels."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int = 1,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


class DilConv(nn.Sequential):
    """ReLU → depthwise (dilated) conv → pointwise conv → BN, the DARTS ``dil_conv``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        dilation: int,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(
                c_in, c_in, kernel_size, stride=stride, padding=padding, dilation=dilation, groups=c_in, bias=False
            ),
            nn.Conv2d(c_in, c_out, 1, bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


class SepConv(nn.Sequential):
    """Two stacked :class:`DilConv` with dilation 1, the DARTS ``sep_conv``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        stride: int,
        padding: int,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        kw = dict(affine=affine, track_running_stats=track_running_stats)
        super().__init__(
            DilConv(c_in, c_in, kernel_size, stride, padding, 1, **kw),
            DilConv(c_in, c_out, kernel_size, 1, padding, 1, **kw),
        )


class Conv7x1x1x7(nn.Sequential):
    """ReLU → 1×7 conv → 7×1 conv → BN, the DARTS ``conv_7x1_1x7``."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, *, affine: bool = True, track_running_stats: bool = True
    ) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_in, (1, 7), stride=(1, stride), padding=(0, 3), bias=False),
            nn.Conv2d(c_in, c_out, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False),
            nn.BatchNorm2d(c_out, affine=affine, track_running_stats=track_running_stats),
        )


OpFactory = Callable[[int, bool, bool], nn.Module]

_FACTORIES: dict[str, OpFactory] = {
    "none": lambda c, affine, trs: Zero(),
    "skip_connect": lambda c, affine, trs: nn.Identity(),
    "max_pool_3x3": lambda c, affine, trs: nn.MaxPool2d(3, stride=1, padding=1),
    "avg_pool_3x3": lambda c, affine, trs: nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False),
    "conv_1x1": lambda c, affine, trs: ReLUConvBN(c, c, 1, affine=affine, track_running_stats=trs),
    "conv_3x3": lambda c, affine, trs: ReLUConvBN(c, c, 3, padding=1, affine=affine, track_running_stats=trs),
    "sep_conv_3x3": lambda c, affine, trs: SepConv(c, c, 3, 1, 1, affine=affine, track_running_stats=trs),
    "sep_conv_5x5": lambda c, affine, trs: SepConv(c, c, 5, 1, 2, affine=affine, track_running_stats=trs),
    "dil_conv_3x3": lambda c, affine, trs: DilConv(c, c, 3, 1, 2, 2, affine=affine, track_running_stats=trs),
    "dil_conv_5x5": lambda c, affine, trs: DilConv(c, c, 5, 1, 4, 2, affine=affine, track_running_stats=trs),
    "conv_7x1_1x7": lambda c, affine, trs: Conv7x1x1x7(c, c, 1, affine=affine, track_running_stats=trs),
}
if tuple(_FACTORIES) != OP_NAMES:  # the vocabulary lives in tanas.genotypes; every name needs a factory, in order
    raise ImportError(f"tanas.nas.ops builds {tuple(_FACTORIES)}, but tanas.genotypes names {OP_NAMES}")


def make_op(name: str, channels: int, *, affine: bool = True, track_running_stats: bool = True) -> nn.Module:
    """Build the op ``name`` for a cell with ``channels`` channels (stride 1, shape preserving).

    ``affine``/``track_running_stats`` are for the DARTS supernet, which (like
    NAS-Bench-201's) uses BN without affine parameters and with batch statistics.
    """
    return _FACTORIES[check_op(name)](channels, affine, track_running_stats)
