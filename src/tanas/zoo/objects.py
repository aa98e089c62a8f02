"""The object store: content-addressed artifacts (probe weights, Fishers) as safetensors files.

``objects/ab/abcdef….safetensors`` holds the bytes whose SHA-256 is ``abcdef…``;
``tmp/<pid>-<random>.part`` are partial writes. Files are written to ``tmp/``, fsynced
and renamed into place (:func:`tanas.runtime.atomic_write_bytes`). Deleting files is
the catalogue's business (:mod:`tanas.zoo.check`): only under its write lock.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Container
from pathlib import Path
from typing import TYPE_CHECKING

from tanas.errors import ZooCorruptError
from tanas.runtime import atomic_write_bytes
from tanas.zoo.values import now, sha256

if TYPE_CHECKING:  # pragma: no cover
    import torch

OBJECTS_DIR = "objects"
TMP_DIR = "tmp"
#: Temporary files whose owner cannot be checked are stale after this many seconds.
STALE_TMP_SECONDS = 24 * 3600.0

_OBJECT_NAME = re.compile(r"^[0-9a-f]{64}\.safetensors$")
_TMP_NAME = re.compile(r"^(\d+)-[0-9a-f]+\.part$")
_SUFFIX = ".safetensors"


class ObjectStore:
    """The artifacts of the zoo folder ``root`` (``objects/`` and ``tmp/`` are created if missing)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / OBJECTS_DIR
        self.tmp_dir = root / TMP_DIR
        self.objects_dir.mkdir(exist_ok=True)
        self.tmp_dir.mkdir(exist_ok=True)

    def path(self, sha: str) -> Path:
        """Where the artifact with content hash ``sha`` lives."""
        return self.objects_dir / sha[:2] / f"{sha}{_SUFFIX}"

    def ok(self, sha: str) -> bool:
        """Whether the artifact ``sha`` is present with the right bytes."""
        try:
            return sha256(self.path(sha).read_bytes()) == sha
        except OSError:
            return False

    def write_file(self, sha: str, data: bytes) -> None:
        # the temporary file is named by our pid in tmp/, so `check` can tell a crashed writer's leftover
        tmp = self.tmp_dir / f"{os.getpid()}-{secrets.token_hex(8)}.part"
        atomic_write_bytes(self.path(sha), data, temp=tmp, durable=True)

    def put(self, data: bytes) -> str:
        """Store ``data`` content-addressed (durably) and return its sha256."""
        sha = sha256(data)
        if not self.ok(sha):
            self.write_file(sha, data)
        return sha

    def ensure_locked(self, sha: str, data: bytes) -> None:
        """Inside a write transaction: make sure the file is (still) there before referencing it.

        Files are only deleted under the write lock, so once this returns the file
        stays until the rows that reference it are gone.
        """
        if not self.path(sha).is_file():
            self.write_file(sha, data)

    def read(self, sha: str, what: str) -> bytes:
        """The bytes of artifact ``sha``; :class:`ZooCorruptError` (naming ``what``) if missing or damaged."""
        path = self.path(sha)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise ZooCorruptError(
                f"{what}: artifact {path} is missing; run "
                f"`tanas zoo check --repair --zoo {self.root}` and add the task again"
            ) from exc
        except OSError as exc:
            raise ZooCorruptError(f"{what}: cannot read artifact {path} ({exc})") from exc
        if sha256(data) != sha:
            raise ZooCorruptError(
                f"{what}: artifact {path} is corrupt (its bytes do not match their hash); run "
                f"`tanas zoo check --repair --zoo {self.root}` and add the task again"
            )
        return data

    def load_tensors(self, sha: str, what: str) -> dict[str, torch.Tensor]:
        from safetensors.torch import load

        data = self.read(sha, what)
        try:
            return load(data)
        except Exception as exc:  # safetensors raises its own error types
            raise ZooCorruptError(f"{what}: artifact {self.path(sha)} is not a safetensors file ({exc})") from exc

    def files(self) -> list[Path]:
        """Every file under ``objects/``, sorted."""
        return sorted(p for p in self.objects_dir.rglob("*") if p.is_file())

    def unreferenced(self, referenced: Container[str]) -> list[Path]:
        """The files whose name is not ``<sha>.safetensors`` of a referenced sha (what garbage collection deletes)."""
        return [p for p in self.files() if p.name[: -len(_SUFFIX)] not in referenced]

    def orphans(self, referenced: Container[str]) -> list[Path]:
        """Files that are not a referenced object in its place, plus stale temporary files (``check``'s orphans)."""
        orphaned = []
        for path in self.files():
            stem = path.name[: -len(_SUFFIX)] if path.name.endswith(_SUFFIX) else None
            if (
                not _OBJECT_NAME.match(path.name)
                or stem is None
                or stem not in referenced
                or path.parent.name != stem[:2]
            ):
                orphaned.append(path)
        return orphaned + self.stale_tmp_files()

    def stale_tmp_files(self) -> list[Path]:
        """Temporary files whose writer is gone (or that are older than :data:`STALE_TMP_SECONDS`)."""
        stale = []
        current = now()
        for path in sorted(self.tmp_dir.iterdir()):
            match = _TMP_NAME.match(path.name)
            owner_alive = match is not None and _pid_alive(int(match.group(1)))
            try:
                old = current - path.stat().st_mtime > STALE_TMP_SECONDS
            except OSError:
                continue
            if not owner_alive or old:
                stale.append(path)
        return stale


def tensors_to_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """``tensors`` (on CPU, contiguous) as safetensors bytes: equal content gives equal bytes."""
    from safetensors.torch import save

    # One metadata key only: safetensors writes a multi-key metadata map in a random
    # order, which would give equal content different hashes.
    header = {"tanas": json.dumps(metadata, sort_keys=True)}
    return save({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, metadata=header)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:  # pragma: no cover
        return False
    return True
