"""Transferability scores as distance-matrix methods, and tasks of different input formats."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from tanas.data import Split, parse_task
from tanas.distance import distance_matrix, source_outputs, transfer_score
from tanas.errors import AdapterError, ConfigError
from tanas.probe import ProbeConfig, train_probe
from tanas.transferability import ESTIMATORS

FAST = ProbeConfig(max_epochs=3, min_steps=0, epsilon=0.0)


@pytest.fixture(scope="module")
def small_tasks():
    return [
        t
        for spec in ("digits:subset:0,1,2", "digits:subset:3,4,5", "digits:indicator:0")
        for t in parse_task(spec, seed=0)
    ]


def _rgb_npz(tmp_path, size: int) -> str:
    """The digits images as an RGB npz source at ``size``×``size``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images / 16.0 * 255.0, dtype=torch.float32)[:, None]
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="nearest").round().to(torch.uint8)
    x = x.repeat(1, 3, 1, 1).numpy().transpose(0, 2, 3, 1)
    path = tmp_path / "digits-rgb.npz"
    np.savez(path, x=x, y=d.target)
    return str(path)


def test_transfer_score_matches_a_naive_forward_pass(small_tasks):
    a, b = small_tasks[0], small_tasks[1]
    model, _ = train_probe(a, FAST, seed=0, device="cpu", quiet=True)
    x = b.normalise(b.splits["val"].x)
    y = b.splits["val"].y.numpy()
    with torch.no_grad():
        feats = np.stack([model.features(x[i : i + 1])[0].double().numpy() for i in range(len(x))])
        probs = np.stack([torch.softmax(model(x[i : i + 1])[0].double(), 0).numpy() for i in range(len(x))])
    got_f, got_p = source_outputs(model, b)
    np.testing.assert_allclose(got_f, feats, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_p, probs, rtol=1e-5, atol=1e-7)
    for method, est in ESTIMATORS.items():
        expected = est.fn(probs if est.needs == "probs" else feats, y)
        assert transfer_score(model, b, method) == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("method", ["leep", "logme"])
def test_score_matrix_says_higher_is_better_and_ranks_by_argmax(small_tasks, method):
    m = distance_matrix(small_tasks, probe=FAST, seeds=2, method=method, quiet=True)
    out = json.loads(json.dumps(m.to_dict()))
    assert out["method"] == method and out["higher_is_better"] is True
    assert out["config"]["score_split"] == "val"
    mean = np.array(m.mean)
    for b, name in enumerate(m.tasks):
        others = [a for a in range(len(m.tasks)) if a != b]
        best = max(others, key=lambda a: mean[a, b])
        assert m.nearest[name]["source"] == m.tasks[best]


def test_a_distance_matrix_says_lower_is_nearer(small_tasks):
    m = distance_matrix(small_tasks[:2], probe=FAST, seeds=1, method="task2vec", quiet=True)
    assert m.to_dict()["method"] == "task2vec" and m.to_dict()["higher_is_better"] is False


def test_tasks_of_different_formats_are_compared_through_the_adapter(tmp_path, small_tasks):
    rgb = parse_task(f"npz@{_rgb_npz(tmp_path, 12)}:subset:0,1,2", seed=0)[0]
    assert rgb.input_shape == (3, 12, 12)
    grey = small_tasks[0]
    m = distance_matrix([grey, rgb], probe=FAST, seeds=1, method="ftd", quiet=True)
    assert all(0.0 < m.mean[a][b] <= 1.0 for a, b in ((0, 1), (1, 0)))
    adapted = {(r["task"], r["from"]) for r in m.config["adapted"]}
    assert adapted == {(rgb.name, "3x12x12"), (grey.name, "1x8x8")}
    # the same images seen as grey 8x8 are (nearly) the grey task itself: the adapter maps them back
    s = distance_matrix([grey, rgb], probe=FAST, seeds=1, method="leep", quiet=True)
    assert s.to_dict()["higher_is_better"] is True


def test_an_impossible_comparison_fails_before_any_training(small_tasks, monkeypatch):
    # The sources give 1 or 3 channels; a 2-channel task (built by hand) has no channel mapping.
    base = small_tasks[1]
    splits = {k: Split(v.x.repeat(1, 2, 1, 1), v.y) for k, v in base.splits.items()}
    two = dataclasses.replace(
        base, name="two-channel", input_shape=(2, 8, 8), splits=splits, mean=base.mean * 2, std=base.std * 2
    )

    def no_training(*args, **kwargs):
        raise AssertionError("trained a probe before checking the formats")

    monkeypatch.setattr("tanas.distance.matrix.train_probe", no_training)
    with pytest.raises(AdapterError) as err:
        distance_matrix([small_tasks[0], two], probe=FAST, seeds=1, quiet=True)
    assert "\n" not in str(err.value) and "channel" in str(err.value)


def test_unknown_method_is_a_one_line_error(small_tasks):
    with pytest.raises(ConfigError, match="unknown method 'leap'"):
        distance_matrix(small_tasks, method="leap")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_cpu_probe_is_scored_on_the_gpu_without_moving_it(small_tasks):
    # The zoo loads probes on the CPU; the default device is cuda when there is one.
    model, _ = train_probe(small_tasks[0], FAST, seed=0, device="cpu", quiet=True)
    on_cpu = transfer_score(model, small_tasks[1], "logme", device="cpu")
    on_gpu = transfer_score(model, small_tasks[1], "logme", device="cuda")
    assert next(model.parameters()).device.type == "cpu"
    assert on_gpu == pytest.approx(on_cpu, rel=1e-4, abs=1e-6)
