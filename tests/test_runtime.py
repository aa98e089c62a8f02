"""Process helpers: atomic writes (mode, replacement, no debris on failure) and the thread count."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
import torch

from tanas.errors import ConfigError
from tanas.runtime import atomic_write_bytes, atomic_write_text, set_threads


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_get_the_mode_open_would_give(tmp_path, umask):
    previous = os.umask(umask)
    try:
        with open(tmp_path / "plain.txt", "w") as handle:
            handle.write("x")
        atomic_write_text(tmp_path / "atomic.txt", "x")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "atomic.txt") == _mode(tmp_path / "plain.txt") == 0o666 & ~umask


def test_replaces_the_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "result.json"
    atomic_write_text(target, "first, and longer")
    atomic_write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["result.json"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_text(target, "old")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_set_threads_sets_validates_and_reports():
    before = torch.get_num_threads()
    try:
        assert set_threads(None) == before
        assert set_threads(2) == 2 == torch.get_num_threads()
        for bad in (0, -1, True, 1.5):
            with pytest.raises(ConfigError, match="threads must be a positive integer"):
                set_threads(bad)  # type: ignore[arg-type]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_runtime_and_report_tables_do_not_import_torch():
    # the report needs only the atomic writes: loading torch for them costs ~1.5 s
    code = "import sys, tanas.runtime, tanas.report.tables; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
