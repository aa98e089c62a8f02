"""Transferability scores, each checked against an independent computation.

- LEEP and NCE: tiny examples worked out by hand (the arithmetic is written out below).
- LogME: brute-force maximisation over a log-spaced (alpha, beta) grid of the Gaussian
  marginal likelihood N(y; 0, f fᵀ/α + I/β), computed naively with det and inv.
- H-score: a 1-D closed form by hand, and a multi-D computation with explicit loops.
"""

import math

import numpy as np
import pytest
import torch

from tanas.errors import TanasError
from tanas.transferability import ESTIMATORS, Estimator, ScoreError, hscore, leep, logme, nce

# ----------------------------------------------------------------------------- LEEP

# 4 target samples, 2 source classes (columns), 2 target classes.
THETA = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.2, 0.8]])
Y4 = np.array([0, 0, 1, 0])


def test_leep_hand_worked_example():
    # Joint P(y, z) = (1/4) Σ_i θ_iz [y_i = y]:
    #   y=0 (samples 0, 1, 3): z0 = (0.9+0.8+0.2)/4 = 0.475, z1 = (0.1+0.2+0.8)/4 = 0.275
    #   y=1 (sample 2):        z0 = 0.3/4 = 0.075,          z1 = 0.7/4 = 0.175
    # P(z0) = 0.55, P(z1) = 0.45, so
    #   P(y0|z0) = 0.475/0.55 = 19/22, P(y1|z0) = 3/22, P(y0|z1) = 0.275/0.45 = 11/18, P(y1|z1) = 7/18.
    expected = (
        math.log(0.9 * 19 / 22 + 0.1 * 11 / 18)
        + math.log(0.8 * 19 / 22 + 0.2 * 11 / 18)
        + math.log(0.3 * 3 / 22 + 0.7 * 7 / 18)
        + math.log(0.2 * 19 / 22 + 0.8 * 11 / 18)
    ) / 4
    assert leep(THETA, Y4) == pytest.approx(expected, rel=1e-12)
    # By hand: the four sums are 0.83838, 0.81313, 0.31313, 0.66162; their logs -0.17628, -0.20687,
    # -1.16114, -0.41305; the mean -0.48934.
    assert expected == pytest.approx(-0.48934, abs=1e-5)


def test_leep_would_catch_a_swapped_conditional():
    # The wrong conditional P(z|y) = P(y, z)/P(y), with P(y0) = 0.75, P(y1) = 0.25:
    #   P(z0|y0) = 0.475/0.75 = 19/30, P(z1|y0) = 11/30, P(z0|y1) = 0.3, P(z1|y1) = 0.7.
    swapped = (
        math.log(0.9 * 19 / 30 + 0.1 * 11 / 30)
        + math.log(0.8 * 19 / 30 + 0.2 * 11 / 30)
        + math.log(0.3 * 0.3 + 0.7 * 0.7)
        + math.log(0.2 * 19 / 30 + 0.8 * 11 / 30)
    ) / 4
    assert abs(leep(THETA, Y4) - swapped) > 0.05


def test_leep_is_at_most_zero_and_zero_for_a_deterministic_mapping():
    rng = np.random.default_rng(0)
    for _ in range(5):
        logits = rng.normal(size=(40, 6))
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        assert leep(p, rng.integers(0, 3, size=40)) <= 0.0
    # One-hot source predictions; the target label is a function of the source label (3 -> 2, many to one).
    z = np.array([0, 1, 2, 2, 1, 0, 2])
    mapping = np.array([1, 0, 1])
    assert leep(np.eye(3)[z], mapping[z]) == 0.0


# ----------------------------------------------------------------------------- NCE

Z4 = np.array([0, 0, 1, 1])  # hard source labels for the 4 samples of Y4 = [0, 0, 1, 0]


def test_nce_hand_worked_example():
    # Joint: (y0, z0) = 2/4, (y0, z1) = 1/4, (y1, z1) = 1/4.
    # H(Y|Z) = P(z0)·H(Y|z0) + P(z1)·H(Y|z1) = 0.5·0 + 0.5·log 2.
    assert nce(Z4, Y4) == pytest.approx(-0.5 * math.log(2), rel=1e-12)
    # Probabilities are reduced to their argmax: THETA's argmax is Z4.
    assert nce(THETA, Y4) == pytest.approx(-0.5 * math.log(2), rel=1e-12)


def test_nce_would_catch_swapped_arguments():
    # H(Z|Y) = P(y0)·H(Z|y0) + P(y1)·H(Z|y1) = 0.75·H(2/3, 1/3) + 0.25·0.
    h_z_given_y = 0.75 * -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert nce(Y4, Z4) == pytest.approx(-h_z_given_y, rel=1e-12)  # what the swapped call computes
    assert abs(nce(Z4, Y4) - (-h_z_given_y)) > 0.1


def test_nce_is_zero_when_the_source_label_determines_the_target():
    z = np.array([0, 1, 2, 2, 1, 0, 2])
    assert nce(z, np.array([1, 0, 1])[z]) == 0.0


