"""tanas.ranking against computations done independently: by hand or from the definitions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tanas.errors import ConfigError
from tanas.ranking import RankingSummary, TargetMetrics, per_target_metrics, summarise

# --------------------------------------------------------------------------- independent references


def _sign(v: float) -> int:
    return int(v > 0) - int(v < 0)


def _naive_tau_one_way(x: list[float], y: list[float]) -> float:
    """Vigna's weighted τ with the importance rank from the decreasing lexicographic order by (x, y).

    Element ranked r (0 = first) weighs 1/(r + 1); a pair weighs the sum of its elements' weights;
    τ = Σ w sgn(Δx) sgn(Δy) / sqrt(Σ w [Δx ≠ 0] · Σ w [Δy ≠ 0]), every sum over the pairs i < j.
    """
    n = len(x)
    order = sorted(range(n), key=lambda i: (x[i], y[i]), reverse=True)
    rank = {i: pos for pos, i in enumerate(order)}
    num = norm_x = norm_y = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            w = 1.0 / (rank[i] + 1) + 1.0 / (rank[j] + 1)
            num += w * _sign(x[i] - x[j]) * _sign(y[i] - y[j])
            norm_x += w * (x[i] != x[j])
            norm_y += w * (y[i] != y[j])
    return num / math.sqrt(norm_x * norm_y)


def naive_weighted_tau(x: list[float], y: list[float]) -> float:
    """scipy's default (rank=True): the mean of the two one-way values."""
    return (_naive_tau_one_way(x, y) + _naive_tau_one_way(y, x)) / 2


