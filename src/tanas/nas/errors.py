"""Errors of the architecture search engine (all are :class:`tanas.errors.TanasError`)."""

from __future__ import annotations

from tanas.errors import ConfigError, TanasError


class GenotypeError(TanasError):
    """A genotype names an unknown op or has the wrong number of edges."""


class SearchSpaceError(TanasError):
    """A search space is empty, malformed, or does not contain what it must."""


class StrategyConfigError(ConfigError):
    """A search strategy or its budget is configured inconsistently."""
