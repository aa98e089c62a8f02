"""The Fisher kinds and methods tanas knows, and the check of the options that choose them."""

from __future__ import annotations

from tanas.errors import ConfigError

FISHER_KINDS: tuple[str, ...] = ("empirical", "exact", "mc")
FISHER_METHODS: tuple[str, ...] = ("auto", "hooks", "vmap", "loop")


def check_options(kind: str, method: str, batch_size: int, mc_samples: int) -> None:
    """Raise :class:`ConfigError` unless the options name a known kind and method and count positively."""
    if kind not in FISHER_KINDS:
        raise ConfigError(f"unknown Fisher kind {kind!r}: choose one of {', '.join(FISHER_KINDS)}")
    if method not in FISHER_METHODS:
        raise ConfigError(f"unknown Fisher method {method!r}: choose one of {', '.join(FISHER_METHODS)}")
    for label, value in (("batch_size", batch_size), ("mc_samples", mc_samples)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{label} must be a positive integer, got {value!r}")
