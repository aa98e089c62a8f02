"""How well does a task distance or a transferability score pick the source to transfer from?

See docs/architecture.md §1.5.

The scores are those of the transferability literature (LogME, LEEP, H-score and the like),
computed per target task over its candidate sources and then averaged over targets:

* **weighted Kendall τ_w** between the method's ranking of the sources and their measured
  transfer gains: ``scipy.stats.weightedtau`` with its defaults, which is the choice of that
  literature: ``rank=True`` (the ranks that set the weights are the decreasing order by the
  method and by the gain, and the two τ are averaged, so the statistic is symmetric), the
  hyperbolic weigher ``1/(r + 1)`` of the rank ``r`` (0 = top) and ``additive=True`` (an exchange
  of the elements ranked ``r`` and ``s`` weighs ``1/(r + 1) + 1/(s + 1)``). Swaps near the top
  of either ranking therefore count most (Vigna, WWW 2015);
* **Spearman ρ** (average ranks for ties);
* **top-1 hit**: the method's best source is a best source by gain;
* **regret**: best gain − gain of the method's chosen source, in the gain's own units.

Conventions, shared with ``benchmarks/transfer.py``:

* a method is a *distance* (lower = nearer = better) or a *score* (higher = better); every
  function takes ``higher_is_better`` and negates distances internally, so a distance and the
  same numbers negated as a score give identical results, bit for bit;
* a pair whose value or gain is NaN (undefined) is left out, as is the target itself
  (``exclude_self``, the diagonal of a square matrix whose sources are its targets). The best
  gain and the regret are then taken over the sources the method ranks;
* ties for the method's best source are broken uniformly at random *in expectation*: top-1 and
  regret average over the tied sources;
* a method (or a gain) constant over a target's sources carries no ranking: τ_w = ρ = 0 there;
* a target with fewer than 2 usable sources is not scored (its metrics are NaN) and is left
  out of the means over targets.

:func:`summarise` scores the seed-averaged matrices, like the benchmark, and adds a bootstrap
interval over seeds (the seed is the unit resampled) and a permutation p-value against a random
ranking. numpy and scipy only.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from tanas.errors import ConfigError
from tanas.runtime import derive_seed, mean_std

_NAN = float("nan")


@dataclass(frozen=True)
class TargetMetrics:
    """The scores of one target (a column of the matrices) over its usable sources (rows).

    ``chosen`` are the method's best sources (several when tied) and ``best`` the best
    sources by gain, as row indices; all metrics are NaN when ``n_sources < 2``.
    """

    target: int
    n_sources: int
    weighted_tau: float
    spearman: float
    top1: float
    regret: float
    chosen: tuple[int, ...]
    best: tuple[int, ...]

    @property
    def scored(self) -> bool:
        return self.n_sources >= 2

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "n_sources": self.n_sources,
            "weighted_tau": self.weighted_tau,
            "spearman": self.spearman,
            "top1": self.top1,
            "regret": self.regret,
            "chosen": list(self.chosen),
            "best": list(self.best),
        }


@dataclass(frozen=True)
class RankingSummary:
    """A method's ranking scores over targets and seeds (see :func:`summarise`).

    ``*_mean``/``*_std``: mean and sample std over the scored targets of the seed-averaged
    matrices. ``*_ci``: percentile bootstrap interval (level ``confidence``) of the mean over
    targets, seeds resampled; NaN with a single seed. ``p_value``: permutation p-value of the
    mean τ_w against rankings drawn uniformly at random.
    """

    higher_is_better: bool
    n_seeds: int
    n_targets: int
    weighted_tau_mean: float
    weighted_tau_std: float
    spearman_mean: float
    spearman_std: float
    top1_mean: float
    top1_std: float
    regret_mean: float
    regret_std: float
    weighted_tau_ci: tuple[float, float]
    spearman_ci: tuple[float, float]
    p_value: float
    confidence: float
    n_boot: int
    n_perm: int
    seed: int
    per_target: tuple[TargetMetrics, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists; NaN stays NaN)."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "per_target":
                value = [t.to_dict() for t in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[name] = value
        return out


# --------------------------------------------------------------------------- validation


def _array(name: str, data: ArrayLike, ndim: int, what: str) -> np.ndarray:
    try:
        arr = np.array(data, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be a numeric array of {what}: {exc}") from exc
    if arr.ndim != ndim:
        raise ConfigError(f"{name} must be a {ndim}-D array of {what}, got shape {arr.shape}")
    if np.isinf(arr).any():
        raise ConfigError(f"{name} must hold finite numbers or NaN (undefined pair), found an infinity")
    return arr


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_count(name: str, value: object) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_pair(values: np.ndarray, gains: np.ndarray, exclude_self: bool) -> None:
    """Shapes agree, and every target has at least 2 candidate sources."""
    if values.shape != gains.shape:
        raise ConfigError(f"values and gains must have the same shape, got {values.shape} and {gains.shape}")
    n_sources, n_targets = values.shape[-2:]
    if exclude_self and n_sources != n_targets:
        raise ConfigError(
            f"exclude_self needs square (sources x targets) matrices, got {n_sources} x {n_targets}: "
            "pass exclude_self=False when the sources are not the targets"
        )
    if n_targets < 1:
        raise ConfigError(f"the matrices have no target (shape {values.shape})")
    candidates = n_sources - 1 if exclude_self else n_sources
    if candidates < 2:
        raise ConfigError(
            f"each target needs at least 2 candidate sources, got {max(candidates, 0)} "
            f"({n_sources} x {n_targets} matrices, exclude_self={exclude_self})"
        )


# --------------------------------------------------------------------------- one target


def _weighted_tau(score: np.ndarray, gain: np.ndarray) -> float:
    from scipy.stats import weightedtau

    if _constant(score) or _constant(gain):
        return 0.0
    return float(weightedtau(score, gain).statistic)  # rank=True, hyperbolic, additive: see the module doc


def _spearman(score: np.ndarray, gain: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if _constant(score) or _constant(gain):
        return 0.0
    return float(spearmanr(score, gain).statistic)


def _constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def _target_metrics(target: int, rows: np.ndarray, score: np.ndarray, gain: np.ndarray) -> TargetMetrics:
    """Scores of one target; ``score`` (higher = better) and ``gain`` hold its usable sources ``rows``."""
    n = len(rows)
    if n < 2:
        return TargetMetrics(target, n, _NAN, _NAN, _NAN, _NAN, (), ())
    chosen = np.flatnonzero(score == score.max())
    best_gain = float(gain.max())
    best = np.flatnonzero(gain == best_gain)
    chosen_gains = [float(g) for g in gain[chosen]]
    top1 = sum(1.0 for g in chosen_gains if g == best_gain) / len(chosen_gains)
    regret = best_gain - math.fsum(chosen_gains) / len(chosen_gains)
    return TargetMetrics(
        target=target,
        n_sources=n,
        weighted_tau=_weighted_tau(score, gain),
        spearman=_spearman(score, gain),
        top1=top1,
        regret=regret,
        chosen=tuple(int(rows[i]) for i in chosen),
        best=tuple(int(rows[i]) for i in best),
    )


def _columns(
    values: np.ndarray, gains: np.ndarray, higher_is_better: bool, exclude_self: bool
) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per target: its usable source rows, their oriented scores and their gains."""
    score = values if higher_is_better else -values
    usable = ~(np.isnan(values) | np.isnan(gains))
    if exclude_self:
        np.fill_diagonal(usable, False)
    out = []
    for b in range(values.shape[1]):
        rows = np.flatnonzero(usable[:, b])
        out.append((b, rows, score[rows, b], gains[rows, b]))
    return out


