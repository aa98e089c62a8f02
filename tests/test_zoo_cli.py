"""`tanas zoo` end to end in real subprocesses: JSON schemas, errors, concurrency, kill -9.

Every probe here is tiny (``--max-epochs 1`` or 2 on the 8x8 digits) so that each
subprocess spends most of its time importing torch.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tanas.probe import ProbeConfig
from tanas.zoo import TaskZoo
from tests.conftest import assert_one_line_error

TINY = ["--max-epochs", "2", "--epsilon", "0"]
TINY_CONFIG = ProbeConfig(name="cnn", max_epochs=2, epsilon=0.0)


def _env(zoo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TANAS_ZOO"] = str(zoo)
    env.pop("TANAS_DATA", None)
    env.setdefault("OMP_NUM_THREADS", "1")  # two children at once share 2 cores without oversubscribing
    return env


def _json(out: subprocess.CompletedProcess) -> dict:
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _popen(zoo: Path, *args: str, prelude: str | None = None) -> subprocess.Popen:
    """``tanas ARGS`` as a child process; ``prelude`` is Python run before the CLI (fault injection)."""
    if prelude is None:
        command = [sys.executable, "-m", "tanas", *args]
    else:
        code = prelude + "\nfrom tanas.cli import main\nmain(sys.argv[1:])\n"
        command = [sys.executable, "-c", code, *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(zoo))


def _catalogue(zoo: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(zoo / "zoo.sqlite", timeout=30) as db:
        return db.execute(sql).fetchall()


def test_cli_round_trip_and_json_schemas(cli, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    env = _env(zoo)
    added = _json(cli("zoo", "add", "digits:indicator:0", "digits:indicator:1", *TINY, "--json", env=env))
    assert [a["name"] for a in added["added"]] == ["digits:indicator:0", "digits:indicator:1"]
    assert all(a["probes_trained"] == 1 and a["fishers_computed"] == 1 for a in added["added"])

    listing = _json(cli("zoo", "list", "--json", env=env))
    assert set(listing) == {"tasks"} and len(listing["tasks"]) == 2
    for row in listing["tasks"]:
        assert set(row) == {"name", "spec", "probe", "seeds", "val_acc", "genotype"}
        assert row["probe"] == "cnn" and row["seeds"] == 1 and row["genotype"] is None
        assert 0.0 < row["val_acc"] <= 1.0

    shown = _json(cli("zoo", "show", "digits:indicator:1", "--json", env=env))
    assert shown["fingerprint"] and len(shown["probes"]) == 1 and shown["probes"][0]["fishers"].keys() == {"empirical"}
    assert shown["probes"][0]["config"]["max_epochs"] == 2

    text = cli("zoo", "list", env=env)
    assert text.returncode == 0 and "digits:indicator:0" in text.stdout and "val_acc" in text.stdout

    report = _json(cli("zoo", "check", "--json", env=env))
    assert report["clean"] is True and report["objects"] == 4 and report["orphaned"] == []

    # FTD named explicitly: the default --method is a transferability score (see test_cross_format)
    nearest = _json(cli("zoo", "nearest", "digits:indicator:0", "-k", "2", "--method", "ftd", "--json", env=env))
    assert nearest["target"] == "digits:indicator:0"
    assert [n["name"] for n in nearest["nearest"]] == ["digits:indicator:0", "digits:indicator:1"]
    for row in nearest["nearest"]:
        assert {"name", "distance", "std"} <= set(row) and row["std"] == 0.0
    assert nearest["nearest"][0]["distance"] == 0.0 and 0.0 < nearest["nearest"][1]["distance"] <= 1.0
    assert (nearest["computed"], nearest["cached"]) == (2, 0)
    repeat = _json(cli("zoo", "nearest", "digits:indicator:0", "-k", "2", "--method", "ftd", "--json", env=env))
    assert (repeat["computed"], repeat["cached"]) == (0, 2) and repeat["nearest"] == nearest["nearest"]
    # a fully cached query reads only the catalogue: torch is never imported
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom tanas.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "finally:\n    print('torch' in sys.modules, file=sys.stderr)",
            "zoo",
            "nearest",
            "digits:indicator:0",
            "-k",
            "2",
            "--method",
            "ftd",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert probe.returncode == 0 and probe.stderr.strip().splitlines()[-1] == "False", probe.stderr
    text = cli("zoo", "nearest", "digits:subset:3,5", "--method", "ftd", "--quiet", env=env)  # a target outside
    assert text.returncode == 0 and "FTD to digits:subset:3,5" in text.stdout and "2 computed" in text.stdout

    removed = _json(cli("zoo", "rm", "digits:indicator:0", "--json", "--zoo", str(zoo)))
    assert removed["removed"] == "digits:indicator:0"
    assert [t["name"] for t in _json(cli("zoo", "list", "--json", env=env))["tasks"]] == ["digits:indicator:1"]


def test_cli_errors_are_one_line(cli, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    out = cli("zoo", "list", env=_env(zoo))  # no zoo yet: list does not create one
    assert_one_line_error(out, start="error: no zoo at")
    assert not zoo.exists()
    with TaskZoo(zoo) as store:
        store.add("digits:indicator:0", probe=TINY_CONFIG, quiet=True)
    for args, message in [
        (("zoo", "show", "paper-digits/T7"), "error: no task 'paper-digits/T7' in the zoo"),
        (("zoo", "rm", "nope"), "error: no task 'nope'"),
        (("zoo", "nearest", "paper-digits"), "error:"),
    ]:
        assert_one_line_error(cli(*args, env=_env(zoo)), start=message)
    with sqlite3.connect(zoo / "zoo.sqlite") as db:
        db.execute("PRAGMA user_version = 99")
    out = cli("zoo", "list", env=_env(zoo))
    assert out.returncode == 2 and "schema version 99" in out.stderr and "upgrade tanas" in out.stderr


def test_concurrent_adds_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    """Three processes race on a zoo that does not exist yet: two add the same task, one another."""
    zoo = tmp_path / "zoo"
    procs = [
        _popen(zoo, "zoo", "add", "digits:indicator:0", *TINY, "--quiet", "--json"),
        _popen(zoo, "zoo", "add", "paper-digits/T1", *TINY, "--quiet", "--json"),
        _popen(zoo, "zoo", "add", "paper-digits/T1", *TINY, "--quiet", "--json"),
    ]
    names = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        names.append(json.loads(out)["added"][0]["name"])
    assert names == ["digits:indicator:0", "paper-digits/T1", "paper-digits/T1"]
    assert _catalogue(zoo, "SELECT COUNT(*) FROM tasks") == [(2,)]
    assert _catalogue(zoo, "SELECT COUNT(*) FROM probes") == [(2,)]
    assert _catalogue(zoo, "SELECT COUNT(*) FROM fishers") == [(2,)]
    with TaskZoo(zoo, create=False) as store:
        assert store.names() == ["digits:indicator:0", "paper-digits/T1"]
        assert all(e.seeds == [0] and e.probes[0].fishers.keys() == {"empirical"} for e in store.tasks())
        assert store.check().clean  # a losing writer's artifact may remain as a (harmless) orphan
        store.load_probe("paper-digits/T1", 0)


# Fault injection: the child kills itself with SIGKILL at a precise point of a write.
_KILL_AFTER_RENAME = """
import os, signal, sys
import tanas.zoo.objects as z
def _die(self, sha, data):  # artifact renamed into place, catalogue transaction open, nothing committed
    os.kill(os.getpid(), signal.SIGKILL)
