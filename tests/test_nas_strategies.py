"""The search strategies end to end on digits, with small epoch budgets (deterministic on CPU)."""

import dataclasses
import math
import statistics

import pytest
import torch
import torch.nn.functional as F

from tanas.data import parse_task
from tanas.nas import (
    Budget,
    DartsConfig,
    FuseConfig,
    Genotype,
    RandomConfig,
    SearchSpace,
    SearchSpaceError,
    StrategyConfigError,
    build_network,
    count_parameters,
    darts_search,
    final_evaluation,
    fuse_search,
    random_search,
    time_to_match,
)
from tanas.nas.common import TrainConfig
from tanas.nas.fuse import FusedModel, fit_beta

A = Genotype.parse("conv_3x3|skip_connect|conv_1x1|none|avg_pool_3x3|conv_1x1")
B = Genotype.parse("conv_1x1|skip_connect|conv_1x1|skip_connect|avg_pool_3x3|conv_3x3")
FAST_TRAIN = TrainConfig(batch_size=32)
SMALL_OPS = ("none", "skip_connect", "avg_pool_3x3", "conv_1x1", "conv_3x3")
FUSE = FuseConfig(
    candidates=3, rounds=2, epochs_per_round=1, stages=3, patience=1, beta_steps=20, C=4, train=FAST_TRAIN
)
RANDOM = RandomConfig(epochs_per_trial=2, C=4, train=FAST_TRAIN)
DARTS = DartsConfig(epochs=2, C=4, batch_size=64)
#: the full product over five cheap ops, for end-to-end runs on digits:full
CHEAP = SearchSpace.full(universe=SMALL_OPS)
#: a cheap non-product space for DARTS: two anchors, radius 1, over five ops
DARTS_SPACE = SearchSpace.restricted([A, B], radius=1, universe=SMALL_OPS)


class SplitReadError(AssertionError):
    pass


class GuardedSplits(dict):
    """A splits mapping whose test split cannot be read."""

    def __getitem__(self, key):
        if key == "test":
            raise SplitReadError("a search strategy read the test split")
        return super().__getitem__(key)

    def get(self, key, default=None):
        if key == "test":
            raise SplitReadError("a search strategy read the test split")
        return super().get(key, default)

    def items(self):
        raise SplitReadError("a search strategy iterated over all splits")

    def values(self):
        raise SplitReadError("a search strategy iterated over all splits")


@pytest.fixture(scope="module")
def task():
    [t] = parse_task("digits:full", seed=0)
    return t


@pytest.fixture(scope="module")
def small():
    [t] = parse_task("digits:subset:0,1", seed=0)
    return t


@pytest.fixture(scope="module")
def guarded(small):
    return dataclasses.replace(small, splits=GuardedSplits(small.splits))


def run_fuse(task, **kw):
    kw.setdefault("budget", Budget(epochs=30))
    kw.setdefault("config", FUSE)
    return fuse_search(task, seed=kw.pop("seed", 0), device="cpu", quiet=True, **kw)


def test_fuse_end_to_end(task):
    out = run_fuse(task, space=CHEAP, config=dataclasses.replace(FUSE, stages=2, patience=2), budget=Budget(epochs=30))
    assert out.strategy == "fuse" and out.genotype in CHEAP and out.space_size == 5**6
    assert len(out.history) == 2 and out.epochs_used == 2 * 3 * 2 and out.stop_reason == "stages"
    elapsed = [h.elapsed_seconds for h in out.history]
    assert elapsed == sorted(elapsed) and out.search_seconds >= elapsed[-1]
    for h in out.history:
        cands = h.candidates
        assert len(cands) == FUSE.candidates
        assert len({tuple(c["genotype"]) for c in cands}) == FUSE.candidates
        assert sum(c["weight"] for c in cands) == pytest.approx(1.0)
        winner = max(cands, key=lambda c: c["beta"])
        assert h.incumbent == winner["genotype"] and h.incumbent_val_acc == winner["val_acc"]
        assert 0.0 <= h.incumbent_val_acc <= 1.0
    for prev, cur in zip(out.history, out.history[1:]):
        assert cur.candidates[0]["genotype"] == prev.incumbent  # the incumbent is carried over at index 0
    assert out.genotype.to_json() == out.history[-1].incumbent and out.val_acc == out.history[-1].incumbent_val_acc
    # digits is easy: the searched candidates must learn something in two epochs
    assert max(c["val_acc"] for h in out.history for c in h.candidates) > 0.5


