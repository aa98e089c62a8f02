"""``tanas demo``: the whole pipeline on the embedded 8×8 digits (docs/architecture.md §2).

1. Build (or reuse) a zoo of the paper-digits tasks T0, T1 and T3: a probe and its
   Fisher per seed, and a best genotype found by full-space FUSE.
2. Run TA-NAS for T2 against that zoo (T2 is excluded as a neighbour, so a zoo
   left by an earlier run, which holds T2, does not hand T2 its own answer).
3. Compute the 4×4 FTD matrix from the zoo (its cached probes, Fishers and
   distances), write ``distance.json`` and ``distance.png``.
4. Run full-space FUSE, random search and DARTS for T2 at the same wall-clock
   budget as TA-NAS (whose budget includes its probe and distances).
5. Write each strategy's ``<strategy>/result.json``, ``summary.json`` and
   ``report.html``.

**Time-to-match** is the search time at which TA-NAS's incumbent first reaches
the validation accuracy of full-space FUSE's final incumbent, divided by full
FUSE's search time (None when it never does). FUSE's final validation accuracy is
read at its last *complete* stage: a stage the budget cuts short trains its
candidates less, and its accuracy would make the bar artificially low. Both are read from the searches'
histories, on the same clock (TA-NAS's includes its preparation). Nothing in
the demo reads a test split except the final protocol, after every choice is made.

A second run with the same zoo trains no probe and runs no zoo search; the
target's probe and distances come from the zoo's cache (the summary says so).
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tanas.data import Task, parse_task
from tanas.errors import ConfigError
from tanas.nas import (
    Budget,
    DartsConfig,
    FuseConfig,
    RandomConfig,
    SearchResult,
    SearchSpace,
    TanasConfig,
    TanasResult,
    TrainConfig,
    run_search,
    time_to_match,
)
from tanas.nas.zoo_seeding import ensure_genotype
from tanas.probe import ProbeConfig
from tanas.report.tables import format_distance_matrix, method_name, neighbour_value
from tanas.runtime import atomic_write_text, derive_seed, resolve_device

if TYPE_CHECKING:  # pragma: no cover
    from tanas.distance import DistanceMatrix
    from tanas.zoo import TaskZoo

SUITE = "paper-digits"
TARGET = "T2"
ZOO_TASKS = ("T0", "T1", "T3")
STRATEGIES = ("tanas", "fuse", "random", "darts")
SUMMARY_FILE = "summary.json"
DISTANCE_FILE = "distance.json"


@dataclass(frozen=True)
class DemoConfig:
    """Every budget of the demo. :meth:`full` and :meth:`quick` are the two presets.

    ``budget_seconds`` is the wall-clock search budget of each strategy on the
    target (TA-NAS's includes its probe and distances); ``seed_budget_seconds``
    that of each zoo task's FUSE search. ``probe_seeds`` probe seeds are averaged
    in every distance.
    """

    budget_seconds: float = 60.0
    seed_budget_seconds: float = 30.0
    C: int = 8
    N: int = 1
    candidates: int = 4
    rounds: int = 2
    epochs_per_round: int = 2
    stages: int = 30
    patience: int = 3
    k: int = 2
    radius: int = 1
    probe_seeds: int = 2
    probe_epsilon: float = 0.02
    probe_max_epochs: int = 30
    final_seeds: int = 3
    final_epochs: int = 15
    train: TrainConfig = field(default_factory=lambda: TrainConfig(batch_size=32))

    def __post_init__(self) -> None:
        for name in ("budget_seconds", "seed_budget_seconds"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ConfigError(f"demo {name} must be a positive number of seconds, got {value!r}")
        if self.final_seeds < 1 or self.final_epochs < 1:
            raise ConfigError("the demo's final protocol needs at least 1 seed and 1 epoch")

    @classmethod
    def full(cls) -> DemoConfig:
        return cls()

    @classmethod
    def quick(cls) -> DemoConfig:
        """A smoke-sized run: about a minute on two CPU cores."""
        return cls(
            budget_seconds=6.0,
            seed_budget_seconds=3.0,
            C=4,
            candidates=3,
            rounds=1,
            epochs_per_round=3,
            stages=8,
            patience=2,
            probe_seeds=1,
            probe_epsilon=0.05,
            probe_max_epochs=8,
            final_seeds=2,
            final_epochs=4,
        )

    @classmethod
    def preset(cls, quick: bool = False, *, budget_seconds: float | None = None) -> DemoConfig:
        """The :meth:`quick` or :meth:`full` preset; ``budget_seconds``, when given, replaces its search budget."""
        base = cls.quick() if quick else cls.full()
        return base if budget_seconds is None else dataclasses.replace(base, budget_seconds=budget_seconds)

    def fuse(self) -> FuseConfig:
        return FuseConfig(
            candidates=self.candidates,
            rounds=self.rounds,
            epochs_per_round=self.epochs_per_round,
            stages=self.stages,
            patience=self.patience,
            C=self.C,
            N=self.N,
            train=self.train,
        )

    def random(self) -> RandomConfig:
        # A trial trains as long as a FUSE candidate trains in one stage.
        return RandomConfig(epochs_per_trial=self.rounds * self.epochs_per_round, C=self.C, N=self.N, train=self.train)

    def darts(self) -> DartsConfig:
        return DartsConfig(C=self.C, N=self.N, batch_size=self.train.batch_size)

    def probe(self) -> ProbeConfig:
        return ProbeConfig(name="cnn", epsilon=self.probe_epsilon, max_epochs=self.probe_max_epochs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DemoRun:
    """What :func:`run_demo` produced: the summary (as written to ``summary.json``) and file paths."""

    out: Path
    summary: dict[str, Any]
    results: dict[str, SearchResult]
    report: Path


def _zoo_name(task: Task) -> str:
    return f"{SUITE}/{task.name}"


def zoo_distance_matrix(
    zoo: TaskZoo,
    names: list[str],
    *,
    labels: list[str] | None = None,
    probe: ProbeConfig,
    seeds: int,
    kind: str = "empirical",
    head: str = "refit",
    device: str | torch.device | None = None,
    quiet: bool = True,
) -> DistanceMatrix:
    """The FTD matrix between zoo tasks ``names`` (rows: source, columns: target), read through
    :meth:`TaskZoo.nearest`, so every probe, Fisher and distance the zoo holds is reused.

    Returns a :class:`tanas.distance.DistanceMatrix` labelled with ``labels``.
    """
    from tanas.distance import DistanceMatrix, nearest_sources, seed_mean_std

    labels = labels or list(names)
    if len(labels) != len(names) or len(names) < 2:
        raise ConfigError("a distance matrix needs at least two tasks and one label per task")
    start = time.perf_counter()
    n = len(names)
    per_seed = [[[math.nan] * n for _ in range(n)] for _ in range(seeds)]
    computed = cached = 0
    everything = zoo.names()
    for b, target in enumerate(names):
        others = [name for name in everything if name not in names]
        result = zoo.nearest(
            target, probe=probe, seeds=seeds, kind=kind, head=head, exclude=others, device=device, quiet=quiet
        )
        computed += result.computed
        cached += result.cached
        for neighbour in result.neighbors:
            a = names.index(neighbour.name)
            for s, value in neighbour.per_seed.items():
                per_seed[int(s)][a][b] = float(value)
        if result.skipped:
            raise ConfigError(f"zoo tasks could not be compared with {target}: {result.skipped}")
    mean_rows, std_rows = seed_mean_std(per_seed)
    nearest = nearest_sources(list(labels), mean_rows, per_seed)
    config = {
        "method": "ftd",
        "probe": probe.to_dict(),
        "seeds": seeds,
        "probe_seeds": list(range(seeds)),
        "fisher_kind": kind,
        "fisher_split": "val",
        "head": head,
        "layers": "all",
        "normalise": "whole",
        "squared": False,
        "form": "d = ||F_ab^1/2 - F_bb^1/2||_F / sqrt(2), in [0, 1]",
        "device": str(resolve_device(device)),
        "seconds": round(time.perf_counter() - start, 3),
        "source": f"zoo {zoo.path}",
        "zoo_names": list(names),
        "computed": computed,
        "cached": cached,
        "std": "sample standard deviation over seeds (ddof=1); 0 with one seed",
    }
    specs = [zoo.get(name).spec for name in names]
    return DistanceMatrix(
        tasks=list(labels), mean=mean_rows, std=std_rows, per_seed=per_seed, nearest=nearest, config=config, specs=specs
    )


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def format_table(summary: dict[str, Any]) -> str:
    """The strategies of a demo summary as a text table."""
    rows = [f"{'strategy':<8} {'test acc % (mean ± std)':>24} {'val %':>7} {'params':>8} {'search s':>9} {'space':>11}"]
    for name, s in summary.get("strategies", {}).items():
        test = s.get("test_acc") or {}
        acc = f"{100 * test['mean']:.2f} ± {100 * test['std']:.2f}" if test else "–"
        rows.append(
            f"{name:<8} {acc:>24} {_pct(s.get('val_acc')):>7} {s.get('params', 0):>8,} "
            f"{s.get('search_seconds', 0):>9.1f} {s.get('space_size', 0):>11,}"
        )
    return "\n".join(rows)


def final_stage(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last stage of a search history that was not cut short by the budget (else the last stage).

    A stage the budget truncates trains its candidates for fewer epochs, so its
    incumbent's validation accuracy is not comparable with the others'; a FUSE
    search's *final* validation accuracy is read from its last complete stage.
    """
    complete = [h for h in history if not (h.get("extra") or {}).get("truncated")]
    rows = complete or list(history)
    return rows[-1] if rows else None


def summarise(
    results: dict[str, SearchResult], *, target: Task, budget_seconds: float, extra: dict[str, Any]
) -> dict[str, Any]:
    """The ``summary.json`` document: time-to-match, test accuracies and human-readable lines."""
    tanas, fuse = results["tanas"], results["fuse"]
    fuse_stage = final_stage(fuse.history)
    fuse_val = float(fuse_stage["incumbent_val_acc"]) if fuse_stage is not None else float(fuse.val_acc)
    ttm = time_to_match(tanas.history, fuse_val)
    fuse_seconds = float(fuse.search_seconds)
    fraction = None if ttm is None or fuse_seconds <= 0 else ttm / fuse_seconds
    # The same comparison counted in training epochs, which other processes' load does not distort.
    tanas_epochs_to_match = next((h["epochs_used"] for h in tanas.history if h["incumbent_val_acc"] >= fuse_val), None)
    epochs_fraction = (
        None if tanas_epochs_to_match is None or not fuse.epochs_used else tanas_epochs_to_match / fuse.epochs_used
    )
    strategies = {
        name: {
            "genotype": r.genotype,
            "test_acc": r.test_acc,
            "val_acc": r.val_acc,
            "params": r.params,
            "search_seconds": r.search_seconds,
            "space_size": r.space_size,
            "epochs_used": r.epochs_used,
            "stop_reason": r.stop_reason,
        }
        for name, r in results.items()
    }
    t_acc, f_acc = tanas.test_acc or {}, fuse.test_acc or {}
    nearest = [n for n in getattr(tanas, "nearest", []) if n.get("used")]
    fallback = getattr(tanas, "fallback", None)
    overhead = getattr(tanas, "overhead", {}) or {}
    lines = []
    if fallback:
        lines.append(f"TA-NAS for {target.name} ({target.spec}) fell back to full-space FUSE: {fallback}.")
    else:
        label = method_name(str(getattr(tanas, "zoo", {}).get("method", "ftd")))
        near = ", ".join(f"{n['name']} ({label} {neighbour_value(n):.3f} ± {n['std']:.3f})" for n in nearest)
        lines.append(
            f"TA-NAS for {target.name} ({target.spec}): nearest {near}; searched {tanas.space_size:,} of "
            f"{getattr(tanas, 'full_space_size', 0):,} genotypes, starting from the nearest task's cell."
        )
    prep = overhead.get("prep_seconds", 0.0)
    cached_note = (
        " (target probe and distances reused from the zoo's cache)"
        if overhead and not overhead.get("probes_trained") and not overhead.get("distances_computed")
        else ""
    )
    lines.append(
        f"TA-NAS preparation (probe, Fisher, distances): {prep:.1f} s{cached_note}, counted in its search time."
    )
    if fraction is None:
        lines.append(
            f"Time-to-match: TA-NAS never reached full FUSE's final validation accuracy "
            f"({100 * fuse_val:.2f} %) within the budget: not reached."
        )
    else:
        in_epochs = "" if epochs_fraction is None else f" (in training epochs: {epochs_fraction:.2f})"
        lines.append(
            f"Time-to-match: TA-NAS reached full FUSE's final validation accuracy ({100 * fuse_val:.2f} %, "
            f"its last complete stage) "
            f"after {ttm:.1f} s, {fraction:.2f} of full FUSE's {fuse_seconds:.1f} s search{in_epochs}."
        )
    if t_acc and f_acc:
        n_seeds = len(t_acc.get("runs", []))
        lines.append(
            f"Test accuracy ({n_seeds} final seed(s)): TA-NAS {100 * t_acc['mean']:.2f} ± {100 * t_acc['std']:.2f} %, "
            f"full FUSE {100 * f_acc['mean']:.2f} ± {100 * f_acc['std']:.2f} %"
            + "".join(
                f", {name} {100 * r.test_acc['mean']:.2f} ± {100 * r.test_acc['std']:.2f} %"
                for name, r in results.items()
                if name not in ("tanas", "fuse") and r.test_acc
            )
            + "."
        )
    lines.append(f"Equal search budget: {budget_seconds:g} s per strategy on {tanas.device}.")
    return {
        "target": target.name,
        "target_spec": target.spec,
        "budget_seconds": budget_seconds,
        "time_to_match_seconds": ttm,
        "time_to_match_fraction": fraction,
        "time_to_match": "not reached" if fraction is None else fraction,
        "epochs_to_match_fraction": epochs_fraction,
        "fuse_final_val_acc": fuse_val,
        "fuse_final_stage": None if fuse_stage is None else fuse_stage["stage"],
        "fuse_search_seconds": fuse_seconds,
        "tanas_test_acc": t_acc or None,
        "fuse_test_acc": f_acc or None,
        "strategies": strategies,
        "lines": lines,
        **extra,
    }


def run_demo(
    out: str | Path = "tanas-demo",
    *,
    quick: bool = False,
    zoo: str | Path | None = None,
    config: DemoConfig | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    data_root: str | None = None,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
) -> DemoRun:
    """Run the demo into folder ``out`` (zoo in ``out/zoo`` unless ``zoo`` is given); see the module doc."""
    from tanas.report.heatmap import plot_distance_heatmap
    from tanas.report.html import build_report
    from tanas.zoo import TaskZoo

    started = time.perf_counter()
    cfg = config or (DemoConfig.quick() if quick else DemoConfig.full())
    say = log or (lambda _message: None)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder for the demo's results")
    out.mkdir(parents=True, exist_ok=True)
    zoo_dir = Path(zoo) if zoo is not None else out / "zoo"
    dev = resolve_device(device)
    tasks = {t.name: t for t in parse_task(SUITE, seed=seed, data_root=data_root)}
    target = tasks[TARGET]
    probe = cfg.probe()
    fuse_cfg = cfg.fuse()
    budget = Budget(seconds=float(cfg.budget_seconds))
    work = {"probes_trained": 0, "probes_reused": 0, "fishers_computed": 0, "zoo_searches": 0}
    results: dict[str, SearchResult] = {}

    with TaskZoo(zoo_dir) as store:
        # 1. The zoo: T0, T1, T3 with probes, Fishers and FUSE-searched genotypes.
        zoo_start = time.perf_counter()
        for name in ZOO_TASKS:
            task = tasks[name]
            added = store.add_task(
                task, name=_zoo_name(task), probe=probe, seeds=cfg.probe_seeds, device=dev, quiet=True
            )
            work["probes_trained"] += added.probes_trained
            work["probes_reused"] += added.probes_reused
            work["fishers_computed"] += added.fishers_computed
            # Each zoo search draws its own candidates (not the ones full FUSE on the target will draw).
            seeded = ensure_genotype(
                store,
                added.entry.name,
                budget=Budget(seconds=float(cfg.seed_budget_seconds)),
                fuse=fuse_cfg,
                task=task,
                seed=derive_seed(seed, "demo-zoo", name) % 2**31,
                device=dev,
                quiet=quiet,
            )
            work["zoo_searches"] += int(seeded.searched)
            say(
                f"zoo {added.entry.name}: {added.probes_trained} probe(s) trained, {added.probes_reused} reused; "
                f"genotype {'searched' if seeded.searched else 'reused'} {'|'.join(seeded.genotype)} "
                f"(val {100 * seeded.score:.1f} %)"
            )
        zoo_seconds = time.perf_counter() - zoo_start

        # 2. TA-NAS for the target, never guided by the target itself.
        say(f"TA-NAS for {TARGET} ({target.spec}), budget {budget.seconds:g} s")
        # FTD, as in the matrix the demo prints: TA-NAS then reads the same cached distances.
        tanas_cfg = TanasConfig(
            k=cfg.k, radius=cfg.radius, probe=probe, probe_seeds=cfg.probe_seeds, fuse=fuse_cfg, method="ftd"
        )
        tanas = run_search(
            target,
            "tanas",
            tanas_cfg,
            budget=budget,
            seed=seed,
            device=dev,
            final_seeds=cfg.final_seeds,
            final_epochs=cfg.final_epochs,
            final_train=cfg.train,
            quiet=quiet,
            zoo=store,
            name=_zoo_name(target),
            exclude=[_zoo_name(target)],
            data_root=data_root,
        )
        assert isinstance(tanas, TanasResult)  # the "tanas" strategy's finish step makes one
        results["tanas"] = tanas
        work["probes_trained"] += tanas.overhead.get("probes_trained", 0)
        work["probes_reused"] += tanas.overhead.get("probes_reused", 0)
        work["fishers_computed"] += tanas.overhead.get("fishers_computed", 0)
        work["target_distances_computed"] = tanas.overhead.get("distances_computed", 0)

        # 3. The 4x4 FTD matrix from the zoo's cache.
        names = [_zoo_name(tasks[n]) for n in sorted(tasks)]
        matrix = zoo_distance_matrix(
            store, names, labels=sorted(tasks), probe=probe, seeds=cfg.probe_seeds, device=dev, quiet=True
        )
    distance = matrix.to_dict()
    atomic_write_text(out / DISTANCE_FILE, json.dumps(distance, indent=2) + "\n")
    plot_distance_heatmap(distance, out / "distance.png")
    say("FTD d(row→column):\n" + format_matrix(distance))

    # 4. The baselines on the same target, space family, budget and final protocol.
    baselines = {"fuse": fuse_cfg, "random": cfg.random(), "darts": cfg.darts()}
    for name, strategy_cfg in baselines.items():
        say(f"{name} for {TARGET}, budget {budget.seconds:g} s")
        results[name] = run_search(
            target,
            name,
            strategy_cfg,
            budget=budget,
            space=SearchSpace.full(),
            seed=seed,
            device=dev,
            final_seeds=cfg.final_seeds,
            final_epochs=cfg.final_epochs,
            final_train=cfg.train,
            quiet=quiet,
        )
    for name, result in results.items():
        result.save(out / name)

    summary = summarise(
        results,
        target=target,
        budget_seconds=float(cfg.budget_seconds),
        extra={
            "quick": bool(quick),
            "seed": seed,
            "device": str(dev),
            "zoo": str(zoo_dir),
            "zoo_seconds": zoo_seconds,
            "work": work,
            "config": cfg.to_dict(),
            "seconds": None,
        },
    )
    summary["lines"].insert(
        0,
        "Zoo "
        + ("built" if work["zoo_searches"] or work["probes_trained"] else "reused")
        + f" at {zoo_dir}: {work['probes_trained']} probe(s) trained, {work['zoo_searches']} "
        f"zoo search(es) run, in {zoo_seconds:.1f} s.",
    )
    summary["seconds"] = time.perf_counter() - started
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    report = build_report(out, title="tanas demo: TA-NAS on digits")
    summary["seconds"] = time.perf_counter() - started
    atomic_write_text(out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    return DemoRun(out=out, summary=summary, results=results, report=report)


def format_matrix(distance: dict[str, Any]) -> str:
    """A distance matrix (``distance.json`` form) as text: mean ± std, rows are sources."""
    return format_distance_matrix(distance, with_std=True)


__all__ = [
    "DemoConfig",
    "DemoRun",
    "final_stage",
    "format_matrix",
    "format_table",
    "run_demo",
    "summarise",
    "zoo_distance_matrix",
]
