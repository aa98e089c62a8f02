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


def test_spearman_matches_the_rank_formula(transfer):
    x = [0.3, -1.0, 2.5, 0.7, 1.1, -0.2]
    y = [1.0, 0.2, 0.1, 0.9, 3.0, -4.0]
    n = len(x)
    rx, ry = _ranks(x), _ranks(y)
    classic = 1 - 6 * sum((a - b) ** 2 for a, b in zip(rx, ry)) / (n * (n * n - 1))
    assert transfer.spearman(x, y) == pytest.approx(classic)
    ties = [1.0, 1.0, 2.0, 3.0, 3.0, 0.5]
    assert transfer.spearman(ties, y) == pytest.approx(_pearson(_ranks(ties), _ranks(y)))
    assert transfer.spearman([2.0, 2.0, 2.0], [1.0, 2.0, 3.0]) == 0.0  # a constant ranks nothing
    with pytest.raises(ConfigError):
        transfer.spearman([1.0], [2.0])


def test_score_target_ties_average_over_the_tied_nearest(transfer):
    s = transfer.score_target([0.1, 0.1, 0.5], [0.3, 0.1, 0.2])
    assert s["top1"] == pytest.approx(0.5)
    assert s["regret"] == pytest.approx(0.3 - (0.3 + 0.1) / 2)
    assert s["nearest"] == [0, 1]
    assert s["coverage"] == 1.0


def test_score_target_perfect_and_reversed(transfer):
    gains = [0.05, 0.2, -0.1, 0.15]
    good = transfer.score_target([0.4, 0.1, 0.9, 0.2], gains)
    assert (good["spearman"], good["top1"], good["regret"]) == (pytest.approx(1.0), 1.0, 0.0)
    bad = transfer.score_target([0.6, 0.9, 0.1, 0.8], gains)
    assert bad["spearman"] == pytest.approx(-1.0)
    assert bad["top1"] == 0.0
    assert bad["regret"] == pytest.approx(0.2 - (-0.1))


def test_score_target_undefined_distances_rank_last(transfer):
    s = transfer.score_target([float("nan"), 0.2, 0.1], [0.0, 0.1, 0.2])
    assert s["spearman"] == pytest.approx(1.0)
    assert s["coverage"] == pytest.approx(2 / 3)
    assert s["nearest"] == [2] and s["top1"] == 1.0
    none = transfer.score_target([float("nan")] * 3, [0.3, 0.0, 0.0])
    assert none["top1"] == pytest.approx(1 / 3)  # uniform random choice, in expectation
    assert none["regret"] == pytest.approx(0.3 - 0.1)
    assert none["coverage"] == 0.0


def test_score_method_aggregates_over_targets(transfer):
    nan = float("nan")
    gain = [[nan, 0.1, 0.3], [0.2, nan, 0.1], [0.4, 0.0, nan]]
    dist = [[0.0, 0.5, 0.9], [0.3, 0.0, 0.2], [0.1, 0.4, 0.0]]
    m = transfer.score_method(dist, gain, ["a", "b", "c"])
    # target a: sources b (d .3, g .2), c (d .1, g .4) -> rho 1, hit; b: a (.5, .1), c (.4, 0) -> rho -1, miss
    # c: a (.9, .3), b (.2, .1) -> rho -1, miss
    assert [m["per_target"][t]["spearman"] for t in "abc"] == [pytest.approx(1.0), pytest.approx(-1.0), pytest.approx(-1.0)]
    assert m["spearman_mean"] == pytest.approx(-1 / 3)
    assert m["spearman_std"] == pytest.approx(math.sqrt(((1 + 1 / 3) ** 2 + 2 * (1 - 1 / 3) ** 2) / 2))
    assert m["top1"] == pytest.approx(1 / 3)
    assert m["regret"] == pytest.approx((0.0 + 0.1 + 0.2) / 3)


def test_label_overlap_is_one_minus_jaccard(transfer):
    tasks = {spec: parse_task(spec)[0] for spec in ("digits:indicator:0", "digits:multiclass:0,1,2,3",
                                                     "digits:subset:3,5", "digits:full")}
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
    def m(rho, top1=0.5, regret=0.1):
        return {"spearman_mean": rho, "top1": top1, "regret": regret}

    methods = {name: m(0.0) for name in transfer.method_names()}
    methods.update({"ftd-pad-empirical": m(0.6), "ftd-pad-exact": m(0.4),  # pad 0.5 vs refit 0.0
                    "ftd-refit-exact": m(0.3),  # exact (0.3+0.4)/2 = .35 vs empirical (0+.6)/2 = .3
                    "ftd-refit-empirical-perlayer": m(0.9), "ftd-refit-empirical-body": m(-0.5)})
    rec = transfer.recommend(methods, {"pieces": {"fisher-exact": {"cpu_s": 9.0}}})
    assert rec["head"]["choice"] == "pad"
    assert rec["head"]["scores"]["refit"]["spearman_mean"] == pytest.approx(0.15)
    assert rec["kind"]["choice"] == "exact"
    assert rec["normalise"]["choice"] == "whole"  # whole (0+.3+.6+.4)/4 = .325 vs per_layer .9/4 = .225
    assert rec["layers"]["choice"] == "all"
    assert rec["fisher_cpu_s"] == {"empirical": None, "exact": 9.0}
    tie = {name: m(0.2) for name in transfer.method_names()}
    tie["ftd-refit-empirical"] = m(0.2, regret=0.0)
    tie["ftd-refit-exact"] = m(0.2, regret=0.0)
    assert transfer.recommend(tie, {})["head"]["choice"] == "refit"  # equal rho and top-1: lower regret


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
        nas.NasConfig(strategies=["random", "darts"]).validate()  # fuse is the reference
    with pytest.raises(ConfigError):
        nas.NasConfig(targets=[]).validate()


