"""TA-NAS (tanas.nas.task_aware) and its CLI blocks: zoo-guided search, fallback, exclusion, zoo seeding.

Budgets are tiny (a FUSE stage of 1-2 epochs at C=4, one final epoch) so the file
runs in well under a minute on two cores; the numbers found are not the point,
the bookkeeping is.
"""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import pytest

from tanas.errors import TanasError
from tanas.nas import Budget, FuseConfig, SearchResult, SearchSpace, StrategyConfigError
from tanas.nas.task_aware import TanasConfig, TanasResult, run_tanas
from tanas.nas.zoo_seeding import ensure_genotype
from tanas.probe import ProbeConfig
from tanas.zoo import TaskZoo, UnknownZooTaskError

TINY_PROBE = ProbeConfig(name="cnn", max_epochs=2, epsilon=0.0)
TINY_FUSE = FuseConfig(C=4, N=1, candidates=2, rounds=1, epochs_per_round=1, stages=2, patience=1)
G0 = ["conv_3x3", "skip_connect", "conv_1x1", "none", "avg_pool_3x3", "conv_3x3"]
G2 = ["sep_conv_3x3", "skip_connect", "conv_1x1", "none", "max_pool_3x3", "conv_1x1"]
FAST = dict(final_seeds=1, final_epochs=1, quiet=True)


def ball_size(radius: int, edges: int = 6, ops: int = 11) -> int:
    """Genotypes within ``radius`` edge changes of one genotype (independent of SearchSpace)."""
    return sum(math.comb(edges, i) * (ops - 1) ** i for i in range(radius + 1))


@pytest.fixture(scope="module")
def base_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """paper-digits/T0 with genotype G0 and paper-digits/T2 with genotype G2 (one tiny probe each)."""
    path = tmp_path_factory.mktemp("tanas") / "zoo"
    with TaskZoo(path) as zoo:
        zoo.add("paper-digits/T0", probe=TINY_PROBE, seeds=1, quiet=True)
        zoo.add("paper-digits/T2", probe=TINY_PROBE, seeds=1, quiet=True)
        zoo.put_genotype("paper-digits/T0", G0, 1.0, {"strategy": "test"})
        zoo.put_genotype("paper-digits/T2", G2, 1.0, {"strategy": "test"})
    return path


@pytest.fixture
def zoo_dir(base_zoo: Path, tmp_path: Path) -> Path:
    path = tmp_path / "zoo"
    shutil.copytree(base_zoo, path)
    return path


