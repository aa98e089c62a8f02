"""Transferability estimators from the literature: LEEP, NCE, LogME and H-score.

Each score says how well a source model is expected to transfer to a target
task, from one pass of the target's samples through the source model. Every
score here is oriented the same way: **higher transfers better**.

- LEEP and NCE need the source head's outputs: softmax probabilities over the
  source classes (LEEP), or hard source labels (NCE, which also takes
  probabilities and uses their argmax).
- LogME and H-score need the source model's penultimate features.

Inputs may be numpy arrays or torch tensors; every computation runs in float64
numpy. Inputs are validated at the door and a bad one raises :class:`ScoreError`
with a one-line message that says what to change.

This module depends on nothing in tanas but the error classes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from tanas.errors import ScoreError

__all__ = ["ESTIMATORS", "Estimator", "ScoreError", "hscore", "leep", "logme", "nce"]


# Rows of a probability matrix must sum to 1 within this: float32 softmax over
# thousands of classes drifts by ~1e-6, a logit matrix by far more than 1e-3.
_PROB_SUM_TOL = 1e-3

# H-score: eigen-directions of cov(f) whose variance is below this fraction of the
# largest are treated as constant (pseudo-inverse cut-off).
_HSCORE_RCOND = 1e-10

# LogME fixed-point iteration: stop when log(alpha) and log(beta) move less than
# this, or after _LOGME_MAX_ITER updates.
_LOGME_TOL = 1e-10
_LOGME_MAX_ITER = 1000


# --------------------------------------------------------------------------- validation


def _as_array(x: Any, name: str, score: str) -> np.ndarray:
    """``x`` (numpy array, torch tensor or nested sequence) as a numpy array, without copying when it can."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor; torch is not imported here
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ScoreError(f"{score}: {name} is not array-like ({why}); pass a numpy array or torch tensor") from None
    if arr.dtype == object:
        raise ScoreError(f"{score}: {name} has ragged or non-numeric entries; pass a rectangular numeric array")
    return arr


