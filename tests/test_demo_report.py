"""The demo pipeline (tanas.demo), the HTML report in a real browser, and `tanas report`.

One tiny demo (seconds-sized budgets) runs twice per module: the second run reuses
the first run's zoo. The report is loaded in headless Chromium, which must load
every image and log nothing to the console.
"""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tanas.demo import DemoConfig, format_matrix, format_table, run_demo
from tanas.distance import DistanceMatrix
from tanas.errors import ConfigError, TanasError
from tanas.nas import SearchResult, time_to_match

TINY = DemoConfig(
    budget_seconds=1.0,
    seed_budget_seconds=2.0,
    C=4,
    candidates=2,
    rounds=1,
    epochs_per_round=1,
    stages=3,
    patience=1,
    probe_seeds=1,
    probe_epsilon=0.1,
    probe_max_epochs=3,
    final_seeds=2,
    final_epochs=1,
)
STRATEGIES = ("tanas", "fuse", "random", "darts")
CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("demo")
    started = time.perf_counter()
    first = run_demo(root / "first", config=TINY, quiet=True)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = run_demo(root / "second", zoo=root / "first" / "zoo", config=TINY, quiet=True)
    second_seconds = time.perf_counter() - started
    return {"first": first, "second": second, "first_seconds": first_seconds, "second_seconds": second_seconds}


def test_demo_writes_every_result(runs: dict) -> None:
    run = runs["first"]
    out = run.out
    for name in STRATEGIES:
        result = SearchResult.load(out / name)
        assert result.strategy == name and result.task_name == "T2"
        assert result.test_acc is not None and len(result.test_acc["runs"]) == TINY.final_seeds
        assert result.budget["seconds"] == TINY.budget_seconds
    tanas = json.loads((out / "tanas" / "result.json").read_text())
    assert tanas["fallback"] is None
    assert [n["name"] for n in tanas["nearest"] if n["used"]]  # guided by the zoo ...
    assert all(n["name"] != "paper-digits/T2" for n in tanas["nearest"])  # ... never by T2 itself
    assert {n["name"] for n in tanas["nearest"]} == {"paper-digits/T0", "paper-digits/T1", "paper-digits/T3"}
    assert tanas["space_size"] < tanas["full_space_size"]
    for key in ("report.html", "summary.json", "distance.json", "distance.png"):
        assert (out / key).is_file(), key


def test_distance_json_has_the_distance_schema(runs: dict) -> None:
    data = json.loads((runs["first"].out / "distance.json").read_text())
    matrix = DistanceMatrix.from_dict(data)
    assert matrix.tasks == ["T0", "T1", "T2", "T3"]
    assert matrix.specs[2] == "digits:multiclass:0,1,2,3"
    for i in range(4):
        assert matrix.mean[i][i] == 0.0
        for j in range(4):
            assert 0.0 <= matrix.mean[i][j] <= 1.0
            assert matrix.per_seed[0][i][j] == matrix.mean[i][j]  # one seed
    for target, near in matrix.nearest.items():
        column = [matrix.mean[a][matrix.tasks.index(target)] for a in range(4) if matrix.tasks[a] != target]
        assert near["source"] != target
        assert matrix.mean[matrix.tasks.index(near["source"])][matrix.tasks.index(target)] == min(column)
    # TA-NAS saw the same distances to T2 as the matrix holds (both from the zoo's cache).
    tanas = json.loads((runs["first"].out / "tanas" / "result.json").read_text())
    for n in tanas["nearest"]:
        source = matrix.tasks.index(n["name"].split("/")[1])
        assert n["distance"] == pytest.approx(matrix.mean[source][2])
    assert "T0" in format_matrix(data) and "±" in format_matrix(data)


def test_summary_time_to_match_is_read_from_the_histories(runs: dict) -> None:
    summary = runs["first"].summary
    assert summary == json.loads((runs["first"].out / "summary.json").read_text())
    tanas = SearchResult.load(runs["first"].out / "tanas")
    fuse = SearchResult.load(runs["first"].out / "fuse")
    assert summary["target"] == "T2"
    assert summary["budget_seconds"] == TINY.budget_seconds
    complete = [h for h in fuse.history if not h["extra"].get("truncated")] or fuse.history
    assert summary["fuse_final_val_acc"] == complete[-1]["incumbent_val_acc"]
    assert summary["fuse_final_stage"] == complete[-1]["stage"]
    assert summary["tanas_test_acc"] == tanas.test_acc and summary["fuse_test_acc"] == fuse.test_acc
    # Independent reading of the histories.
    target = summary["fuse_final_val_acc"]
    reached = next((h["elapsed_seconds"] for h in tanas.history if h["incumbent_val_acc"] >= target), None)
    if reached is None:
        assert summary["time_to_match_fraction"] is None and summary["time_to_match"] == "not reached"
        assert any("not reached" in line for line in summary["lines"])
    else:
        assert summary["time_to_match_fraction"] == pytest.approx(reached / fuse.search_seconds)
        assert time_to_match(tanas.history, target) == reached
    # TA-NAS's history is on its full clock: its first stage ends after the preparation.
    prep = json.loads((runs["first"].out / "tanas" / "result.json").read_text())["overhead"]["prep_seconds"]
    assert tanas.history[0]["elapsed_seconds"] >= prep > 0
    assert isinstance(summary["lines"], list) and len(summary["lines"]) >= 4
    table = format_table(summary)
    assert all(name in table for name in STRATEGIES)


