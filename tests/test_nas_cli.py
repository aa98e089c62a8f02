"""`tanas search` end to end with tiny budgets."""

import json

import pytest

from tanas.nas import Genotype, SearchResult, SearchSpace
from tests.conftest import assert_one_line_error

SPACE = {"edges": [["skip_connect", "conv_1x1", "avg_pool_3x3"]] * 6}


def test_search_writes_result_and_plot(cli_inproc, tmp_path):
    space_file = tmp_path / "space.json"
    space_file.write_text(json.dumps(SPACE))
    out = tmp_path / "run"
    res = cli_inproc(
        "search",
        "paper-digits/T2",
        "--strategy",
        "random",
        "--space",
        str(space_file),
        "--budget-epochs",
        "2",
        "--final-seeds",
        "2",
        "--final-epochs",
        "1",
        "--C",
        "4",
        "--seed",
        "1",
        "--out",
        str(out),
        "--json",
        "--quiet",
        "--device",
        "cpu",
        "--threads",
        "1",
    )
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    saved = json.loads((out / "result.json").read_text())
    assert printed == saved
    for key in (
        "task",
        "strategy",
        "genotype",
        "params",
        "val_acc",
        "test_acc",
        "search_seconds",
        "device",
        "space_size",
        "history",
    ):
        assert key in saved
    assert saved["task"] == "digits:multiclass:0,1,2,3" and saved["task_name"] == "T2"
    assert saved["strategy"] == "random" and saved["device"] == "cpu" and saved["space_size"] == 3**6
    assert saved["cpu_threads"] == 1
    g = Genotype.from_json(saved["genotype"])
    assert g in SearchSpace.from_dict(SPACE) and saved["genotype_str"] == str(g)
    assert len(saved["test_acc"]["runs"]) == 2 and 0 <= saved["test_acc"]["mean"] <= 1
    assert saved["history"] and {"elapsed_seconds", "incumbent_val_acc", "incumbent"} <= set(saved["history"][0])
    assert (out / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = SearchResult.load(out)
    assert loaded.genotype == saved["genotype"] and loaded.time_to_match(0.0) == saved["history"][0]["elapsed_seconds"]


def test_search_text_output_and_skipped_final(cli_inproc, tmp_path):
    res = cli_inproc(
        "search",
        "digits:subset:0,1",
        "--strategy",
        "fuse",
        "--space",
        "full",
        "--budget-epochs",
        "2",
        "--opt",
        "candidates=2",
        "--opt",
        "train.batch_size=32",
        "--final-seeds",
        "0",
        "--C",
        "2",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert "genotype" in res.stdout and "params" in res.stdout and "test acc" not in res.stdout
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["test_acc"] is None and saved["final"] is None and saved["params"] > 0
    assert saved["config"]["fuse"]["candidates"] == 2 and saved["config"]["fuse"]["train"]["batch_size"] == 32
    assert len(saved["history"][0]["candidates"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["digits:full", "--strategy", "bogus"], "use one of fuse, random, darts"),
        (["digits:full", "--budget-epochs", "1", "--opt", "stagez=3"], "valid options are"),
        (["digits:full", "--budget-epochs", "1", "--opt", "stages"], "KEY=VALUE"),
        (["paper-digits"], "names 4 tasks"),
        (["digits:full", "--space", "/nonexistent/space.json"], "does not exist"),
        (["digits:full", "--budget-seconds", "0"], "budget seconds"),
        (["digits:full", "--budget-epochs", "1", "--initial", "conv_3x3|none"], "exactly 6"),
        (["digits:full", "--budget-epochs", "1", "--final-epochs", "0"], "final"),
        (["digits:nope"], ""),
    ],
)
def test_search_errors_are_one_line(cli_inproc, tmp_path, args, message):
    res = cli_inproc("search", *args, "--out", str(tmp_path / "x"), "--quiet")
    assert_one_line_error(res, message)
    assert not (tmp_path / "x" / "result.json").exists()
