"""Does a task distance predict transfer? (DESIGN §1.5, issue 7)

For a suite of Fashion-MNIST tasks and every ordered pair a→b (a ≠ b):

* **transfer gain**: fine-tune a's probe (a fresh head for b, all layers) on
  ``shots`` training images per class of b for ``epochs`` epochs, minus the test
  accuracy of the same network trained from scratch with the same images,
  optimiser and epochs. Seed i uses probe seed i and few-shot subsample seed i.
* **distances** on the same probes (each task's probe is trained once per seed
  and shared by every method): FTD with head ``refit``/``pad`` and Fisher
  ``empirical``/``exact`` (plus per-layer normalisation and body-only variants),
  the Task2Vec-style baseline, label overlap and a seeded random distance.

A distance is scored per target b over its sources a: Spearman ρ between
−d(a→b) and gain(a→b), top-1 hit (the nearest source is the best one) and regret
(best gain − gain of the nearest source), on seed-averaged gains and distances.

Conventions of the scores (stated in the JSON ``config.scoring``):

* ties in distance are broken uniformly at random *in expectation*: top-1 and
  regret average over every tied nearest source;
* an undefined distance (``head=pad`` with a target that has more classes than
  the source's head) ranks the source last; a target without any defined source
  picks a source uniformly at random (expected top-1 and regret);
* a distance constant over a target's sources carries no ranking: ρ = 0 there.

Run ``python benchmarks/transfer.py`` (full), ``--quick`` (development) or
``--smoke`` (the test suite's tiny run on the embedded digits data). Results go
to ``benchmarks/results/transfer.json`` (``--out`` to change) and a markdown
table is printed.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    run_script,
    Timer,
    add_run_options,
    cap_task,
    check_positive_ints,
    generator,
    markdown_table,
    mean_std,
    per_class_indices,
    pm,
    save_result,
    start_run,
    take,
)

from tanas.data import Task, parse_task  # noqa: E402
from tanas.distance import (  # noqa: E402
    fisher_task_distance,
    refit_head,
    task2vec_distance,
    transfer_fisher,
)
from tanas.errors import ConfigError  # noqa: E402
from tanas.probe import ProbeConfig, ProbeNet, probe_for_task, train_probe  # noqa: E402
from tanas.train import evaluate, train_epoch  # noqa: E402

#: The Fashion-MNIST suite: the paper's four tasks plus four groupings of the ten classes.
FASHION_SUITE: tuple[tuple[str, str, str], ...] = (
    ("T0", "fashion_mnist:indicator:0", "t-shirt/top vs rest (paper T0)"),
    ("T1", "fashion_mnist:indicator:1", "trouser vs rest (paper T1)"),
    ("T2", "fashion_mnist:multiclass:0,1,2,3", "t-shirt, trouser, pullover, dress + other (paper T2)"),
    ("T3", "fashion_mnist:full", "all ten classes (paper T3)"),
    ("T4", "fashion_mnist:indicator:sandal,sneaker,ankle_boot", "footwear vs rest"),
    ("T5", "fashion_mnist:subset:0,2,4,6", "tops: t-shirt, pullover, coat, shirt"),
    ("T6", "fashion_mnist:subset:sandal,sneaker", "sandal vs sneaker"),
    ("T7", "fashion_mnist:subset:trouser,bag,dress", "trouser, bag, dress"),
)

QUICK_SUITE = tuple(t for t in FASHION_SUITE if t[0] in ("T0", "T1", "T2", "T6"))

SMOKE_SUITE: tuple[tuple[str, str, str], ...] = (
    ("D0", "digits:indicator:0", "0 vs rest"),
    ("D1", "digits:subset:3,5", "3 vs 5"),
    ("D2", "digits:multiclass:0,1,2,3", "0-3 + other"),
)

FISHER_KINDS = ("empirical", "exact")
HEADS = ("refit", "pad")


@dataclass
class TransferConfig:
    """Settings of one transfer benchmark run (all recorded in the JSON)."""

    tasks: list[tuple[str, str, str]] = field(default_factory=lambda: [list(t) for t in FASHION_SUITE])
    seeds: int = 3
    #: few-shot budget of b: training images per class, epochs, optimiser
    shots: int = 20
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 16
    #: probes (the networks the distances and the fine-tuning start from)
    probe: dict[str, Any] = field(default_factory=lambda: dict(name="cnn", epsilon=0.02, max_steps=500, min_steps=100))
    #: the Fisher uses at most this many validation images of b (stratified, seeded)
    fisher_val: int = 1000
    #: head refits use at most this many training images of b (stratified, seeded)
    refit_train: int = 1000
    threads: int = 1
    device: str = "auto"
    data_root: str | None = None
    mode: str = "full"

    def probe_config(self) -> ProbeConfig:
        return ProbeConfig(**self.probe)

    def validate(self) -> None:
        if len(self.tasks) < 3:
            raise ConfigError("the transfer benchmark needs at least 3 tasks (2 sources per target)")
        check_positive_ints(self, ("seeds", "shots", "epochs", "batch_size", "fisher_val", "refit_train", "threads"))
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        names = [t[0] for t in self.tasks]
        if len(set(names)) != len(names):
            raise ConfigError(f"task names must be unique: {names}")
        self.probe_config()


def quick_config() -> TransferConfig:
    return TransferConfig(
        tasks=[list(t) for t in QUICK_SUITE], seeds=2, shots=20, epochs=20,
        probe=dict(name="cnn", epsilon=0.05, max_steps=150, min_steps=50),
        fisher_val=300, refit_train=600, mode="quick",
    )


def smoke_config() -> TransferConfig:
    return TransferConfig(
        tasks=[list(t) for t in SMOKE_SUITE], seeds=2, shots=5, epochs=3,
        probe=dict(name="cnn", epsilon=0.05, max_steps=20, min_steps=1, max_epochs=2),
        fisher_val=60, refit_train=120, mode="smoke",
    )


# --------------------------------------------------------------------------- label overlap


def named_classes(task: Task) -> frozenset[int]:
    """The source classes a task gives a label of their own.

    ``indicator(C)``, ``multiclass(C)``, ``subset(C)``: the listed classes C (the
    indicator's and multiclass' "other" lumps the rest together, so they are
    not distinguished); ``full``: every class of the source.
    """
    if task.kind == "full":
        return frozenset(range(task.num_classes))
    listed = task.spec.rsplit(":", 1)[1]
    return frozenset(int(c) for c in listed.split(","))


def label_overlap_distance(a: frozenset[int], b: frozenset[int]) -> float:
    """1 − Jaccard(a, b) = 1 − |a ∩ b| / |a ∪ b| (symmetric, in [0, 1])."""
    union = a | b
    if not union:
        raise ConfigError("label overlap of two tasks without classes is undefined")
    return 1.0 - len(a & b) / len(union)


# --------------------------------------------------------------------------- scoring


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's ρ with average ranks for ties; 0 when either side is constant (no ranking)."""
    from scipy.stats import spearmanr

    if len(x) != len(y) or len(x) < 2:
        raise ConfigError(f"Spearman's rho needs two equally long sequences of >= 2 values, got {len(x)} and {len(y)}")
    if len(set(x)) == 1 or len(set(y)) == 1:
        return 0.0
    return float(spearmanr(x, y).statistic)