z.ObjectStore.ensure_locked = _die
"""
_KILL_MID_WRITE = """
import os, signal, sys
import tanas.zoo.objects as z
def _die(self, sha, data):  # half of the artifact written to the temporary file
    (self.root / "tmp" / f"{os.getpid()}-0bad.part").write_bytes(data[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)
z.ObjectStore.write_file = _die
"""
_KILL_BEFORE_COMMIT = """
import os, signal, sys
import tanas.zoo.rows as z
_probe_row = z.ArtifactRows.probe
def _die(self, *args):  # the probe row is inserted but its transaction is not committed
    if self.db.in_transaction:
        os.kill(os.getpid(), signal.SIGKILL)
    return _probe_row(self, *args)
z.ArtifactRows.probe = _die
"""


@pytest.mark.parametrize(
    "prelude, leftover",
    [
        (_KILL_AFTER_RENAME, "objects/"),
        (_KILL_MID_WRITE, "tmp/"),
        (_KILL_BEFORE_COMMIT, "objects/"),
    ],
    ids=["after-rename", "mid-write", "before-commit"],
)
def test_kill_9_during_a_write_leaves_a_valid_zoo(tmp_path: Path, prelude: str, leftover: str) -> None:
    zoo = tmp_path / "zoo"
    proc = _popen(zoo, "zoo", "add", "digits:indicator:0", *TINY, "--quiet", prelude=prelude)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == -signal.SIGKILL, err
    assert _catalogue(zoo, "SELECT COUNT(*) FROM probes") == [(0,)]  # nothing half-committed

    with TaskZoo(zoo, create=False) as store:
        report = store.check()
        assert report.clean and report.missing == [] and report.corrupt == [] and report.db_errors == []
        assert len(report.orphaned) == 1 and report.orphaned[0].startswith(leftover)
        (again,) = store.add("digits:indicator:0", probe=TINY_CONFIG, quiet=True)  # the next add completes
        assert (again.probes_trained, again.fishers_computed) == (1, 1)
        assert store.check().clean
        repaired = store.check(repair=True)
        assert repaired.clean and repaired.objects == 2 and store.check().orphaned == []
        store.load_probe("digits:indicator:0", 0)


def test_kill_9_mid_training_then_resume(tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    slow = ["--max-epochs", "400", "--epsilon", "0", "--seeds", "2"]
    proc = _popen(zoo, "zoo", "add", "digits:indicator:1", *slow, "--quiet")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the task row is committed just before training starts
        if (zoo / "zoo.sqlite").exists() and proc.poll() is None:
            try:
                if _catalogue(zoo, "SELECT COUNT(*) FROM tasks") == [(1,)]:
                    break
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    time.sleep(1.0)
    assert proc.poll() is None, "the add finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    with TaskZoo(zoo, create=False) as store:
        assert store.check().clean
        # Resume (with a short config): the task row is reused and the missing probes are trained.
        (resumed,) = store.add("digits:indicator:1", probe=TINY_CONFIG, seeds=2, quiet=True)
        assert resumed.entry.seeds == [0, 1] and resumed.probes_trained == 2
        assert store.names() == ["digits:indicator:1"] and store.check().clean


def test_check_catches_a_flipped_byte_and_repair_fixes_it(tmp_path: Path, cli) -> None:
    zoo = tmp_path / "zoo"
    with TaskZoo(zoo) as store:
        store.add("digits:indicator:0", probe=TINY_CONFIG, quiet=True)
    ((fisher_object,),) = _catalogue(zoo, "SELECT object FROM fishers")
    path = zoo / "objects" / fisher_object[:2] / f"{fisher_object}.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    out = cli("zoo", "check", "--json", env=_env(zoo))
    assert out.returncode == 1  # damage: exit status 1
    report = json.loads(out.stdout)
    assert report["clean"] is False and [c["what"] for c in report["corrupt"]] == ["fisher"]
    text = cli("zoo", "check", env=_env(zoo))
    assert text.returncode == 1 and "corrupt fisher of digits:indicator:0" in text.stdout

    repaired = cli("zoo", "check", "--repair", "--json", env=_env(zoo))
    assert repaired.returncode == 0 and json.loads(repaired.stdout)["clean"] is True
    assert not path.exists()
    with TaskZoo(zoo, create=False) as store:
        (again,) = store.add("digits:indicator:0", quiet=True)
        assert (again.probes_reused, again.fishers_computed) == (1, 1)
    assert path.exists()  # recomputed: the same bytes under the same name
    assert _json(cli("zoo", "check", "--json", env=_env(zoo)))["clean"] is True


def test_nearest_by_a_score_ranks_highest_first_and_caches(cli_inproc, tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    with TaskZoo(zoo) as store:
        for spec in ("digits:indicator:0", "digits:indicator:1", "digits:subset:3,5"):
            store.add(spec, probe=TINY_CONFIG, quiet=True)
    args = ("zoo", "nearest", "digits:indicator:0", "--method", "logme", "--zoo", str(zoo), "--quiet")
    first = _json(cli_inproc(*args, "--json"))
    assert first["method"] == "logme" and first["higher_is_better"] is True
    scores = [n["score"] for n in first["nearest"]]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)
    assert all("distance" not in n for n in first["nearest"])
    assert (first["computed"], first["cached"]) == (3, 0)
    repeat = _json(cli_inproc(*args, "--json"))
    assert (repeat["computed"], repeat["cached"]) == (0, 3) and repeat["nearest"] == first["nearest"]
    text = cli_inproc(*args)
    assert text.returncode == 0 and "LogME to digits:indicator:0, score (higher is better)" in text.stdout
    assert text.stdout.splitlines()[1].split()[1] == first["nearest"][0]["name"]  # the best source is listed first
    # a cached score query, like a cached distance, never imports torch
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom tanas.cli import main\ntry:\n    main(sys.argv[1:])\n"
            "finally:\n    print('torch' in sys.modules, file=sys.stderr)",
            *args,
            "--json",
        ],
        capture_output=True,
        text=True,
        env=_env(zoo),
        timeout=120,
    )
    assert probe.returncode == 0 and probe.stderr.strip().splitlines()[-1] == "False", probe.stderr


@pytest.mark.parametrize(
    "method, fragments",
    [
        ("bogus", ["unknown zoo method 'bogus'", "ftd, leep, nce, logme, hscore"]),
        ("task2vec", ["unknown zoo method 'task2vec'", "tanas distance --method task2vec"]),
    ],
)
def test_nearest_refuses_a_method_it_cannot_rank_by(
    cli_inproc, tmp_path: Path, method: str, fragments: list[str]
) -> None:
    zoo = tmp_path / "zoo"
    with TaskZoo(zoo) as store:
        store.add("digits:indicator:0", probe=TINY_CONFIG, quiet=True)
    assert_one_line_error(
        cli_inproc("zoo", "nearest", "digits:indicator:0", "--method", method, "--zoo", str(zoo)), *fragments
    )