def column(values: list[float], gains: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """One target with the given sources, as (sources x 1) matrices."""
    return np.array(values, dtype=float)[:, None], np.array(gains, dtype=float)[:, None]


def seeds_of(rng: np.random.Generator, n_seeds: int, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed gains and a method that is the gain plus noise (a score), diagonal NaN in the gains."""
    base = rng.normal(size=(n, n))
    gains = base + 0.3 * rng.normal(size=(n_seeds, n, n))
    for g in gains:
        np.fill_diagonal(g, np.nan)
    values = base + noise * rng.normal(size=(n_seeds, n, n))
    return values, gains


# --------------------------------------------------------------------------- τ_w and ρ


def test_weighted_tau_hand_case():
    # x = (3, 2, 1), y = (3, 1, 2). Rank by x: 0, 1, 2; pairs (0,1) w 1 + 1/2 = 3/2 concordant,
    # (0,2) w 1 + 1/3 = 4/3 concordant, (1,2) w 1/2 + 1/3 = 5/6 discordant: τ = (3/2 + 4/3 - 5/6) / (11/3) = 6/11.
    # Rank by y: 0, 2, 1 gives the same weights for the same pairs, so τ_w = 6/11.
    (t,) = per_target_metrics(*column([3, 2, 1], [3, 1, 2]), higher_is_better=True, exclude_self=False)
    assert t.weighted_tau == pytest.approx(6 / 11, rel=1e-12)
    assert naive_weighted_tau([3, 2, 1], [3, 1, 2]) == pytest.approx(6 / 11, rel=1e-12)


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_weighted_tau_matches_the_definition_with_ties(higher_is_better):
    rng = np.random.default_rng(7)
    checked = 0
    for n in (3, 4, 6, 9):
        for _ in range(10):
            values = rng.integers(0, 4, size=(n, n)).astype(float)  # small integers: many ties
            gains = rng.integers(0, 4, size=(n, n)).astype(float)
            for b, t in enumerate(per_target_metrics(values, gains, higher_is_better=higher_is_better)):
                rows = [a for a in range(n) if a != b]
                score = [values[a, b] if higher_is_better else -values[a, b] for a in rows]
                gain = [gains[a, b] for a in rows]
                if len(set(score)) < 2 or len(set(gain)) < 2:
                    assert t.weighted_tau == 0.0 and t.spearman == 0.0  # no ranking
                    continue
                assert t.weighted_tau == pytest.approx(naive_weighted_tau(score, gain), abs=1e-12)
                checked += 1
    assert checked > 100


def test_top_of_the_ranking_weighs_more():
    # One swap at the top of five sources costs more than the same swap at the bottom.
    gains = [5, 4, 3, 2, 1]
    (top,) = per_target_metrics(*column([4, 5, 3, 2, 1], gains), higher_is_better=True, exclude_self=False)
    (bottom,) = per_target_metrics(*column([5, 4, 3, 1, 2], gains), higher_is_better=True, exclude_self=False)
    assert top.spearman == bottom.spearman == pytest.approx(0.9)
    assert top.weighted_tau < bottom.weighted_tau < 1.0


def test_spearman_by_hand():
    # Ranks (1..5) and (2, 1, 4, 3, 5): d = (-1, 1, -1, 1, 0), Σd² = 4, ρ = 1 - 6·4 / (5·24) = 0.8.
    (t,) = per_target_metrics(*column([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), higher_is_better=True, exclude_self=False)
    assert t.spearman == pytest.approx(0.8, rel=1e-12)
    # A tie: ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4); centred (-1.5, 0, 0, 1.5) and (-1.5, -.5, .5, 1.5):
    # ρ = 4.5 / sqrt(4.5 · 5) = sqrt(0.9). As distances: the negated numbers, lower = better.
    (t,) = per_target_metrics(*column([-1, -2, -2, -4], [1, 2, 3, 4]), higher_is_better=False, exclude_self=False)
    assert t.spearman == pytest.approx(math.sqrt(0.9), rel=1e-12)


# --------------------------------------------------------------------------- top-1 and regret

NAN = float("nan")
# Row = source a, column = target b. The diagonal would be the nearest source with the best gain
# everywhere: it must be left out.
HAND_DIST = np.array(
    [
        [0.0, 0.3, 0.7, 0.6],
        [0.2, 0.0, 0.1, 0.5],
        [0.5, 0.3, 0.0, 0.4],
        [0.9, 0.8, 0.4, 0.0],
    ]
)
HAND_GAIN = np.array(
    [
        [1.0, 0.4, 0.0, 0.3],
        [0.10, 1.0, 0.25, 0.2],
        [0.30, 0.2, 1.0, 0.1],
        [0.05, 0.1, 0.25, 1.0],
    ]
)


def test_top1_and_regret_by_hand():
    metrics = per_target_metrics(HAND_DIST, HAND_GAIN, higher_is_better=False)
    assert [t.target for t in metrics] == [0, 1, 2, 3]
    assert all(t.n_sources == 3 for t in metrics)
    t0, t1, t2, t3 = metrics
    # target 0: nearest source 1 (gain 0.10), best source 2 (0.30)
    assert (t0.chosen, t0.best, t0.top1) == ((1,), (2,), 0.0)
    assert t0.regret == pytest.approx(0.20)
    # target 1: sources 0 and 2 tie at 0.3: top-1 and regret average over them
    assert (t1.chosen, t1.best, t1.top1) == ((0, 2), (0,), 0.5)
    assert t1.regret == pytest.approx(0.4 - (0.4 + 0.2) / 2)
    # target 2: nearest source 1 (0.25) ties with source 3 for the best gain
    assert (t2.chosen, t2.best, t2.top1, t2.regret) == ((1,), (1, 3), 1.0, 0.0)
    # target 3: nearest source 2 (0.1), best source 0 (0.3)
    assert (t3.chosen, t3.best, t3.top1) == ((2,), (0,), 0.0)
    assert t3.regret == pytest.approx(0.2)


def test_distance_and_negated_score_agree_exactly():
    values, gains = seeds_of(np.random.default_rng(3), n_seeds=3, n=5, noise=1.0)
    kw = {"n_boot": 200, "n_perm": 100, "seed": 11}
    as_distance = summarise(-values, gains, higher_is_better=False, **kw).to_dict()
    as_score = summarise(values, gains, higher_is_better=True, **kw).to_dict()
    assert as_distance.pop("higher_is_better") is False and as_score.pop("higher_is_better") is True
    assert as_distance == as_score
    assert per_target_metrics(-HAND_DIST, HAND_GAIN, higher_is_better=True) == per_target_metrics(
        HAND_DIST, HAND_GAIN, higher_is_better=False
    )


# --------------------------------------------------------------------------- summaries


@pytest.mark.parametrize("higher_is_better", [True, False])
def test_perfect_method(higher_is_better):
    rng = np.random.default_rng(0)
    gains = rng.normal(size=(3, 6, 6))
    for g in gains:
        np.fill_diagonal(g, np.nan)
    values = gains if higher_is_better else -gains
    s = summarise(values, gains, higher_is_better=higher_is_better, n_boot=100, n_perm=200, seed=1)
    assert s.n_targets == 6 and s.n_seeds == 3
    assert s.weighted_tau_mean == pytest.approx(1.0) and s.weighted_tau_std == pytest.approx(0.0, abs=1e-12)
    assert s.spearman_mean == pytest.approx(1.0)
    assert (s.top1_mean, s.regret_mean) == (1.0, 0.0)
    assert s.weighted_tau_ci == pytest.approx((1.0, 1.0)) and s.spearman_ci == pytest.approx((1.0, 1.0))
    assert s.p_value == 1 / 201  # no shuffle of 5 sources on all 6 targets reaches τ_w = 1


def test_random_method_p_value_is_not_small():
    rng = np.random.default_rng(5)
    _, gains = seeds_of(rng, n_seeds=3, n=6, noise=0.0)
    values = rng.uniform(size=gains.shape)  # a random distance, independent of the gains
    s = summarise(values, gains, higher_is_better=False, n_boot=50, n_perm=200, seed=2)
    assert s.p_value > 0.1
    # Over many random methods the p-values spread out instead of crowding near 0.
    ps = [
        summarise(rng.uniform(size=gains.shape), gains, higher_is_better=False, n_boot=1, n_perm=49, seed=i).p_value
        for i in range(20)
    ]
    assert sum(p <= 0.05 for p in ps) <= 4
    assert np.mean(ps) > 0.3


def test_bootstrap_interval_contains_the_point_estimate():
    values, gains = seeds_of(np.random.default_rng(9), n_seeds=4, n=6, noise=1.0)
    s = summarise(values, gains, higher_is_better=True, n_boot=300, n_perm=20, seed=4)
    lo, hi = s.weighted_tau_ci
    assert lo <= s.weighted_tau_mean <= hi and lo < hi
    lo, hi = s.spearman_ci
    assert lo <= s.spearman_mean <= hi and lo < hi
    # the point estimate scores the seed-averaged matrices
    direct = per_target_metrics(values.mean(axis=0), gains.mean(axis=0), higher_is_better=True)
    assert s.weighted_tau_mean == pytest.approx(np.mean([t.weighted_tau for t in direct]), rel=1e-12)
    assert s.top1_mean == pytest.approx(np.mean([t.top1 for t in direct]), rel=1e-12)
    assert s.regret_std == pytest.approx(np.std([t.regret for t in direct], ddof=1), rel=1e-9)


def test_identical_seeds_give_a_zero_width_interval():
    values, gains = seeds_of(np.random.default_rng(2), n_seeds=1, n=5, noise=1.0)
    values, gains = np.repeat(values, 4, axis=0), np.repeat(gains, 4, axis=0)
    s = summarise(values, gains, higher_is_better=True, n_boot=100, n_perm=20)
    assert s.weighted_tau_ci == (s.weighted_tau_mean, s.weighted_tau_mean)
    assert s.spearman_ci == (s.spearman_mean, s.spearman_mean)


def test_one_seed_has_no_interval_but_a_p_value():
    values, gains = seeds_of(np.random.default_rng(2), n_seeds=1, n=5, noise=0.5)
    s = summarise(values, gains, higher_is_better=True, n_boot=100, n_perm=50)
    assert all(math.isnan(x) for x in (*s.weighted_tau_ci, *s.spearman_ci))
    assert 0 < s.p_value <= 1


def test_seeded_and_json_ready():
    values, gains = seeds_of(np.random.default_rng(4), n_seeds=3, n=5, noise=1.0)
    a = summarise(values, gains, higher_is_better=True, n_boot=100, n_perm=100, seed=3)
    b = summarise(values, gains, higher_is_better=True, n_boot=100, n_perm=100, seed=3)
    assert a == b
    assert isinstance(a, RankingSummary) and all(isinstance(t, TargetMetrics) for t in a.per_target)
    d = json.loads(json.dumps(a.to_dict()))
    assert d["weighted_tau_ci"] == list(a.weighted_tau_ci) and len(d["per_target"]) == 5
    assert d["per_target"][0]["chosen"] == list(a.per_target[0].chosen)
    with pytest.raises(AttributeError):
        a.p_value = 0.5  # frozen


# --------------------------------------------------------------------------- exclusion


def test_nan_and_diagonal_are_left_out():
    rng = np.random.default_rng(8)
    values, gains = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    values[2, 0] = np.nan  # undefined distance: source 2 is no candidate for target 0
    gains[4, 1] = np.nan  # no gain measured
    np.fill_diagonal(values, -100.0)  # would always be the nearest source
    got = per_target_metrics(values, gains, higher_is_better=False)
    for b, t in enumerate(got):
        rows = [a for a in range(5) if a != b and not np.isnan(values[a, b]) and not np.isnan(gains[a, b])]
        (ref,) = per_target_metrics(
            values[rows, b][:, None], gains[rows, b][:, None], higher_is_better=False, exclude_self=False
        )
        assert t.n_sources == len(rows) == (3 if b in (0, 1) else 4)
        assert (t.weighted_tau, t.spearman, t.top1, t.regret) == (ref.weighted_tau, ref.spearman, ref.top1, ref.regret)
        assert t.chosen == tuple(rows[i] for i in ref.chosen) and b not in t.chosen


def test_a_target_without_two_usable_sources_is_not_scored():
    values = np.array([[0.0, 0.2, np.nan], [0.3, 0.0, np.nan], [0.5, 0.1, 0.0]])  # target 2: one defined source
    gains = np.array([[np.nan, 0.1, 0.3], [0.2, np.nan, 0.1], [0.1, 0.4, np.nan]])
    t0, t1, t2 = per_target_metrics(values, gains, higher_is_better=False)
    assert t0.scored and t1.scored and not t2.scored and t2.n_sources == 0
    assert all(math.isnan(x) for x in (t2.weighted_tau, t2.spearman, t2.top1, t2.regret))
    s = summarise(values[None], gains[None], higher_is_better=False, n_boot=10, n_perm=10)
    assert s.n_targets == 2 and s.top1_mean == pytest.approx((t0.top1 + t1.top1) / 2)
    with pytest.raises(ConfigError, match="nothing to score"):
        summarise(np.full((1, 3, 3), np.nan), gains[None], higher_is_better=False)


def test_constant_method_carries_no_ranking():
    (t,) = per_target_metrics(*column([1, 1, 1], [0.1, 0.3, 0.2]), higher_is_better=False, exclude_self=False)
    assert (t.weighted_tau, t.spearman) == (0.0, 0.0)
    assert t.chosen == (0, 1, 2) and t.top1 == pytest.approx(1 / 3) and t.regret == pytest.approx(0.1)
    # no shuffle of a constant method does worse than the method itself: p = 1
    gains = np.random.default_rng(1).normal(size=(2, 4, 4))
    s = summarise(np.ones_like(gains), gains, higher_is_better=True, n_boot=10, n_perm=30)
    assert (s.weighted_tau_mean, s.p_value) == (0.0, 1.0)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: per_target_metrics(np.zeros((3, 3)), np.zeros((3, 4)), higher_is_better=True), "same shape"),
        (lambda: per_target_metrics(np.zeros((2, 2)), np.zeros((2, 2)), higher_is_better=True), "at least 2"),
        (
            lambda: per_target_metrics(np.zeros((1, 3)), np.zeros((1, 3)), higher_is_better=True, exclude_self=False),
            "at least 2",
        ),
        (lambda: per_target_metrics(np.zeros((3, 2)), np.zeros((3, 2)), higher_is_better=True), "square"),
        (lambda: per_target_metrics(np.zeros(3), np.zeros(3), higher_is_better=True), "2-D"),
        (lambda: per_target_metrics([[1, "a"]], [[1, 2]], higher_is_better=True), "numeric"),
        (lambda: per_target_metrics(np.full((3, 3), np.inf), np.zeros((3, 3)), higher_is_better=True), "infinity"),
        (lambda: per_target_metrics(np.zeros((3, 3)), np.zeros((3, 3)), higher_is_better="min"), "True or False"),
        (lambda: summarise(np.zeros((3, 3)), np.zeros((3, 3)), higher_is_better=True), "3-D"),
        (lambda: summarise(np.zeros((2, 3, 3)), np.zeros((3, 3, 3)), higher_is_better=True), "same shape"),
        (lambda: summarise(np.zeros((0, 3, 3)), np.zeros((0, 3, 3)), higher_is_better=True), "no seed"),
        (lambda: summarise(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), higher_is_better=True, n_boot=0), "n_boot"),
        (lambda: summarise(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), higher_is_better=True, n_perm=-1), "n_perm"),
        (lambda: summarise(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), higher_is_better=True, n_boot=2.5), "n_boot"),
        (
            lambda: summarise(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), higher_is_better=True, confidence=95),
            "confidence",
        ),
        (lambda: summarise(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), higher_is_better=True, seed="x"), "seed"),
    ],
)
def test_bad_input_is_a_one_line_config_error(call, fragment):
    with pytest.raises(ConfigError) as info:
        call()
    message = str(info.value)
    assert fragment in message and "\n" not in message
