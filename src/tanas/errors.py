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


# --------------------------------------------------------------------------- input adapters (tanas.data.adapt)


class AdapterError(DataError):
    """Images cannot be adapted to a probe's input format (channel count, size)."""


# --------------------------------------------------------------------------- distance


class DistanceError(TanasError):
    """A distance cannot be computed from these inputs."""


# --------------------------------------------------------------------------- transferability scores


class ScoreError(TanasError):
    """The inputs of a transferability score are malformed (shape, dtype, NaN, too few samples)."""


# --------------------------------------------------------------------------- fisher


class FisherError(TanasError):
    """The Fisher cannot be computed for this model (or with the requested method)."""


# --------------------------------------------------------------------------- zoo


class ZooError(TanasError):
    """The zoo cannot do what was asked."""


class ZooNotFoundError(ZooError):
    """There is no zoo at the given path."""


class ZooVersionError(ZooError):
    """The zoo was written by a newer version of tanas."""


class UnknownZooTaskError(ZooError):
    """No task in the zoo has the given name."""


class ZooConflictError(ZooError):
    """A name is already taken by a task with different data."""


class ZooCorruptError(ZooError):
    """An artifact is missing or its bytes do not match their hash."""


class ZooBusyError(ZooError):
    """Another process held the zoo's write lock for too long."""


# ---------------------------------------------------------------- nas (genotypes and the architecture search)
class GenotypeError(TanasError):
    """A genotype names an unknown op or has the wrong number of edges."""


class SearchSpaceError(TanasError):
    """A search space is empty, malformed, or does not contain what it must."""


class StrategyConfigError(ConfigError):
    """A search strategy or its budget is configured inconsistently."""


# --------------------------------------------------------------------------- files and folders (validation, faults)


class FileAccessError(TanasError):
    """A file or folder cannot be read or written (permissions, a file where a folder should be, ...)."""


class OutputDirError(FileAccessError):
    """An output folder cannot be created or written; checked before any work starts."""


class DiskFullError(FileAccessError):
    """The disk filled up while tanas was writing; what was finished before is kept."""


class UnreadableDataError(DataError):
    """A dataset file exists but tanas may not read it (permissions)."""


def file_error(exc: OSError, doing: str = "accessing") -> FileAccessError:
    """The one-line tanas error for an ``OSError`` met while ``doing`` (e.g. "writing") a file.

    The last-resort mapping of the CLI's error handler; code that knows better (the output
    folder check, the atomic writer) maps at the place the error arises.
    """
    import errno

    where = exc.filename if exc.filename is not None else "a file"
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return DiskFullError(f"disk full while writing {where}: free space and rerun; finished work is kept")
    if isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
        return FileAccessError(
            f"permission denied {doing} {where} ({reason}): fix its permissions or choose another path"
        )
    if exc.errno == errno.ENOTDIR:
        return FileAccessError(f"{where}: part of this path is a file, not a folder; choose another path")
    if exc.errno == errno.EISDIR:
        return FileAccessError(f"{where} is a folder where a file was expected; choose another path")
    if exc.errno == errno.ENOENT:
        return FileAccessError(f"{where} does not exist ({doing} it); check the path")
    return FileAccessError(f"cannot complete {doing} {where}: {reason}; check the path and rerun")
