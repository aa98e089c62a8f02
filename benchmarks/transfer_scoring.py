"""How the transfer benchmark (``transfer.py``) scores its methods and picks defaults.

Every method is scored with :mod:`tanas.ranking` per target over its sources: weighted
Kendall τ_w, Spearman ρ, top-1 hit and regret on the seed-averaged matrices (mean ± std
over targets), a bootstrap 95 % interval over seeds and a permutation p-value against a
random ranking. Two conventions are the benchmark's own, on top of the module's:

* an **undefined** value (``head=pad`` with a target that has more classes than the
  source's head) ranks its source **last** rather than leaving the pair out: the method
  must still pick the best of *all* sources. A target without any defined source then
  sees a constant method: τ_w = ρ = 0 and a uniform random pick (expected top-1, regret);
* ``coverage``: the share of (source, target) pairs whose value is defined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from tanas.distance import SCORE_METHODS
from tanas.ranking import summarise

FISHER_KINDS = ("empirical", "exact")
HEADS = ("refit", "pad")

#: the methods `tanas zoo nearest --method` (and TA-NAS through it) can use, with the benchmark row of each:
#: ftd with the zoo's default options (refit head, empirical Fisher, whole network, whole normalisation)
ZOO_CANDIDATES: dict[str, str] = {"ftd": "ftd-refit-empirical", **{m: m for m in SCORE_METHODS}}
#: a method within noise of the best one is preferred when it is at least this many times cheaper
CHEAPER = 5


# --------------------------------------------------------------------------- methods


def ftd_names() -> list[str]:
    names = []
    for head in HEADS:
        for kind in FISHER_KINDS:
            names.append(f"ftd-{head}-{kind}")
            names.append(f"ftd-{head}-{kind}-perlayer")
            if head == "refit":
                names.append(f"ftd-{head}-{kind}-body")
    return names


def method_names(label_overlap: bool = True) -> list[str]:
    """Every method of a task set; label overlap only where the tasks share one label space."""
    return ftd_names() + ["task2vec", *SCORE_METHODS] + (["label-overlap"] if label_overlap else []) + ["random"]


def higher_is_better(method: str) -> bool:
    """Transferability scores are "higher is better"; every other method is a distance."""
    return method in SCORE_METHODS


def method_family(method: str) -> str:
    if method.startswith("ftd-"):
        return "ftd"
    return {"task2vec": "distance", "label-overlap": "baseline", "random": "baseline"}.get(method, "score")


def method_pieces(method: str) -> list[str]:
    """The timer pieces a method needs when it is computed alone (probe training excluded: every method shares it)."""
    if method.startswith("ftd-"):
        _, head, kind = method.split("-")[:3]
        shared = [f"fisher-{kind}-own"]
        return ["refit", *shared, f"fisher-{kind}-refit"] if head == "refit" else [*shared, f"fisher-{kind}-pad"]
    if method in SCORE_METHODS:
        return [f"score-{method}"]
    return [method]  # task2vec, label-overlap, random


def cost_per_pair(method: str, pieces: dict[str, dict[str, float]], n_pairs: int) -> dict[str, float]:
    """Wall and CPU seconds per ordered (source, target) pair of the pieces ``method`` needs."""
    wall = sum(pieces.get(p, {}).get("wall_s", 0.0) for p in method_pieces(method))
    cpu = sum(pieces.get(p, {}).get("cpu_s", 0.0) for p in method_pieces(method))
    return {"wall_s": wall / n_pairs, "cpu_s": cpu / n_pairs}


# --------------------------------------------------------------------------- scoring


def rank_last(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """``values`` (seeds × sources × targets) with each undefined off-diagonal entry set to rank last.

    Per seed and target the filler is one beyond the worst defined value (any constant
    when none is defined), so it also ranks last after averaging over seeds.
    """
    out = values.copy()
    n = values.shape[1]
    off = ~np.eye(n, dtype=bool)
    for s in range(values.shape[0]):
        for b in range(values.shape[2]):
            col = out[s, :, b]
            missing = np.isnan(col) & off[:, b]
            if not missing.any():
                continue
            defined = col[~np.isnan(col) & off[:, b]]
            worst = (defined.min() - 1.0 if higher_is_better else defined.max() + 1.0) if defined.size else 0.0
            col[missing] = worst
    return out


def score_method(
    values_per_seed: Sequence,
    gains_per_seed: Sequence,
    names: Sequence[str],
    *,
    higher_is_better: bool,
    n_boot: int = 1000,
    n_perm: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """A method's ranking scores (:func:`tanas.ranking.summarise`) over targets and seeds, JSON-ready.

    ``values_per_seed``/``gains_per_seed`` are (seeds × sources × targets), rows the
    sources; NaN marks an undefined value (ranked last) and the diagonal is left out.
    """
    v = np.array(values_per_seed, dtype=np.float64)
    g = np.array(gains_per_seed, dtype=np.float64)
    n = v.shape[1]
    off = ~np.eye(n, dtype=bool)
    coverage = float((~np.isnan(v.mean(axis=0)))[off].mean())
    summary = summarise(
        rank_last(v, higher_is_better), g, higher_is_better=higher_is_better, n_boot=n_boot, n_perm=n_perm, seed=seed
    ).to_dict()
    per_target = {}
    for t in summary.pop("per_target"):
        t["chosen"] = [names[i] for i in t["chosen"]]
        t["best"] = [names[i] for i in t["best"]]
        per_target[names[t.pop("target")]] = t
    return {**summary, "coverage": coverage, "per_target": per_target}


# --------------------------------------------------------------------------- defaults


def recommend(methods: dict[str, Any], timing: dict[str, Any]) -> dict[str, Any]:
    """tanas' defaults for head, Fisher kind and normalisation, read off the FTD variants' scores.

    Each choice compares the mean τ_w of the variants that differ only in that choice
    (averaged over the other choices); the top-1 rate and regret of the same variants
    are reported alongside, and the Fisher kinds' CPU cost.
    """

    def avg(names: list[str], key: str) -> float:
        vals = [methods[n][key] for n in names if n in methods and not math.isnan(methods[n][key])]
        return sum(vals) / len(vals) if vals else float("nan")

    def compare(groups: dict[str, list[str]]) -> dict[str, Any]:
        keys = ("weighted_tau_mean", "spearman_mean", "top1_mean", "regret_mean")
        rows = {choice: {k: avg(names, k) for k in keys} for choice, names in groups.items()}
        best = max(rows, key=lambda c: (rows[c]["weighted_tau_mean"], rows[c]["top1_mean"], -rows[c]["regret_mean"]))
        return {"choice": best, "scores": rows, "variants": groups}

    head = compare({h: [f"ftd-{h}-{k}" for k in FISHER_KINDS] for h in HEADS})
    kind = compare({k: [f"ftd-refit-{k}", f"ftd-pad-{k}"] for k in FISHER_KINDS})
    norm = compare(
        {
            "whole": [f"ftd-{h}-{k}" for h in HEADS for k in FISHER_KINDS],
            "per_layer": [f"ftd-{h}-{k}-perlayer" for h in HEADS for k in FISHER_KINDS],
        }
    )
    layers = compare(
        {"all": [f"ftd-refit-{k}" for k in FISHER_KINDS], "body": [f"ftd-refit-{k}-body" for k in FISHER_KINDS]}
    )
    pieces = timing.get("pieces", {})
    cost = {}
    for k in FISHER_KINDS:  # every Fisher of that kind (own, refitted, padded); None when none was timed
        spent = [v["cpu_s"] for p, v in pieces.items() if p == f"fisher-{k}" or p.startswith(f"fisher-{k}-")]
        cost[k] = sum(spent) if spent else None
    return {
        "head": head,
        "kind": kind,
        "normalise": norm,
        "layers": layers,
        "fisher_cpu_s": cost,
        "rule": "largest mean weighted tau over the variants with that choice (ties: top-1, then regret); "
        "prefer the cheaper option when the difference is within the spread over targets",
    }


def _overlap(a: Sequence[float | None], b: Sequence[float | None]) -> bool:
    """Whether two intervals overlap; an undefined interval (one seed) overlaps everything."""
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in (*a, *b)):
        return True
    return a[0] <= b[1] and b[0] <= a[1]


def recommend_method(sets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The default ``--method`` of ``tanas zoo nearest`` and TA-NAS, read off every task set.

    Rule: the candidate (:data:`ZOO_CANDIDATES`) with the largest τ_w averaged over the
    task sets leads (ties: top-1, then regret) and is recommended, unless candidates within
    noise of it (their bootstrap interval of τ_w overlaps the leader's in *every* set) cost
    at most 1/``CHEAPER`` of its CPU seconds per pair: then the best of those is.
    """
    rows = {}
    for name, row in ZOO_CANDIDATES.items():
        per_set = {label: s["methods"][row] for label, s in sets.items() if row in s["methods"]}
        if len(per_set) != len(sets):
            continue
        rows[name] = {
            "row": row,
            "weighted_tau_mean": sum(m["weighted_tau_mean"] for m in per_set.values()) / len(per_set),
            "top1_mean": sum(m["top1_mean"] for m in per_set.values()) / len(per_set),
            "regret_mean": sum(m["regret_mean"] for m in per_set.values()) / len(per_set),
            "cpu_s_per_pair": sum(m["seconds_per_pair"]["cpu_s"] for m in per_set.values()) / len(per_set),
            "per_set": {
                label: {
                    k: m[k] for k in ("weighted_tau_mean", "weighted_tau_ci", "top1_mean", "regret_mean", "p_value")
                }
                for label, m in per_set.items()
            },
        }
    leader = max(rows, key=lambda c: (rows[c]["weighted_tau_mean"], rows[c]["top1_mean"], -rows[c]["regret_mean"]))
    for r in rows.values():
        r["within_noise_of_leader"] = all(
            _overlap(r["per_set"][label]["weighted_tau_ci"], rows[leader]["per_set"][label]["weighted_tau_ci"])
            for label in sets
        )
    cheap = [
        c
        for c in rows
        if rows[c]["within_noise_of_leader"] and rows[c]["cpu_s_per_pair"] * CHEAPER <= rows[leader]["cpu_s_per_pair"]
    ]
    chosen = max(cheap, key=lambda c: (rows[c]["weighted_tau_mean"], rows[c]["top1_mean"])) if cheap else leader
    return {
        "method": chosen,
        "leader": leader,
        "candidates": rows,
        "rule": "the largest weighted tau averaged over the task sets leads (ties: top-1, then regret) and is "
        f"recommended, unless candidates whose bootstrap 95% interval of weighted tau overlaps the "
        f"leader's in every task set cost at most 1/{CHEAPER} of its CPU s per pair: then the best of "
        "those",
    }