def test_fuse_patience_stops_early(small):
    out = run_fuse(
        small, space=CHEAP, config=dataclasses.replace(FUSE, stages=10, patience=1), budget=Budget(epochs=200)
    )
    last = out.history[-1]
    if out.stop_reason == "patience":
        assert last.extra["survived"] >= 1 and last.incumbent == last.extra["previous"]
    else:
        assert out.stop_reason == "stages" and len(out.history) == 10


def test_fuse_restricted_space_and_initial(small):
    space = SearchSpace.restricted([A, B])  # 2^3 = 8 genotypes
    assert space.size == 8
    out = run_fuse(small, space=space, initial=B, config=dataclasses.replace(FUSE, candidates=4, stages=2, patience=5))
    assert out.history[0].candidates[0]["genotype"] == B.to_json()
    for h in out.history:
        assert all(Genotype.from_json(c["genotype"]) in space for c in h.candidates)
    assert out.space_size == 8 and out.config["initial"] == B.to_json()


def test_fuse_rejects_initial_outside_space(small):
    with pytest.raises(SearchSpaceError, match="not in the search space"):
        run_fuse(small, space=SearchSpace.restricted([A], radius=1), initial=B)
    with pytest.raises(SearchSpaceError, match="at least 2"):
        run_fuse(small, space=SearchSpace.restricted([A]))


def test_fuse_fused_objective(small):
    cfg = dataclasses.replace(FUSE, objective="fused", stages=1)
    out1 = run_fuse(small, config=cfg)
    out2 = run_fuse(small, config=cfg)
    assert out1.genotype == out2.genotype
    assert [c["beta"] for c in out1.history[0].candidates] == [c["beta"] for c in out2.history[0].candidates]


def test_random_search_end_to_end(task):
    out = random_search(task, budget=Budget(epochs=6), space=CHEAP, config=RANDOM, seed=0, device="cpu", quiet=True)
    assert out.strategy == "random" and len(out.history) == 3 and out.epochs_used == 6 and out.stop_reason == "budget"
    trials = [Genotype.from_json(h.candidates[0]["genotype"]) for h in out.history]
    assert len(set(trials)) == 3 and all(g in CHEAP for g in trials)
    best_so_far = [h.incumbent_val_acc for h in out.history]
    assert best_so_far == sorted(best_so_far)
    accs = [h.candidates[0]["val_acc"] for h in out.history]
    assert out.val_acc == max(accs) and out.genotype == trials[accs.index(max(accs))]


def test_random_search_initial_first_and_max_trials(small):
    cfg = dataclasses.replace(RANDOM, max_trials=2, epochs_per_trial=1)
    out = random_search(small, budget=Budget(epochs=100), config=cfg, initial=A, seed=0, device="cpu", quiet=True)
    assert len(out.history) == 2 and out.history[0].candidates[0]["genotype"] == A.to_json()
    assert out.stop_reason == "trials"


