"""The Fisher Task Distance, head refitting, transfer Fishers and distance matrices."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tanas.distance import (
    DistanceError,
    DistanceMatrix,
    distance_matrix,
    fisher_task_distance,
    fit_linear_head,
    refit_head,
    task2vec_distance,
    task_inputs,
    transfer_fisher,
)
from tanas.errors import ConfigError, TanasError
from tanas.fisher import diagonal_fisher
from tanas.probe import ProbeConfig, train_probe

FAST = ProbeConfig(max_epochs=4, min_steps=0, epsilon=0.0)


@pytest.fixture(scope="module")
def probes(digits):
    return {name: train_probe(task, FAST, seed=0, device="cpu", quiet=True)[0] for name, task in digits.items()}


def _ref_ftd(fa: dict, fb: dict, names=None) -> float:
    """Independent reference: numpy over the concatenated, trace-normalised vectors."""
    names = names or list(fa)
    a = np.concatenate([fa[n].double().numpy().ravel() for n in names])
    b = np.concatenate([fb[n].double().numpy().ravel() for n in names])
    return float(np.linalg.norm(np.sqrt(a / a.sum()) - np.sqrt(b / b.sum())) / np.sqrt(2))


def _rand_fisher(seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "body.0.weight": torch.rand(4, 3, generator=g) * scale,
        "body.0.bias": torch.rand(4, generator=g) * scale,
        "head.weight": torch.rand(2, 4, generator=g) * scale,
        "head.bias": torch.rand(2, generator=g) * scale,
    }


# --------------------------------------------------------------------------- the distance itself


def test_distance_matches_an_independent_reference():
    fa, fb = _rand_fisher(0), _rand_fisher(1)
    assert fisher_task_distance(fa, fb) == pytest.approx(_ref_ftd(fa, fb), rel=1e-12)
    body = ["body.0.weight", "body.0.bias"]
    assert fisher_task_distance(fa, fb, layers="body") == pytest.approx(_ref_ftd(fa, fb, body), rel=1e-12)


def test_zero_against_itself_and_one_for_disjoint_support():
    fa = _rand_fisher(0)
    assert fisher_task_distance(fa, fa) == 0.0
    left = {"body.w": torch.tensor([1.0, 2.0, 0.0, 0.0])}
    right = {"body.w": torch.tensor([0.0, 0.0, 3.0, 1.0])}
    assert fisher_task_distance(left, right) == pytest.approx(1.0)
    assert fisher_task_distance(left, right, squared=True) == pytest.approx(2.0)


def test_scaling_a_fisher_changes_nothing():
    fa, fb = _rand_fisher(0), _rand_fisher(1)
    scaled = {k: 37.5 * v for k, v in fa.items()}
    for normalise in ("whole", "per_layer"):
        assert fisher_task_distance(scaled, fb, normalise=normalise) == pytest.approx(
            fisher_task_distance(fa, fb, normalise=normalise),
            rel=1e-6,  # float32 products round
        )


def test_squared_is_the_papers_form():
    fa, fb = _rand_fisher(2), _rand_fisher(3)
    d = fisher_task_distance(fa, fb)
    assert fisher_task_distance(fa, fb, squared=True) == pytest.approx(2 * d * d, rel=1e-12)


def test_layers_body_ignores_the_head():
    fa, fb = _rand_fisher(0), _rand_fisher(1)
    other_head = {**fa, "head.weight": fa["head.weight"] * 0 + 5.0, "head.bias": fa["head.bias"] + 1.0}
    assert fisher_task_distance(fa, fb, layers="body") == pytest.approx(
        fisher_task_distance(other_head, fb, layers="body")
    )
    assert fisher_task_distance(fa, fb) != pytest.approx(fisher_task_distance(other_head, fb))


def test_per_layer_normalisation_reference():
    fa, fb = _rand_fisher(4), _rand_fisher(5)
    L = len(fa)
    total = sum(
        float(((fa[k] / fa[k].sum() / L).sqrt() - (fb[k] / fb[k].sum() / L).sqrt()).double().pow(2).sum()) for k in fa
    )
    assert fisher_task_distance(fa, fb, normalise="per_layer") == pytest.approx(math.sqrt(total / 2), rel=1e-6)
    # a tensor zero in both is left out; zero in only one counts fully
    both_zero = {**fa, "body.extra": torch.zeros(3)}
    assert fisher_task_distance(
        both_zero, {**fb, "body.extra": torch.zeros(3)}, normalise="per_layer"
    ) == pytest.approx(fisher_task_distance(fa, fb, normalise="per_layer"))
    one_zero = fisher_task_distance(
        {**fa, "body.extra": torch.zeros(3)}, {**fb, "body.extra": torch.ones(3)}, normalise="per_layer"
    )
    assert 0.0 < one_zero <= 1.0


def test_heads_of_different_shapes_are_zero_padded():
    fa, fb = _rand_fisher(0), _rand_fisher(1)
    bigger = {**fa, "head.weight": torch.rand(5, 4), "head.bias": torch.rand(5)}
    padded_b = {
        **fb,
        "head.weight": torch.cat([fb["head.weight"], torch.zeros(3, 4)]),
        "head.bias": torch.cat([fb["head.bias"], torch.zeros(3)]),
    }
    assert fisher_task_distance(bigger, fb) == pytest.approx(fisher_task_distance(bigger, padded_b), rel=1e-12)
    assert fisher_task_distance(bigger, fb) == pytest.approx(_ref_ftd(bigger, padded_b), rel=1e-12)


nonneg = st.lists(st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False), min_size=6, max_size=6)


@settings(max_examples=200, deadline=None)
@given(a=nonneg, b=nonneg, c=nonneg, d=nonneg, normalise=st.sampled_from(["whole", "per_layer"]))
def test_distance_is_within_bounds_on_random_fishers(a, b, c, d, normalise):
    fa = {"body.w": torch.tensor(a, dtype=torch.float64), "head.w": torch.tensor(c, dtype=torch.float64)}
    fb = {"body.w": torch.tensor(b, dtype=torch.float64), "head.w": torch.tensor(d, dtype=torch.float64)}
    if sum(a) + sum(c) == 0 or sum(b) + sum(d) == 0:
        with pytest.raises(DistanceError):
            fisher_task_distance(fa, fb, normalise=normalise)
        return
    value = fisher_task_distance(fa, fb, normalise=normalise)
    assert 0.0 <= value <= 1.0
    assert 0.0 <= fisher_task_distance(fa, fb, normalise=normalise, squared=True) <= 2.0
    assert fisher_task_distance(fa, fa, normalise=normalise) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize(
    "fa,fb,kwargs,match",
    [
        ({"body.a": torch.ones(2)}, {"body.b": torch.ones(2)}, {}, "different parameters"),
        ({"body.a": -torch.ones(2)}, {"body.a": torch.ones(2)}, {}, "negative"),
        ({"body.a": torch.tensor([1.0, float("nan")])}, {"body.a": torch.ones(2)}, {}, "NaN"),
        ({"body.a": torch.zeros(2)}, {"body.a": torch.ones(2)}, {}, "zero on every"),
        ({"body.a": torch.ones(2, 2)}, {"body.a": torch.ones(4)}, {}, "shape"),
        ({"head.a": torch.ones(2)}, {"head.a": torch.ones(2)}, {"layers": "body"}, "body"),
        ({}, {}, {}, "non-empty"),
        ({"body.a": [1.0]}, {"body.a": torch.ones(1)}, {}, "not a tensor"),
    ],
)
def test_distance_errors(fa, fb, kwargs, match):
    with pytest.raises(DistanceError, match=match):
        fisher_task_distance(fa, fb, **kwargs)


@pytest.mark.parametrize("kwargs", [dict(layers="head"), dict(normalise="trace"), dict(layers="")])
def test_unknown_options(kwargs):
    fa = _rand_fisher(0)
    with pytest.raises(ConfigError, match="unknown"):
        fisher_task_distance(fa, fa, **kwargs)


def test_task2vec_distance_reference_and_symmetry():
    fa, fb = _rand_fisher(0), _rand_fisher(1)
    body = ["body.0.weight", "body.0.bias"]
    a = np.concatenate([fa[n].double().numpy().ravel() for n in body])
    b = np.concatenate([fb[n].double().numpy().ravel() for n in body])
    ua, ub = a / (a + b), b / (a + b)
    expected = 1 - ua @ ub / (np.linalg.norm(ua) * np.linalg.norm(ub))
    assert task2vec_distance(fa, fb) == pytest.approx(expected, rel=1e-10)
    assert task2vec_distance(fb, fa) == pytest.approx(expected, rel=1e-10)
    assert task2vec_distance(fa, fa) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- the head refit


def test_linear_head_matches_scikit_learn(digits, probes):
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    task = digits["T2"]  # 5 classes (sklearn's binary case parametrises differently)
    model = probes["T0"]
    with torch.no_grad():
        feats = model.body(task.normalise(task.splits["train"].x)).double()
    y = task.splits["train"].y
    l2 = 1e-2
    w, b, info = fit_linear_head(feats, y, task.num_classes, l2=l2, tol=1e-7)
    assert info.converged
    ref = sklearn_lm.LogisticRegression(C=1.0 / (l2 * len(y)), tol=1e-12, max_iter=20000)
    ref.fit(feats.numpy(), y.numpy())
    scale = float(np.abs(ref.coef_).max())
    # the softmax is unchanged by a common shift of b, so compare b up to its mean
    assert np.abs(w.numpy() - ref.coef_).max() < 1e-3 * scale
    b_np, ref_b = b.numpy() - b.numpy().mean(), ref.intercept_ - ref.intercept_.mean()
    assert np.abs(b_np - ref_b).max() < 1e-3 * max(1.0, float(np.abs(ref_b).max()))


def test_linear_head_is_at_the_optimum_whatever_the_start(digits, probes):
    task = digits["T3"]
    with torch.no_grad():
        feats = probes["T1"].body(task.normalise(task.splits["train"].x)).double()
    y = task.splits["train"].y
    w0, b0, _ = fit_linear_head(feats, y, 10, seed=0)
    w1, _b1, _ = fit_linear_head(feats, y, 10, seed=1)
    assert torch.allclose(w0, w1, atol=1e-3 * float(w0.abs().max()))
    # gradient of the raw-coordinate objective, by autograd: ~0 at the solution
    w = w0.clone().requires_grad_(True)
    b = b0.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(feats @ w.T + b, y) + 0.5e-3 * (w * w).sum()
    loss.backward()
    assert float(w.grad.abs().max()) < 1e-4 and float(b.grad.abs().max()) < 1e-4


def test_fit_linear_head_errors():
    with pytest.raises(DistanceError):
        fit_linear_head(torch.randn(5, 3), torch.zeros(4, dtype=torch.long), 2)
    with pytest.raises(DistanceError, match="labels"):
        fit_linear_head(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]), 2)
    with pytest.raises(ConfigError):
        fit_linear_head(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]), 2, l2=0.0)


def test_refit_head_copies_and_keeps_the_body(digits, probes):
    source, task = probes["T0"], digits["T3"]
    before = {k: v.clone() for k, v in source.state_dict().items()}
    refit = refit_head(source, task, seed=0, device="cpu")
    assert all(torch.equal(before[k], v) for k, v in source.state_dict().items()), "the source must not change"
    assert refit is not source and refit.num_classes == 10 and refit.head.weight.shape == (10, source.feature_dim)
    for k, v in refit.state_dict().items():
        if k.startswith("body."):
            assert torch.equal(v, before[k])
    assert refit.refit_info.converged
    # the refitted head beats chance on the target's validation data
    x, y = task_inputs(task)
    with torch.no_grad():
        acc = float((refit(x).argmax(1) == y).float().mean())
    assert acc > 0.3


# --------------------------------------------------------------------------- transfer Fishers


def test_same_task_fisher_is_the_plain_fisher_on_validation_data(digits, probes):
    task, model = digits["T2"], probes["T2"]
    x, y = task_inputs(task)
    assert len(y) == len(task.splits["val"])
    direct = diagonal_fisher(model, (x, y), "empirical", seed=0)
    via = transfer_fisher(model, task, same_task=True, seed=0)
    assert direct.keys() == via.keys() and all(torch.allclose(direct[k], via[k]) for k in direct)


def test_refit_transfer_fisher_has_the_targets_shapes(digits, probes):
    f_ab = transfer_fisher(probes["T0"], digits["T3"], same_task=False)
    f_bb = transfer_fisher(probes["T3"], digits["T3"], same_task=True)
    assert {k: v.shape for k, v in f_ab.items()} == {k: v.shape for k, v in f_bb.items()}
    assert all(bool((v >= 0).all()) for v in f_ab.values())


def test_pad_head_refuses_phantom_classes_and_pads_otherwise(digits, probes):
    with pytest.raises(DistanceError, match="refit"):
        transfer_fisher(probes["T0"], digits["T3"], same_task=False, head="pad")  # 2-class head, 10 labels
    f_ab = transfer_fisher(probes["T3"], digits["T0"], same_task=False, head="pad")  # labels 0/1 as digit ids
    assert f_ab["head.weight"].shape[0] == 10
    f_bb = transfer_fisher(probes["T0"], digits["T0"], same_task=True)
    assert 0.0 < fisher_task_distance(f_ab, f_bb) <= 1.0


def test_transfer_fisher_errors(digits, probes):
    with pytest.raises(DistanceError, match="same_task"):
        transfer_fisher(probes["T0"], digits["T3"], same_task=True)
    with pytest.raises(ConfigError, match="head"):
        transfer_fisher(probes["T0"], digits["T1"], same_task=False, head="zero")
    with pytest.raises(ConfigError, match="ProbeNet"):
        transfer_fisher(torch.nn.Linear(64, 2), digits["T1"], same_task=False)
    rgb = dataclasses.replace(digits["T1"], input_shape=(3, 8, 8))
    with pytest.raises(DistanceError, match="channels"):
        transfer_fisher(probes["T0"], rgb, same_task=False)


def test_ftd_is_asymmetric_on_a_real_pair(digits, probes):
    d = {}
    for a, b in (("T0", "T2"), ("T2", "T0")):
        f_ab = transfer_fisher(probes[a], digits[b], same_task=False)
        f_bb = transfer_fisher(probes[b], digits[b], same_task=True)
        d[a, b] = fisher_task_distance(f_ab, f_bb)
        assert 0.0 < d[a, b] < 1.0
    assert abs(d["T0", "T2"] - d["T2", "T0"]) > 1e-3


# --------------------------------------------------------------------------- matrices


@pytest.fixture(scope="module")
def small_matrix(digits):
    tasks = [digits["T0"], digits["T1"], digits["T2"]]
    return distance_matrix(tasks, probe=FAST, seeds=2, device="cpu", quiet=True)


def test_distance_matrix_structure(small_matrix):
    m = small_matrix
    n = 3
    assert m.tasks == ["T0", "T1", "T2"]
    assert len(m.per_seed) == 2 and all(len(r) == n and all(len(c) == n for c in r) for r in m.per_seed)
    per_seed = np.array(m.per_seed)
    assert np.all(np.diagonal(per_seed, axis1=1, axis2=2) == 0)
    off = per_seed[:, ~np.eye(n, dtype=bool)]
    assert np.all((off > 0) & (off <= 1))
    np.testing.assert_allclose(m.mean, per_seed.mean(0), rtol=1e-12)
    np.testing.assert_allclose(m.std, per_seed.std(0, ddof=1), rtol=1e-9, atol=1e-15)
    assert not np.allclose(np.array(m.mean), np.array(m.mean).T), "FTD is asymmetric"
    for j, target in enumerate(m.tasks):
        column = [(m.mean[i][j], m.tasks[i]) for i in range(n) if i != j]
        assert m.nearest[target]["source"] == min(column)[1]
        own = [min((per_seed[s, i, j], i) for i in range(n) if i != j)[1] for s in range(2)]
        share = sum(m.tasks[i] == m.nearest[target]["source"] for i in own) / 2
        assert m.nearest[target]["agreement"] == share
    assert len(m.probes) == 2 * n and {p["seed"] for p in m.probes} == {0, 1}
    assert m.config["head"] == "refit" and m.config["probe_seeds"] == [0, 1] and m.config["fisher_split"] == "val"


def test_distance_matrix_round_trips_through_json(small_matrix):
    payload = json.loads(json.dumps(small_matrix.to_dict()))
    assert set(payload) >= {"tasks", "mean", "std", "per_seed", "nearest", "config"}
    again = DistanceMatrix.from_dict(payload)
    assert again.mean == small_matrix.mean and again.nearest == small_matrix.nearest
    with pytest.raises(ConfigError):
        DistanceMatrix.from_dict({"tasks": []})


def test_distance_matrix_is_deterministic_and_squared_matches(digits, small_matrix):
    tasks = [digits["T0"], digits["T1"], digits["T2"]]
    again = distance_matrix(tasks, probe=FAST, seeds=1, device="cpu", quiet=True, squared=True)
    expected = [[2 * v * v for v in row] for row in small_matrix.per_seed[0]]
    np.testing.assert_allclose(again.per_seed[0], expected, rtol=1e-9)


def test_pad_matrix_marks_undefined_pairs(digits):
    tasks = [digits["T0"], digits["T2"]]
    m = distance_matrix(tasks, probe=FAST, seeds=1, head="pad", device="cpu", quiet=True)
    assert math.isnan(m.mean[0][1]) and 0 < m.mean[1][0] <= 1  # T0's 2-class head cannot read T2's 5 labels
    assert m.nearest["T2"] == {"source": None, "agreement": None}
    assert m.to_dict()["mean"][0][1] is None
    json.dumps(m.to_dict(), allow_nan=False)


def test_task2vec_matrix_is_symmetric(digits):
    tasks = [digits["T0"], digits["T1"], digits["T2"]]
    m = distance_matrix(tasks, probe=FAST, seeds=1, method="task2vec", device="cpu", quiet=True)
    mean = np.array(m.mean)
    np.testing.assert_allclose(mean, mean.T)
    assert np.all(np.diag(mean) == 0) and np.all(mean[~np.eye(3, dtype=bool)] > 0)
    assert m.config["reference_task"] == "T2" and len(m.probes) == 1  # the task with the most classes


def test_distance_matrix_errors(digits):
    t0, t1 = digits["T0"], digits["T1"]
    with pytest.raises(ConfigError, match="at least two"):
        distance_matrix([t0], quiet=True)
    with pytest.raises(ConfigError, match="unique"):
        distance_matrix([t0, t0], quiet=True)
    with pytest.raises(ConfigError, match="probe"):
        distance_matrix([t0, t1], probe="lenet", quiet=True)
    with pytest.raises(ConfigError, match="seeds"):
        distance_matrix([t0, t1], seeds=0, quiet=True)
    for bad in (dict(method="kl"), dict(head="x"), dict(layers="x"), dict(normalise="x"), dict(kind="x")):
        with pytest.raises(ConfigError, match="unknown"):
            distance_matrix([t0, t1], quiet=True, **bad)
    # Other sizes and grey/RGB are adapted (tests/test_distance_scores.py); two channels cannot be.
    other = dataclasses.replace(t1, input_shape=(2, 8, 8))
    with pytest.raises(TanasError, match="input"):
        distance_matrix([t0, other], quiet=True)
