"""Does a task distance or a transferability score predict transfer? (docs/architecture.md §1.5)

Two task sets (``transfer_tasks.py``): 8 tasks within Fashion-MNIST, and 12
cross-domain tasks, all 1×28×28 (Fashion-MNIST, the 8×8 digits upsampled,
Fashion-MNIST rotated by 90° and inverted). For every ordered pair a→b (a ≠ b) of a set:

* **transfer gain**: fine-tune a's probe (a fresh head for b, all layers) on
  ``shots`` training images per class of b for ``epochs`` epochs, minus the test
  accuracy of the same network trained from scratch with the same images,
  optimiser and epochs. Seed i uses probe seed i and few-shot subsample seed i.
* **methods**, all on the same probes (each task's probe is trained once per seed
  and shared by every method): FTD with head ``refit``/``pad`` and Fisher
  ``empirical``/``exact`` (plus per-layer normalisation and body-only variants), the
  Task2Vec-style distance, the transferability scores LEEP, NCE, LogME and H-score
  (higher is better), label overlap (within Fashion-MNIST only: undefined across
  domains) and a seeded random distance.

Each method is scored with :mod:`tanas.ranking` (see ``transfer_scoring.py``): per
target τ_w, ρ, top-1 hit and regret on seed-averaged values, mean ± std over targets,
a bootstrap 95 % interval over seeds, a permutation p-value against random rankings,
and its seconds per (source, target) pair.

Run ``python benchmarks/transfer.py`` (full), ``--quick`` (development) or
``--smoke`` (the test suite's tiny run on the embedded digits data). Results go
to ``benchmarks/results/transfer.json`` (``--out`` to change) and markdown
tables are printed.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Timer,
    add_run_options,
    cap_task,
    check_positive_ints,
    generator,
    markdown_table,
    mean_std,
    per_class_indices,
    pm,
    run_script,
    save_result,
    start_run,
    take,
)
from tanas.data import Task
from tanas.distance import (
    SCORE_METHODS,
    fisher_task_distance,
    refit_head,
    task2vec_distance,
    transfer_fisher,
    transfer_score,
)
from tanas.errors import ConfigError
from tanas.probe import ProbeConfig, ProbeNet, probe_for_task, train_probe
from tanas.train import evaluate, train_epoch
from transfer_scoring import (  # noqa: F401  (re-exported for the tests)
    FISHER_KINDS,
    HEADS,
    ZOO_CANDIDATES,
    cost_per_pair,
    higher_is_better,
    method_family,
    method_names,
    rank_last,
    recommend,
    recommend_method,
    score_method,
)
from transfer_tasks import (
    CROSS_SUITE,
    FASHION_SUITE,
    QUICK_CROSS_SUITE,
    QUICK_SUITE,
    SMOKE_CROSS_SUITE,
    SMOKE_SUITE,
    domain_of,
    label_overlap_distance,
    load_tasks,
    named_classes,
)

#: the task sets, in the order they run and are reported
SET_LABELS = ("within", "cross")
SET_TITLES = {"within": "within Fashion-MNIST", "cross": "cross-domain (Fashion-MNIST, digits, rotated, inverted)"}


@dataclass
class TransferConfig:
    """Settings of one transfer benchmark run (all recorded in the JSON)."""

    tasks: list[tuple[str, str, str]] = field(default_factory=lambda: [list(t) for t in FASHION_SUITE])
    cross_tasks: list[tuple[str, str, str]] = field(default_factory=lambda: [list(t) for t in CROSS_SUITE])
    #: which task sets run (both by default)
    sets: list[str] = field(default_factory=lambda: list(SET_LABELS))
    seeds: int = 3
    #: few-shot budget of b: training images per class, epochs, optimiser
    shots: int = 20
    epochs: int = 30
    lr: float = 1e-3
    batch_size: int = 16
    #: probes (the networks the distances, the scores and the fine-tuning start from)
    probe: dict[str, Any] = field(default_factory=lambda: dict(name="cnn", epsilon=0.02, max_steps=500, min_steps=100))
    #: Fishers and transferability scores use at most this many validation images of b (stratified, seeded)
    fisher_val: int = 1000
    #: head refits use at most this many training images of b (stratified, seeded)
    refit_train: int = 1000
    #: few-shot test accuracy on at most this many test images of b (stratified, seeded; None: all)
    test_cap: int | None = None
    #: bootstrap resamples and permutations of tanas.ranking.summarise
    n_boot: int = 1000
    n_perm: int = 1000
    threads: int = 1
    device: str = "auto"
    data_root: str | None = None
    mode: str = "full"

    def probe_config(self) -> ProbeConfig:
        return ProbeConfig(**self.probe)

    def entries(self, label: str) -> list[tuple[str, str, str]]:
        return self.tasks if label == "within" else self.cross_tasks

    def validate(self) -> None:
        check_positive_ints(
            self, ("seeds", "shots", "epochs", "batch_size", "fisher_val", "refit_train", "threads", "n_boot", "n_perm")
        )
        if self.test_cap is not None:
            check_positive_ints(self, ("test_cap",))
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        if not self.sets or any(s not in SET_LABELS for s in self.sets) or len(set(self.sets)) != len(self.sets):
            raise ConfigError(f"sets must name some of {', '.join(SET_LABELS)} once each, got {self.sets!r}")
        for label in self.sets:
            entries = self.entries(label)
            if len(entries) < 3:
                raise ConfigError(
                    f"the transfer benchmark needs at least 3 tasks per set (2 sources per target); "
                    f"the {label} set has {len(entries)}"
                )
            names = [t[0] for t in entries]
            if len(set(names)) != len(names):
                raise ConfigError(f"task names must be unique within a set: {names}")
        self.probe_config()


def quick_config() -> TransferConfig:
    return TransferConfig(
        tasks=[list(t) for t in QUICK_SUITE],
        cross_tasks=[list(t) for t in QUICK_CROSS_SUITE],
        seeds=2,
        shots=10,
        epochs=15,
        probe=dict(name="cnn", epsilon=0.05, max_steps=150, min_steps=50),
        fisher_val=300,
        refit_train=600,
        test_cap=1000,
        n_boot=200,
        n_perm=200,
        mode="quick",
    )


def smoke_config() -> TransferConfig:
    return TransferConfig(
        tasks=[list(t) for t in SMOKE_SUITE],
        cross_tasks=[list(t) for t in SMOKE_CROSS_SUITE],
        seeds=2,
        shots=5,
        epochs=3,
        probe=dict(name="cnn", epsilon=0.05, max_steps=20, min_steps=1, max_epochs=2),
        fisher_val=60,
        refit_train=120,
        n_boot=50,
        n_perm=50,
        mode="smoke",
    )


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


ProbeCache = dict[tuple[str, int], tuple[ProbeNet, dict[str, Any]]]


def run_seed(
    tasks: list[Task],
    seed: int,
    cfg: TransferConfig,
    device: torch.device,
    timer: Timer,
    log: Callable[[str], None],
    *,
    label_overlap: bool = True,
    probe_cache: ProbeCache | None = None,
) -> dict[str, Any]:
    """Every probe, gain, distance and score of one seed of one task set."""
    n = len(tasks)
    names = [t.name for t in tasks]
    nan = float("nan")
    probe_cfg = cfg.probe_config()
    cache: ProbeCache = probe_cache if probe_cache is not None else {}

    probes: list[ProbeNet] = []
    records = []
    for task in tasks:
        key = (task.fingerprint(), seed)  # a task of both sets trains once per seed
        if key not in cache:
            with timer("probe"):
                model, record = train_probe(task, probe_cfg, seed=seed, device=device, quiet=True)
            cache[key] = (model, record.to_dict())
        model, record = cache[key]
        probes.append(model)
        records.append({**record, "task": task.name, "seed": seed})
        log(f"seed {seed}: probe {task.name}: {record['epochs']} epochs, val acc {record['val_acc']:.3f}")

    # Transfer gains: a's probe, fresh head, all layers vs the same budget from scratch.
    tests = [cap_task(t, {"test": cfg.test_cap}, seed=seed) for t in tasks]
    scratch = [nan] * n
    finetune = [[nan] * n for _ in range(n)]
    for b, task_b in enumerate(tests):
        shots_idx = per_class_indices(
            task_b.splits["train"].y, cfg.shots, task_b.num_classes, generator("shots", task_b.spec, seed)
        )
        with timer("scratch"):
            model = probe_for_task(probe_cfg.name, task_b, seed=seed)
            scratch[b] = few_shot_accuracy(model, task_b, shots_idx, cfg=cfg, seed=seed, device=device)
        for a in range(n):
            if a == b:
                continue
            with timer("finetune"):
                model = fresh_head(probes[a], task_b.num_classes, seed)
                finetune[a][b] = few_shot_accuracy(model, task_b, shots_idx, cfg=cfg, seed=seed, device=device)
        log(
            f"seed {seed}: gains into {task_b.name}: scratch {scratch[b]:.3f}, fine-tuned "
            + ", ".join(f"{names[a]} {finetune[a][b]:.3f}" for a in range(n) if a != b)
        )
    gain = [[finetune[a][b] - scratch[b] if a != b else nan for b in range(n)] for a in range(n)]

    # Distances and scores. Each task's data: at most fisher_val val images, refits on at most refit_train.
    views = [cap_task(t, {"train": cfg.refit_train, "val": cfg.fisher_val}, seed=seed) for t in tasks]
    methods = method_names(label_overlap)
    values = {
        m: [[(nan if higher_is_better(m) else 0.0) if a == b else nan for b in range(n)] for a in range(n)]
        for m in methods
    }
    own: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for b in range(n):
        for kind in FISHER_KINDS:
            with timer(f"fisher-{kind}-own"):
                own[b, kind] = transfer_fisher(probes[b], views[b], same_task=True, kind=kind, seed=seed, device=device)
    ref = max(range(n), key=lambda i: (tasks[i].num_classes, -i))  # Task2Vec's one fixed probe
    embeddings: dict[int, dict[str, torch.Tensor]] = {}

    def record(prefix: str, a: int, b: int, f_ab: dict[str, torch.Tensor], kind: str, body: bool) -> None:
        values[prefix][a][b] = fisher_task_distance(f_ab, own[b, kind])
        values[prefix + "-perlayer"][a][b] = fisher_task_distance(f_ab, own[b, kind], normalise="per_layer")
        if body:
            values[prefix + "-body"][a][b] = fisher_task_distance(f_ab, own[b, kind], layers="body")

    for b, view_b in enumerate(views):
        for a in range(n):
            if a == b:
                continue
            embeds = a == ref  # this pair's refit and empirical Fisher are also Task2Vec's embedding of b
            with timer("refit"), timer("task2vec") if embeds else nullcontext():
                refit = refit_head(probes[a], view_b, seed=seed, device=device)
            for kind in FISHER_KINDS:
                t2v = timer("task2vec") if embeds and kind == "empirical" else nullcontext()
                with timer(f"fisher-{kind}-refit"), t2v:
                    # the refitted copy of a's probe, used as it is on b (one refit serves both kinds)
                    f_ab = transfer_fisher(refit, view_b, same_task=True, kind=kind, seed=seed, device=device)
                    record(f"ftd-refit-{kind}", a, b, f_ab, kind, body=True)
                if embeds and kind == "empirical":
                    embeddings[b] = f_ab
            if tasks[b].num_classes <= probes[a].num_classes:
                for kind in FISHER_KINDS:
                    with timer(f"fisher-{kind}-pad"):
                        f_ab = transfer_fisher(
                            probes[a], view_b, same_task=False, head="pad", kind=kind, seed=seed, device=device
                        )
                        record(f"ftd-pad-{kind}", a, b, f_ab, kind, body=False)
            for method in SCORE_METHODS:  # one forward pass of a's probe over b's (capped) validation images each
                with timer(f"score-{method}"):
                    values[method][a][b] = transfer_score(probes[a], view_b, method, device=device)
        log(f"seed {seed}: distances and scores into {tasks[b].name} done")
    with timer("task2vec"):
        refit = refit_head(probes[ref], views[ref], seed=seed, device=device)
        embeddings[ref] = transfer_fisher(refit, views[ref], same_task=True, kind="empirical", seed=seed, device=device)
        for a in range(n):
            for b in range(n):
                if a != b:
                    values["task2vec"][a][b] = task2vec_distance(embeddings[a], embeddings[b])
    if label_overlap:
        with timer("label-overlap"):
            classes = [named_classes(t) for t in tasks]
            for a in range(n):
                for b in range(n):
                    if a != b:
                        values["label-overlap"][a][b] = label_overlap_distance(classes[a], classes[b])
    with timer("random"):
        rand = torch.rand(n, n, generator=generator("random-distance", seed), dtype=torch.float64).tolist()
        for a in range(n):
            for b in range(n):
                if a != b:
                    values["random"][a][b] = rand[a][b]
    return {
        "gain": gain,
        "scratch": scratch,
        "finetune": finetune,
        "values": values,
        "probes": records,
        "task2vec_reference": names[ref],
    }


# --------------------------------------------------------------------------- one task set


def _stack_mean_std(mats: list[list[list[float]]]) -> tuple[list[list[float]], list[list[float]]]:
    n = len(mats[0])
    cells = [[mean_std([m[a][b] for m in mats]) for b in range(n)] for a in range(n)]
    return [[mean for mean, _ in row] for row in cells], [[std for _, std in row] for row in cells]


def run_set(
    label: str, cfg: TransferConfig, device: torch.device, log: Callable[[str], None], probe_cache: ProbeCache
) -> dict[str, Any]:
    """Probes, gains and every method's values and ranking scores of one task set."""
    timer = Timer()
    started = time.perf_counter()
    entries = cfg.entries(label)
    with timer("load"):
        tasks = load_tasks(entries, data_root=cfg.data_root)
    names = [t.name for t in tasks]
    domains = {name: domain_of(spec) for name, spec, _ in entries}
    overlap = len(set(domains.values())) == 1  # class ids name the same things only within one source
    per_seed = [
        run_seed(
            tasks,
            s,
            cfg,
            device,
            timer,
            lambda m: log(f"[{label}] {m}"),
            label_overlap=overlap,
            probe_cache=probe_cache,
        )
        for s in range(cfg.seeds)
    ]
    pieces = timer.to_dict()
    n = len(tasks)
    n_pairs = n * (n - 1) * cfg.seeds
    gains = [r["gain"] for r in per_seed]
    methods: dict[str, Any] = {}
    for m in method_names(overlap):
        v_seeds = [r["values"][m] for r in per_seed]
        hib = higher_is_better(m)
        scored = score_method(v_seeds, gains, names, higher_is_better=hib, n_boot=cfg.n_boot, n_perm=cfg.n_perm)
        v_mean, v_std = _stack_mean_std(v_seeds)
        methods[m] = {
            "family": method_family(m),
            **scored,
            "seconds_per_pair": cost_per_pair(m, pieces, n_pairs),
            "values": {"mean": v_mean, "std": v_std, "per_seed": v_seeds},
        }
    scratch = [mean_std([r["scratch"][b] for r in per_seed]) for b in range(n)]
    probe_s = pieces.get("probe", {})
    timing = {
        "wall_s": round(time.perf_counter() - started, 2),
        "pieces": pieces,
        "probe_cpu_s_per_task": (probe_s.get("cpu_s", 0.0) / probe_s["count"]) if probe_s else None,
    }
    return {
        "title": SET_TITLES[label],
        "tasks": names,
        "domains": domains,
        "task_specs": {name: spec for name, spec, _ in entries},
        "task_descriptions": {name: desc for name, _, desc in entries},
        "label_overlap": (
            "included: every task names classes of the same source"
            if overlap
            else "left out: the tasks come from several domains, whose class ids name different things, "
            "so label overlap is undefined"
        ),
        "gain": {"mean": _stack_mean_std(gains)[0], "std": _stack_mean_std(gains)[1], "per_seed": gains},
        "accuracy": {
            "scratch": {"mean": [m for m, _ in scratch], "std": [s for _, s in scratch]},
            "finetune": dict(zip(("mean", "std"), _stack_mean_std([r["finetune"] for r in per_seed]))),
        },
        "methods": methods,
        "probes": [rec for r in per_seed for rec in r["probes"]],
        "task2vec_reference": per_seed[0]["task2vec_reference"],
        "ftd_defaults": recommend(methods, timing),
        "timing": timing,
    }


