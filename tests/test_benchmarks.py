"""The benchmarks (benchmarks/transfer.py, nas.py, fisher_speed.py): scoring rules and tiny smoke runs."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest
import torch

from tanas.data import Split, parse_task
from tanas.errors import ConfigError, EmptyTaskError

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _load(name: str):
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def common():
    return _load("common")


@pytest.fixture(scope="module")
def transfer():
    return _load("transfer")


@pytest.fixture(scope="module")
def nas():
    return _load("nas")


@pytest.fixture(scope="module")
def fisher_speed():
    return _load("fisher_speed")


@pytest.fixture(autouse=True)
def _restore_threads():
    """The benchmarks set torch's thread count and deterministic mode; give the next tests theirs back."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if torch.are_deterministic_algorithms_enabled() != deterministic:
        torch.use_deterministic_algorithms(deterministic)


# --------------------------------------------------------------------------- scoring rules


def _ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return sxy / math.sqrt(sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y))


def _one_target(transfer, values, gains, *, higher_is_better=False):
    """Score one target (column "t") whose sources have ``values`` and ``gains``; other columns are filler."""
    k = len(values)
    nan = float("nan")
    v = [[nan] + [0.5] * k] + [[values[i]] + [0.5] * k for i in range(k)]
    g = [[nan] + [0.0] * k] + [[gains[i]] + [0.0] * k for i in range(k)]
    for i in range(1, k + 1):
        v[i][i] = nan if higher_is_better else 0.0
        g[i][i] = nan
    names = ["t"] + [f"s{i}" for i in range(k)]
    return transfer.score_method([v], [g], names, higher_is_better=higher_is_better, n_boot=10, n_perm=10)