def test_script_reports_a_bad_setting_in_one_line(tmp_path):
    import subprocess

    out = tmp_path / "never.json"
    proc = subprocess.run([sys.executable, str(BENCH / "transfer.py"), "--smoke", "--threads", "0", "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: threads must be a positive integer, got 0"]
    assert not out.exists()


# --------------------------------------------------------------------------- smoke runs


@pytest.fixture(scope="module")
def transfer_smoke(transfer, tmp_path_factory):
    out = tmp_path_factory.mktemp("transfer") / "transfer.json"
    result = transfer.main(["--smoke", "--quiet", "--out", str(out)])
    return result, json.loads(out.read_text())


def test_transfer_smoke_run(transfer, transfer_smoke):
    result, data = transfer_smoke
    names = data["tasks"]
    n = len(names)
    assert n == 3
    for a in range(n):
        assert data["gain"]["mean"][a][a] is None
        for b in range(n):
            if a != b:
                g = data["gain"]["mean"][a][b]
                assert -1.0 <= g <= 1.0
                ft = data["accuracy"]["finetune"]["mean"][a][b]
                assert g == pytest.approx(ft - data["accuracy"]["scratch"]["mean"][b])
    required = {"ftd-refit-empirical", "ftd-refit-exact", "ftd-pad-empirical", "ftd-pad-exact",
                "task2vec", "label-overlap", "random"}
    assert required <= set(data["methods"])
    for name, m in data["methods"].items():
        assert -1.0 <= m["spearman_mean"] <= 1.0
        assert 0.0 <= m["top1"] <= 1.0 and m["regret"] >= 0.0
        # the scores are those of the stored seed-averaged matrices
        again = transfer.score_method(_nan(m["distance"]["mean"]), _nan(data["gain"]["mean"]), names)
        assert again["spearman_mean"] == pytest.approx(m["spearman_mean"])
        assert again["regret"] == pytest.approx(m["regret"])
        assert len(m["distance"]["per_seed"]) == data["config"]["seeds"]
        for a in range(n):
            for b in range(n):
                v = m["distance"]["mean"][a][b]
                assert v is None or 0.0 <= v <= 1.0
    # D2 has 5 classes: the 2-class probes cannot pad into it, refit always can
    assert data["methods"]["ftd-pad-empirical"]["coverage"] < 1.0
    assert data["methods"]["ftd-refit-exact"]["coverage"] == 1.0
    assert data["methods"]["ftd-pad-exact"]["distance"]["mean"][0][2] is None
    t2v = data["methods"]["task2vec"]["distance"]["mean"]
    assert t2v[0][1] == pytest.approx(t2v[1][0])  # symmetric
    assert data["methods"]["label-overlap"]["distance"]["mean"][0][2] == pytest.approx(0.75)
    assert len(data["probes"]) == n * data["config"]["seeds"]
    assert data["config"]["task2vec_reference"] == "D2"
    assert result["tasks"] == names
    text = transfer.report(result)
    assert "ftd-refit-empirical" in text and "Transfer gain" in text


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
    """A second run of seed 0 reproduces the smoke run's seed-0 gains and distances exactly."""
    _, data = transfer_smoke
    cfg = transfer.smoke_config()
    cfg.seeds = 1
    again = transfer.run(cfg, quiet=True)
    assert _same(again["gain"]["per_seed"][0], data["gain"]["per_seed"][0])
    for name, m in data["methods"].items():
        assert _same(again["methods"][name]["distance"]["per_seed"][0], m["distance"]["per_seed"][0]), name


def test_nas_smoke_run(nas, tmp_path, capsys):
    out = tmp_path / "nas.json"
    nas.main(["--smoke", "--quiet", "--out", str(out), "--work", str(tmp_path / "work")])
    data = json.loads(out.read_text())
    assert data["targets"] == ["D2"]
    res = data["results"]["D2"]
    assert list(res) == ["tanas", "fuse", "random", "darts"]
    full = data["config"]["full_space_size"]
    for name, r in res.items():
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
            for key in ("n_samples", "auto_method", "auto_sps", "loop_sps", "batched_sps", "speedup_vs_loop", "cost_vs_batched"):
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
