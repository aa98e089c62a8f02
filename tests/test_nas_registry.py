"""The strategy registry (register_strategy / run_search / strategy_config) and SearchRun's bookkeeping."""

import dataclasses
from pathlib import Path

import pytest

from tanas.data import parse_task
from tanas.nas import (
    STRATEGIES,
    Budget,
    DartsConfig,
    FuseConfig,
    RandomConfig,
    SearchRun,
    SearchSpace,
    StrategyConfigError,
    TanasConfig,
    TrainConfig,
    fuse_search,
    get_strategy,
    register_strategy,
    registry,
    run_search,
    search_run,
    strategy_config,
)
from tanas.probe import ProbeConfig

FAST_TRAIN = TrainConfig(batch_size=32)
CHEAP = SearchSpace.full(universe=("none", "skip_connect", "avg_pool_3x3", "conv_1x1", "conv_3x3"))
TINY = {
    "fuse": FuseConfig(
        candidates=2, rounds=1, epochs_per_round=1, stages=2, patience=1, beta_steps=5, C=2, train=FAST_TRAIN
    ),
    "random": RandomConfig(epochs_per_trial=1, C=2, train=FAST_TRAIN),
    "darts": DartsConfig(epochs=1, C=2, batch_size=64),
}


@pytest.fixture(scope="module")
def small():
    [t] = parse_task("digits:subset:0,1", seed=0)
    return t


@pytest.fixture
def scratch_registry():
    """The registry as it is, restored after the test (which may register strategies of its own)."""
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    C: int = 4
    N: int = 1

    def to_dict(self):
        return dataclasses.asdict(self)


def toy_search(task, *, budget, space=None, initial=None, config=None, seed=0, device=None, quiet=False):
    return fuse_search(
        task,
        budget=budget,
        space=space or CHEAP,
        seed=seed,
        device=device,
        quiet=quiet,
        config=dataclasses.replace(TINY["fuse"], C=config.C, N=config.N),
    )


def test_builtin_strategies_are_registered_in_order():
    assert list(STRATEGIES)[:4] == ["fuse", "random", "darts", "tanas"]
    assert {name: STRATEGIES[name].config_cls for name in ("fuse", "random", "darts", "tanas")} == {
        "fuse": FuseConfig,
        "random": RandomConfig,
        "darts": DartsConfig,
        "tanas": TanasConfig,
    }
    assert STRATEGIES["fuse"].search is fuse_search and STRATEGIES["fuse"].context == ()
    assert {"zoo", "exclude", "name", "origin", "task_arg", "data_root"} <= set(STRATEGIES["tanas"].context)
    assert STRATEGIES["tanas"].network_size(TanasConfig(fuse=FuseConfig(C=8, N=2))) == (8, 2)
    with pytest.raises(TypeError):
        STRATEGIES["toy"] = None  # a read-only view: strategies join through register_strategy


def test_unknown_strategy_is_one_line_listing_the_known_ones():
    with pytest.raises(StrategyConfigError) as err:
        get_strategy("nope")
    message = str(err.value)
    assert "\n" not in message and "'nope'" in message
    assert message.endswith("use one of fuse, random, darts, tanas")


def test_register_a_toy_strategy(scratch_registry, small):
    assert register_strategy("toy", ToyConfig)(toy_search) is toy_search
    assert get_strategy("toy").config_cls is ToyConfig and "toy" in STRATEGIES
    config = strategy_config("toy", {"N": "1"}, C=2)
    assert config == ToyConfig(C=2, N=1)
    res = run_search(small, "toy", config, budget=Budget(epochs=2), final_seeds=0, device="cpu", quiet=True)
    assert res.strategy == "toy" and res.space_size == CHEAP.size and res.test_acc is None
    with pytest.raises(ValueError, match="already registered"):
        register_strategy("toy", ToyConfig)(toy_search)


def test_register_strategy_checks_the_config_and_the_signature(scratch_registry):
    @dataclasses.dataclass
    class Mutable:
        C: int = 4

    with pytest.raises(TypeError, match="frozen"):
        register_strategy("mutable", Mutable)

    def lacks_quiet(task, *, budget, space=None, initial=None, config=None, seed=0, device=None):
        raise AssertionError("never run")

    with pytest.raises(TypeError, match="quiet"):
        register_strategy("incomplete", ToyConfig)(lacks_quiet)
    assert "incomplete" not in STRATEGIES


def test_configs_and_settings_are_checked_before_any_work(small):
    with pytest.raises(StrategyConfigError, match="takes a FuseConfig, got RandomConfig"):
        run_search(small, "fuse", RandomConfig(), budget=Budget(epochs=1))
    with pytest.raises(StrategyConfigError, match="--zoo only apply to --strategy tanas"):
        run_search(small, "fuse", budget=Budget(epochs=1), zoo="somewhere")
    with pytest.raises(StrategyConfigError, match="--k, --radius only apply to --strategy tanas"):
        strategy_config("random", k=2, radius=1)
    with pytest.raises(StrategyConfigError, match="does not take --color"):
        run_search(small, "darts", budget=Budget(epochs=1), color="red")
    with pytest.raises(StrategyConfigError, match="valid options are"):
        strategy_config("darts", {"alpha": "1"})
    with pytest.raises(StrategyConfigError, match="final"):
        run_search(small, "random", budget=Budget(epochs=1), final_epochs=0)