def test_empty_zoo_falls_back_to_full_space_fuse_and_says_so(tmp_path: Path, cli_inproc) -> None:
    out, zoo = tmp_path / "run", tmp_path / "zoo"
    res = cli_inproc(
        "search",
        "paper-digits/T2",
        "--strategy",
        "tanas",
        "--zoo",
        str(zoo),
        "--budget-epochs",
        "2",
        "--C",
        "4",
        "--final-seeds",
        "1",
        "--final-epochs",
        "1",
        "--out",
        str(out),
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    assert "fallback" in res.stdout and "empty zoo" in res.stdout
    data = json.loads((out / "result.json").read_text())
    assert data["strategy"] == "tanas"
    assert data["fallback"] == "empty zoo"
    assert data["nearest"] == []
    assert data["space_size"] == data["full_space_size"] == 11**6
    assert data["overhead"]["prep_seconds"] == 0.0  # nothing was spent before FUSE ...
    assert data["overhead"]["probes_trained"] == 1  # ... the probe was trained afterwards, for the zoo
    # The target is now in the zoo, with its probe, Fisher and the genotype found.
    with TaskZoo(zoo, create=False) as store:
        entry = store.get("paper-digits/T2")
        assert entry.genotype == data["genotype"]
        assert entry.best.record["strategy"] == "tanas" and entry.best.record["fallback"] == "empty zoo"
        assert store.load_fisher("paper-digits/T2", 0)
    # The common schema still loads.
    assert SearchResult.load(out).genotype == data["genotype"]


def test_nearest_guides_the_space_and_the_clock(digits: dict, zoo_dir: Path) -> None:
    """Target already in the zoo with a genotype and not excluded: it is its own nearest, at 0."""
    with TaskZoo(zoo_dir) as zoo:
        result = run_tanas(
            digits["T2"],
            zoo=zoo,
            budget=Budget(epochs=2),
            name="paper-digits/T2",
            config=TanasConfig(k=1, radius=1, fuse=TINY_FUSE, method="ftd"),  # distances: itself at 0
            **FAST,
        )
        assert isinstance(result, TanasResult) and result.fallback is None
        assert [n["name"] for n in result.nearest] == ["paper-digits/T2", "paper-digits/T0"]
        assert result.nearest[0]["distance"] == 0.0
        assert 0.0 < result.nearest[1]["distance"] <= 1.0
        assert [n["used"] for n in result.nearest] == [True, False]
        assert result.space_size == ball_size(1) == 61
        assert result.full_space_size == 11**6
        # FUSE started from the nearest task's genotype: the incumbent of stage 0's candidates.
        assert result.history[0]["candidates"][0]["genotype"] == G2
        assert SearchSpace.from_dict(result.space).contains(result.genotype)
        # One clock: probe + distances are part of the search time and shift the history.
        prep = result.overhead["prep_seconds"]
        assert prep > 0
        assert result.config["history_offset_seconds"] == pytest.approx(prep)
        assert result.history[0]["elapsed_seconds"] >= prep
        assert result.search_seconds >= result.history[-1]["elapsed_seconds"]
        assert result.overhead["probes_trained"] == 0 and result.overhead["probes_reused"] == 1
        # The genotype found is stored for the target, with a TA-NAS record.
        stored = zoo.genotypes("paper-digits/T2")
        assert len(stored) == 2
        assert any(g.record.get("strategy") == "tanas" and g.genotype == result.genotype for g in stored)
        # A second query reuses the cached distances.
        again = run_tanas(
            digits["T2"],
            zoo=zoo,
            budget=Budget(epochs=2),
            name="paper-digits/T2",
            config=TanasConfig(k=2, radius=0, fuse=TINY_FUSE, method="ftd"),
            **FAST,
        )
        assert again.overhead["distances_computed"] == 0 and again.overhead["distances_cached"] == 2
        # k=2, radius 0: the per-edge product of the two genotypes (2 choices on the 3 edges they differ on).
        assert again.space_size == 2**3


def test_probes_stored_under_an_older_config_hash_still_guide_the_search(digits: dict, zoo_dir: Path) -> None:
    """A zoo written by a tanas whose ProbeConfig lacked a (defaulted) field keeps its probes'
    old config hash; TA-NAS must look them up the way the zoo does, not by rehashing."""
    with sqlite3.connect(zoo_dir / "zoo.sqlite") as db:
        for row_id, config in db.execute("SELECT id, config FROM probes").fetchall():
            older = json.loads(config)
            del older["augment"]  # a field this version added, with its default value
            db.execute(
                "UPDATE probes SET config = ?, config_hash = ? WHERE id = ?",
                (json.dumps(older), "0123456789abcdef", row_id),
            )
    with TaskZoo(zoo_dir) as zoo:
        result = run_tanas(
            digits["T2"],
            zoo=zoo,
            budget=Budget(epochs=1),
            name="paper-digits/T2",
            config=TanasConfig(k=1, radius=1, fuse=TINY_FUSE),
            **FAST,
        )
        assert result.fallback is None, result.fallback
        assert result.overhead["probes_trained"] == 0 and result.overhead["probes_reused"] == 1
        assert result.nearest[0]["name"] == "paper-digits/T2"
        assert result.space_size == ball_size(1) and result.history[0]["candidates"][0]["genotype"] == G2


def test_exclude_leaves_the_target_out(zoo_dir: Path, tmp_path: Path, cli_inproc) -> None:
    out = tmp_path / "run"
    res = cli_inproc(
        "search",
        "paper-digits/T2",
        "--strategy",
        "tanas",
        "--zoo",
        str(zoo_dir),
        "--exclude",
        "paper-digits/T2",
        "-k",
        "2",
        "--radius",
        "1",
        "--budget-epochs",
        "2",
        "--C",
        "4",
        "--final-seeds",
        "1",
        "--final-epochs",
        "1",
        "--out",
        str(out),
        "--json",
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data == json.loads((out / "result.json").read_text())
    assert [n["name"] for n in data["nearest"]] == ["paper-digits/T0"]
    assert data["zoo"]["excluded"] == ["paper-digits/T2"]
    assert data["zoo"]["used"] == ["paper-digits/T0"]
    assert data["fallback"] is None
    assert data["space_size"] == ball_size(1)
    assert data["history"][0]["candidates"][0]["genotype"] == G0
    for key in ("genotype", "params", "val_acc", "test_acc", "search_seconds", "history", "full_space_size"):
        assert key in data


def test_a_score_method_ranks_the_zoo_highest_first(zoo_dir: Path, tmp_path: Path, cli_inproc) -> None:
    out = tmp_path / "run"
    res = cli_inproc(
        "search",
        "paper-digits/T1",
        "--strategy",
        "tanas",
        "--method",
        "leep",
        "--zoo",
        str(zoo_dir),
        "-k",
        "1",
        "--budget-epochs",
        "1",
        "--C",
        "4",
        "--final-seeds",
        "1",
        "--final-epochs",
        "1",
        "--out",
        str(out),
        "--json",
        "--quiet",
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["zoo"]["method"] == "leep" and data["zoo"]["higher_is_better"] is True
    assert data["config"]["tanas"]["method"] == "leep"
    scores = [n["score"] for n in data["nearest"]]
    assert (
        len(scores) == 2
        and scores == sorted(scores, reverse=True)
        and all("distance" not in n for n in data["nearest"])
    )
    best = data["nearest"][0]
    assert best["used"] and data["zoo"]["used"] == [best["name"]]
    assert data["history"][0]["candidates"][0]["genotype"] == best["genotype"]  # FUSE starts from the best source
    with TaskZoo(zoo_dir, create=False) as store:
        record = store.get("paper-digits/T1").best.record
        assert record["nearest"] == [{"name": best["name"], "score": best["score"], "std": best["std"]}]


def test_method_errors_are_one_line(zoo_dir: Path, tmp_path: Path, cli_inproc) -> None:
    base = (
        "search",
        "paper-digits/T2",
        "--budget-epochs",
        "1",
        "--final-seeds",
        "0",
        "--zoo",
        str(zoo_dir),
        "--out",
        str(tmp_path / "o"),
    )
    res = cli_inproc(*base, "--strategy", "tanas", "--method", "bogus")
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1 and "unknown zoo method 'bogus'" in res.stderr
    res = cli_inproc(*base, "--strategy", "tanas", "--method", "task2vec")
    assert res.returncode == 2 and "tanas distance --method task2vec" in res.stderr
    res = cli_inproc(*base, "--strategy", "fuse", "--method", "leep")
    assert res.returncode == 2 and "only apply to --strategy tanas" in res.stderr
    with pytest.raises(StrategyConfigError, match="method"):
        TanasConfig(method="logme ")
    assert TanasConfig().method == "logme" and TanasConfig(method="nce").to_dict()["method"] == "nce"


def test_every_zoo_task_excluded_or_without_genotype_falls_back(digits: dict, tmp_path: Path) -> None:
    with TaskZoo(tmp_path / "zoo") as zoo:
        zoo.add("paper-digits/T0", probe=TINY_PROBE, seeds=1, quiet=True)
        result = run_tanas(
            digits["T2"],
            zoo=zoo,
            budget=Budget(epochs=2),
            name="paper-digits/T2",
            config=TanasConfig(fuse=TINY_FUSE),
            **FAST,
        )
        assert result.fallback == "no zoo task has a genotype"
        zoo.put_genotype("paper-digits/T0", G0, 0.5)
        result = run_tanas(
            digits["T1"],
            zoo=zoo,
            budget=Budget(epochs=2),
            exclude=["paper-digits/T0", "paper-digits/T2"],
            name="paper-digits/T1",
            config=TanasConfig(fuse=TINY_FUSE),
            **FAST,
        )
        assert result.fallback == "every zoo task is excluded"
        assert result.space_size == 11**6


def test_errors(digits: dict, zoo_dir: Path, tmp_path: Path, cli_inproc) -> None:
    with pytest.raises(StrategyConfigError, match="k"):
        TanasConfig(k=0)
    with pytest.raises(StrategyConfigError, match="radius"):
        TanasConfig(radius=7)
    with TaskZoo(zoo_dir) as zoo, pytest.raises(UnknownZooTaskError, match="no task 'nope'"):
        run_tanas(
            digits["T2"], zoo=zoo, budget=Budget(epochs=1), exclude=["nope"], config=TanasConfig(fuse=TINY_FUSE), **FAST
        )
    assert issubclass(UnknownZooTaskError, TanasError)
    base = ("search", "paper-digits/T2", "--budget-epochs", "1", "--final-seeds", "0", "--out", str(tmp_path / "o"))
    res = cli_inproc(*base, "--strategy", "fuse", "--zoo", str(zoo_dir))
    assert res.returncode == 2 and "only apply to --strategy tanas" in res.stderr
    res = cli_inproc(*base, "--strategy", "tanas", "--zoo", str(zoo_dir), "--initial", "|".join(G0))
    assert res.returncode == 2 and "drop --initial" in res.stderr
    res = cli_inproc(*base, "--strategy", "tanas", "--zoo", str(zoo_dir), "--exclude", "nope")
    assert res.returncode == 2 and res.stderr.startswith("error:") and "nope" in res.stderr
    res = cli_inproc("zoo", "add", "paper-digits/T0", "--search", "darts", "--zoo", str(tmp_path / "z2"))
    assert res.returncode == 2 and "--search fuse" in res.stderr
    assert not (tmp_path / "z2").exists()  # refused before any work


def test_zoo_add_search_fuse_stores_a_genotype_once(tmp_path: Path, cli_inproc) -> None:
    zoo = tmp_path / "zoo"
    args = (
        "zoo",
        "add",
        "paper-digits/T0",
        "--max-epochs",
        "2",
        "--search",
        "fuse",
        "--budget-seconds",
        "0.5",
        "--zoo",
        str(zoo),
        "--quiet",
        "--json",
    )
    res = cli_inproc(*args)
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    [seeded] = payload["genotypes"]
    assert seeded["name"] == "paper-digits/T0" and seeded["searched"] is True
    with TaskZoo(zoo, create=False) as store:
        best = store.get("paper-digits/T0").best
        assert best is not None and best.genotype == seeded["genotype"]
        assert best.score == pytest.approx(seeded["score"])
        assert best.record["strategy"] == "fuse" and best.record["budget"]["seconds"] == 0.5
        assert 0.0 <= best.score <= 1.0
    again = json.loads(cli_inproc(*args).stdout)
    assert again["genotypes"][0]["searched"] is False
    assert again["genotypes"][0]["genotype"] == seeded["genotype"]
    assert again["added"][0]["probes_trained"] == 0


def test_ensure_genotype_refuses_other_data(digits: dict, zoo_dir: Path) -> None:
    with TaskZoo(zoo_dir) as zoo:
        kept = ensure_genotype(zoo, "paper-digits/T0", budget=Budget(epochs=1), fuse=TINY_FUSE, quiet=True)
        assert kept.searched is False and kept.genotype == G0
        with pytest.raises(TanasError, match="different data"):
            ensure_genotype(
                zoo,
                "paper-digits/T0",
                budget=Budget(epochs=1),
                fuse=TINY_FUSE,
                task=digits["T1"],
                force=True,
                quiet=True,
            )
