"""What a per-layer rule of the hooks engine is (the idea of BackPACK's module extensions)."""

from __future__ import annotations

from typing import NamedTuple, Protocol

from torch import Tensor, nn

from tanas.fisher.squares import SquareSums


class ParamNames(NamedTuple):
    """The full names of a layer's weight and bias in the model's ``named_parameters()``."""

    weight: str
    bias: str


class LayerRule(Protocol):
    """The per-sample squared gradients of one layer type's parameters.

    The hooks engine calls :meth:`accumulate` with the layer's input ``a`` (detached)
    and ``g = ∂L/∂output``, whose row n is (a weighted) sample n's own output gradient.
    """

    def unsupported(self, module: nn.Module) -> str | None:
        """Why this layer cannot be handled although its type can (completes "<layer> ..."), or None."""
        ...

    def accumulate(self, module: nn.Module, a: Tensor, g: Tensor, names: ParamNames, sums: SquareSums) -> None:
        """Add ``Σ_n (∂L_n/∂θ)²`` of the layer's weight and bias to ``sums``."""
        ...
