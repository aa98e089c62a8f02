"""The NAS-Bench-201 skeleton around a cell (docs/architecture.md §1.6).

    stem conv (C) → N cells → residual reduction (stride 2, 2C) → N cells
    → residual reduction (stride 2, 4C) → N cells → BN-ReLU → global average pool → linear

All stages keep 'same' padding, so any input of at least 1×1 works: 8×8 digits
run at 8→4→2 pixels, 28×28 at 28→14→7, 32×32 at 32→16→8. The reduction's
shortcut is a 3×3/stride-2 average pool (padding 1) followed by a 1×1 conv; its
output size equals the strided 3×3 conv's for odd sizes too (NAS-Bench-201's
2×2 pool does not match there).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import nn

from tanas.errors import StrategyConfigError
from tanas.genotypes import EDGES, Genotype, as_genotype
from tanas.nas.ops import ReLUConvBN, make_op


class Cell(nn.Module):
    """A fixed cell: node j = Σ_{i<j} op_{i→j}(node i); the output is node 3.

    ``none`` edges are skipped rather than computed (they only add zeros).
    """

    def __init__(self, genotype: Genotype, channels: int) -> None:
        super().__init__()
        self.genotype = genotype
        self.ops = nn.ModuleList(make_op(name, channels) for name in genotype.ops)
        self._live = [name != "none" for name in genotype.ops]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            total: torch.Tensor | None = None
            for k, (src, dst) in enumerate(EDGES):
                if dst == j and self._live[k]:
                    out = self.ops[k](nodes[src])
                    total = out if total is None else total + out
            nodes.append(total if total is not None else torch.zeros_like(x))
        return nodes[3]


class ResidualReduction(nn.Module):
    """NAS-Bench-201's ResNet block between stages: stride 2, new channel count."""

    def __init__(self, c_in: int, c_out: int, *, affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        kw = dict(affine=affine, track_running_stats=track_running_stats)
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2, padding=1, **kw)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, stride=1, padding=1, **kw)
        self.shortcut = nn.Sequential(
            nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
            nn.Conv2d(c_in, c_out, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class CellNetwork(nn.Module):
    """The skeleton with cells made by ``cell_factory(channels)`` (fixed cells or DARTS mixtures)."""

    def __init__(
        self,
        cell_factory: Callable[[int], nn.Module],
        in_channels: int,
        num_classes: int,
        C: int = 16,
        N: int = 1,
        *,
        affine: bool = True,
        track_running_stats: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or num_classes < 1:
            raise StrategyConfigError(
                f"a network needs in_channels >= 1 and num_classes >= 1, got {in_channels} and {num_classes}"
            )
        if C < 1 or N < 0:
            raise StrategyConfigError(f"network width C must be >= 1 and cells per stage N >= 0, got C={C}, N={N}")
        self.C, self.N = C, N
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C, 3, padding=1, bias=False),
            nn.BatchNorm2d(C, affine=affine, track_running_stats=track_running_stats),
        )
        layers: list[nn.Module] = []
        channels = C
        for stage in range(3):
            if stage > 0:
                layers.append(
                    ResidualReduction(channels, channels * 2, affine=affine, track_running_stats=track_running_stats)
                )
                channels *= 2
            layers.extend(cell_factory(channels) for _ in range(N))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.BatchNorm2d(channels, affine=affine, track_running_stats=track_running_stats),
            nn.ReLU(inplace=False),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))


class GenotypeNetwork(CellNetwork):
    """A stand-alone network for one genotype; ``.genotype`` records it."""

    def __init__(self, genotype: Genotype, in_channels: int, num_classes: int, C: int = 16, N: int = 1) -> None:
        super().__init__(lambda ch: Cell(genotype, ch), in_channels, num_classes, C, N)
        self.genotype = genotype


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Run layer initialisation (which reads torch's global CPU RNG) under ``seed``,
    restoring the caller's RNG state afterwards so no global state leaks."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def build_network(
    genotype: Genotype | str,
    in_channels: int,
    num_classes: int,
    C: int = 16,
    N: int = 1,
    *,
    seed: int | None = None,
) -> GenotypeNetwork:
    """The NAS-Bench-201 skeleton with ``genotype`` in every cell (on the CPU; move it with ``.to``).

    With ``seed`` the initial weights are a pure function of the seed.
    """
    genotype = as_genotype(genotype)
    if seed is None:
        return GenotypeNetwork(genotype, in_channels, num_classes, C, N)
    with seeded_init(seed):
        return GenotypeNetwork(genotype, in_channels, num_classes, C, N)


def count_parameters(model: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