def test_spearman_matches_the_rank_formula(transfer):
    x = [0.3, -1.0, 2.5, 0.7, 1.1, -0.2]
    y = [1.0, 0.2, 0.1, 0.9, 3.0, -4.0]
    n = len(x)
    rx, ry = _ranks(x), _ranks(y)
    classic = 1 - 6 * sum((a - b) ** 2 for a, b in zip(rx, ry)) / (n * (n * n - 1))

    def rho(xs, ys):
        return _one_target(transfer, xs, ys, higher_is_better=True)["per_target"]["t"]["spearman"]

    assert rho(x, y) == pytest.approx(classic)
    ties = [1.0, 1.0, 2.0, 3.0, 3.0, 0.5]
    assert rho(ties, y) == pytest.approx(_pearson(_ranks(ties), _ranks(y)))
    assert rho([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == 0.0  # a constant ranks nothing
    # a distance is scored as its negation: -d against the gain
    d = _one_target(transfer, [-v for v in x], y)["per_target"]["t"]
    assert d["spearman"] == pytest.approx(classic)


def test_score_target_ties_average_over_the_tied_nearest(transfer):
    s = _one_target(transfer, [0.1, 0.1, 0.5], [0.3, 0.1, 0.2])["per_target"]["t"]
    assert s["top1"] == pytest.approx(0.5)
    assert s["regret"] == pytest.approx(0.3 - (0.3 + 0.1) / 2)
    assert s["chosen"] == ["s0", "s1"] and s["best"] == ["s0"]


def test_score_target_perfect_and_reversed(transfer):
    gains = [0.05, 0.2, -0.1, 0.15]
    good = _one_target(transfer, [0.4, 0.1, 0.9, 0.2], gains)["per_target"]["t"]
    assert (good["spearman"], good["weighted_tau"], good["top1"], good["regret"]) == (
        pytest.approx(1.0),
        pytest.approx(1.0),
        1.0,
        0.0,
    )
    bad = _one_target(transfer, [0.6, 0.9, 0.1, 0.8], gains)["per_target"]["t"]
    assert bad["spearman"] == pytest.approx(-1.0) and bad["weighted_tau"] == pytest.approx(-1.0)
    assert bad["top1"] == 0.0
    assert bad["regret"] == pytest.approx(0.2 - (-0.1))
    # the same numbers as a score (higher is better) rank the other way round
    flipped = _one_target(transfer, [0.6, 0.9, 0.1, 0.8], gains, higher_is_better=True)["per_target"]["t"]
    assert flipped["spearman"] == pytest.approx(1.0) and flipped["top1"] == 1.0


@pytest.mark.parametrize("higher_is_better", [False, True])
def test_score_target_undefined_values_rank_last(transfer, higher_is_better):
    sign = 1.0 if higher_is_better else -1.0  # a score s ranks like the distance -s
    m = _one_target(
        transfer, [float("nan"), sign * 0.2, sign * 0.3], [0.0, 0.1, 0.2], higher_is_better=higher_is_better
    )
    s = m["per_target"]["t"]
    assert s["spearman"] == pytest.approx(1.0)
    assert s["chosen"] == ["s2"] and s["top1"] == 1.0
    assert m["coverage"] == pytest.approx(1 - 1 / 12)  # one undefined pair of 4 x 3
    none = _one_target(transfer, [float("nan")] * 3, [0.3, 0.0, 0.0], higher_is_better=higher_is_better)
    t = none["per_target"]["t"]
    assert t["top1"] == pytest.approx(1 / 3)  # uniform random choice, in expectation
    assert t["regret"] == pytest.approx(0.3 - 0.1)
    assert t["spearman"] == 0.0 and t["weighted_tau"] == 0.0


def test_rank_last_fills_beyond_the_worst_defined_value(transfer):
    import numpy as np

    nan = float("nan")
    v = np.array([[[0.0, 0.4, nan], [0.2, 0.0, nan], [nan, 0.9, 0.0]]])
    d = transfer.rank_last(v, higher_is_better=False)
    assert d[0, 2, 0] == pytest.approx(1.2) and d[0, 0, 2] == d[0, 1, 2]  # no defined source: a constant
    assert d[0, 0, 0] == 0.0 and np.isnan(v[0, 2, 0])  # the diagonal stays, the input is not changed
    s = transfer.rank_last(np.where(np.eye(3, dtype=bool), nan, v), higher_is_better=True)
    assert s[0, 2, 0] == pytest.approx(-0.8) and np.isnan(s[0, 0, 0])


def test_score_method_aggregates_over_targets(transfer):
    nan = float("nan")
    gain = [[nan, 0.1, 0.3], [0.2, nan, 0.1], [0.4, 0.0, nan]]
    dist = [[0.0, 0.5, 0.9], [0.3, 0.0, 0.2], [0.1, 0.4, 0.0]]
    m = transfer.score_method([dist], [gain], ["a", "b", "c"], higher_is_better=False, n_boot=10, n_perm=50)
    # target a: sources b (d .3, g .2), c (d .1, g .4) -> rho 1, hit; b: a (.5, .1), c (.4, 0) -> rho -1, miss
    # c: a (.9, .3), b (.2, .1) -> rho -1, miss
    assert [m["per_target"][t]["spearman"] for t in "abc"] == [
        pytest.approx(1.0),
        pytest.approx(-1.0),
        pytest.approx(-1.0),
    ]
    assert m["spearman_mean"] == pytest.approx(-1 / 3)
    assert m["spearman_std"] == pytest.approx(math.sqrt(((1 + 1 / 3) ** 2 + 2 * (1 - 1 / 3) ** 2) / 2))
    assert m["weighted_tau_mean"] == pytest.approx(-1 / 3)  # two sources: tau_w = rho = +-1
    assert m["top1_mean"] == pytest.approx(1 / 3)
    assert m["regret_mean"] == pytest.approx((0.0 + 0.1 + 0.2) / 3)
    assert m["higher_is_better"] is False and m["coverage"] == 1.0
    assert m["n_seeds"] == 1 and math.isnan(m["weighted_tau_ci"][0])  # one seed: no interval
    assert 0.0 < m["p_value"] <= 1.0
    # a score is the negated distance: identical results
    score = [[-v for v in row] for row in dist]
    s = transfer.score_method([score], [gain], ["a", "b", "c"], higher_is_better=True, n_boot=10, n_perm=50)
    for key in ("weighted_tau_mean", "spearman_mean", "top1_mean", "regret_mean", "p_value"):
        assert s[key] == m[key], key


def test_label_overlap_is_one_minus_jaccard(transfer):
    tasks = {
        spec: parse_task(spec)[0]
        for spec in ("digits:indicator:0", "digits:multiclass:0,1,2,3", "digits:subset:3,5", "digits:full")
    }
    sets = {spec: transfer.named_classes(t) for spec, t in tasks.items()}
    assert sets["digits:indicator:0"] == {0}
    assert sets["digits:subset:3,5"] == {3, 5}
    assert sets["digits:full"] == set(range(10))
    d = transfer.label_overlap_distance
    assert d(sets["digits:indicator:0"], sets["digits:multiclass:0,1,2,3"]) == pytest.approx(0.75)
    assert d(sets["digits:subset:3,5"], sets["digits:multiclass:0,1,2,3"]) == pytest.approx(1 - 1 / 5)
    assert d(sets["digits:indicator:0"], sets["digits:subset:3,5"]) == 1.0
    assert d(sets["digits:full"], sets["digits:full"]) == 0.0
    with pytest.raises(ConfigError):
        d(frozenset(), frozenset())


def test_recommend_picks_the_better_variants(transfer):
    def m(tau, top1=0.5, regret=0.1):
        return {"weighted_tau_mean": tau, "spearman_mean": tau, "top1_mean": top1, "regret_mean": regret}

    methods = {name: m(0.0) for name in transfer.method_names()}
    methods.update(
        {
            "ftd-pad-empirical": m(0.6),
            "ftd-pad-exact": m(0.4),  # pad 0.5 vs refit 0.0
            "ftd-refit-exact": m(0.3),  # exact (0.3+0.4)/2 = .35 vs empirical (0+.6)/2 = .3
            "ftd-refit-empirical-perlayer": m(0.9),
            "ftd-refit-empirical-body": m(-0.5),
        }
    )
    pieces = {"fisher-exact-own": {"cpu_s": 4.0}, "fisher-exact-refit": {"cpu_s": 5.0}, "refit": {"cpu_s": 1.0}}
    rec = transfer.recommend(methods, {"pieces": pieces})
    assert rec["head"]["choice"] == "pad"
    assert rec["head"]["scores"]["refit"]["weighted_tau_mean"] == pytest.approx(0.15)
    assert rec["kind"]["choice"] == "exact"
    assert rec["normalise"]["choice"] == "whole"  # whole (0+.3+.6+.4)/4 = .325 vs per_layer .9/4 = .225
    assert rec["layers"]["choice"] == "all"
    assert rec["fisher_cpu_s"] == {"empirical": None, "exact": 9.0}
    tie = {name: m(0.2) for name in transfer.method_names()}
    tie["ftd-refit-empirical"] = m(0.2, regret=0.0)
    tie["ftd-refit-exact"] = m(0.2, regret=0.0)
    assert transfer.recommend(tie, {})["head"]["choice"] == "refit"  # equal tau and top-1: lower regret


def _set_of(rows):
    """A task set's methods: name -> (mean tau, CI, CPU s per pair)."""
    return {
        "methods": {
            name: {
                "weighted_tau_mean": tau,
                "weighted_tau_ci": list(ci),
                "top1_mean": 0.5,
                "regret_mean": 0.01,
                "p_value": 0.01,
                "seconds_per_pair": {"cpu_s": cost},
            }
            for name, (tau, ci, cost) in rows.items()
        }
    }


def test_recommend_method_prefers_the_best_unless_a_much_cheaper_one_is_within_noise(transfer):
    ftd = "ftd-refit-empirical"
    base = {
        ftd: (0.6, (0.5, 0.7), 1.0),
        "leep": (0.2, (0.1, 0.3), 0.01),
        "nce": (0.1, (0.0, 0.2), 0.01),
        "logme": (0.5, (0.45, 0.55), 0.01),
        "hscore": (0.3, (0.2, 0.4), 0.01),
    }
    sets = {"within": _set_of(base), "cross": _set_of({**base, "logme": (0.4, (0.3, 0.45), 0.01)})}
    # logme overlaps ftd in "within" only: ftd leads and stays
    rec = transfer.recommend_method(sets)
    assert rec["leader"] == "ftd" and rec["method"] == "ftd"
    assert rec["candidates"]["logme"]["within_noise_of_leader"] is False
    # now logme overlaps in both sets and is 100x cheaper: logme
    sets["cross"] = _set_of({**base, "logme": (0.45, (0.35, 0.55), 0.01)})
    rec = transfer.recommend_method(sets)
    assert (rec["leader"], rec["method"]) == ("ftd", "logme")
    assert rec["candidates"]["ftd"]["row"] == ftd
    assert rec["candidates"]["logme"]["weighted_tau_mean"] == pytest.approx(0.475)
    # within noise but not much cheaper: the leader
    sets = {k: _set_of({**base, "logme": (0.5, (0.45, 0.55), 0.5)}) for k in ("within", "cross")}
    assert transfer.recommend_method(sets)["method"] == "ftd"


def test_task_transforms_keep_labels_and_change_identity(transfer):
    import dataclasses

    entries = [
        ("P", "digits:subset:3,5", ""),
        ("R", "digits:subset:3,5@rot90", ""),
        ("I", "digits:subset:3,5@invert", ""),
        ("RI", "digits:subset:3,5@rot90+invert", ""),
    ]
    plain, rot, inv, both = transfer.load_tasks(entries, data_root=None)
    x = plain.splits["train"].x
    assert torch.equal(rot.splits["train"].x, torch.rot90(x, 1, dims=(2, 3)))
    assert torch.equal(inv.splits["val"].x, 255 - plain.splits["val"].x)
    assert torch.equal(both.splits["test"].x, 255 - torch.rot90(plain.splits["test"].x, 1, dims=(2, 3)))
    for t in (rot, inv, both):
        assert torch.equal(t.splits["train"].y, plain.splits["train"].y) and t.kind == plain.kind
    assert inv.mean[0] == pytest.approx(1 - x.float().mean().item() / 255, abs=1e-6)  # recomputed on train
    assert (rot.spec, both.spec) == ("digits:subset:3,5@rot90", "digits:subset:3,5@rot90+invert")
    assert len({t.fingerprint() for t in (plain, rot, inv, both)}) == 4
    assert [transfer.domain_of(e[1]) for e in entries] == [
        "digits",
        "digits+rot90",
        "digits+invert",
        "digits+rot90+invert",
    ]
    assert transfer.named_classes(rot) == {3, 5}
    (up,) = transfer.load_tasks([("U", "digits:indicator:0@resize28", "")], data_root=None)
    assert up.input_shape == (1, 28, 28) and up.splits["val"].x.shape[1:] == (1, 28, 28)
    assert up.spec == "digits:indicator:0@resize28" and transfer.domain_of(up.spec) == "digits"
    with pytest.raises(ConfigError, match="same input shape"):
        transfer.load_tasks([("P", "digits:full", ""), ("U", "digits:full@resize28", "")], data_root=None)
    with pytest.raises(ConfigError, match="unknown image transform"):
        transfer.load_tasks([("P", "digits:full@flip", "")], data_root=None)
    assert dataclasses.replace(plain).fingerprint() == plain.fingerprint()


# --------------------------------------------------------------------------- subsampling helpers


def test_per_class_and_stratified_indices(common):
    y = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    gen = torch.Generator().manual_seed(1)
    idx = common.per_class_indices(y, 7, 3, gen)
    assert torch.bincount(y[idx], minlength=3).tolist() == [7, 7, 7]
    assert idx.unique().numel() == 21
    again = common.per_class_indices(y, 7, 3, torch.Generator().manual_seed(1))
    assert torch.equal(idx, again)
    with pytest.raises(EmptyTaskError):
        common.per_class_indices(y, 21, 3, gen)
    strat = common.stratified_indices(y, 10, 3, gen)
    assert torch.bincount(y[strat], minlength=3).tolist() == [5, 3, 2]
    assert common.stratified_indices(y, 500, 3, gen).numel() == 100
    with pytest.raises(ConfigError):
        common.stratified_indices(y, 2, 3, gen)


def test_downsample_task_averages_blocks(common):
    task = parse_task("digits:subset:3,5")[0]
    x = torch.arange(64, dtype=torch.uint8).view(1, 1, 8, 8).repeat(len(task.splits["train"]), 1, 1, 1)
    task.splits["train"] = Split(x, task.splits["train"].y)
    small = common.downsample_task(task, 2)
    assert small.input_shape == (1, 4, 4)
    assert small.splits["train"].x.dtype == torch.uint8
    block = x[0, 0, :2, :2].float().mean()
    assert int(small.splits["train"].x[0, 0, 0, 0]) == int(torch.round(block))
    assert small.splits["val"].x.shape[2:] == (4, 4)
    with pytest.raises(ConfigError):
        common.downsample_task(task, 3)


def test_cap_task_keeps_every_class(common):
    task = parse_task("digits:multiclass:0,1,2,3")[0]
    capped = common.cap_task(task, {"train": 50, "val": None}, seed=0)
    assert len(capped.splits["train"]) <= 55
    assert min(capped.splits["train"].class_counts(task.num_classes)) >= 1
    assert capped.splits["val"] is task.splits["val"]
    assert capped.fingerprint() != task.fingerprint()


def test_configs_reject_bad_settings(transfer, nas):
    with pytest.raises(ConfigError):
        transfer.TransferConfig(seeds=0).validate()
    with pytest.raises(ConfigError):
        transfer.TransferConfig(tasks=[["a", "digits:full", ""], ["b", "digits:indicator:0", ""]]).validate()
    with pytest.raises(ConfigError):
        transfer.TransferConfig(cross_tasks=[["a", "digits:full", ""], ["b", "digits:indicator:0", ""]]).validate()
    transfer.TransferConfig(sets=["within"], cross_tasks=[]).validate()  # a set that does not run is not checked
    for bad in ({"sets": []}, {"sets": ["within", "within"]}, {"sets": ["other"]}, {"test_cap": 0}, {"n_perm": 0}):
        with pytest.raises(ConfigError):
            transfer.TransferConfig(**bad).validate()
    with pytest.raises(ConfigError):
        nas.NasConfig(strategies=["random", "darts"]).validate()  # fuse is the reference
    with pytest.raises(ConfigError):
        nas.NasConfig(targets=[]).validate()


def test_script_reports_a_bad_setting_in_one_line(tmp_path):
    import subprocess

    out = tmp_path / "never.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH / "transfer.py"), "--smoke", "--threads", "0", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: threads must be a positive integer, got 0"]
    assert not out.exists()


# --------------------------------------------------------------------------- smoke runs


@pytest.fixture(scope="module")
def transfer_smoke(transfer, tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer") / "transfer.json"
    result = transfer.main(["--smoke", "--quiet", "--out", str(out)])
    return result, json.loads(out.read_text())


RANKING_FIELDS = (
    "higher_is_better",
    "weighted_tau_mean",
    "weighted_tau_std",
    "weighted_tau_ci",
    "spearman_mean",
    "spearman_std",
    "spearman_ci",
    "top1_mean",
    "regret_mean",
    "p_value",
    "n_seeds",
    "n_targets",
    "coverage",
    "seconds_per_pair",
    "per_target",
    "values",
)


def test_transfer_smoke_run(transfer, transfer_smoke):
    result, data = transfer_smoke
    assert list(data["task_sets"]) == ["within", "cross"]
    seeds = data["config"]["seeds"]
    for s in data["task_sets"].values():
        names = s["tasks"]
        n = len(names)
        assert n == 3
        for a in range(n):
            assert s["gain"]["mean"][a][a] is None
            for b in range(n):
                if a != b:
                    g = s["gain"]["mean"][a][b]
                    assert -1.0 <= g <= 1.0
                    ft = s["accuracy"]["finetune"]["mean"][a][b]
                    assert g == pytest.approx(ft - s["accuracy"]["scratch"]["mean"][b])
        required = {
            "ftd-refit-empirical",
            "ftd-refit-exact",
            "ftd-pad-empirical",
            "ftd-pad-exact",
            "task2vec",
            "leep",
            "nce",
            "logme",
            "hscore",
            "random",
        }
        assert required <= set(s["methods"])
        for name, m in s["methods"].items():
            assert set(RANKING_FIELDS) <= set(m), name
            assert m["higher_is_better"] is (name in ("leep", "nce", "logme", "hscore")), name
            assert -1.0 <= m["weighted_tau_mean"] <= 1.0 and -1.0 <= m["spearman_mean"] <= 1.0
            assert 0.0 <= m["top1_mean"] <= 1.0 and m["regret_mean"] >= 0.0
            assert 0.0 < m["p_value"] <= 1.0 and m["n_seeds"] == seeds and m["n_targets"] == n
            lo, hi = m["weighted_tau_ci"]
            assert -1.0 <= lo <= hi <= 1.0
            assert m["seconds_per_pair"]["cpu_s"] >= 0.0 and m["seconds_per_pair"]["wall_s"] >= 0.0
            if name != "random" and name != "label-overlap":
                assert m["seconds_per_pair"]["wall_s"] > 0.0, name
            # the scores are those of the stored per-seed values
            again = transfer.score_method(
                [_nan(v) for v in m["values"]["per_seed"]],
                [_nan(g) for g in s["gain"]["per_seed"]],
                names,
                higher_is_better=m["higher_is_better"],
                n_boot=10,
                n_perm=10,
            )
            assert again["weighted_tau_mean"] == pytest.approx(m["weighted_tau_mean"])
            assert again["regret_mean"] == pytest.approx(m["regret_mean"])
            assert len(m["values"]["per_seed"]) == seeds
            # orientation: the chosen source has the largest score or the smallest distance
            mean = m["values"]["mean"]
            for b, target in enumerate(names):
                col = {names[a]: mean[a][b] for a in range(n) if a != b and mean[a][b] is not None}
                chosen = m["per_target"][target]["chosen"]
                if not col:  # no defined source: every source is a (tied) choice
                    assert len(chosen) == n - 1
                    continue
                best = max(col.values()) if m["higher_is_better"] else min(col.values())
                assert chosen and all(abs(col[c] - best) <= 1e-9 for c in chosen), (name, target)
            if m["family"] == "ftd" or name in ("task2vec", "label-overlap", "random"):
                for a in range(n):
                    for b in range(n):
                        v = mean[a][b]
                        assert v is None or 0.0 <= v <= 1.0
        # the last task has 5 classes: the 2-class probes cannot pad into it, refit always can
        assert s["methods"]["ftd-pad-empirical"]["coverage"] < 1.0
        assert s["methods"]["ftd-refit-exact"]["coverage"] == 1.0
        assert s["methods"]["ftd-pad-exact"]["values"]["mean"][0][2] is None
        t2v = s["methods"]["task2vec"]["values"]["mean"]
        assert t2v[0][1] == pytest.approx(t2v[1][0])  # symmetric
        for score in ("leep", "nce"):  # log-likelihood-like: <= 0
            assert all(v is None or v <= 1e-12 for row in s["methods"][score]["values"]["mean"] for v in row)
        assert len(s["probes"]) == n * seeds
        assert s["task2vec_reference"] == names[2]
        assert s["ftd_defaults"]["head"]["choice"] in ("refit", "pad")
    within, cross = data["task_sets"]["within"], data["task_sets"]["cross"]
    assert within["methods"]["label-overlap"]["values"]["mean"][0][2] == pytest.approx(0.75)
    assert "label-overlap" not in cross["methods"] and cross["label_overlap"].startswith("left out")
    assert within["label_overlap"].startswith("included")
    assert cross["domains"] == {"P0": "digits", "R1": "digits+rot90", "I2": "digits+invert"}
    assert data["recommended_method"] in transfer.ZOO_CANDIDATES
    assert data["recommended_method"] == data["method_recommendation"]["method"]
    assert result["task_sets"]["within"]["tasks"] == within["tasks"]
    text = transfer.report(result)
    assert "ftd-refit-empirical" in text and "Transfer gain" in text and "Recommended `--method`" in text
    assert text.count("| logme |") == 2 and text.count("| label-overlap |") == 1


def _nan(rows):
    return [[math.nan if v is None else v for v in row] for row in rows]


def _same(x, y):
    """Equal, counting NaN (or None) as equal to itself."""
    if isinstance(x, list):
        return isinstance(y, list) and len(x) == len(y) and all(_same(a, b) for a, b in zip(x, y))
    if x is None or y is None or (isinstance(x, float) and math.isnan(x)):
        return (x is None or math.isnan(x)) and (y is None or math.isnan(y))
    return x == y


def test_transfer_is_deterministic(transfer, transfer_smoke):
    """A second run of seed 0 reproduces the smoke run's seed-0 gains, distances and scores exactly."""
    _, data = transfer_smoke
    cfg = transfer.smoke_config()
    cfg.seeds = 1
    again = transfer.run(cfg, quiet=True)
    for label, s in data["task_sets"].items():
        other = again["task_sets"][label]
        assert _same(other["gain"]["per_seed"][0], s["gain"]["per_seed"][0])
        for name, m in s["methods"].items():
            assert _same(other["methods"][name]["values"]["per_seed"][0], m["values"]["per_seed"][0]), name


def test_nas_smoke_run(nas, tmp_path, capsys):
    out = tmp_path / "nas.json"
    nas.main(["--smoke", "--quiet", "--out", str(out), "--work", str(tmp_path / "work")])
    data = json.loads(out.read_text())
    assert data["targets"] == ["D2"]
    res = data["results"]["D2"]
    assert list(res) == ["tanas", "fuse", "random", "darts"]
    full = data["config"]["full_space_size"]
    for r in res.values():
        assert 0.0 <= r["test_acc"]["mean"] <= 1.0 and len(r["test_acc"]["runs"]) == 2
        assert r["params"] > 0 and r["search_seconds"] > 0
        assert len(r["genotype"].split("|")) == 6
    assert res["fuse"]["space_size"] == full == res["random"]["space_size"]
    assert res["fuse"]["epochs_used"] <= data["config"]["search_epochs"]
    assert res["random"]["epochs_used"] <= data["config"]["search_epochs"]
    assert res["darts"]["budget"]["seconds"] == pytest.approx(max(res["fuse"]["search_seconds"], 1.0))
    t = res["tanas"]
    assert t["fallback"] is None and t["space_size"] < full
    assert {n["name"] for n in t["nearest"]} == {"D0", "D1"}
    assert t["overhead"]["prep_seconds"] > 0
    assert t["time_to_match"] is None or t["time_to_match"] >= 0
    assert set(data["zoo"]) == {"D0", "D1"}
    assert (tmp_path / "work" / "zoo" / "zoo.sqlite").is_file()
    assert "time-to-match" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="earlier run"):  # a used zoo would hand TA-NAS the answers
        nas.run(nas.smoke_config(), work=tmp_path / "work", quiet=True)


# --------------------------------------------------------------------------- Fisher speed (smoke)


def test_speed_benchmark_smoke_run_writes_its_schema(fisher_speed, tmp_path):
    out = tmp_path / "fisher_speed.json"
    result = fisher_speed.main(["--smoke", "--quiet", "--device", "cpu", "--threads", "1,2", "--out", str(out)])
    written = json.loads(out.read_text())
    assert written["models"].keys() == {"cnn", "resnet18"} == result["models"].keys()
    assert written["device"] == "cpu" and written["smoke"] is True
    # every thread count is measured; "models" (and the targets) are those of the last
    assert written["threads"] == 2 and list(written["by_threads"]) == ["1", "2"]
    assert written["models"] == written["by_threads"]["2"]
    for run in written["by_threads"].values():
        for m in run.values():
            for key in (
                "n_samples",
                "auto_method",
                "auto_sps",
                "loop_sps",
                "batched_sps",
                "speedup_vs_loop",
                "cost_vs_batched",
            ):
                assert key in m
            assert m["auto_method"] == "hooks"
            assert m["auto_sps"] > 0 and m["loop_sps"] > 0 and m["batched_sps"] > 0
            assert m["speedup_vs_loop"] == pytest.approx(m["auto_sps"] / m["loop_sps"])
            assert m["cost_vs_batched"] == pytest.approx(m["batched_sps"] / m["auto_sps"])


@pytest.mark.parametrize("threads", ["0", "two", "1,-1", ","])
def test_speed_benchmark_rejects_bad_thread_counts(fisher_speed, tmp_path, threads):
    with pytest.raises(ConfigError, match="--threads must be comma-separated positive integers"):
        fisher_speed.main(["--smoke", "--quiet", "--threads", threads, "--out", str(tmp_path / "x.json")])
    assert not (tmp_path / "x.json").exists()
