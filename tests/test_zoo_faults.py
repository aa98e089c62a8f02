"""The zoo under faults and load: SIGKILL at random times, eight concurrent writers, gc beside a writer.

The full 100-kill run is ``make stress`` (benchmarks/stress.py); here it runs 10 kills.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from tanas.data import parse_task
from tanas.probe import ProbeConfig
from tanas.zoo import GcReport, TaskZoo

TINY = ["--max-epochs", "1", "--epsilon", "0", "--threads", "1", "--quiet"]
TINY_CONFIG = ProbeConfig(name="cnn", max_epochs=1, epsilon=0.0)
STRESS = Path(__file__).resolve().parent.parent / "benchmarks" / "stress.py"


def _env(zoo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["TANAS_ZOO"] = str(zoo)
    env.pop("TANAS_DATA", None)
    env["OMP_NUM_THREADS"] = "1"
    return env


def _popen(zoo: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tanas", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(zoo),
    )


def _rows(zoo: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(zoo / "zoo.sqlite", timeout=30) as db:
        return db.execute(sql).fetchall()


def _files(zoo: Path) -> set[str]:
    """The object hashes on disk."""
    return {p.name.removesuffix(".safetensors") for p in (zoo / "objects").rglob("*.safetensors")}


def _referenced(zoo: Path) -> set[str]:
    return {r[0] for r in _rows(zoo, "SELECT object FROM probes UNION SELECT object FROM fishers")}


def test_random_sigkills_then_resume_give_the_uninterrupted_zoo(tmp_path: Path) -> None:
    """10 SIGKILLs at seeded random times over a whole `zoo add --search fuse`; each leaves no damage."""
    spec = importlib.util.spec_from_file_location("bench_stress", STRESS)
    assert spec is not None and spec.loader is not None
    stress = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stress)
    result = stress.run(10, seed=0, workdir=tmp_path)  # raises on damage after any kill
    assert result["killed"] >= 5, result  # most kills land inside a run
    assert result["final_hashes_equal"], (result["final"], result["expected"])
    assert result["final"]["names"] == list(stress.TASKS)
    assert len(result["final"]["artifacts"]) == 2 and result["final"]["genotypes"] == dict.fromkeys(stress.TASKS, 1)
    assert result["clean_after_repair"]


def test_eight_writers_lose_nothing_and_duplicate_nothing(tmp_path: Path) -> None:
    """Eight processes add overlapping task lists (and seed counts) to one new zoo at once."""
    zoo = tmp_path / "zoo"
    tasks = [f"digits:indicator:{i}" for i in range(4)]
    procs = []
    for i in range(8):
        mine = [tasks[i % 4], tasks[(i + 1) % 4]]
        procs.append(_popen(zoo, "zoo", "add", *mine, *TINY, "--seeds", str(1 + i % 2), "--json"))
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "locked" not in err and "busy" not in err.lower(), err
        assert len(json.loads(out)["added"]) == 2
    assert sorted(r[0] for r in _rows(zoo, "SELECT name FROM tasks")) == tasks
    per_seed = _rows(zoo, "SELECT task_id, seed, COUNT(*) FROM probes GROUP BY task_id, seed")
    assert len(per_seed) == 8 and all(n == 1 for _, _, n in per_seed)
    fishers = _rows(
        zoo, "SELECT p.task_id, p.seed, COUNT(*) FROM fishers f JOIN probes p ON p.id = f.probe_id GROUP BY p.id"
    )
    assert len(fishers) == 8 and all(n == 1 for _, _, n in fishers)
    with TaskZoo(zoo, create=False) as store:
        report = store.check()
        assert report.clean and report.objects == 16
        # Equal bytes share one file: a losing writer's artifact is either the winner's file or an orphan.
        assert _referenced(zoo) <= _files(zoo)
        orphans = _files(zoo) - _referenced(zoo)
        assert len([o for o in report.orphaned if o.startswith("objects/")]) == len(orphans)
        assert store.check(repair=True).clean
        assert _files(zoo) == _referenced(zoo) and store.check().orphaned == []
        for entry in store.tasks():
            assert entry.seeds == [0, 1] and all(p.fishers.keys() == {"empirical"} for p in entry.probes)
            store.load_fisher(entry.name, 1)


def test_a_busy_begin_is_retried_until_the_timeout(tmp_path: Path) -> None:
    """Without SQLite's own busy wait, write() still waits for another writer, then fails in one line."""
    from tanas.errors import ZooBusyError
    from tanas.zoo.catalogue import Catalogue

    TaskZoo(tmp_path).close()
    catalogue = Catalogue(tmp_path, timeout=1.0)
    catalogue.db.execute("PRAGMA busy_timeout = 0")  # every BEGIN IMMEDIATE fails at once while locked
    other = sqlite3.connect(tmp_path / "zoo.sqlite", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    releaser.start()
    start = time.monotonic()
    with catalogue.write():
        catalogue.db.execute("INSERT INTO meta VALUES ('probe', 'x')")
    assert 0.25 < time.monotonic() - start < 1.0
    releaser.join()
    other.execute("BEGIN IMMEDIATE")
    start = time.monotonic()
    try:
        with catalogue.write():
            raise AssertionError("the lock is held elsewhere")
    except ZooBusyError as exc:
        assert "stayed locked by another process for 1 s" in str(exc) and "\n" not in str(exc)
    assert 0.9 < time.monotonic() - start < 2.0
    other.execute("ROLLBACK")
    other.close()
    catalogue.close()


def _zoo_with_outside_caches(zoo: Path) -> TaskZoo:
    store = TaskZoo(zoo)
    for spec in ("digits:indicator:0", "digits:indicator:1"):
        store.add(spec, probe=TINY_CONFIG, quiet=True)
    store.nearest("digits:indicator:0", method="ftd", quiet=True)  # a listed target: its cache stays
    (outside,) = parse_task("digits:subset:3,5")
    store.nearest(outside, method="ftd", quiet=True)  # an outside target: an unlisted row
    store.nearest(outside, method="logme", quiet=True)
    return store


def test_gc_frees_outside_targets_and_unreferenced_files(tmp_path: Path, cli) -> None:
    zoo = tmp_path / "zoo"
    with _zoo_with_outside_caches(zoo) as store:
        assert _rows(zoo, "SELECT COUNT(*) FROM tasks WHERE name IS NULL") == [(1,)]
        outside = _files(zoo) - {o for e in store.tasks() for p in e.probes for o in (p.object, *p.fishers.values())}
        assert len(outside) == 2  # the outside target's probe and Fisher
        old = zoo / "objects" / "ab" / ("ab" * 32 + ".safetensors")
        old.parent.mkdir(exist_ok=True)
        old.write_bytes(b"an orphan")
        os.utime(old, (time.time() - 60, time.time() - 60))
        young = zoo / "objects" / "cd" / ("cd" * 32 + ".safetensors")
        young.parent.mkdir(exist_ok=True)
        young.write_bytes(b"written by a writer that has not committed yet")
        os.utime(young, (time.time() + 60, time.time() + 60))  # "after gc started"
        sizes = sum((zoo / "objects" / sha[:2] / f"{sha}.safetensors").stat().st_size for sha in outside)
        before = store.tasks()

        report = store.gc()
        assert isinstance(report, GcReport)
        assert (report.tasks, report.probes, report.fishers) == (1, 1, 1)
        assert (report.distances, report.scores) == (2, 2)  # two sources each, for the outside target
        assert report.rows == 7 and report.files == 3 and report.bytes == sizes + len(b"an orphan")
        assert not old.exists() and young.exists()
        assert _rows(zoo, "SELECT COUNT(*) FROM tasks WHERE name IS NULL") == [(0,)]
        assert _rows(zoo, "SELECT COUNT(*) FROM distances") == [(2,)]  # the listed target's
        assert _rows(zoo, "SELECT COUNT(*) FROM scores") == [(0,)]
        assert store.tasks() == before and store.check().clean
        cached = store.nearest("digits:indicator:0", method="ftd", quiet=True)
        assert (cached.computed, cached.cached) == (0, 2)
        young.unlink()

    out = cli("zoo", "gc", "--json", env=_env(zoo))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == dict.fromkeys(
        ("rows", "tasks", "probes", "fishers", "distances", "scores", "files", "bytes"), 0
    )
    text = cli("zoo", "gc", env=_env(zoo))
    assert text.returncode == 0 and text.stdout.startswith("freed 0 row(s)")


def test_gc_beside_a_running_add(tmp_path: Path) -> None:
    """gc runs again and again while another process adds a task: the add completes, the zoo stays clean."""
    zoo = tmp_path / "zoo"
    with _zoo_with_outside_caches(zoo) as store:
        proc = _popen(zoo, "zoo", "add", "digits:indicator:2", "digits:subset:1,7", *TINY, "--seeds", "3")
        runs = 0
        freed = 0
        while proc.poll() is None:
            freed += store.gc().rows
            runs += 1
            time.sleep(0.05)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert runs >= 3 and freed == 7
        report = store.check()
        assert report.clean, report.to_dict()
        for name in ("digits:indicator:2", "digits:subset:1,7"):
            entry = store.get(name)
            assert entry.seeds == [0, 1, 2] and all(p.fishers.keys() == {"empirical"} for p in entry.probes)
            for seed in entry.seeds:
                store.load_probe(name, seed)
                store.load_fisher(name, seed)
        assert store.gc().rows == 0 and store.check().clean
