"""`tanas distance`: JSON schema, files written, text table, one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.conftest import assert_one_line_error

# Short probe training keeps the suite fast; the defaults are timed separately.
FAST = ["--max-epochs", "3", "--max-steps", "30", "--quiet"]


def test_json_output_schema_and_files(cli_inproc, tmp_path):
    out = tmp_path / "run"
    result = cli_inproc(
        "distance", "paper-digits", "--seeds", "2", "--json", "--out", str(out), "--threads", "2", *FAST
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # stdout holds nothing but the JSON
    assert payload["tasks"] == ["T0", "T1", "T2", "T3"]
    for key in ("mean", "std"):
        assert len(payload[key]) == 4 and all(len(row) == 4 for row in payload[key])
    assert len(payload["per_seed"]) == 2
    assert all(payload["mean"][i][i] == 0 for i in range(4))
    assert all(0 < payload["mean"][i][j] <= 1 for i in range(4) for j in range(4) if i != j)
    assert set(payload["nearest"]) == {"T0", "T1", "T2", "T3"}
    for target, info in payload["nearest"].items():
        assert info["source"] in payload["tasks"] and info["source"] != target
        assert 0 <= info["agreement"] <= 1
    cfg = payload["config"]
    assert cfg["seeds"] == 2 and cfg["head"] == "refit" and cfg["fisher_kind"] == "empirical"
    assert cfg["probe"]["name"] == "cnn" and cfg["probe"]["max_epochs"] == 3
    assert cfg["cpu_threads"] == 2  # --threads took effect, and the record says so
    assert json.loads((out / "distance.json").read_text()) == payload
    png = (out / "distance.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def test_text_output_and_options(cli_inproc, tmp_path):
    out = tmp_path / "txt"
    result = cli_inproc(
        "distance",
        "digits:indicator:0",
        "digits:multiclass:0,1,2,3",
        "--seeds",
        "1",
        "--head",
        "pad",
        "--squared",
        "--layers",
        "body",
        "--out",
        str(out),
        *FAST,
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "squared FTD" in text and "head pad" in text and "layers body" in text
    assert "distance (lower is nearer)" in text
    assert "n/a" in text  # the 2-class head cannot read the 5-class target
    assert "nearest source per target" in text
    assert "digits:indicator:0 <- digits:multiclass:0,1,2,3" in text
    payload = json.loads((out / "distance.json").read_text())
    assert payload["config"]["squared"] is True and payload["mean"][0][1] is None
    assert (out / "distance.png").is_file()
    # the report of a matrix with undefined pairs shows them as n/a
    report = cli_inproc("report", str(out))
    assert report.returncode == 0, report.stderr
    page = (out / "report.html").read_text()
    assert "<td>n/a</td>" in page and "±" not in page  # one seed: no spread to show


def test_task2vec_method(cli_inproc, tmp_path, monkeypatch):
    monkeypatch.setenv("TANAS_THREADS", "1")
    result = cli_inproc(
        "distance",
        "paper-digits/T0",
        "paper-digits/T2",
        "--seeds",
        "1",
        "--method",
        "task2vec",
        "--json",
        "--out",
        str(tmp_path),
        *FAST,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["config"]["method"] == "task2vec" and payload["config"]["reference_task"] == "T2"
    assert payload["config"]["cpu_threads"] == 1  # from TANAS_THREADS
    assert payload["mean"][0][1] == payload["mean"][1][0] > 0


def test_score_method_json_says_higher_is_better_and_nearest_is_the_argmax(cli_inproc, tmp_path):
    result = cli_inproc(
        "distance",
        "paper-digits/T0",
        "paper-digits/T1",
        "paper-digits/T2",
        "--seeds",
        "2",
        "--method",
        "leep",
        "--json",
        "--out",
        str(tmp_path),
        "--threads",
        "1",
        *FAST,
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["method"] == "leep" and payload["higher_is_better"] is True
    assert payload["config"]["method"] == "leep" and payload["config"]["higher_is_better"] is True
    names, mean = payload["tasks"], payload["mean"]
    for b, target in enumerate(names):
        best = max((a for a in range(len(names)) if a != b), key=lambda a: mean[a][b])
        assert payload["nearest"][target]["source"] == names[best]
    text = cli_inproc(
        "distance",
        "paper-digits/T0",
        "paper-digits/T1",
        "--seeds",
        "1",
        "--method",
        "leep",
        "--out",
        str(tmp_path / "txt"),
        "--threads",
        "1",
        *FAST,
    )
    assert text.returncode == 0, text.stderr
    assert "LEEP, score (higher is better)" in text.stdout and "highest score" in text.stdout


def test_seed_fixes_the_data_and_seeds_are_probe_seeds_from_0(cli_inproc, tmp_path):
    """--seeds N trains probe seeds 0..N-1 whatever --seed is (as in `zoo add`); --seed changes only the data."""

    def run(seed):
        result = cli_inproc(
            "distance",
            "digits:indicator:0",
            "digits:indicator:1",
            "--seeds",
            "2",
            "--seed",
            str(seed),
            "--json",
            "--out",
            str(tmp_path / str(seed)),
            "--threads",
            "1",
            *FAST,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    payload = run(5)
    assert payload["config"]["probe_seeds"] == [0, 1]
    assert sorted({record["seed"] for record in payload["probes"]}) == [0, 1]
    assert payload["method"] == "ftd" and payload["higher_is_better"] is False
    assert run(0)["per_seed"] != payload["per_seed"]  # other splits, other numbers


@pytest.mark.parametrize(
    "args,match",
    [
        (["paper-digits", "--head", "bogus"], "unknown head"),
        (["paper-digits", "--method", "bogus"], "unknown method 'bogus'"),
        (["paper-digits", "--probe", "lenet"], "unknown probe"),
        (["paper-digits", "--seeds", "0"], "seeds"),
        (["paper-digits", "--fisher", "fancy"], "unknown Fisher kind"),
        (["paper-digits", "--epsilon", "2"], "epsilon"),
        (["nosuch:full", "digits:full"], "unknown source"),
        (["digits:full"], "at least two tasks"),
    ],
)
def test_errors_are_one_line_with_exit_2(cli_inproc, tmp_path, args, match):
    result = cli_inproc("distance", *args, "--out", str(tmp_path / "x"), "--quiet")
    assert_one_line_error(result, match)
    assert not (tmp_path / "x" / "distance.json").exists()


def test_console_script_error_path(cli, tmp_path):
    result = cli("distance", "digits:full", "digits:subset:3,5", "--normalise", "sideways", "--out", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown normalisation 'sideways': choose one of whole, per_layer"
    ]
    assert "Traceback" not in result.stderr
