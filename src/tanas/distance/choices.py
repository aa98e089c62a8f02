"""The choices a distance takes, validated in one place."""

from __future__ import annotations

from collections.abc import Sequence

from tanas.errors import ConfigError

HEADS: tuple[str, ...] = ("refit", "pad")
LAYERS: tuple[str, ...] = ("all", "body")
NORMALISATIONS: tuple[str, ...] = ("whole", "per_layer")
DISTANCE_METHODS: tuple[str, ...] = ("ftd", "task2vec")

#: L2 weight (on the mean cross-entropy) of the refitted head; keeps separable tasks bounded.
REFIT_L2 = 1e-3


def check_choice(label: str, value: str, choices: Sequence[str]) -> None:
    """Reject ``value`` unless it is one of ``choices``, naming them."""
    if value not in choices:
        raise ConfigError(f"unknown {label} {value!r}: choose one of {', '.join(choices)}")