def _labels(x: Any, score: str, name: str = "target_labels") -> np.ndarray:
    """Integer labels >= 0 as a 1-D int64 array."""
    arr = _as_array(x, name, score)
    if arr.ndim != 1:
        raise ScoreError(f"{score}: {name} must be 1-D (one label per sample), got shape {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ScoreError(f"{score}: {name} must hold integers, got dtype {arr.dtype}; cast with .astype(int)")
    if arr.size and arr.min() < 0:
        raise ScoreError(f"{score}: {name} must be >= 0, got {int(arr.min())}; map class ids to 0..C-1")
    return arr.astype(np.int64, copy=False)


def _matrix(x: Any, score: str, name: str) -> np.ndarray:
    """A finite 2-D float64 matrix."""
    arr = _as_array(x, name, score)
    if arr.ndim != 2:
        raise ScoreError(
            f"{score}: {name} must be 2-D (n samples x columns), got shape {arr.shape}; "
            f"reshape a 1-D vector with x[:, None]"
        )
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ScoreError(f"{score}: {name} must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ScoreError(f"{score}: {name} is empty (shape {arr.shape}); pass at least 2 samples with 1+ columns")
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ScoreError(f"{score}: {name} holds {bad} NaN or infinite value(s); drop or fix those samples")
    return arr


def _check_n(n_rows: int, labels: np.ndarray, score: str, name: str) -> None:
    if n_rows != labels.shape[0]:
        raise ScoreError(
            f"{score}: {name} has {n_rows} rows but target_labels has {labels.shape[0]} entries; "
            f"pass one label per sample"
        )
    if n_rows < 2:
        raise ScoreError(f"{score}: needs at least 2 samples, got {n_rows}; score on more target samples")


def _probs(x: Any, score: str, name: str = "probs") -> np.ndarray:
    """Rows of non-negative probabilities that sum to 1."""
    p = _matrix(x, score, name)
    if p.min() < 0:
        raise ScoreError(f"{score}: {name} has negative entries (min {p.min():.3g}); pass softmax outputs, not logits")
    worst = float(np.abs(p.sum(axis=1) - 1.0).max())
    if worst > _PROB_SUM_TOL:
        raise ScoreError(
            f"{score}: rows of {name} must sum to 1 (worst is off by {worst:.3g}); pass softmax outputs, not logits"
        )
    return p


def _one_hot_ids(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels renumbered 0..C-1 over the classes present (so absent or permuted ids do not matter)."""
    _, ids = np.unique(labels, return_inverse=True)
    return ids.reshape(-1), int(ids.max()) + 1


# --------------------------------------------------------------------------- scores


def leep(probs: Any, target_labels: Any) -> float:
    """Log Expected Empirical Prediction (LEEP) of a source classifier on a target task.

    Nguyen, Hassner, Seeger, Archambeau: "LEEP: A New Measure to Evaluate
    Transferability of Learned Representations", ICML 2020.

    With θ(x) the source head's softmax over source classes z, the empirical
    joint is P̂(y, z) = (1/n) Σ_i θ(x_i)_z [y_i = y] and P̂(y | z) = P̂(y, z) / P̂(z);
    LEEP = (1/n) Σ_i log Σ_z P̂(y_i | z) θ(x_i)_z, the average log-likelihood of the
    "expected empirical predictor". It is <= 0, and 0 exactly when every sample's
    source prediction is deterministic and determines its target label.
    Higher transfers better.

    Args:
        probs: (n, Z) source-class probabilities for the n target samples; rows sum to 1.
        target_labels: (n,) integer target labels >= 0.
    """
    p = _probs(probs, "leep")
    y = _labels(target_labels, "leep")
    _check_n(p.shape[0], y, "leep", "probs")
    n = p.shape[0]
    ids, n_classes = _one_hot_ids(y)
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), ids] = 1.0
    joint = onehot.T @ p / n  # (C, Z): P̂(y, z)
    marginal = joint.sum(axis=0)  # P̂(z)
    # A source class with P̂(z) = 0 has θ_z = 0 on every sample, so its column never contributes.
    cond = np.divide(joint, marginal, out=np.zeros_like(joint), where=marginal > 0)  # P̂(y | z)
    # Σ_z P̂(y_i | z) θ(x_i)_z > 0: x_i itself puts mass on (y_i, z) wherever θ(x_i)_z > 0.
    eep = np.einsum("iz,iz->i", cond[ids], p)
    return float(np.mean(np.log(eep)))


def nce(source_pred: Any, target_labels: Any) -> float:
    """Negative Conditional Entropy (NCE) of the target label given the source label.

    Tran, Nguyen, Hassner: "Transferability and Hardness of Supervised
    Classification Tasks", ICCV 2019.

    Z is the source model's hard label on each target sample, Y the target label;
    NCE = -H(Y | Z) = Σ_{y,z} P̂(y, z) log P̂(y | z) from their empirical joint (natural
    log). It is <= 0, and 0 when the source label determines the target label.
    Higher transfers better.

    Args:
        source_pred: (n,) integer source labels, or (n, Z) source probabilities whose
            argmax is taken (rows must sum to 1).
        target_labels: (n,) integer target labels >= 0.
    """
    arr = _as_array(source_pred, "source_pred", "nce")
    z = _probs(arr, "nce", "source_pred").argmax(axis=1) if arr.ndim == 2 else _labels(arr, "nce", "source_pred")
    y = _labels(target_labels, "nce")
    _check_n(z.shape[0], y, "nce", "source_pred")
    y_ids, n_y = _one_hot_ids(y)
    z_ids, n_z = _one_hot_ids(z)
    joint = np.zeros((n_y, n_z))
    np.add.at(joint, (y_ids, z_ids), 1.0)
    joint /= y.shape[0]
    p_z = joint.sum(axis=0)
    nz = joint > 0
    cond = joint / p_z  # every column has some mass: each z id occurs
    return float(np.sum(joint[nz] * np.log(cond[nz])))


def hscore(features: Any, target_labels: Any) -> float:
    """H-score of features for a target task: tr(cov(f)^+ cov(E[f | y])).

    Bao, Li, Huang, Wang, Zheng: "An Information-Theoretic Approach to
    Transferability in Task Transfer Learning", ICIP 2019.

    cov(E[f | y]) is the covariance of each sample's class-mean feature (the
    between-class scatter); both covariances use the same 1/n normalisation, which
    cancels in the product. For a singular cov(f) (fewer samples than dimensions,
    constant or duplicated features) the Moore-Penrose **pseudo-inverse** is used:
    eigen-directions whose variance is below 1e-10 of the largest are treated as
    constant and contribute nothing. The score is invariant under invertible linear
    maps of the features and lies in [0, min(D, C-1)]. Higher transfers better.

    Args:
        features: (n, D) real features of the n target samples.
        target_labels: (n,) integer target labels >= 0.
    """
    f = _matrix(features, "hscore", "features")
    y = _labels(target_labels, "hscore")
    _check_n(f.shape[0], y, "hscore", "features")
    n = f.shape[0]
    ids, n_classes = _one_hot_ids(y)
    f = f - f.mean(axis=0)
    counts = np.bincount(ids, minlength=n_classes).astype(np.float64)
    sums = np.zeros((n_classes, f.shape[1]))
    np.add.at(sums, ids, f)
    means = sums / counts[:, None]  # class means of the centred features
    cov_f = f.T @ f / n
    cov_g = (means.T * counts) @ means / n  # Σ_c (n_c/n) μ_c μ_cᵀ = cov of E[f | y]
    inv = np.linalg.pinv(cov_f, rcond=_HSCORE_RCOND, hermitian=True)
    return float(np.sum(inv * cov_g))  # tr(A B) for symmetric B


def _logme_fit(alpha: float, beta: float, sigma2: np.ndarray, z: np.ndarray, res_perp: float) -> tuple[float, float]:
    """||m||² and ||y - f m||² of the posterior mean m at (α, β).

    In the SVD basis f = U S Vᵀ (rank k), with z = Uᵀy and res_perp = ||y||² - ||z||²:
    m = β V diag(σ/(α+βσ²)) z, so ||m||² = Σ β²σ²z²/(α+βσ²)² and
    ||y - f m||² = res_perp + Σ (α z/(α+βσ²))².
    """
    denom = alpha + beta * sigma2
    return float(np.sum(beta**2 * sigma2 * z**2 / denom**2)), res_perp + float(np.sum((alpha * z / denom) ** 2))


def _logme_column(u: np.ndarray, sigma2: np.ndarray, y: np.ndarray) -> float:
    """Maximum log evidence of one target column y, by the paper's fixed-point updates of (α, β).

    log p(y | α, β) = k/2 log α + n/2 log β - 1/2 Σ log(α+βσ²)
                      - β/2 ||y - f m||² - α/2 ||m||² - n/2 log 2π,
    which is the paper's D/2 log α with the D-k directions outside the row space of f cancelled
    against their log α terms in log|αI + β fᵀf|.
    """
    n, k = y.shape[0], sigma2.shape[0]
    z = u.T @ y
    y2 = float(y @ y)
    res_perp = max(y2 - float(z @ z), 0.0)
    # Floors keep α and β finite when y is fitted exactly or is orthogonal to f; they only
    # bite when the evidence is flat in that direction (its supremum lies at infinity).
    res_floor = 1e-12 * y2
    mm_floor = 1e-12 * y2 / float(sigma2.max())
    alpha, beta = 1.0, 1.0
    for _ in range(_LOGME_MAX_ITER):
        gamma = float(np.sum(beta * sigma2 / (alpha + beta * sigma2)))  # effective number of weights
        mm, res = _logme_fit(alpha, beta, sigma2, z, res_perp)
        new_alpha = max(gamma, 1e-300) / max(mm, mm_floor)
        new_beta = max(n - gamma, 1e-300) / max(res, res_floor)
        done = abs(math.log(new_alpha / alpha)) < _LOGME_TOL and abs(math.log(new_beta / beta)) < _LOGME_TOL
        alpha, beta = new_alpha, new_beta
        if done:
            break
    mm, res = _logme_fit(alpha, beta, sigma2, z, res_perp)
    return (
        0.5 * k * math.log(alpha)
        + 0.5 * n * math.log(beta)
        - 0.5 * float(np.sum(np.log(alpha + beta * sigma2)))
        - 0.5 * beta * res
        - 0.5 * alpha * mm
        - 0.5 * n * math.log(2 * math.pi)
    )


def logme(features: Any, target_labels: Any) -> float:
    """LogME: the maximised log marginal evidence of a linear model on the features, per sample.

    You, Liu, Wang, Long: "LogME: Practical Assessment of Pre-trained Models for
    Transfer Learning", ICML 2021.

    For each target class c, the one-hot column y_c is modelled as Bayesian linear
    regression on the features, y = f w + ε with w ~ N(0, α⁻¹ I) and ε ~ N(0, β⁻¹ I).
    The log evidence log p(y_c | f, α, β) is maximised over (α, β) by the paper's
    fixed-point iteration (γ = Σ βσ²/(α+βσ²), α = γ/||m||², β = (n-γ)/||y - f m||²)
    on the SVD of f, divided by n, and averaged over the classes present. Features
    are used as given (no centring), as in the paper. Computed in float64.
    Higher transfers better.

    Args:
        features: (n, D) real features of the n target samples.
        target_labels: (n,) integer target labels >= 0.
    """
    f = _matrix(features, "logme", "features")
    y = _labels(target_labels, "logme")
    _check_n(f.shape[0], y, "logme", "features")
    n = f.shape[0]
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    if s.max() <= 0:
        raise ScoreError("logme: features are all zero; pass the source model's features")
    keep = s > s.max() * max(f.shape) * np.finfo(np.float64).eps  # numerical rank
    u, sigma2 = u[:, keep], s[keep] ** 2
    ids, n_classes = _one_hot_ids(y)
    evidences = [_logme_column(u, sigma2, (ids == c).astype(np.float64)) for c in range(n_classes)]
    return float(np.mean(evidences)) / n


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Estimator:
    """One transferability score: what it needs from the source model, the function, and its paper."""

    name: str
    needs: Literal["probs", "features"]
    fn: Callable[[Any, Any], float]
    citation: str


ESTIMATORS: Mapping[str, Estimator] = MappingProxyType(
    {
        e.name: e
        for e in (
            Estimator(
                "leep",
                "probs",
                leep,
                "Nguyen et al., LEEP: A New Measure to Evaluate Transferability of Learned Representations, ICML 2020",
            ),
            Estimator(
                "nce",
                "probs",
                nce,
                "Tran et al., Transferability and Hardness of Supervised Classification Tasks, ICCV 2019",
            ),
            Estimator(
                "logme",
                "features",
                logme,
                "You et al., LogME: Practical Assessment of Pre-trained Models for Transfer Learning, ICML 2021",
            ),
            Estimator(
                "hscore",
                "features",
                hscore,
                "Bao et al., An Information-Theoretic Approach to Transferability in Task Transfer Learning, ICIP 2019",
            ),
        )
    }
)
"""Every score by name; all are "higher transfers better"."""