# ----------------------------------------------------------------------------- LogME


def naive_log_evidence(f: np.ndarray, y: np.ndarray, alpha: float, beta: float) -> float:
    """log N(y; 0, f fᵀ/α + I/β): the marginal likelihood of y = f w + ε, w ~ N(0, I/α), ε ~ N(0, I/β)."""
    n = f.shape[0]
    cov = f @ f.T / alpha + np.eye(n) / beta
    return -0.5 * n * math.log(2 * math.pi) - 0.5 * math.log(np.linalg.det(cov)) - 0.5 * y @ np.linalg.inv(cov) @ y


def grid_max(f: np.ndarray, y: np.ndarray, log_alphas: np.ndarray, log_betas: np.ndarray) -> tuple[float, float]:
    """Brute-force maximum of the evidence over a log-spaced (α, β) grid, zoomed in twice around the best
    point (each time a 21 x 21 grid spanning the neighbouring cells); returns the maximum and its resolution,
    the largest drop from it to a neighbouring point of the finest grid."""
    for _ in range(3):
        grid = np.array([[naive_log_evidence(f, y, 10.0**a, 10.0**b) for b in log_betas] for a in log_alphas])
        i, j = np.unravel_index(np.argmax(grid), grid.shape)
        assert 0 < i < len(log_alphas) - 1 and 0 < j < len(log_betas) - 1, "the maximum must lie inside the grid"
        drop = max(grid[i, j] - grid[i + di, j + dj] for di in (-1, 0, 1) for dj in (-1, 0, 1))
        log_alphas = np.linspace(log_alphas[i - 1], log_alphas[i + 1], 21)
        log_betas = np.linspace(log_betas[j - 1], log_betas[j + 1], 21)
    return float(grid[i, j]), float(drop)


def test_logme_matches_brute_force_grid_maximum():
    rng = np.random.default_rng(1)
    n, d = 24, 3
    labels = rng.integers(0, 2, size=n)
    means = np.array([[1.0, 0.5, -1.0], [-0.5, 1.0, 1.0]])
    f = rng.normal(size=(n, d)) + 1.5 * means[labels]  # no intercept: each class needs its own mean
    log_alphas = np.linspace(-2, 4, 49)
    log_betas = np.linspace(-2, 3, 41)
    maxima, drops = zip(*(grid_max(f, (labels == c).astype(float), log_alphas, log_betas) for c in (0, 1)))
    expected = float(np.mean(maxima)) / n
    resolution = float(np.mean(drops)) / n
    assert resolution < 1e-5  # the zoomed grid resolves the maximum finely
    got = logme(f, labels)
    assert got >= expected - 1e-12  # the fixed point is at least as good as every grid point
    assert got - expected <= resolution  # and no better than the grid can resolve


def test_logme_with_more_dimensions_than_samples_beats_every_grid_point():
    # n < D: f fᵀ has full rank, so the evidence may peak at an infinite β; the fixed point must still be
    # at least as good as every point of a wide grid.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=10)
    f = rng.normal(size=(10, 20))
    log_alphas, log_betas = np.linspace(-3, 5, 33), np.linspace(-3, 8, 45)
    best = [
        max(naive_log_evidence(f, (labels == c).astype(float), 10.0**a, 10.0**b) for a in log_alphas for b in log_betas)
        for c in (0, 1)
    ]
    assert logme(f, labels) >= float(np.mean(best)) / 10 - 1e-12


def test_logme_ignores_zero_feature_columns():
    # A zero column leaves f fᵀ, hence the evidence, unchanged: checks the rank-deficient (k < D) path.
    rng = np.random.default_rng(2)
    f = rng.normal(size=(30, 4))
    labels = rng.integers(0, 3, size=30)
    assert logme(np.hstack([f, np.zeros((30, 2))]), labels) == pytest.approx(logme(f, labels), rel=1e-10)


def test_logme_prefers_separable_features_to_noise():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, size=60)
    separable = np.hstack([3.0 * np.eye(3)[labels], np.zeros((60, 2))]) + 0.1 * rng.normal(size=(60, 5))
    noise = rng.normal(size=(60, 5))
    assert logme(separable, labels) > logme(noise, labels)


# ----------------------------------------------------------------------------- H-score


def test_hscore_one_dimensional_closed_form():
    # f = [1, 3, 5, 7], y = [0, 0, 1, 1]: overall mean 4, var(f) = (9+1+1+9)/4 = 5;
    # class means 2 and 6, so E[f|y] = [2, 2, 6, 6] with var = (4+4+4+4)/4 = 4. H = 4/5.
    assert hscore(np.array([[1.0], [3.0], [5.0], [7.0]]), np.array([0, 0, 1, 1])) == pytest.approx(0.8, rel=1e-12)
    # Unbalanced: f = [0, 2, 4], y = [0, 0, 1]: mean 2, var(f) = 8/3; E[f|y] = [1, 1, 4], var = 2. H = 3/4.
    assert hscore(np.array([[0.0], [2.0], [4.0]]), np.array([0, 0, 1])) == pytest.approx(0.75, rel=1e-12)