def test_strategy_config_puts_the_network_size_where_the_strategy_keeps_it():
    assert strategy_config("fuse", {"candidates": "3"}, C=8, N=2) == FuseConfig(candidates=3, C=8, N=2)
    tanas = strategy_config("tanas", {"fuse.candidates": "3", "probe_seeds": "2"}, C=8, N=2, k=3)
    assert tanas == TanasConfig(k=3, probe_seeds=2, fuse=FuseConfig(candidates=3, C=8, N=2))
    with pytest.raises(StrategyConfigError, match="--C"):
        strategy_config("tanas", {"fuse.C": "4"}, C=8)
    with pytest.raises(StrategyConfigError, match="--k"):
        strategy_config("tanas", {"k": "4"}, k=3)


@pytest.mark.parametrize("name", ["fuse", "random", "darts"])
def test_run_search_with_each_builtin_matches_its_search_function(small, name):
    """Through the registry, a search is the search function's own, bit for bit, plus the final protocol."""
    config = TINY[name]
    res = run_search(
        small,
        name,
        config,
        budget=Budget(epochs=2),
        space=CHEAP,
        seed=1,
        final_seeds=1,
        final_epochs=1,
        device="cpu",
        quiet=True,
    )
    direct = STRATEGIES[name].search(
        small, budget=Budget(epochs=2), space=CHEAP, config=config, seed=1, device="cpu", quiet=True
    )
    assert res.strategy == name and res.genotype == direct.genotype.to_json() and res.val_acc == direct.val_acc
    strip = lambda h: (h["incumbent"], h["incumbent_val_acc"], h["candidates"], h["epochs_used"])  # noqa: E731
    assert [strip(h) for h in res.history] == [strip(h.to_dict()) for h in direct.history]
    assert res.config[name] == config.to_dict() and res.space == CHEAP.to_dict() and res.space_size == CHEAP.size
    assert len(res.test_acc["runs"]) == 1 and res.params > 0


def test_run_search_tanas_on_an_empty_zoo(small, tmp_path):
    config = TanasConfig(probe=ProbeConfig(name="cnn", max_epochs=1, epsilon=0.0), fuse=TINY["fuse"])
    res = run_search(
        small,
        "tanas",
        config,
        budget=Budget(epochs=2),
        final_seeds=0,
        device="cpu",
        quiet=True,
        zoo=tmp_path / "zoo",
        task_arg="digits:subset:0,1",
    )
    assert res.strategy == "tanas" and res.fallback == "empty zoo" and res.space_size == 11**6
    assert res.zoo["target"] == "digits:subset:0,1" and Path(res.zoo["path"]).resolve() == (tmp_path / "zoo").resolve()
    with pytest.raises(StrategyConfigError, match="drop --space"):
        run_search(small, "tanas", config, budget=Budget(epochs=1), space=CHEAP, zoo=tmp_path / "zoo")


class FakeBar:
    def __init__(self, **kw):
        self.kw, self.updates, self.closed = kw, 0, False

    def update(self, n=1):
        self.updates += n

    def set_postfix(self, **kw):
        pass

    def close(self):
        self.closed = True


def test_search_run_closes_its_bar_on_an_exception(small, monkeypatch):
    bars = []
    monkeypatch.setattr(search_run, "progress", lambda **kw: bars.append(FakeBar(**kw)) or bars[-1])
    run = SearchRun("toy", small, config=ToyConfig(), budget=Budget(epochs=3), device="cpu", total=3, unit="step")
    with pytest.raises(KeyError), run:
        run.record(0, CHEAP.unrank(0), 0.5, note="x")
        raise KeyError("boom")
    assert bars[0].closed and bars[0].updates == 1 and bars[0].kw["desc"] == "toy"
    assert run.history[0].incumbent_val_acc == 0.5 and run.history[0].epochs_used == 0

    # ... and so does every strategy, which all run their loop in a SearchRun.
    def fail(*args, **kwargs):
        raise RuntimeError("training failed")

    monkeypatch.setattr("tanas.nas.fuse.train_epoch", fail)
    with pytest.raises(RuntimeError, match="training failed"):
        fuse_search(small, budget=Budget(epochs=4), space=CHEAP, config=TINY["fuse"], device="cpu")
    assert len(bars) == 2 and bars[1].closed and bars[1].kw["desc"] == "fuse"


def test_search_run_outcome_records_the_run(small):
    with SearchRun(
        "toy",
        small,
        config=ToyConfig(C=3),
        budget=Budget(epochs=2),
        space=CHEAP,
        seed=7,
        stop_reason="steps",
        device="cpu",
        quiet=True,
    ) as run:
        run.clock.charge(2)
        run.record(0, CHEAP.unrank(1), 0.25)
    out = run.finish(CHEAP.unrank(1), 0.25, initial=None)
    assert out is run.outcome and out.strategy == "toy" and out.epochs_used == 2 and out.stop_reason == "steps"
    assert out.config == {"toy": {"C": 3, "N": 1}, "budget": {"seconds": None, "epochs": 2}, "seed": 7, "initial": None}
    assert out.space is CHEAP and out.space_size == CHEAP.size and out.device == "cpu"
    with pytest.raises(Exception, match="not in the search space"):
        run.start_from("conv_3x3|conv_3x3|conv_3x3|conv_3x3|conv_3x3|sep_conv_3x3")
