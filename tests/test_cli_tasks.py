"""`tanas tasks` end to end.

In real subprocesses where the process boundary matters, else in-process through the same entry point.
"""

import json
import os

import numpy as np
import pytest

from tests.conftest import assert_one_line_error
from tests.test_data import make_mnist_folder


def test_tasks_list(cli_inproc):
    out = cli_inproc("tasks", "list")
    assert out.returncode == 0
    for name in ("paper-digits", "paper-fashion-mnist", "paper-cifar100", "npz", "imagefolder"):
        assert name in out.stdout


def test_paper_fashion_mnist_json(cli):
    out = cli("tasks", "show", "paper-fashion-mnist", "--json")
    assert out.returncode == 0, out.stderr
    tasks = json.loads(out.stdout)["tasks"]
    assert [t["name"] for t in tasks] == ["T0", "T1", "T2", "T3"]
    assert [t["num_classes"] for t in tasks] == [2, 2, 5, 10]
    for task in tasks:
        assert task["input_shape"] == [1, 28, 28]
        assert set(task["splits"]) == {"train", "val", "test"}
    for binary in tasks[:2]:  # balanced binary tasks
        for split in binary["splits"].values():
            a, b = split["class_counts"]
            assert abs(a - b) <= 1 and split["size"] == a + b


def test_seed_changes_splits_in_cli(cli_inproc):
    def show(seed):
        out = cli_inproc("tasks", "show", "digits:multiclass:0,1,2,3", "--seed", str(seed), "--json")
        assert out.returncode == 0
        return json.loads(out.stdout)

    assert show(0) == show(0)
    assert show(0) != show(3)


def test_digits_needs_no_dataset(cli, tmp_path):
    env = dict(os.environ, TANAS_DATA=str(tmp_path / "empty"))
    out = cli("tasks", "show", "digits:full", env=env)
    assert out.returncode == 0 and "digits:full" in out.stdout


@pytest.mark.parametrize(
    "spec, fragments",
    [
        ("imagenet:full", ["unknown source 'imagenet'"]),
        ("digits:subset:3,banana", ["no class 'banana'"]),
        ("digits:indicator:0,1,2,3,4,5,6,7,8,9", ["no negative class"]),
        ("digits:multiclass", ["needs at least one class"]),
        ("digits:subset:4,4", ["listed twice"]),
    ],
)
def test_cli_spec_errors(cli_inproc, spec, fragments):
    assert_one_line_error(cli_inproc("tasks", "show", spec), *fragments)


def test_cli_missing_dataset(cli_inproc, tmp_path):
    out = cli_inproc("tasks", "show", "mnist:full", "--data-root", str(tmp_path))
    assert_one_line_error(out, "not found", "--data-root", "--download")


def test_cli_corrupt_idx(cli_inproc, tmp_path):
    folder = make_mnist_folder(tmp_path, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])
    assert_one_line_error(cli_inproc("tasks", "show", "mnist:full", "--data-root", str(tmp_path)), "truncated")


def test_cli_corrupt_npz(cli_inproc, tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    assert_one_line_error(cli_inproc("tasks", "show", f"npz@{tmp_path / 'junk.npz'}:full"), "npz")


def test_cli_bad_array_dtype(cli_inproc, tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((10, 4, 4), np.int16), y=np.zeros(10, np.int64))
    assert_one_line_error(cli_inproc("tasks", "show", f"npz@{tmp_path / 'd.npz'}:full"), "dtype int16")


def test_cli_toml_unknown_key(cli, tmp_path):
    (tmp_path / "t.toml").write_text('[[task]]\nspec = "digits:full"\nlabels = 3\n')
    assert_one_line_error(cli("tasks", "show", str(tmp_path / "t.toml")), "unknown key", "labels")


@pytest.mark.parametrize(
    "args,message",
    [
        (["nosuch"], "error: No such command 'nosuch'. (see 'tanas --help')"),
        (["distance"], "error: Missing argument 'TASK'. (see 'tanas distance --help')"),
        (["distance", "a", "b", "--threads", "0"], "Invalid value for '--threads'"),
        (["tasks", "show", "digits:full", "--bogus"], "No such option: --bogus"),
        (["zoo", "add", "digits:full", "--seeds", "0"], "Invalid value for '--seeds'"),
    ],
)
def test_bad_command_lines_are_one_line_with_exit_2(cli_inproc, args, message):
    result = cli_inproc(*args)
    assert_one_line_error(result, message)
    assert "╭" not in result.stderr and result.stdout == ""


def test_bad_environment_value_in_the_console_script(cli, tmp_path):
    env = {**os.environ, "TANAS_THREADS": "many"}
    result = cli("distance", "digits:full", "digits:subset:3,5", "--out", str(tmp_path), env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Invalid value for '--threads' (env var: 'TANAS_THREADS'): Input should be a valid integer, "
        "unable to parse string as an integer (see 'tanas distance --help')"
    ]
    assert not (tmp_path / "distance.json").exists()


def test_help_still_works(cli_inproc):
    result = cli_inproc("--help")
    assert result.returncode == 0 and "distance" in result.stdout and "search" in result.stdout
    bare = cli_inproc("zoo")  # no subcommand: the group's help, as before (status 2)
    assert bare.returncode == 2 and "nearest" in bare.stdout + bare.stderr
