"""The choices a distance takes, validated in one place."""

from __future__ import annotations

from collections.abc import Sequence

from tanas.errors import ConfigError

HEADS: tuple[str, ...] = ("refit", "pad")
LAYERS: tuple[str, ...] = ("all", "body")
NORMALISATIONS: tuple[str, ...] = ("whole", "per_layer")
#: methods that give a distance: lower is nearer
DISTANCE_METHODS: tuple[str, ...] = ("ftd", "task2vec")
#: transferability scores (tanas.transferability): higher transfers better
SCORE_METHODS: tuple[str, ...] = ("leep", "nce", "logme", "hscore")
#: every way of ranking sources for a target
METHODS: tuple[str, ...] = DISTANCE_METHODS + SCORE_METHODS

#: L2 weight (on the mean cross-entropy) of the refitted head; keeps separable tasks bounded.
REFIT_L2 = 1e-3


def check_choice(label: str, value: str, choices: Sequence[str]) -> None:
    """Reject ``value`` unless it is one of ``choices``, naming them."""
    if value not in choices:
        raise ConfigError(f"unknown {label} {value!r}: choose one of {', '.join(choices)}")


def higher_is_better(method: str) -> bool:
    """Whether ``method`` is a score (higher is better) rather than a distance (lower is nearer)."""
    check_choice("method", method, METHODS)
    return method in SCORE_METHODS