def test_darts_end_to_end_on_a_non_product_space(task):
    space = DARTS_SPACE
    assert space.size < space.product_size * 100 and not all(space.in_product(g) for g in space.enumerate())
    out = darts_search(task, budget=Budget(epochs=5), space=space, config=DARTS, seed=0, device="cpu", quiet=True)
    assert out.strategy == "darts" and len(out.history) == 2 and out.stop_reason == "epochs"
    assert out.genotype in space
    for h in out.history:
        alpha = h.extra["alpha"]
        assert [tuple(a) for a in alpha] == [space.edge_ops(k) for k in range(6)]
        assert all(sum(a.values()) == pytest.approx(1.0, abs=1e-5) for a in alpha)
        assert 0.0 <= h.incumbent_val_acc <= 1.0 and 0.0 <= h.extra["supernet_val_acc"] <= 1.0
    # DARTS convention: 'none' is never derived where another op is allowed
    assert "none" not in out.genotype.ops


def test_darts_masks_ops_outside_the_space():
    from tanas.nas.darts import SuperNet

    space = SearchSpace.restricted([A, B])
    net = SuperNet(space, 1, 10, C=2)
    w = net.arch_weights()
    for k in range(6):
        allowed = set(space.edge_ops(k))
        for j, name in enumerate(space.universe):
            assert (w[k, j] > 0) == (name in allowed)
    net.alpha.data[3, 0] = 100.0  # 'none' on edge 0->3 is allowed there (A uses it) but excluded from argmax
    assert net.derive().ops[3] == "skip_connect"


@pytest.mark.parametrize("strategy", ["fuse", "random", "darts"])
def test_same_seed_same_search(small, strategy):
    def once():
        if strategy == "fuse":
            return run_fuse(small, space=CHEAP, config=dataclasses.replace(FUSE, stages=2), seed=3)
        if strategy == "random":
            return random_search(small, budget=Budget(epochs=4), config=RANDOM, seed=3, device="cpu", quiet=True)
        return darts_search(
            small, budget=Budget(epochs=1), space=DARTS_SPACE, config=DARTS, seed=3, device="cpu", quiet=True
        )

    a, b = once(), once()
    assert a.genotype == b.genotype
    strip = lambda h: (h.incumbent, h.incumbent_val_acc, h.candidates, h.epochs_used)  # noqa: E731
    assert [strip(h) for h in a.history] == [strip(h) for h in b.history]


def test_strategies_never_read_the_test_split(guarded):
    run_fuse(guarded, config=dataclasses.replace(FUSE, stages=1))
    random_search(guarded, budget=Budget(epochs=2), config=RANDOM, seed=0, device="cpu", quiet=True)
    darts_search(guarded, budget=Budget(epochs=1), space=DARTS_SPACE, config=DARTS, seed=0, device="cpu", quiet=True)
    # the guard is real: the final protocol must read the test split and trips it
    with pytest.raises(SplitReadError):
        final_evaluation(A, guarded, seeds=1, epochs=1, C=2, device="cpu", quiet=True)


def test_fit_beta_reaches_the_mixture_optimum():
    gen = torch.Generator().manual_seed(0)
    # two candidates' log-probabilities of the true labels on 200 val samples
    p = torch.stack([torch.rand(200, generator=gen) * 0.6 + 0.2, torch.rand(200, generator=gen) * 0.4 + 0.5], 1)
    beta = fit_beta(p.log(), torch.zeros(2), lr=0.1, steps=500)
    w = torch.softmax(beta, 0)
    grid = torch.linspace(0, 1, 2001)
    nll = torch.stack([-(g * p[:, 0] + (1 - g) * p[:, 1]).log().mean() for g in grid])
    best = float(grid[nll.argmin()])
    assert float(w[0]) == pytest.approx(best, abs=0.01)
    # a candidate that is better on every sample gets the largest beta
    q = torch.stack([p[:, 0] * 0.5, p[:, 0]], 1)
    assert int(fit_beta(q.log(), torch.zeros(2)).argmax()) == 1


def test_fused_model_mixes_probabilities():
    nets = [torch.nn.Linear(4, 3), torch.nn.Linear(4, 3)]
    beta = torch.tensor([0.3, -1.0])
    fused = FusedModel(nets, beta)
    x = torch.randn(5, 4)
    w = torch.softmax(beta, 0)
    ref = w[0] * F.softmax(nets[0](x), 1) + w[1] * F.softmax(nets[1](x), 1)
    assert torch.allclose(fused(x).exp(), ref, atol=1e-6)
    y = torch.tensor([0, 1, 2, 0, 1])
    assert torch.allclose(F.cross_entropy(fused(x), y), -ref[torch.arange(5), y].log().mean(), atol=1e-6)