def test_second_run_reuses_the_zoo_and_is_faster(runs: dict) -> None:
    first, second = runs["first"].summary["work"], runs["second"].summary["work"]
    assert first["probes_trained"] == 4 * TINY.probe_seeds  # T0, T1, T3 and the target T2
    assert first["zoo_searches"] == 3
    assert first["target_distances_computed"] == 3
    assert second["probes_trained"] == 0 and second["fishers_computed"] == 0
    assert second["zoo_searches"] == 0
    assert second["target_distances_computed"] == 0
    assert "reused" in runs["second"].summary["lines"][0]
    assert any("cache" in line for line in runs["second"].summary["lines"])
    # The zoo the second run used is the first run's, and it still excludes T2 as a neighbour.
    tanas2 = json.loads((runs["second"].out / "tanas" / "result.json").read_text())
    assert all(n["name"] != "paper-digits/T2" for n in tanas2["nearest"])
    assert runs["second_seconds"] < runs["first_seconds"]


def _browser_check(page: Path, profile: Path) -> tuple[dict, list[str]]:
    """Load ``page`` in headless Chromium; return (image/error report written by the page, console lines)."""
    probe = page.with_name("_browser_check.html")
    script = """<script>
    var errs = [];
    ['error', 'warn'].forEach(function (level) {
      var original = console[level];
      console[level] = function () {
        errs.push(level + ': ' + Array.prototype.join.call(arguments, ' '));
        original.apply(console, arguments);
      };
    });
    window.addEventListener('error', function (e) {
      errs.push(e.message || ('failed to load ' + ((e.target && (e.target.src || e.target.href)) || '?')));
    }, true);
    window.addEventListener('load', function () {
      var images = Array.prototype.map.call(document.images, function (img) {
        return {src: img.getAttribute('src'), width: img.naturalWidth, complete: img.complete};
      });
      var out = document.createElement('pre');
      out.id = 'tanas-browser-check';
      out.textContent = JSON.stringify({images: images, errors: errs});
      document.body.appendChild(out);
    });
    </script>"""
    probe.write_text(page.read_text(encoding="utf-8").replace("<head>", "<head>" + script, 1), encoding="utf-8")
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    probe.unlink()
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="tanas-browser-check">(.*?)</pre>', proc.stdout, re.S)
    assert found, "the page did not finish loading: " + proc.stdout[-500:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    return json.loads(html.unescape(found.group(1))), console


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_loads_in_a_browser_with_every_image(runs: dict, tmp_path: Path) -> None:
    report = runs["first"].report
    page = report.read_text(encoding="utf-8")
    for image in ("distance.png", "task_map.png", "search_curves.png", *(f"cell_{s}.png" for s in STRATEGIES)):
        assert f"src='{image}'" in page, image
    assert "test acc" in page and "params" in page and "search s" in page
    result, console = _browser_check(report, tmp_path / "profile")
    assert result["errors"] == [] and console == []
    assert len(result["images"]) == 7
    assert all(img["complete"] and img["width"] > 0 for img in result["images"]), result["images"]
    # The check can fail: a copy of the run with a figure missing is caught.
    broken = tmp_path / "broken"
    shutil.copytree(report.parent, broken, ignore=shutil.ignore_patterns("zoo"))
    (broken / "task_map.png").unlink()
    result, console = _browser_check(broken / "report.html", tmp_path / "profile2")
    missing = [img for img in result["images"] if img["width"] == 0]
    assert [img["src"] for img in missing] == ["task_map.png"]
    assert result["errors"]


def test_report_command_rebuilds_the_html(runs: dict, tmp_path: Path, cli_inproc) -> None:
    run_dir = tmp_path / "copy"
    shutil.copytree(runs["first"].out, run_dir, ignore=shutil.ignore_patterns("zoo"))
    for path in [run_dir / "report.html", *run_dir.glob("*.png")]:
        path.unlink()
    res = cli_inproc("report", str(run_dir))
    assert res.returncode == 0, res.stderr
    assert "report.html" in res.stdout
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Summary" in page and all(html.escape(line) in page for line in runs["first"].summary["lines"])
    for image in ("distance.png", "task_map.png", "search_curves.png", "cell_tanas.png", "cell_darts.png"):
        assert (run_dir / image).stat().st_size > 0
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli_inproc("report", str(empty))
    assert res.returncode == 2 and res.stderr.startswith("error:") and "nothing to report" in res.stderr
    res = cli_inproc("report", str(tmp_path / "missing"))
    assert res.returncode == 2 and "does not exist" in res.stderr


def test_report_modules_leave_the_matplotlib_backend_alone() -> None:
    """Importing the report (e.g. in a notebook) neither switches the backend nor loads pyplot."""
    code = (
        "import sys, matplotlib; matplotlib.use('svg'); import tanas.report.html, tanas.report.heatmap, "
        "tanas.report.search_plot; print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["svg", "False"]


def test_demo_argument_errors(tmp_path: Path, cli_inproc) -> None:
    with pytest.raises(ConfigError, match="budget_seconds"):
        DemoConfig(budget_seconds=0)
    with pytest.raises(ConfigError, match="budget_seconds"):
        DemoConfig(budget_seconds=math.inf)
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    res = cli_inproc("demo", "--out", str(not_a_folder), "--quick", "--quiet")
    assert res.returncode == 2 and "is a file" in res.stderr
    res = cli_inproc("demo", "--out", str(tmp_path / "o"), "--budget-seconds", "-1", "--quiet")
    assert res.returncode == 2 and "budget_seconds" in res.stderr
    assert issubclass(ConfigError, TanasError)