def score_target(dists: Sequence[float], gains: Sequence[float]) -> dict[str, float]:
    """Scores of one target: its sources' distances (NaN = undefined) and transfer gains."""
    if len(dists) != len(gains) or len(dists) < 2:
        raise ConfigError("a target needs the distances and gains of at least 2 sources")
    defined = [d for d in dists if not math.isnan(d)]
    worst = (max(defined) + 1.0) if defined else 0.0
    filled = [worst if math.isnan(d) else d for d in dists]
    rho = spearman([-d for d in filled], list(gains))
    if defined:
        nearest_d = min(defined)
        chosen = [i for i, d in enumerate(dists) if not math.isnan(d) and d == nearest_d]
    else:
        chosen = list(range(len(dists)))
    best = max(gains)
    top1 = sum(1.0 for i in chosen if gains[i] == best) / len(chosen)
    regret = best - sum(gains[i] for i in chosen) / len(chosen)
    return {"spearman": rho, "top1": top1, "regret": regret, "coverage": len(defined) / len(dists),
            "nearest": chosen}


def score_method(dist: list[list[float]], gain: list[list[float]], names: Sequence[str]) -> dict[str, Any]:
    """Spearman mean ± std over targets, top-1 hit rate, mean regret, share of defined pairs."""
    n = len(names)
    per_target: dict[str, Any] = {}
    for b in range(n):
        sources = [a for a in range(n) if a != b]
        s = score_target([dist[a][b] for a in sources], [gain[a][b] for a in sources])
        s["nearest"] = [names[sources[i]] for i in s["nearest"]]
        per_target[names[b]] = s
    rhos = [v["spearman"] for v in per_target.values()]
    rho_mean, rho_std = mean_std(rhos)
    return {
        "spearman_mean": rho_mean,
        "spearman_std": rho_std,
        "top1": sum(v["top1"] for v in per_target.values()) / n,
        "regret": sum(v["regret"] for v in per_target.values()) / n,
        "coverage": sum(v["coverage"] for v in per_target.values()) / n,
        "per_target": per_target,
    }


