"""The one exception family of tanas.

Every error a user can cause derives from :class:`TanasError`. Its message says
what was wrong and what to do; the CLI prints it on one line and exits with 2.
"""

from __future__ import annotations


class TanasError(Exception):
    """Base class of every error tanas raises on bad input or state."""


class ConfigError(TanasError):
    """An option, configuration file or argument is invalid."""


class TaskSpecError(TanasError):
    """A task spec cannot be parsed or names something that does not exist."""


class UnknownSourceError(TaskSpecError):
    """The spec names a data source tanas does not know."""


class UnknownClassError(TaskSpecError):
    """The spec names a class the source does not have."""


class DuplicateClassError(TaskSpecError):
    """The spec lists a class more than once."""


class EmptyTaskError(TaskSpecError):
    """The task would have no samples (or no classes) in some split."""


class DataError(TanasError):
    """A dataset could not be read."""


class DatasetNotFoundError(DataError):
    """The dataset files are not where tanas looked."""


class CorruptDataError(DataError):
    """A dataset file is truncated or malformed."""


class DataShapeError(DataError):
    """Arrays have the wrong shape or dtype."""


# ---------------------------------------------------------------- nas (genotypes and the architecture search)
class GenotypeError(TanasError):
    """A genotype names an unknown op or has the wrong number of edges."""


class SearchSpaceError(TanasError):
    """A search space is empty, malformed, or does not contain what it must."""


class StrategyConfigError(ConfigError):
    """A search strategy or its budget is configured inconsistently."""
