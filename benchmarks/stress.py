"""Crash-safety stress test of the zoo: ``tanas zoo add`` killed with SIGKILL at random times.

One ``zoo add`` command (two digits tasks, a tiny probe, one seed, one thread, and a
one-second FUSE search per task) is first run uninterrupted into a reference zoo; its
wall time ``D`` is measured. Then the same command is started again and again on a
second zoo and killed with SIGKILL at times drawn uniformly from (0, D) by a seeded
numpy RNG, so the kills land all over the run: while importing, creating the
catalogue, training probes, writing artifacts, committing, searching. After every
kill ``zoo check`` must report no damage (orphaned files are allowed: they are the
normal leftovers of an interrupted write). A resumed run needs less time than ``D``; when
one finishes before its kill time, its zoo is compared with the reference and removed,
so that the next kills land in real work again. Finally the command runs to completion and
the zoo must equal the reference: the same task names, the same probe and Fisher
object hashes (one thread makes them bit-identical), one genotype per task.

Run ``python benchmarks/stress.py`` (100 kills), ``--quick`` (10) or ``--kills N``.
Results go to ``benchmarks/results/stress.json`` (``--out``). The test suite runs
10 kills through :func:`run` (tests/test_zoo_faults.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "stress.json"
TASKS = ("digits:indicator:0", "digits:indicator:1")
ADD_OPTIONS = (
    "--search",
    "fuse",
    "--budget-seconds",
    "1",
    "--max-epochs",
    "1",
    "--epsilon",
    "0",
    "--seeds",
    "1",
    "--threads",
    "1",
    "--quiet",
)


def add_command(zoo: Path) -> list[str]:
    """The ``tanas zoo add`` command line every run (and kill) uses."""
    return [sys.executable, "-m", "tanas", "zoo", "add", *TASKS, *ADD_OPTIONS, "--zoo", str(zoo)]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("TANAS_DATA", None)
    env["OMP_NUM_THREADS"] = "1"
    return env


def run_add(zoo: Path, *, kill_after: float | None = None, timeout: float = 600.0) -> tuple[float, bool]:
    """Run the add command on ``zoo``; SIGKILL it ``kill_after`` seconds after its start if still running.

    Returns (seconds it ran, whether it was killed). A run that ends by itself must succeed.
    """
    start = time.monotonic()
    proc = subprocess.Popen(add_command(zoo), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_env())
    killed = False
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            killed = True
    _, err = proc.communicate(timeout=timeout)
    seconds = time.monotonic() - start
    if killed and proc.returncode != -signal.SIGKILL:  # it ended by itself just before the kill
        killed = False
    if not killed and proc.returncode != 0:
        raise RuntimeError(f"zoo add failed (exit {proc.returncode}): {err.strip()}")
    return seconds, killed


def check_zoo(zoo: Path) -> int:
    """``zoo check`` on ``zoo``: raises if it finds damage; returns the number of orphaned files.

    A run killed before it created the catalogue leaves no zoo (or an empty one): nothing to check.
    """
    from tanas.zoo import CATALOGUE, TaskZoo

    if not (zoo / CATALOGUE).exists():
        return 0
    with TaskZoo(zoo, create=False) as store:
        report = store.check()
    if not report.clean:
        raise AssertionError(f"zoo check found damage after a kill: {json.dumps(report.to_dict())}")
    return len(report.orphaned)


def snapshot(zoo: Path) -> dict[str, Any]:
    """What must not depend on interruptions: task names, probe and Fisher hashes, genotype counts."""
    from tanas.zoo import TaskZoo

    with TaskZoo(zoo, create=False) as store:
        return {
            "names": store.names(),
            "artifacts": sorted(
                (entry.name, probe.seed, probe.object, kind, sha)
                for entry in store.tasks()
                for probe in entry.probes
                for kind, sha in sorted(probe.fishers.items())
            ),
            "genotypes": {entry.name: entry.num_genotypes for entry in store.tasks()},
        }


def run(kills: int, *, seed: int = 0, workdir: Path, log: bool = False) -> dict[str, Any]:
    """Reference run, ``kills`` kill cycles and a final run in ``workdir``; the figures as a dict."""
    wall = time.monotonic()
    reference = workdir / "reference"
    duration, _ = run_add(reference)
    expected = snapshot(reference)
    zoo = workdir / "killed"
    times = np.random.default_rng(seed).uniform(0.0, duration, size=kills)
    killed = completed = orphans = 0
    for i, at in enumerate(times):
        _, was_killed = run_add(zoo, kill_after=float(at))
        killed += was_killed
        orphans = check_zoo(zoo)
        if not was_killed:
            # The resumed run finished before its kill time: check it and start over on an empty
            # zoo, so that the next kills land in real work again rather than in a no-op rerun.
            if snapshot(zoo) != expected:
                raise AssertionError(f"the zoo completed after kill {i} differs from the uninterrupted one")
            completed += 1
            shutil.rmtree(zoo)
        if log:
            print(f"kill {i + 1}/{kills} at {at:.2f} s: {'killed' if was_killed else 'finished'}, {orphans} orphan(s)")
    run_add(zoo)
    final = snapshot(zoo)
    from tanas.zoo import TaskZoo

    with TaskZoo(zoo, create=False) as store:
        repaired = store.check(repair=True)
        after_repair = store.check()
    return {
        "kills": kills,
        "killed": killed,
        "completed_between_kills": completed,
        "seed": seed,
        "command": " ".join(["tanas", "zoo", "add", *TASKS, *ADD_OPTIONS]),
        "uninterrupted_seconds": round(duration, 2),
        "kill_times": [round(float(t), 3) for t in times],
        "orphans_before_repair": len(repaired.orphaned),
        "clean_after_repair": repaired.clean and after_repair.clean and after_repair.orphaned == [],
        "final_hashes_equal": final == expected,
        "final": final,
        "expected": expected,
        "wall_seconds": round(time.monotonic() - wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="SIGKILLs (default 100)")
    parser.add_argument("--quick", action="store_true", help="10 kills")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"result JSON (default {RESULTS})")
    args = parser.parse_args(argv)
    kills = 10 if args.quick else args.kills
    if kills < 1:
        parser.error("--kills must be at least 1")
    with tempfile.TemporaryDirectory(prefix="tanas-stress-") as tmp:
        result = run(kills, seed=args.seed, workdir=Path(tmp), log=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{result['kills']} kills ({result['killed']} landed before the run ended) in {result['wall_seconds']} s; "
        f"final hashes equal: {result['final_hashes_equal']}; clean after repair: {result['clean_after_repair']}"
    )
    return 0 if result["final_hashes_equal"] and result["clean_after_repair"] else 1


if __name__ == "__main__":
    sys.exit(main())