def test_time_to_match():
    hist = [
        {"elapsed_seconds": 1.0, "incumbent_val_acc": 0.5},
        {"elapsed_seconds": 2.5, "incumbent_val_acc": 0.9},
        {"elapsed_seconds": 4.0, "incumbent_val_acc": 0.95},
    ]
    assert time_to_match(hist, 0.9) == 2.5 and time_to_match(hist, 0.4) == 1.0 and time_to_match(hist, 0.99) is None


def test_final_evaluation(task):
    res = final_evaluation(A, task, seeds=2, epochs=2, C=4, device="cpu", train=FAST_TRAIN, quiet=True)
    assert len(res.runs) == 2 and res.mean == pytest.approx(statistics.fmean(res.runs))
    assert res.std == pytest.approx(statistics.stdev(res.runs))
    for curve, best_val, best_epoch in zip(res.val_curves, res.val_accs, res.best_epochs):
        assert len(curve) == 2 and best_val == max(curve) and best_epoch == curve.index(max(curve))
    assert res.params == count_parameters(build_network(A, 1, 10, C=4))
    assert res.device == "cpu" and res.test_acc() == {"mean": res.mean, "std": res.std, "runs": res.runs}
    assert res.mean > 0.5  # digits after two epochs
    again = final_evaluation(A, task, seeds=[res.seeds[0]], epochs=2, C=4, device="cpu", train=FAST_TRAIN, quiet=True)
    assert again.runs == res.runs[:1] and again.std == 0.0


def test_config_errors(small):
    with pytest.raises(StrategyConfigError, match="budget"):
        Budget()
    for bad in (dict(seconds=0), dict(seconds=math.inf), dict(epochs=0), dict(epochs=1.5)):
        with pytest.raises(StrategyConfigError):
            Budget(**bad)
    with pytest.raises(StrategyConfigError):
        FuseConfig(candidates=1)
    with pytest.raises(StrategyConfigError):
        FuseConfig(objective="mean")
    with pytest.raises(StrategyConfigError):
        RandomConfig(epochs_per_trial=0)
    with pytest.raises(StrategyConfigError):
        final_evaluation(A, small, seeds=0)
    val = small.splits["val"]
    empty_val = dataclasses.replace(small, splits={**small.splits, "val": val.__class__(val.x[:0], val.y[:0])})
    with pytest.raises(StrategyConfigError, match="empty"):
        random_search(empty_val, budget=Budget(epochs=1), config=RANDOM)


@pytest.fixture
def toy_strategy():
    """Strategy 'toy' (random search with a config of its own and a context argument), registered for one test."""
    from tanas.nas import registry

    @dataclasses.dataclass(frozen=True)
    class ToyConfig:
        k: int = 1
        C: int = 16
        N: int = 1

        def to_dict(self):
            return dataclasses.asdict(self)

    calls = []

    @registry.register_strategy("toy", ToyConfig)
    def toy(task, *, budget, space=None, initial=None, config=None, seed=0, device=None, quiet=False, note=None):
        calls.append((config.C, config.N, initial, config.k, note))
        return random_search(
            task,
            budget=budget,
            space=space,
            initial=initial,
            seed=seed,
            device=device,
            quiet=quiet,
            config=dataclasses.replace(RANDOM, C=config.C, N=config.N),
        )

    yield calls
    del registry._REGISTRY["toy"]


