"""Bad input and faults end in one line, checked before any work; --debug / TANAS_DEBUG=1 show the traceback.

Tests run as root here, so permission errors are simulated by monkeypatching the write check
(chmod does not stop root), and "an unwritable place" is a path under an existing file.
"""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import assert_one_line_error

TINY = ("--seeds", "1", "--max-epochs", "1", "--quiet")


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test loudly if a probe is trained (validation must come first)."""
    _forbid_training(monkeypatch)


@pytest.fixture
def no_training_after_first(monkeypatch):
    """Call it to forbid training from then on."""
    return lambda: _forbid_training(monkeypatch)


def _forbid_training(monkeypatch):
    import tanas.probe.training as training

    def trained(*args, **kwargs):
        raise AssertionError("a probe was trained before the command was validated")

    monkeypatch.setattr(training, "train_probe", trained)
    import tanas.probe

    monkeypatch.setattr(tanas.probe, "train_probe", trained, raising=False)
    import tanas.zoo.compute as compute

    if hasattr(compute, "train_probe"):
        monkeypatch.setattr(compute, "train_probe", trained)
    import tanas.distance.matrix as matrix

    if hasattr(matrix, "train_probe"):
        monkeypatch.setattr(matrix, "train_probe", trained)


# ----------------------------------------------------------------------------- the three escapes of the fuzz run


def test_npz_with_zero_images_is_one_line(tmp_path, cli_inproc):
    file = tmp_path / "empty.npz"
    np.savez(file, x=np.zeros((0, 8, 8), np.uint8), y=np.zeros(0, np.int64))
    out = cli_inproc("distance", f"npz@{file}:indicator:0", "digits:indicator:0", *TINY, "--out", str(tmp_path / "o"))
    assert_one_line_error(out, "npz", "empty")


def test_npz_with_zero_test_images_is_one_line(tmp_path, cli_inproc):
    file = tmp_path / "empty-test.npz"
    x = np.zeros((20, 8, 8), np.uint8)
    y = np.arange(20, dtype=np.int64) % 2
    np.savez(file, x=x, y=y, x_test=np.zeros((0, 8, 8), np.uint8), y_test=np.zeros(0, np.int64))
    out = cli_inproc("distance", f"npz@{file}:indicator:0", "digits:indicator:0", *TINY, "--out", str(tmp_path / "o"))
    assert_one_line_error(out, "npz", "empty")


def test_npz_with_zero_sized_images_is_one_line(tmp_path, cli_inproc):
    file = tmp_path / "flat.npz"
    np.savez(file, x=np.zeros((10, 8, 0), np.uint8), y=np.arange(10, dtype=np.int64) % 2)
    out = cli_inproc("distance", f"npz@{file}:indicator:0", "digits:indicator:0", *TINY, "--out", str(tmp_path / "o"))
    assert_one_line_error(out, "no pixels")


def test_unreadable_npz_is_one_line(tmp_path, cli_inproc, monkeypatch):
    file = tmp_path / "locked.npz"
    np.savez(file, x=np.zeros((10, 8, 8), np.uint8), y=np.arange(10, dtype=np.int64) % 2)

    def denied(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(np, "load", denied)  # chmod 000 does not stop root
    out = cli_inproc("distance", f"npz@{file}:indicator:0", "digits:indicator:0", *TINY, "--out", str(tmp_path / "o"))
    assert_one_line_error(out, "permission denied", str(file))


def test_distance_out_under_a_file_fails_before_training(tmp_path, cli_inproc, no_training):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    target = blocker / "sub"
    out = cli_inproc("distance", "digits:indicator:0", "digits:indicator:1", *TINY, "--out", str(target))
    assert_one_line_error(out, str(target), "--out")
    assert blocker.read_text() == "not a folder\n"


def test_search_out_under_a_file_fails_before_training(tmp_path, cli_inproc, monkeypatch):
    import tanas.nas

    def searched(*args, **kwargs):
        raise AssertionError("the search ran before its output folder was checked")

    monkeypatch.setattr(tanas.nas, "run_search", searched)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = cli_inproc("search", "digits:indicator:0", "--budget-epochs", "1", "--out", str(blocker / "sub"), "--quiet")
    assert_one_line_error(out, str(blocker / "sub"))


def _toml(path: Path, *tables: tuple[str, str]) -> Path:
    path.write_text("".join(f'[[task]]\nname = "{name}"\nspec = "{spec}"\n\n' for name, spec in tables))
    return path


def _zoo_state(zoo: Path, cli_inproc) -> tuple[str, list[str]]:
    listed = cli_inproc("zoo", "list", "--zoo", str(zoo), "--json")
    assert listed.returncode == 0, listed.stderr
    objects = sorted(str(p.relative_to(zoo)) for p in (zoo / "objects").rglob("*") if p.is_file())
    return listed.stdout, objects


def test_toml_with_duplicate_names_is_rejected_whole(tmp_path, cli_inproc, no_training):
    file = _toml(tmp_path / "dup.toml", ("a", "digits:indicator:0"), ("a", "digits:indicator:1"))
    zoo = tmp_path / "zoo"
    out = cli_inproc("zoo", "add", str(file), "--zoo", str(zoo), *TINY)
    assert_one_line_error(out, "'a'", "dup.toml")
    assert not zoo.exists()  # a rejected command creates no zoo


def test_rejected_batch_leaves_an_existing_zoo_unchanged(tmp_path, cli_inproc, no_training_after_first):
    zoo = tmp_path / "zoo"
    (tmp_path / "d0").mkdir()
    (tmp_path / "d1").mkdir()
    (tmp_path / "d2").mkdir()
    base = _toml(tmp_path / "d0" / "base.toml", ("t", "digits:indicator:0"))
    first = cli_inproc("zoo", "add", str(base), "--zoo", str(zoo), *TINY)
    assert first.returncode == 0, first.stderr
    no_training_after_first()
    before = _zoo_state(zoo, cli_inproc)
    dup = _toml(tmp_path / "dup.toml", ("b", "digits:indicator:2"), ("b", "digits:indicator:3"))
    # a good spec first, then a file with a duplicate name: nothing of the batch is added
    out = cli_inproc("zoo", "add", "digits:indicator:1", str(dup), "--zoo", str(zoo), *TINY)
    assert_one_line_error(out, "'b'")
    # a good spec, then a spec that does not parse
    out = cli_inproc("zoo", "add", "digits:indicator:1", "nosuchsource:indicator:0", "--zoo", str(zoo), *TINY)
    assert_one_line_error(out, "nosuchsource")
    # a good spec, then a task whose name (base/t) is taken in the zoo by other data
    clash = _toml(tmp_path / "d1" / "base.toml", ("t", "digits:indicator:5"))
    out = cli_inproc("zoo", "add", "digits:indicator:1", str(clash), "--zoo", str(zoo), *TINY)
    assert_one_line_error(out, "base/t")
    # two files of one batch that give one name (other/c) to different data
    one = _toml(tmp_path / "d1" / "other.toml", ("c", "digits:indicator:4"))
    two = _toml(tmp_path / "d2" / "other.toml", ("c", "digits:indicator:6"))
    out = cli_inproc("zoo", "add", str(one), str(two), "--zoo", str(zoo), *TINY)
    assert_one_line_error(out, "other/c")
    assert _zoo_state(zoo, cli_inproc) == before


def test_toml_parse_refuses_duplicate_names(tmp_path):
    from tanas.data import parse_task
    from tanas.errors import ConfigError

    file = _toml(tmp_path / "dup.toml", ("a", "digits:indicator:0"), ("a", "digits:indicator:1"))
    with pytest.raises(ConfigError, match="'a'"):
        parse_task(str(file))


# ----------------------------------------------------------------------------- output folders, permissions, disk full


def test_prepare_output_dir_creates_and_checks(tmp_path):
    from tanas.errors import OutputDirError
    from tanas.runtime import prepare_output_dir

    made = prepare_output_dir(tmp_path / "a" / "b")
    assert made.is_dir() and list(made.iterdir()) == []  # the probe file is gone
    blocker = tmp_path / "f"
    blocker.write_text("x")
    for bad in (blocker, blocker / "sub"):
        with pytest.raises(OutputDirError, match=str(bad)):
            prepare_output_dir(bad)


def test_unwritable_out_dir_is_one_line(tmp_path, cli_inproc, monkeypatch, no_training):
    import tanas.runtime

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(tanas.runtime, "_check_writable", denied)
    out_dir = tmp_path / "ro"
    out = cli_inproc("distance", "digits:indicator:0", "digits:indicator:1", *TINY, "--out", str(out_dir))
    assert_one_line_error(out, str(out_dir), "ermission")


def test_permission_error_reaching_the_cli_is_one_line(cli_inproc, monkeypatch):
    import tanas.data

    def unreadable(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "/data/x.npz")

    monkeypatch.setattr(tanas.data, "parse_tasks", unreadable)
    out = cli_inproc("distance", "digits:indicator:0", "digits:indicator:1", *TINY)
    assert_one_line_error(out, "permission denied", "/data/x.npz")


def test_zoo_under_a_file_is_one_line(tmp_path, cli_inproc, no_training):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = cli_inproc("zoo", "add", "digits:indicator:0", "--zoo", str(blocker / "zoo"), *TINY)
    assert_one_line_error(out, str(blocker / "zoo"))


def test_catalogue_error_is_one_line(tmp_path, cli_inproc, monkeypatch):
    import sqlite3

    from tanas.zoo import TaskZoo

    assert cli_inproc("zoo", "list", "--zoo", str(tmp_path / "zoo")).returncode == 2  # no zoo yet
    TaskZoo(tmp_path / "zoo").close()

    def readonly(self):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(TaskZoo, "tasks", readonly)
    out = cli_inproc("zoo", "list", "--zoo", str(tmp_path / "zoo"))
    assert_one_line_error(out, "readonly database", "writable")


def test_disk_full_is_one_line_and_keeps_finished_work(tmp_path, cli_inproc, monkeypatch):
    import tanas.report._png as png

    def full(path, data, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(png, "atomic_write_bytes", full)
    out_dir = tmp_path / "o"
    out = cli_inproc("distance", "digits:indicator:0", "digits:indicator:1", *TINY, "--out", str(out_dir))
    assert_one_line_error(
        out, "disk full while writing", "distance.png", "free space and rerun", "finished work is kept"
    )
    assert json.loads((out_dir / "distance.json").read_text())["tasks"]


def test_atomic_write_maps_disk_full(tmp_path, monkeypatch):
    import tanas.runtime
    from tanas.errors import DiskFullError

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tanas.runtime.os, "fsync", full)
    with pytest.raises(DiskFullError, match=r"disk full while writing .*x\.json"):
        tanas.runtime.atomic_write_text(tmp_path / "x.json", "{}")
    monkeypatch.undo()
    assert not list(tmp_path.iterdir())  # no temp file left behind


# ----------------------------------------------------------------------------- images


def test_zero_byte_png_in_imagefolder_is_one_line(tmp_path, cli_inproc):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / "imgs" / label).mkdir(parents=True)
        for i in range(4):
            Image.new("L", (8, 8), color=40 * i).save(tmp_path / "imgs" / label / f"{i}.png")
    (tmp_path / "imgs" / "a" / "empty.png").write_bytes(b"")
    out = cli_inproc(
        "distance", f"imagefolder@{tmp_path / 'imgs'}:indicator:a", "digits:indicator:0", *TINY, "--out", str(tmp_path)
    )
    assert_one_line_error(out, "empty.png")


def test_zero_sized_image_is_refused():
    from PIL import Image

    from tanas.data.sources import _square_resize
    from tanas.errors import CorruptDataError

    with pytest.raises(CorruptDataError, match="0x0"):
        _square_resize(Image.new("L", (0, 0)), 8)


# ----------------------------------------------------------------------------- --debug


def test_debug_flag_shows_the_traceback(cli_inproc):
    out = cli_inproc("--debug", "distance", "nosuchsource:indicator:0", "digits:indicator:0")
    assert out.returncode == 2
    assert "Traceback" in out.stderr and "nosuchsource" in out.stderr


def test_debug_env_shows_the_traceback(cli_inproc, monkeypatch):
    monkeypatch.setenv("TANAS_DEBUG", "1")
    out = cli_inproc("distance", "nosuchsource:indicator:0", "digits:indicator:0")
    assert out.returncode == 2
    assert "Traceback" in out.stderr


def test_without_debug_no_traceback(cli_inproc, monkeypatch):
    monkeypatch.delenv("TANAS_DEBUG", raising=False)
    out = cli_inproc("distance", "nosuchsource:indicator:0", "digits:indicator:0")
    assert_one_line_error(out, "nosuchsource")


# ----------------------------------------------------------------------------- options checked before work


@pytest.mark.parametrize(
    "option",
    [("--method", "bogus"), ("--head", "bogus"), ("--fisher", "bogus"), ("--probe", "bogus"), ("--layers", "x")],
)
def test_distance_bad_option_fails_before_training(tmp_path, cli_inproc, no_training, option):
    out_dir = tmp_path / "o"
    out = cli_inproc("distance", "digits:indicator:0", "digits:indicator:1", *TINY, *option, "--out", str(out_dir))
    assert_one_line_error(out, option[1])


@pytest.mark.parametrize("option", [("--fisher", "bogus"), ("--probe", "bogus"), ("--epsilon", "-1")])
def test_zoo_add_bad_option_leaves_no_zoo(tmp_path, cli_inproc, no_training, option):
    zoo = tmp_path / "zoo"
    out = cli_inproc("zoo", "add", "digits:indicator:0", "--zoo", str(zoo), *TINY, *option)
    assert_one_line_error(out, option[1])
    assert not zoo.exists()


def test_report_into_an_unwritable_folder_is_one_line(tmp_path, cli_inproc, monkeypatch):
    import tanas.runtime

    def denied(path):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(tanas.runtime, "_check_writable", denied)
    out = cli_inproc("report", str(tmp_path))
    assert_one_line_error(out, str(tmp_path), "permission denied")
