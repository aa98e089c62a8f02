"""Probe networks and their training to ε (tanas.probe)."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from tanas.data import Split
from tanas.errors import ConfigError, TanasError
from tanas.probe import PROBE_NAMES, ProbeConfig, ProbeNet, ProbeRecord, build_probe, probe_for_task, train_probe
from tanas.train import evaluate

# Small and fast: a few epochs on the 8x8 digits.
FAST = dict(max_epochs=3, min_steps=0, epsilon=0.0)


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --------------------------------------------------------------------------- networks


@pytest.mark.parametrize("name", PROBE_NAMES)
@pytest.mark.parametrize("channels,size", [(1, 8), (3, 16)])
def test_every_probe_adapts_to_input_and_splits_body_head(name, channels, size):
    model = build_probe(name, in_channels=channels, num_classes=7, input_size=size, seed=0).eval()
    assert isinstance(model, ProbeNet) and model.name == name
    x = torch.randn(2, channels, size, size)
    with torch.no_grad():
        out = model(x)
        feats = model.features(x)
    assert out.shape == (2, 7)
    assert feats.shape == (2, model.feature_dim)
    assert torch.allclose(out, model.head(feats), atol=1e-5)
    assert isinstance(model.head, torch.nn.Linear)
    assert (model.head.in_features, model.head.out_features) == (model.feature_dim, 7)
    names = [n for n, _ in model.named_parameters()]
    assert all(n.startswith(("body.", "head.")) for n in names)
    assert {n for n in names if n.startswith("head.")} == {"head.weight", "head.bias"}


def test_feature_size_does_not_depend_on_input_size():
    small = build_probe("cnn", in_channels=1, num_classes=3, input_size=8)
    large = build_probe("cnn", in_channels=1, num_classes=3, input_size=32)
    assert small.feature_dim == large.feature_dim
    # global pooling: the 8x8 probe also runs on a larger image
    assert small.eval()(torch.randn(1, 1, 20, 20)).shape == (1, 3)


def test_init_is_seeded_and_leaves_the_global_rng_alone():
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = build_probe("resnet18", in_channels=1, num_classes=4, input_size=8, seed=5)
    after = torch.rand(3)
    assert torch.equal(before, after), "build_probe must not draw from the global RNG"
    b = build_probe("resnet18", in_channels=1, num_classes=4, input_size=8, seed=5)
    c = build_probe("resnet18", in_channels=1, num_classes=4, input_size=8, seed=6)
    assert _same(_state(a), _state(b))
    assert not _same(_state(a), _state(c))


def test_replace_head_gives_a_zero_head_of_the_new_size():
    model = build_probe("cnn", in_channels=1, num_classes=2, input_size=8)
    model.replace_head(5)
    assert model.num_classes == 5 and model.head.weight.shape == (5, model.feature_dim)
    assert float(model.head.weight.detach().abs().sum()) == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(name="alexnet", in_channels=1, num_classes=2, input_size=8),
        dict(name="cnn", in_channels=0, num_classes=2, input_size=8),
        dict(name="cnn", in_channels=1, num_classes=1, input_size=8),
        dict(name="cnn", in_channels=1, num_classes=2, input_size=2),
        dict(name="cnn", in_channels=1.5, num_classes=2, input_size=8),
    ],
)
def test_build_probe_rejects_bad_arguments(kwargs):
    name = kwargs.pop("name")
    with pytest.raises(ConfigError):
        build_probe(name, **kwargs)


# --------------------------------------------------------------------------- config and record


@pytest.mark.parametrize(
    "bad",
    [
        dict(name="nope"),
        dict(epsilon=1.0),
        dict(epsilon=-0.1),
        dict(max_epochs=0),
        dict(max_steps=0),
        dict(min_steps=-1),
        dict(lr=0.0),
        dict(lr=float("nan")),
        dict(batch_size=0),
        dict(weight_decay=-1.0),
    ],
)
def test_probe_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        ProbeConfig(**bad)


def test_probe_config_round_trip_and_unknown_keys():
    cfg = ProbeConfig(name="vgg16", epsilon=0.1, max_epochs=4)
    assert ProbeConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown probe config"):
        ProbeConfig.from_dict({**cfg.to_dict(), "momentum": 0.9})


def test_probe_record_from_dict_needs_the_required_fields():
    with pytest.raises(ConfigError, match="lacks"):
        ProbeRecord.from_dict({"probe": "cnn", "seed": 0})


# --------------------------------------------------------------------------- training


def test_training_is_deterministic_per_seed_and_differs_across_seeds(digits):
    task = digits["T2"]
    cfg = ProbeConfig(**FAST)
    m1, r1 = train_probe(task, cfg, seed=3, device="cpu", quiet=True)
    m2, r2 = train_probe(task, cfg, seed=3, device="cpu", quiet=True)
    m3, _ = train_probe(task, cfg, seed=4, device="cpu", quiet=True)
    assert _same(_state(m1), _state(m2))
    assert not _same(_state(m1), _state(m3))
    assert (r1.epochs, r1.val_error) == (r2.epochs, r2.val_error)


def test_record_describes_the_returned_model(digits):
    task = digits["T2"]
    cfg = ProbeConfig(**FAST)
    model, record = train_probe(task, cfg, seed=0, device="cpu", quiet=True)
    assert not model.training
    acc = evaluate(model, task, task.splits["val"], device="cpu")  # an independent measurement
    assert record.val_acc == pytest.approx(acc)
    assert record.val_error == pytest.approx(1.0 - acc)
    assert record.reached_epsilon == (record.val_error <= cfg.epsilon)
    assert record.epochs == 3 and record.seed == 0 and record.probe == "cnn"
    steps_per_epoch = math.ceil(len(task.splits["train"]) / cfg.batch_size)
    assert record.steps == 3 * steps_per_epoch
    assert (record.in_channels, record.num_classes, record.input_size) == (1, 5, 8)
    assert record.config == cfg.to_dict() and record.task == "T2" and record.train_seconds > 0
    # a record rebuilds the architecture; the weights load into it
    again = ProbeRecord.from_dict({**record.to_dict(), "field_from_the_future": 1})
    assert again == record
    rebuilt = again.build()
    rebuilt.load_state_dict(model.state_dict())
    assert evaluate(rebuilt, task, task.splits["val"], device="cpu") == pytest.approx(acc)


def test_training_learns(digits):
    task = digits["T3"]
    untrained = probe_for_task("cnn", task, seed=0)
    chance = evaluate(untrained, task, task.splits["val"], device="cpu")
    _, record = train_probe(task, ProbeConfig(max_epochs=5, min_steps=0, epsilon=0.0), seed=0, quiet=True)
    assert record.val_acc > 0.8 > chance


def test_stopping_rules(digits):
    task = digits["T0"]  # 2 steps per epoch
    spe = math.ceil(len(task.splits["train"]) / 128)
    # epsilon reached at once, no minimum: one epoch
    _, r = train_probe(task, ProbeConfig(epsilon=0.99, min_steps=0), seed=0, quiet=True)
    assert r.epochs == 1 and r.reached_epsilon
    # epsilon reached at once, but min_steps holds training back
    _, r = train_probe(task, ProbeConfig(epsilon=0.99, min_steps=5 * spe), seed=0, quiet=True)
    assert r.epochs == 5 and r.steps == 5 * spe
    # unreachable epsilon: the epoch cap
    _, r = train_probe(task, ProbeConfig(epsilon=0.0, max_epochs=2), seed=0, quiet=True)
    assert r.epochs == 2
    # the step cap: no epoch starts that would pass it, but one always runs
    _, r = train_probe(task, ProbeConfig(epsilon=0.0, max_steps=3 * spe + 1), seed=0, quiet=True)
    assert r.epochs == 3
    _, r = train_probe(task, ProbeConfig(epsilon=0.0, max_steps=1), seed=0, quiet=True)
    assert r.epochs == 1


def test_training_needs_train_and_val_data(digits):
    task = digits["T0"]
    empty = Split(task.splits["val"].x[:0], task.splits["val"].y[:0])
    broken = dataclasses.replace(task, splits={**task.splits, "val": empty})
    with pytest.raises(TanasError, match="empty val split"):
        train_probe(broken, ProbeConfig(**FAST), quiet=True)