# --------------------------------------------------------------------------- few-shot training


def fresh_head(model: ProbeNet, num_classes: int, seed: int) -> ProbeNet:
    """A copy of ``model`` with a new output layer for ``num_classes`` classes (seeded default init)."""
    out = copy.deepcopy(model)
    out.replace_head(num_classes)
    bound = 1.0 / math.sqrt(out.feature_dim)
    gen = generator("fresh-head", seed)
    with torch.no_grad():
        out.head.weight.copy_(torch.empty_like(out.head.weight, device="cpu").uniform_(-bound, bound, generator=gen))
        out.head.bias.copy_(torch.empty_like(out.head.bias, device="cpu").uniform_(-bound, bound, generator=gen))
    return out


def few_shot_accuracy(
    model: nn.Module, task: Task, shots_idx: torch.Tensor, *, cfg: TransferConfig, seed: int, device: torch.device
) -> float:
    """Train every layer of ``model`` on the few-shot images of ``task``; its test accuracy."""
    split = take(task.splits["train"], shots_idx)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    data_gen = generator("few-shot-order", task.spec, seed)  # same batch order for every source and scratch
    for _ in range(cfg.epochs):
        train_epoch(model, task, split, optimizer, batch_size=cfg.batch_size, device=device, generator=data_gen)
    return evaluate(model, task, task.splits["test"], device=device)


# --------------------------------------------------------------------------- one seed


def method_names() -> list[str]:
    names = []
    for head in HEADS:
        for kind in FISHER_KINDS:
            names.append(f"ftd-{head}-{kind}")
            names.append(f"ftd-{head}-{kind}-perlayer")
            if head == "refit":
                names.append(f"ftd-{head}-{kind}-body")
    return names + ["task2vec", "label-overlap", "random"]