def _score(values: np.ndarray, gains: np.ndarray, higher_is_better: bool, exclude_self: bool) -> list[TargetMetrics]:
    return [_target_metrics(*col) for col in _columns(values, gains, higher_is_better, exclude_self)]


def _mean(per_target: list[TargetMetrics], metric: str) -> float:
    """Mean of ``metric`` over the scored targets (NaN when none is scored)."""
    vals = [getattr(t, metric) for t in per_target if t.scored]
    return mean_std(vals)[0] if vals else _NAN


# --------------------------------------------------------------------------- public


def per_target_metrics(
    values: ArrayLike, gains: ArrayLike, *, higher_is_better: bool, exclude_self: bool = True
) -> list[TargetMetrics]:
    """τ_w, ρ, top-1 and regret of each target (column) over its sources (rows).

    ``values[a, b]`` is the method's distance (``higher_is_better=False``) or score (``True``)
    of source ``a`` for target ``b``; ``gains[a, b]`` the measured transfer gain. A NaN in either
    leaves the pair out; ``exclude_self`` (needs square matrices) leaves out the diagonal.
    """
    higher_is_better = _check_flag("higher_is_better", higher_is_better)
    exclude_self = _check_flag("exclude_self", exclude_self)
    v = _array("values", values, 2, "(sources x targets)")
    g = _array("gains", gains, 2, "(sources x targets)")
    _check_pair(v, g, exclude_self)
    return _score(v, g, higher_is_better, exclude_self)


