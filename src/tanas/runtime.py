"""Process-level helpers: device choice, seeding, progress bars, atomic writes.

torch, numpy and tqdm are imported inside the functions that use them, so that
modules needing only the atomic writes (the report) do not load torch.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import secrets
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from tanas.errors import ConfigError, DiskFullError, OutputDirError

if TYPE_CHECKING:
    import torch
    from tqdm.auto import tqdm

T = TypeVar("T")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return ``cuda`` when present and ``cpu`` otherwise; an explicit choice wins."""
    import torch

    if device is None or (isinstance(device, str) and device in ("", "auto")):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda[:N]'") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} was asked for but CUDA is not available: use --device cpu")
    return resolved


def set_threads(threads: int | None) -> int:
    """Set torch's intra-op CPU thread count (``None`` keeps the current one); return the count in effect.

    One thread is often fastest for tanas' small networks on a machine busy with
    other work: torch's default of one OpenMP thread per core then spins threads
    against the other processes.
    """
    import torch

    if threads is not None:
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
            raise ConfigError(f"threads must be a positive integer, got {threads!r}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch generator seeded with ``seed``: pass it wherever randomness enters."""
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def derive_seed(seed: int, *labels: object) -> int:
    """A deterministic 63-bit sub-seed for ``labels`` under ``seed``, so no two parts share a stream.

    The one seed-derivation rule of the project: every component that needs its own
    random stream (a candidate's init, an epoch's data order, a final-protocol run)
    asks for ``derive_seed(seed, "what", index, ...)``.
    """
    digest = hashlib.sha256(repr((int(seed), *labels)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1; 0.0 for one value) of ``values``.

    The mean is ``math.fsum / n`` and the spread uses Welford's update, which is what
    torch's float64 reduction along a tensor dimension computes, bit for bit, so
    every mean ± std in the project is computed one way. Raises ``ValueError`` on no values.
    """
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("mean_std needs at least one value")
    count, running, m2 = 0, 0.0, 0.0
    for value in vals:
        count += 1
        delta = value - running
        running += delta / count
        m2 += delta * (value - running)
    std = math.sqrt(m2 / (count - 1)) if count > 1 else 0.0
    return math.fsum(vals) / count, std


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    quiet: bool = False,
    unit: str = "it",
    leave: bool = False,
) -> tqdm[T]:
    """A tqdm bar on stderr that stays silent when stderr is not a terminal or ``quiet``."""
    from tqdm.auto import tqdm

    disable = quiet or not sys.stderr.isatty()
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, leave=leave, dynamic_ncols=True)


def atomic_write_bytes(path: str | Path, data: bytes, *, temp: str | Path | None = None, durable: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file.

    The data goes to ``temp`` first (default: a hidden name beside ``path``; it must be
    on the same file system), is fsynced and renamed over ``path``. ``durable`` also
    fsyncs the folder, so that the rename itself survives a power cut. The file gets the
    mode a plain ``open(path, "w")`` would give (0666 less the umask); ``tempfile.mkstemp``
    would leave results readable by their owner only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(temp) if temp is not None else path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # outside the try: never unlink a file not ours
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            raise DiskFullError(f"disk full while writing {path}: free space and rerun; finished work is kept") from exc
        raise
    if durable:
        _fsync_dir(path.parent)


#: errno values of a full disk (or a full quota)
_DISK_FULL = frozenset(e for e in (errno.ENOSPC, getattr(errno, "EDQUOT", None)) if e is not None)


def prepare_output_dir(path: str | Path, *, what: str = "--out") -> Path:
    """Create the output folder ``path`` (and its parents) and check that a file can be written in it.

    Every command calls this before any work, so that a bad ``--out`` (a path under a file,
    a read-only folder, a full disk) costs nothing. Raises :class:`OutputDirError`, naming
    the path and ``what`` gave it, on one line.
    """
    folder = Path(path).expanduser()
    try:
        if folder.exists() and not folder.is_dir():
            raise OutputDirError(f"{what} {folder} is a file, not a folder; choose a folder")
        folder.mkdir(parents=True, exist_ok=True)
        _check_writable(folder)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise OutputDirError(f"{what} {folder}: the disk is full; free space and rerun") from exc
        if exc.errno == errno.ENOTDIR or isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "part of the path is a file, not a folder"
        elif isinstance(exc, PermissionError) or exc.errno == errno.EROFS:
            reason = "permission denied"
        else:
            reason = exc.strerror or str(exc)
        raise OutputDirError(
            f"cannot write to {what} {folder}: {reason}; choose another folder or fix its permissions"
        ) from exc
    return folder


def _check_writable(folder: Path) -> None:
    """Create and delete a small file in ``folder``; raises the ``OSError`` when it cannot be done."""
    probe = folder / f".tanas-write-check.{os.getpid()}-{secrets.token_hex(4)}"
    fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, b"ok")
    finally:
        os.close(fd)
        probe.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Text form of :func:`atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))