def hscore_with_loops(f: np.ndarray, y: np.ndarray) -> float:
    n, d = f.shape
    mu = np.zeros(d)
    for i in range(n):
        mu += f[i] / n
    cov_f = np.zeros((d, d))
    for i in range(n):
        cov_f += np.outer(f[i] - mu, f[i] - mu) / n
    cov_g = np.zeros((d, d))
    for c in sorted(set(y.tolist())):
        members = [i for i in range(n) if y[i] == c]
        mu_c = sum(f[i] for i in members) / len(members)
        cov_g += len(members) / n * np.outer(mu_c - mu, mu_c - mu)
    return float(np.trace(np.linalg.solve(cov_f, cov_g)))


def test_hscore_full_rank_matches_explicit_loops():
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, size=50)
    f = rng.normal(size=(50, 4)) + rng.normal(size=(3, 4))[labels]
    assert hscore(f, labels) == pytest.approx(hscore_with_loops(f, labels), rel=1e-10)


def test_hscore_pseudo_inverse_ignores_constant_and_duplicated_features():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 3, size=40)
    f = rng.normal(size=(40, 3)) + rng.normal(size=(3, 3))[labels]
    singular = np.hstack([f, f[:, :1], np.full((40, 1), 7.0)])  # cov(f) is singular
    assert hscore(singular, labels) == pytest.approx(hscore_with_loops(f, labels), rel=1e-8)


# ----------------------------------------------------------------------------- all scores


def _inputs(seed: int = 6):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, size=50)
    logits = rng.normal(size=(50, 5)) + 2.0 * np.eye(5)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    features = rng.normal(size=(50, 6)) + rng.normal(size=(4, 6))[labels]
    return probs, features, labels


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_scores_are_invariant_to_permuting_target_label_ids(name):
    probs, features, labels = _inputs()
    est = ESTIMATORS[name]
    x = probs if est.needs == "probs" else features
    permuted = np.array([7, 0, 3, 1])[labels]  # a relabelling (ids need not be contiguous)
    assert est.fn(x, permuted) == pytest.approx(est.fn(x, labels), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_scores_accept_torch_tensors(name):
    probs, features, labels = _inputs()
    est = ESTIMATORS[name]
    x = probs if est.needs == "probs" else features
    got = est.fn(torch.tensor(x, dtype=torch.float32), torch.tensor(labels))
    assert got == pytest.approx(est.fn(x.astype(np.float32), labels), rel=1e-12)


def test_registry_names_needs_and_citations():
    assert set(ESTIMATORS) == {"leep", "nce", "logme", "hscore"}
    years = {"leep": "ICML 2020", "nce": "ICCV 2019", "logme": "ICML 2021", "hscore": "ICIP 2019"}
    for name, est in ESTIMATORS.items():
        assert isinstance(est, Estimator) and est.name == name
        assert est.needs == ("probs" if name in ("leep", "nce") else "features")
        assert years[name] in est.citation and years[name] in est.fn.__doc__
        assert "Higher transfers better" in est.fn.__doc__
    with pytest.raises(TypeError):
        ESTIMATORS["x"] = ESTIMATORS["leep"]  # read-only


# ----------------------------------------------------------------------------- errors


def _raises_one_line(fn, *args, match: str) -> None:
    with pytest.raises(ScoreError, match=match) as info:
        fn(*args)
    assert isinstance(info.value, TanasError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_error_paths_give_one_line_errors(name):
    probs, features, labels = _inputs()
    est = ESTIMATORS[name]
    x = probs if est.needs == "probs" else features
    _raises_one_line(est.fn, x, labels[:-1], match="pass one label per sample")
    _raises_one_line(est.fn, x[:1], labels[:1], match="at least 2 samples")
    _raises_one_line(est.fn, x[:0], labels[:0], match="at least 2 samples")
    bad = x.copy()
    bad[3, 0] = np.nan
    _raises_one_line(est.fn, bad, labels, match="NaN")
    _raises_one_line(est.fn, x, labels.astype(float), match=r"astype\(int\)")
    _raises_one_line(est.fn, x, labels - 1, match=">= 0")
    # A 1-D vector is not a matrix (for NCE it is read as hard labels, which must be integers).
    _raises_one_line(est.fn, x[:, 0], labels, match="integers" if name == "nce" else "2-D")


@pytest.mark.parametrize("fn", [leep, nce])
def test_probability_inputs_must_be_probabilities(fn):
    probs, _, labels = _inputs()
    _raises_one_line(fn, np.log(probs), labels, match="not logits")
    _raises_one_line(fn, probs * 2, labels, match="sum to 1")


def test_all_zero_features_are_refused_by_logme():
    _raises_one_line(logme, np.zeros((5, 3)), np.array([0, 1, 0, 1, 0]), match="all zero")