def summarise(
    values_per_seed: ArrayLike,
    gains_per_seed: ArrayLike,
    *,
    higher_is_better: bool,
    exclude_self: bool = True,
    n_boot: int = 1000,
    n_perm: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RankingSummary:
    """Score a method over targets and seeds: point estimates, bootstrap intervals, permutation p-value.

    ``values_per_seed`` and ``gains_per_seed`` are (seeds x sources x targets). The point
    estimates score the seed-averaged matrices (mean ± std over the scored targets), so a pair
    that is NaN in any seed is left out.

    * Bootstrap (``n_boot`` resamples, ``scipy.stats.bootstrap``, percentile interval): the
      seeds are resampled with replacement, the resampled matrices averaged and the mean τ_w
      and mean ρ over targets recomputed. Percentile rather than BCa: BCa's jackknife is
      unstable with a handful of seeds and undefined when every resample agrees (then the
      percentile interval has width 0). With one seed the intervals are NaN.
    * Permutation test (``n_perm`` draws): each target's method values are shuffled across its
      usable sources and the mean τ_w recomputed; ``p = (1 + #{perm >= observed}) / (1 + n_perm)``.

    Both are seeded from ``seed`` (through :func:`tanas.runtime.derive_seed`), so a call is
    deterministic. Each distinct multiset of seeds is scored once, so few seeds cost little.
    """
    higher_is_better = _check_flag("higher_is_better", higher_is_better)
    exclude_self = _check_flag("exclude_self", exclude_self)
    n_boot = _check_count("n_boot", n_boot)
    n_perm = _check_count("n_perm", n_perm)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be an integer, got {seed!r}")
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        raise ConfigError(f"confidence must be a number strictly between 0 and 1, got {confidence!r}")
    v = _array("values_per_seed", values_per_seed, 3, "(seeds x sources x targets)")
    g = _array("gains_per_seed", gains_per_seed, 3, "(seeds x sources x targets)")
    _check_pair(v, g, exclude_self)
    n_seeds = v.shape[0]
    if n_seeds < 1:
        raise ConfigError("values_per_seed holds no seed")

    cache: dict[tuple[int, ...], tuple[float, float]] = {}

    def over_seeds(idx: np.ndarray) -> tuple[float, float]:
        key = tuple(sorted(int(i) for i in idx))  # the statistic depends on the multiset of seeds only
        if key not in cache:
            rows = list(key)
            per_target = _score(v[rows].mean(axis=0), g[rows].mean(axis=0), higher_is_better, exclude_self)
            cache[key] = (_mean(per_target, "weighted_tau"), _mean(per_target, "spearman"))
        return cache[key]

    values, gains = v.mean(axis=0), g.mean(axis=0)
    columns = _columns(values, gains, higher_is_better, exclude_self)
    per_target = [_target_metrics(*col) for col in columns]
    scored = [t for t in per_target if t.scored]
    if not scored:
        raise ConfigError("no target has 2 sources with a defined value and gain: nothing to score")
    stats = {m: mean_std([getattr(t, m) for t in scored]) for m in ("weighted_tau", "spearman", "top1", "regret")}

    tau_ci, rho_ci = (_NAN, _NAN), (_NAN, _NAN)
    if n_seeds >= 2:
        tau_ci, rho_ci = _bootstrap(over_seeds, n_seeds, n_boot, confidence, derive_seed(seed, "ranking", "bootstrap"))
    p_value = _permutation_p(columns, stats["weighted_tau"][0], n_perm, derive_seed(seed, "ranking", "permutation"))

    return RankingSummary(
        higher_is_better=higher_is_better,
        n_seeds=n_seeds,
        n_targets=len(scored),
        weighted_tau_mean=stats["weighted_tau"][0],
        weighted_tau_std=stats["weighted_tau"][1],
        spearman_mean=stats["spearman"][0],
        spearman_std=stats["spearman"][1],
        top1_mean=stats["top1"][0],
        top1_std=stats["top1"][1],
        regret_mean=stats["regret"][0],
        regret_std=stats["regret"][1],
        weighted_tau_ci=tau_ci,
        spearman_ci=rho_ci,
        p_value=p_value,
        confidence=float(confidence),
        n_boot=n_boot,
        n_perm=n_perm,
        seed=int(seed),
        per_target=tuple(per_target),
    )


# --------------------------------------------------------------------------- resampling


def _bootstrap(
    statistic: Any, n_seeds: int, n_boot: int, confidence: float, rng_seed: int
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Percentile intervals of (mean τ_w, mean ρ) over ``n_boot`` resamples of the seed indices."""
    from scipy.stats import bootstrap

    with warnings.catch_warnings():  # the (unused) standard error of a single resample warns about ddof
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"numpy\.(_core|core)\._methods")
        res = bootstrap(
            (np.arange(n_seeds),),
            lambda idx: np.array(statistic(idx)),
            n_resamples=n_boot,
            vectorized=False,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(rng_seed),
        )
    dist = res.bootstrap_distribution  # (2, n_boot)
    # A percentile lies within the distribution's range; clipping removes the interpolation's rounding,
    # so that identical resamples give an interval of width exactly 0.
    low = np.clip(res.confidence_interval.low, dist.min(axis=-1), dist.max(axis=-1))
    high = np.clip(res.confidence_interval.high, dist.min(axis=-1), dist.max(axis=-1))
    return (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))


def _permutation_p(
    columns: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], observed: float, n_perm: int, rng_seed: int
) -> float:
    """p-value of the observed mean τ_w when each target's scores are shuffled across its sources."""
    rng = np.random.default_rng(rng_seed)
    pairs = [(score, gain) for _, rows, score, gain in columns if len(rows) >= 2]
    hits = 0
    for _ in range(n_perm):
        taus = [_weighted_tau(score[rng.permutation(len(score))], gain) for score, gain in pairs]
        hits += mean_std(taus)[0] >= observed
    return (1 + hits) / (1 + n_perm)