def run_seed(
    tasks: list[Task], seed: int, cfg: TransferConfig, device: torch.device, timer: Timer,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every probe, gain and distance of one seed."""
    n = len(tasks)
    names = [t.name for t in tasks]
    nan = float("nan")
    probe_cfg = cfg.probe_config()

    probes: list[ProbeNet] = []
    records = []
    for task in tasks:
        with timer("probe"):
            model, record = train_probe(task, probe_cfg, seed=seed, device=device, quiet=True)
        probes.append(model)
        records.append(record.to_dict())
        log(f"seed {seed}: probe {task.name}: {record.epochs} epochs, val acc {record.val_acc:.3f}")

    # Transfer gains: a's probe, fresh head, all layers vs the same budget from scratch.
    scratch = [nan] * n
    finetune = [[nan] * n for _ in range(n)]
    for b, task_b in enumerate(tasks):
        shots_idx = per_class_indices(task_b.splits["train"].y, cfg.shots, task_b.num_classes,
                                      generator("shots", task_b.spec, seed))
        with timer("scratch"):
            model = probe_for_task(probe_cfg.name, task_b, seed=seed)
            scratch[b] = few_shot_accuracy(model, task_b, shots_idx, cfg=cfg, seed=seed, device=device)
        for a in range(n):
            if a == b:
                continue
            with timer("finetune"):
                model = fresh_head(probes[a], task_b.num_classes, seed)
                finetune[a][b] = few_shot_accuracy(model, task_b, shots_idx, cfg=cfg, seed=seed, device=device)
        log(f"seed {seed}: gains into {task_b.name}: scratch {scratch[b]:.3f}, fine-tuned "
            + ", ".join(f"{names[a]} {finetune[a][b]:.3f}" for a in range(n) if a != b))
    gain = [[finetune[a][b] - scratch[b] if a != b else nan for b in range(n)] for a in range(n)]

    # Distances. Each task's Fisher data: at most fisher_val val images, refits on at most refit_train.
    views = [cap_task(t, {"train": cfg.refit_train, "val": cfg.fisher_val}, seed=seed) for t in tasks]
    dist = {m: [[0.0 if a == b else nan for b in range(n)] for a in range(n)] for m in method_names()}
    own: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for b in range(n):
        for kind in FISHER_KINDS:
            with timer(f"fisher-{kind}"):
                own[b, kind] = transfer_fisher(probes[b], views[b], same_task=True, kind=kind, seed=seed, device=device)
    ref = max(range(n), key=lambda i: (tasks[i].num_classes, -i))  # Task2Vec's one fixed probe
    embeddings: dict[int, dict[str, torch.Tensor]] = {}

    def record(prefix: str, a: int, b: int, f_ab: dict[str, torch.Tensor], kind: str, body: bool) -> None:
        dist[prefix][a][b] = fisher_task_distance(f_ab, own[b, kind])
        dist[prefix + "-perlayer"][a][b] = fisher_task_distance(f_ab, own[b, kind], normalise="per_layer")
        if body:
            dist[prefix + "-body"][a][b] = fisher_task_distance(f_ab, own[b, kind], layers="body")

    for b, view_b in enumerate(views):
        for a in range(n):
            if a == b:
                continue
            with timer("refit"):
                refit = refit_head(probes[a], view_b, seed=seed, device=device)
            for kind in FISHER_KINDS:
                with timer(f"fisher-{kind}"):
                    # the refitted copy of a's probe, used as it is on b (one refit serves both kinds)
                    f_ab = transfer_fisher(refit, view_b, same_task=True, kind=kind, seed=seed, device=device)
                record(f"ftd-refit-{kind}", a, b, f_ab, kind, body=True)
                if a == ref and kind == "empirical":
                    embeddings[b] = f_ab
            if tasks[b].num_classes <= probes[a].num_classes:
                for kind in FISHER_KINDS:
                    with timer(f"fisher-{kind}"):
                        f_ab = transfer_fisher(probes[a], view_b, same_task=False, head="pad", kind=kind,
                                               seed=seed, device=device)
                    record(f"ftd-pad-{kind}", a, b, f_ab, kind, body=False)
        log(f"seed {seed}: distances into {tasks[b].name} done")
    with timer("refit"):
        refit = refit_head(probes[ref], views[ref], seed=seed, device=device)
    with timer("fisher-empirical"):
        embeddings[ref] = transfer_fisher(refit, views[ref], same_task=True, kind="empirical", seed=seed, device=device)
    classes = [named_classes(t) for t in tasks]
    rand = torch.rand(n, n, generator=generator("random-distance", seed), dtype=torch.float64).tolist()
    for a in range(n):
        for b in range(n):
            if a != b:
                dist["task2vec"][a][b] = task2vec_distance(embeddings[a], embeddings[b])
                dist["label-overlap"][a][b] = label_overlap_distance(classes[a], classes[b])
                dist["random"][a][b] = rand[a][b]
    return {"gain": gain, "scratch": scratch, "finetune": finetune, "dist": dist, "probes": records,
            "task2vec_reference": names[ref]}


# --------------------------------------------------------------------------- defaults


def recommend(methods: dict[str, Any], timing: dict[str, Any]) -> dict[str, Any]:
    """tanas' defaults for head, Fisher kind and normalisation, read off the FTD variants' scores.

    Each choice compares the mean Spearman ρ of the variants that differ only in
    that choice (averaged over the other choices); the top-1 rate and regret of
    the same variants are reported alongside, and the Fisher kinds' CPU cost.
    """

    def avg(names: list[str], key: str) -> float:
        vals = [methods[n][key] for n in names if n in methods and not math.isnan(methods[n][key])]
        return sum(vals) / len(vals) if vals else float("nan")

    def compare(groups: dict[str, list[str]]) -> dict[str, Any]:
        rows = {choice: {k: avg(names, k) for k in ("spearman_mean", "top1", "regret")} for choice, names in groups.items()}
        best = max(rows, key=lambda c: (rows[c]["spearman_mean"], rows[c]["top1"], -rows[c]["regret"]))
        return {"choice": best, "scores": rows, "variants": groups}

    head = compare({h: [f"ftd-{h}-{k}" for k in FISHER_KINDS] for h in HEADS})
    kind = compare({k: [f"ftd-refit-{k}", f"ftd-pad-{k}"] for k in FISHER_KINDS})
    norm = compare({"whole": [f"ftd-{h}-{k}" for h in HEADS for k in FISHER_KINDS],
                    "per_layer": [f"ftd-{h}-{k}-perlayer" for h in HEADS for k in FISHER_KINDS]})
    layers = compare({"all": [f"ftd-refit-{k}" for k in FISHER_KINDS], "body": [f"ftd-refit-{k}-body" for k in FISHER_KINDS]})
    pieces = timing.get("pieces", {})
    cost = {k: pieces.get(f"fisher-{k}", {}).get("cpu_s") for k in FISHER_KINDS}
    return {"head": head, "kind": kind, "normalise": norm, "layers": layers, "fisher_cpu_s": cost,
            "rule": "largest mean Spearman rho over the variants with that choice (ties: top-1, then regret); "
                    "prefer the cheaper option when the difference is within the spread over targets"}


# --------------------------------------------------------------------------- the run


def _stack_mean_std(mats: list[list[list[float]]]) -> tuple[list[list[float]], list[list[float]]]:
    n = len(mats[0])
    cells = [[mean_std([m[a][b] for m in mats]) for b in range(n)] for a in range(n)]
    return [[mean for mean, _ in row] for row in cells], [[std for _, std in row] for row in cells]


def load_tasks(cfg: TransferConfig) -> list[Task]:
    sources: dict = {}
    tasks = []
    for name, spec, _ in cfg.tasks:
        (task,) = parse_task(spec, seed=0, data_root=cfg.data_root, sources=sources)
        tasks.append(dataclasses.replace(task, name=name))
    return tasks


def run(cfg: TransferConfig, *, quiet: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns the JSON-ready result (see the module docstring)."""
    env, device, timer, started, log = start_run(cfg, quiet=quiet)
    with timer("load"):
        tasks = load_tasks(cfg)
    names = [t.name for t in tasks]
    per_seed = [run_seed(tasks, s, cfg, device, timer, log) for s in range(cfg.seeds)]

    gain_mean, gain_std = _stack_mean_std([r["gain"] for r in per_seed])
    methods: dict[str, Any] = {}
    for m in method_names():
        d_seeds = [r["dist"][m] for r in per_seed]
        d_mean, d_std = _stack_mean_std(d_seeds)
        methods[m] = score_method(d_mean, gain_mean, names)
        methods[m]["distance"] = {"mean": d_mean, "std": d_std, "per_seed": d_seeds}
    scratch = [mean_std([r["scratch"][b] for r in per_seed]) for b in range(len(tasks))]
    timing = {"total_wall_s": round(time.perf_counter() - started, 2), "pieces": timer.to_dict()}
    return {
        "tasks": names,
        "gain": {"mean": gain_mean, "std": gain_std, "per_seed": [r["gain"] for r in per_seed]},
        "accuracy": {
            "scratch": {"mean": [m for m, _ in scratch], "std": [s for _, s in scratch]},
            "finetune": dict(zip(("mean", "std"), _stack_mean_std([r["finetune"] for r in per_seed]))),
        },
        "methods": methods,
        "probes": [rec for r in per_seed for rec in r["probes"]],
        "recommendation": recommend(methods, timing),
        "timing": timing,
        "config": {
            **dataclasses.asdict(cfg),
            "task_specs": {name: spec for name, spec, _ in cfg.tasks},
            "task_descriptions": {name: desc for name, _, desc in cfg.tasks},
            "task2vec_reference": per_seed[0]["task2vec_reference"],
            "env": {**env, "device": str(device)},
            "gain": "test acc of a's probe fine-tuned (fresh head, all layers, Adam) on `shots` train images per "
                    "class of b for `epochs` epochs, minus the same from scratch; gain[a][b], row = source",
            "distances": "FTD on probes trained once per seed; Fisher on <= fisher_val val images of b, head refits "
                         "on <= refit_train train images of b; -perlayer: normalise='per_layer'; -body: "
                         "layers='body'; task2vec: body Fishers of the task2vec_reference probe with refitted "
                         "heads; label-overlap: 1 - Jaccard of the source classes each task names (indicator/"
                         "multiclass/subset: the listed classes, full: all); random: U(0,1) per seed",
            "scoring": "per target over its sources, on seed-averaged gains and distances: Spearman(-d, gain) "
                       "(0 for a constant distance), top-1 hit and regret averaged over tied nearest sources; "
                       "undefined distances (pad, target has more classes) rank last; no defined source: "
                       "uniform random choice",
        },
    }


def report(result: dict[str, Any]) -> str:
    """Markdown tables: the method scores and the mean gain matrix."""
    rows = []
    for name, m in sorted(result["methods"].items(), key=lambda kv: -kv[1]["spearman_mean"]):
        rows.append([name, pm(m["spearman_mean"], m["spearman_std"]), m["top1"], m["regret"], m["coverage"]])
    text = "### Does −distance rank sources by transfer gain?\n\n"
    text += markdown_table(["method", "Spearman ρ (mean ± std over targets)", "top-1", "regret", "coverage"], rows)
    names = result["tasks"]
    gm, gs = result["gain"]["mean"], result["gain"]["std"]
    grid = [[f"**{a}**"] + [("–" if a == b else pm(gm[i][j], gs[i][j])) for j, b in enumerate(names)]
            for i, a in enumerate(names)]
    text += "\n\n### Transfer gain (row = source a, column = target b; mean ± std over seeds)\n\n"
    text += markdown_table(["a \\ b", *names], grid)
    sc = result["accuracy"]["scratch"]
    text += "\n\nFrom-scratch few-shot test accuracy: " + ", ".join(
        f"{n} {m:.3f}" for n, m in zip(names, sc["mean"]))
    rec = result.get("recommendation")
    if rec:
        text += "\n\nRecommended FTD defaults (mean Spearman ρ of the variants with each choice): " + "; ".join(
            f"{what} = {rec[what]['choice']} ("
            + ", ".join(f"{c} {s['spearman_mean']:.3f}" for c, s in rec[what]["scores"].items()) + ")"
            for what in ("head", "kind", "normalise", "layers"))
    text += f"\n\nTotal wall time: {result['timing']['total_wall_s']:.0f} s\n"
    return text


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(p, quick_help="4 tasks, 2 seeds, small probes (development)", stem="transfer")
    p.add_argument("--seeds", type=int, help="number of seeds (default: 3; quick/smoke: 2)")
    p.add_argument("--shots", type=int, help="few-shot training images per class of the target")
    p.add_argument("--epochs", type=int, help="few-shot training epochs")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cfg = quick_config() if args.quick else smoke_config() if args.smoke else TransferConfig()
    for label in ("seeds", "shots", "epochs"):
        if getattr(args, label) is not None:
            setattr(cfg, label, getattr(args, label))
    cfg.threads, cfg.device, cfg.data_root = args.threads, args.device, args.data_root
    result = run(cfg, quiet=args.quiet)
    save_result(result, args.out, stem="transfer", mode=cfg.mode, report=report)
    return result


if __name__ == "__main__":
    run_script(main)
