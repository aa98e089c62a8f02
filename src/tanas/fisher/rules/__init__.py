"""The hooks engine's per-layer rules, one per supported layer type, in one map.

A layer type is supported exactly when it (or a class it derives from) is a key of
:data:`LAYER_RULES` (in the style of BackPACK's module extensions and nngeometry's
layer factories). Adding a layer type means adding a rule here.
"""

from __future__ import annotations

from torch import nn

from tanas.fisher.rules.base import LayerRule, ParamNames
from tanas.fisher.rules.batchnorm import BatchNormRule
from tanas.fisher.rules.conv2d import Conv2dRule
from tanas.fisher.rules.linear import LinearRule

__all__ = ["LAYER_RULES", "LayerRule", "ParamNames", "rule_for"]

LAYER_RULES: dict[type[nn.Module], LayerRule] = {
    nn.Linear: LinearRule(),
    nn.Conv2d: Conv2dRule(),
    nn.BatchNorm1d: BatchNormRule(),
    nn.BatchNorm2d: BatchNormRule(),
}


def rule_for(module: nn.Module) -> tuple[type[nn.Module], LayerRule] | None:
    """The supported layer type ``module`` is (itself or by inheritance) and its rule; None if none."""
    for cls in type(module).__mro__:
        rule = LAYER_RULES.get(cls)
        if rule is not None:
            return cls, rule
    return None