def test_run_search_with_a_registered_strategy_and_result_round_trip(small, tmp_path, toy_strategy):
    from tanas.nas import SearchResult, run_search, strategy_config

    initial = str(A).replace("conv_3x3", "conv_1x1")
    config = strategy_config("toy", {"k": "3"}, C=2, N=1)
    res = run_search(
        small,
        "toy",
        config,
        budget=Budget(epochs=2),
        space=CHEAP,
        initial=initial,
        final_seeds=0,
        device="cpu",
        quiet=True,
        seed=5,
        note="hi",
    )
    assert toy_strategy == [(2, 1, Genotype.parse(initial), 3, "hi")]
    assert res.strategy == "toy" and res.test_acc is None and res.seed == 5 and res.space_size == 5**6
    assert res.params == count_parameters(build_network(res.genotype_obj, 1, 2, C=2))
    back = SearchResult.load(res.save(tmp_path))
    assert back.to_dict() == res.to_dict()
    with pytest.raises(StrategyConfigError, match="unknown strategy"):
        run_search(small, "nope", budget=Budget(epochs=1))


def test_configure_options():
    from tanas.nas.common import configure

    cfg = configure(
        FuseConfig, {"candidates": "6", "objective": "fused", "train.lr": "0.1", "train.nesterov": "no"}, C=8, N=2
    )
    assert cfg.candidates == 6 and cfg.objective == "fused" and cfg.C == 8 and cfg.N == 2
    assert cfg.train.lr == 0.1 and cfg.train.nesterov is False and cfg.train.batch_size == TrainConfig().batch_size
    assert configure(RandomConfig, {"max_trials": "none"}).max_trials is None
    assert configure(RandomConfig, {"max_trials": "4"}).max_trials == 4
    with pytest.raises(StrategyConfigError, match="valid options are"):
        configure(FuseConfig, {"canddiates": "6"}, C=8, N=1)
    with pytest.raises(StrategyConfigError, match="--C"):
        configure(FuseConfig, {"C": "6"}, C=8, N=1)
    with pytest.raises(StrategyConfigError, match="expected int"):
        configure(FuseConfig, {"rounds": "three"})
    with pytest.raises(StrategyConfigError):
        configure(FuseConfig, {"objective": "mean"})
    with pytest.raises(StrategyConfigError, match="valid options"):
        configure(FuseConfig, {"rounds.x": "1"})


def test_budget_clock_affords():
    from tanas.nas.common import BudgetClock

    clock = BudgetClock(Budget(epochs=10))
    clock.charge(8)
    assert clock.affords(2) and not clock.affords(3) and not clock.exhausted(2) and clock.exhausted(3)
    timed = BudgetClock(Budget(seconds=100))
    assert timed.affords(50, 10.0) and not timed.affords(1, 200.0)


def test_tiny_time_budget_runs_one_cut_short_unit(small):
    # The first trial/stage always runs (a search must return something), cut short after one epoch;
    # nothing else starts once the time is up.
    out = random_search(
        small, budget=Budget(seconds=1e-3), space=CHEAP, config=RANDOM, seed=0, device="cpu", quiet=True
    )
    assert len(out.history) == 1 and out.epochs_used == 1 and out.history[0].extra["truncated"]
    out = run_fuse(small, budget=Budget(seconds=1e-3), space=CHEAP)
    assert len(out.history) == 1 and out.epochs_used == FUSE.candidates and out.history[0].extra["truncated"]
    assert out.stop_reason == "budget"


def test_fuse_last_stage_shrinks_to_fit_the_budget(small):
    # K=3 candidates x 2 epochs = 6 epochs a stage; a budget of 10 leaves 4 after stage 0,
    # which fits the incumbent and one challenger for their full 2 epochs.
    out = run_fuse(small, budget=Budget(epochs=10), space=CHEAP, config=dataclasses.replace(FUSE, patience=5))
    assert [len(h.candidates) for h in out.history] == [3, 2]
    assert out.epochs_used == 10 and out.stop_reason == "budget"
    assert not any(h.extra["truncated"] for h in out.history)
    assert out.history[1].candidates[0]["genotype"] == out.history[0].incumbent