# --------------------------------------------------------------------------- the run


def run(cfg: TransferConfig, *, quiet: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns the JSON-ready result (see the module docstring)."""
    env, device, _, started, log = start_run(cfg, quiet=quiet)
    cache: ProbeCache = {}
    sets = {label: run_set(label, cfg, device, log, cache) for label in cfg.sets}
    choice = recommend_method(sets)
    return {
        "task_sets": sets,
        "recommended_method": choice["method"],
        "method_recommendation": choice,
        "timing": {"total_wall_s": round(time.perf_counter() - started, 2)},
        "config": {
            **asdict(cfg),
            "env": {**env, "device": str(device)},
            "gain": "test acc of a's probe fine-tuned (fresh head, all layers, Adam) on `shots` train images per "
            "class of b for `epochs` epochs, minus the same from scratch; gain[a][b], row = source; test "
            "accuracy on <= test_cap test images of b (all when null)",
            "methods": "FTD on probes trained once per seed; Fisher on <= fisher_val val images of b, head refits "
            "on <= refit_train train images of b; -perlayer: normalise='per_layer'; -body: "
            "layers='body'; task2vec: body Fishers of the task2vec_reference probe with refitted "
            "heads; leep/nce (source head softmax) and logme/hscore (penultimate features) of a's probe "
            "on the same <= fisher_val val images of b, higher is better; label-overlap: 1 - Jaccard of "
            "the source classes each task names (within one source only); random: U(0,1) per seed",
            "scoring": "tanas.ranking.summarise per method on (seeds x sources x targets), diagonal left out: per "
            "target weighted Kendall tau, Spearman rho, top-1 and regret of the seed-averaged values "
            "(ties for the top averaged), mean +- std over targets; percentile bootstrap 95% CI of the "
            "mean tau and rho over seeds (n_boot); permutation p-value of the mean tau against random "
            "rankings (n_perm); undefined values (pad, target has more classes) rank last",
            "seconds_per_pair": "wall and CPU seconds of the work a method needs when computed alone (refit, "
            "Fishers incl. the target's own, scores' forward passes), over every ordered pair "
            "and seed; probe training is shared by every method and excluded "
            "(timing.probe_cpu_s_per_task)",
        },
    }


def _ci(ci: Sequence[float | None]) -> str:
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in ci):
        return "–"
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def method_table(s: dict[str, Any]) -> str:
    """One task set's methods, best mean τ_w first."""
    rows = []
    for name, m in sorted(s["methods"].items(), key=lambda kv: -kv[1]["weighted_tau_mean"]):
        rows.append(
            [
                name,
                "higher" if m["higher_is_better"] else "lower",
                pm(m["weighted_tau_mean"], m["weighted_tau_std"]),
                _ci(m["weighted_tau_ci"]),
                m["p_value"],
                pm(m["spearman_mean"], m["spearman_std"]),
                m["top1_mean"],
                m["regret_mean"],
                f"{m['seconds_per_pair']['cpu_s']:.4f}",
                f"{100 * m['coverage']:.0f} %",
            ]
        )
    return markdown_table(
        [
            "method",
            "better",
            "τ_w (mean ± std over targets)",
            "τ_w 95% CI (seeds)",
            "p (vs random)",
            "ρ",
            "top-1",
            "regret",
            "CPU s/pair",
            "defined",
        ],
        rows,
    )


def report(result: dict[str, Any]) -> str:
    """Markdown tables: per task set the method scores and the mean gain matrix; the recommended method."""
    text = ""
    for label, s in result["task_sets"].items():
        text += f"### {s['title']}: does each method rank sources by transfer gain?\n\n{method_table(s)}\n\n"
        text += f"Label overlap: {s['label_overlap']}.\n\n"
        names = s["tasks"]
        gm, gs = s["gain"]["mean"], s["gain"]["std"]
        grid = [
            [f"**{a}**"] + [("–" if a == b else pm(gm[i][j], gs[i][j])) for j, b in enumerate(names)]
            for i, a in enumerate(names)
        ]
        text += "Transfer gain (row = source a, column = target b; mean ± std over seeds)\n\n"
        text += markdown_table(["a \\ b", *names], grid)
        sc = result["task_sets"][label]["accuracy"]["scratch"]
        text += "\n\nFrom-scratch few-shot test accuracy: " + ", ".join(
            f"{n} {m:.3f}" for n, m in zip(names, sc["mean"])
        )
        rec = s["ftd_defaults"]
        text += "\n\nFTD defaults by this set (mean τ_w of the variants with each choice): " + "; ".join(
            f"{what} = {rec[what]['choice']} ("
            + ", ".join(f"{c} {v['weighted_tau_mean']:.3f}" for c, v in rec[what]["scores"].items())
            + ")"
            for what in ("head", "kind", "normalise", "layers")
        )
        text += f"\n\nWall time of this set: {s['timing']['wall_s']:.0f} s\n\n"
    choice = result["method_recommendation"]
    text += (
        f"Recommended `--method`: **{choice['method']}** (leader by mean τ_w over the sets: {choice['leader']}; "
        + ", ".join(f"{c} {r['weighted_tau_mean']:.3f}" for c, r in choice["candidates"].items())
        + ")\n"
    )
    text += f"\nTotal wall time: {result['timing']['total_wall_s']:.0f} s\n"
    return text


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_run_options(p, quick_help="4 + 6 tasks, 2 seeds, small probes and budgets (development)", stem="transfer")
    p.add_argument("--sets", help=f"comma-separated task sets to run (default: {','.join(SET_LABELS)})")
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
    if args.sets is not None:
        cfg.sets = [s.strip() for s in args.sets.split(",")]
    cfg.threads, cfg.device, cfg.data_root = args.threads, args.device, args.data_root
    result = run(cfg, quiet=args.quiet)
    save_result(result, args.out, stem="transfer", mode=cfg.mode, report=report)
    return result


if __name__ == "__main__":
    run_script(main)
