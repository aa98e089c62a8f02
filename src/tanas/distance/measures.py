"""The distances between two diagonal Fishers: FTD and the Task2Vec-style cosine."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from tanas.distance.choices import LAYERS, NORMALISATIONS, check_choice
from tanas.errors import DistanceError


def _as_float64(name: str, value: Any, which: str) -> Tensor:
    if not isinstance(value, Tensor):
        raise DistanceError(f"{which}[{name!r}] is a {type(value).__name__}, not a tensor")
    t = value.detach().to("cpu", torch.float64)
    if not torch.isfinite(t).all():
        raise DistanceError(f"{which}[{name!r}] holds NaN or infinite values")
    if (t < 0).any():
        raise DistanceError(f"{which}[{name!r}] has negative entries; a diagonal Fisher is never negative")
    return t


def _pad_to(t: Tensor, shape: tuple[int, ...]) -> Tensor:
    if tuple(t.shape) == shape:
        return t
    out = torch.zeros(shape, dtype=t.dtype)
    out[tuple(slice(0, s) for s in t.shape)] = t
    return out


def _aligned(
    fisher_ab: Mapping[str, Tensor], fisher_bb: Mapping[str, Tensor], layers: str
) -> list[tuple[str, Tensor, Tensor]]:
    """The compared parameter tensors as float64 pairs of equal shape."""
    for which, fisher in (("F_ab", fisher_ab), ("F_bb", fisher_bb)):
        if not isinstance(fisher, Mapping) or not fisher:
            raise DistanceError(f"{which} must be a non-empty dict {{parameter name: tensor}}")
    keys_ab, keys_bb = set(fisher_ab), set(fisher_bb)
    if keys_ab != keys_bb:
        only_ab, only_bb = sorted(keys_ab - keys_bb)[:5], sorted(keys_bb - keys_ab)[:5]
        raise DistanceError(
            f"the two Fishers cover different parameters (only in F_ab: {only_ab}, only in F_bb: {only_bb}); "
            "both must come from the same probe architecture"
        )
    names = [n for n in fisher_ab if layers == "all" or n.startswith("body.")]
    if not names:
        raise DistanceError("layers='body' needs parameters named 'body.*' (a tanas probe); none were found")
    pairs = []
    for name in names:
        a = _as_float64(name, fisher_ab[name], "F_ab")
        b = _as_float64(name, fisher_bb[name], "F_bb")
        if a.shape != b.shape:
            if a.dim() != b.dim():
                raise DistanceError(
                    f"parameter {name!r} has shape {tuple(a.shape)} in F_ab but {tuple(b.shape)} in F_bb"
                )
            common = tuple(max(p, q) for p, q in zip(a.shape, b.shape))
            a, b = _pad_to(a, common), _pad_to(b, common)
        pairs.append((name, a.reshape(-1), b.reshape(-1)))
    return pairs


def fisher_task_distance(
    F_ab: Mapping[str, Tensor],
    F_bb: Mapping[str, Tensor],
    *,
    layers: str = "all",
    normalise: str = "whole",
    squared: bool = False,
) -> float:
    """FTD ``d(a→b) = (1/√2) ‖F̃_ab^{1/2} − F̃_bb^{1/2}‖_F`` from two diagonal Fishers.

    Args:
        F_ab, F_bb: ``{parameter name: non-negative tensor}`` over the same names.
        layers: ``"all"`` compares every parameter; ``"body"`` only ``body.*``.
        normalise: ``"whole"`` divides each Fisher by its total trace (over the
            compared parameters). ``"per_layer"`` divides each parameter tensor by
            its own trace times the number L of compared tensors, so every tensor
            carries mass 1/L; a tensor whose Fisher is zero in *both* is left out
            (and L counts only the others), one that is zero in just one keeps
            zeros there (it then contributes the most a tensor can).
        squared: return the paper's form ``‖F̃_ab^{1/2} − F̃_bb^{1/2}‖_F² = 2 d²``.

    Tensors of one name whose shapes differ (the heads under ``head="pad"``, when
    the tasks have different numbers of classes) are zero-padded at the end of
    each axis to their common shape; a differing number of axes is an error.
    With ``head="refit"`` the shapes always match.

    Returns ``d`` in [0, 1] (``2 d²`` in [0, 2] when ``squared``). Raises
    :class:`DistanceError` on mismatched names, negative or non-finite entries,
    or a Fisher that is zero on every compared parameter.
    """
    check_choice("layers", layers, LAYERS)
    check_choice("normalisation", normalise, NORMALISATIONS)
    pairs = _aligned(F_ab, F_bb, layers)
    if normalise == "whole":
        trace_a = sum(float(a.sum()) for _, a, _ in pairs)
        trace_b = sum(float(b.sum()) for _, _, b in pairs)
        for which, trace in (("F_ab", trace_a), ("F_bb", trace_b)):
            if trace <= 0:
                raise DistanceError(f"{which} is zero on every compared parameter; its normalised form is undefined")
        total = sum(float(((a / trace_a).sqrt() - (b / trace_b).sqrt()).pow(2).sum()) for _, a, b in pairs)
    else:
        kept = [(n, a, b) for n, a, b in pairs if float(a.sum()) > 0 or float(b.sum()) > 0]
        if not kept:
            raise DistanceError("both Fishers are zero on every compared parameter; the distance is undefined")
        L = len(kept)
        total = 0.0
        for _, a, b in kept:
            ta, tb = float(a.sum()), float(b.sum())
            pa = a / (ta * L) if ta > 0 else torch.zeros_like(a)
            pb = b / (tb * L) if tb > 0 else torch.zeros_like(b)
            total += float((pa.sqrt() - pb.sqrt()).pow(2).sum())
    d2 = min(max(0.5 * total, 0.0), 1.0)  # rounding can step a hair outside [0, 1]
    return 2.0 * d2 if squared else math.sqrt(d2)


def task2vec_distance(F_a: Mapping[str, Tensor], F_b: Mapping[str, Tensor], *, layers: str = "body") -> float:
    """Task2Vec's symmetric normalised cosine distance between two Fisher embeddings.

    ``d = 1 − cos(F_a / (F_a + F_b), F_b / (F_a + F_b))``, elementwise division
    over the flattened compared parameters (Achille et al. 2019, "symmetric
    Task2Vec distance"); entries where both are zero are left out. Symmetric, in
    [0, 1], 0 for equal embeddings. Task2Vec embeds with the fixed feature
    extractor only, hence ``layers="body"`` by default.
    """
    check_choice("layers", layers, LAYERS)
    pairs = _aligned(F_a, F_b, layers)
    a = torch.cat([p for _, p, _ in pairs])
    b = torch.cat([q for _, _, q in pairs])
    s = a + b
    keep = s > 0
    if not bool(keep.any()):
        raise DistanceError("both Fisher embeddings are zero; the Task2Vec distance is undefined")
    ua, ub = a[keep] / s[keep], b[keep] / s[keep]
    cos = float((ua * ub).sum() / (ua.norm() * ub.norm()).clamp_min(1e-300))
    return min(max(1.0 - cos, 0.0), 1.0)
