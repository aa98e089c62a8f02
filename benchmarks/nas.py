"""TA-NAS against full-space FUSE, random search and DARTS (docs/architecture.md §1.7, §1.8).

Setup (everything seeded):

* **Data.** Fashion-MNIST, shrunk to fit a CPU budget: images are 2×2
  average-pooled to 14×14 (uint8), and a seeded stratified subset of
  ``train_per_class`` training and ``test_per_class`` test images per class is
  kept. The result is written once as an ``.npz`` source in the work folder, so
  every task is a plain spec ``npz@PATH:KIND:CLASSES`` that the zoo can rebuild
  (the data layer then makes its seeded balancing and train/val split).
* **Zoo.** Other Fashion tasks (``zoo_tasks``), each added with its probe and
  Fisher and given a best genotype by full-space FUSE (``zoo_search_epochs``,
  search seed ``seed + 1000 + i``, independent of the targets' searches).
* **Targets.** For each target every strategy searches the same cell space
  with the same candidate trainer, then the winner is retrained from scratch
  over ``final_seeds`` seeds (the final protocol) and tested once per seed.

Equal budgets: FUSE (full space), TA-NAS and random search get the same budget
of ``search_epochs`` network-epochs (one network trained once over the train
split), which keeps them deterministic. A DARTS supernet epoch costs many
network-epochs, so DARTS gets a wall-clock budget equal to full-space FUSE's
measured search time on the same target (its result therefore varies a little
with machine load). TA-NAS' search time includes its probe, Fisher and
distance computations. Each target's TA-NAS run leaves the other targets out of
the zoo (``exclude``), so the targets do not help each other and their order
does not matter.

Time-to-match: the first time at which a strategy's incumbent reached full-space
FUSE's final validation accuracy, as a fraction of FUSE's search time (None:
never within its budget).

Run ``python benchmarks/nas.py`` (full), ``--quick`` or ``--smoke`` (the test
suite's tiny run on the embedded digits). Results go to
``benchmarks/results/nas.json`` (``--out``); a markdown table is printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Timer,
    add_run_options,
    check_positive_ints,
    generator,
    markdown_table,
    per_class_indices,
    pm,
    run_script,
    save_result,
    start_run,
)
from tanas.data import Task, load_source, parse_task
from tanas.errors import ConfigError
from tanas.nas import (
    Budget,
    DartsConfig,
    FuseConfig,
    RandomConfig,
    SearchResult,
    SearchSpace,
    TanasConfig,
    TrainConfig,
    run_search,
    time_to_match,
)
from tanas.nas.result import check_final_protocol
from tanas.nas.zoo_seeding import ensure_genotype
from tanas.probe import ProbeConfig
from tanas.report.tables import neighbour_value
from tanas.zoo import TaskZoo

STRATEGIES = ("tanas", "fuse", "random", "darts")

#: (name, KIND[:CLASSES], description); the source is prepended at run time.
FASHION_TARGETS = (
    ("T2", "multiclass:0,1,2,3", "t-shirt, trouser, pullover, dress + other (the paper's NAS target)"),
    ("T5", "subset:0,2,4,6", "tops: t-shirt, pullover, coat, shirt"),
)
FASHION_ZOO = (
    ("T0", "indicator:0", "t-shirt/top vs rest"),
    ("T1", "indicator:1", "trouser vs rest"),
    ("T3", "full", "all ten classes"),
    ("T6", "subset:5,7", "sandal vs sneaker"),
)


@dataclass
class NasConfig:
    """Settings of one NAS benchmark run (all recorded in the JSON)."""

    targets: list[list[str]] = field(default_factory=lambda: [list(t) for t in FASHION_TARGETS])
    zoo_tasks: list[list[str]] = field(default_factory=lambda: [list(t) for t in FASHION_ZOO])
    #: "fashion14" (downsampled, subsampled Fashion-MNIST as an npz source) or a source name such as "digits"
    data: str = "fashion14"
    downsample: int = 2
    train_per_class: int = 400
    test_per_class: int = 200
    #: cell network size (stem channels, cells per stage)
    C: int = 8
    N: int = 1
    #: budget of FUSE, TA-NAS and random search, in network-epochs
    search_epochs: int = 48
    zoo_search_epochs: int = 32
    fuse: dict[str, Any] = field(
        default_factory=lambda: dict(candidates=4, rounds=2, epochs_per_round=1, stages=50, patience=3)
    )
    random_epochs_per_trial: int = 2
    darts: dict[str, Any] = field(default_factory=lambda: dict(batch_size=64, schedule_epochs=10))
    # FTD, as in the committed results (benchmarks/results/nas.json); TA-NAS itself defaults to LogME now
    tanas: dict[str, Any] = field(
        default_factory=lambda: dict(k=2, radius=1, kind="empirical", head="refit", method="ftd")
    )
    probe: dict[str, Any] = field(default_factory=lambda: dict(name="cnn", epsilon=0.02, max_steps=300, min_steps=50))
    train: dict[str, Any] = field(default_factory=lambda: dict(batch_size=64))
    final_seeds: int = 3
    final_epochs: int = 8
    seed: int = 0
    strategies: list[str] = field(default_factory=lambda: list(STRATEGIES))
    threads: int = 1
    device: str = "auto"
    data_root: str | None = None
    mode: str = "full"

    def validate(self) -> None:
        if not self.targets:
            raise ConfigError("the NAS benchmark needs at least one target task")
        if not self.zoo_tasks:
            raise ConfigError("TA-NAS needs at least one zoo task")
        unknown = sorted(set(self.strategies) - set(STRATEGIES))
        if unknown or "fuse" not in self.strategies:
            raise ConfigError(
                f"strategies must include 'fuse' (the reference) and come from {STRATEGIES}; got {self.strategies}"
            )
        names = [t[0] for t in self.targets] + [t[0] for t in self.zoo_tasks]
        if len(set(names)) != len(names):
            raise ConfigError(f"target and zoo task names must be unique: {names}")
        check_positive_ints(
            self,
            (
                "search_epochs",
                "zoo_search_epochs",
                "final_epochs",
                "threads",
                "C",
                "N",
                "random_epochs_per_trial",
                "downsample",
                "train_per_class",
                "test_per_class",
            ),
        )
        check_final_protocol(self.final_seeds, self.final_epochs)
        self.fuse_config()  # builds train_config() too
        ProbeConfig(**self.probe)

    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.train)

    def fuse_config(self) -> FuseConfig:
        return FuseConfig(C=self.C, N=self.N, train=self.train_config(), **self.fuse)


def quick_config() -> NasConfig:
    return NasConfig(
        targets=[list(FASHION_TARGETS[0])],
        zoo_tasks=[list(t) for t in FASHION_ZOO if t[0] in ("T0", "T1", "T3")],
        train_per_class=150,
        test_per_class=100,
        C=4,
        search_epochs=16,
        zoo_search_epochs=8,
        fuse=dict(candidates=4, rounds=1, epochs_per_round=1, stages=50, patience=3),
        probe=dict(name="cnn", epsilon=0.05, max_steps=60, min_steps=10),
        final_seeds=2,
        final_epochs=3,
        mode="quick",
    )


def smoke_config() -> NasConfig:
    return NasConfig(
        targets=[["D2", "multiclass:0,1,2,3", "0-3 + other"]],
        zoo_tasks=[["D0", "indicator:0", "0 vs rest"], ["D1", "subset:3,5", "3 vs 5"]],
        data="digits",
        downsample=1,
        C=4,
        search_epochs=4,
        zoo_search_epochs=2,
        fuse=dict(candidates=2, rounds=1, epochs_per_round=1, stages=3, patience=1),
        random_epochs_per_trial=1,
        darts=dict(batch_size=64, schedule_epochs=2),
        probe=dict(name="cnn", epsilon=0.05, max_steps=10, min_steps=1, max_epochs=1),
        final_seeds=2,
        final_epochs=1,
        mode="smoke",
    )


# --------------------------------------------------------------------------- data


def fashion14_npz(path: Path, cfg: NasConfig) -> Path:
    """Write the downsampled, subsampled Fashion-MNIST source (deterministic for a config)."""
    import torch.nn.functional as F

    source = load_source("fashion_mnist", data_root=cfg.data_root)

    def shrink(x: torch.Tensor, y: torch.Tensor, per_class: int, which: str) -> tuple[np.ndarray, np.ndarray]:
        idx = per_class_indices(y, per_class, source.num_classes, generator("nas-data", which, cfg.seed))
        xs = x[idx].float()
        if cfg.downsample > 1:
            xs = F.avg_pool2d(xs, cfg.downsample)
        return xs.round_().clamp_(0, 255).to(torch.uint8).numpy(), y[idx].numpy().astype(np.int64)

    x, y = shrink(source.train_x, source.train_y, cfg.train_per_class, "train")
    assert source.test_x is not None and source.test_y is not None
    xt, yt = shrink(source.test_x, source.test_y, cfg.test_per_class, "test")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x, y=y, x_test=xt, y_test=yt, class_names=np.array(source.class_names))
    return path


def source_token(cfg: NasConfig, work: Path) -> str:
    if cfg.data == "fashion14":
        return f"npz@{fashion14_npz(work / 'fashion14.npz', cfg)}"
    return cfg.data


def build(token: str, name: str, kind: str, cfg: NasConfig, cache: dict) -> Task:
    (task,) = parse_task(f"{token}:{kind}", seed=cfg.seed, data_root=cfg.data_root, sources=cache)
    return dataclasses.replace(task, name=name)


# --------------------------------------------------------------------------- strategies


def _summary(result: SearchResult, reference: SearchResult | None) -> dict[str, Any]:
    """The benchmark's record of one search (plus its compact history)."""
    out: dict[str, Any] = {
        "genotype": str(result.genotype_obj),
        "test_acc": result.test_acc,
        "val_acc": result.val_acc,
        "params": result.params,
        "search_seconds": result.search_seconds,
        "space_size": result.space_size,
        "epochs_used": result.epochs_used,
        "stop_reason": result.stop_reason,
        "stages": len(result.history),
        "budget": result.budget,
        "history": [[round(h["elapsed_seconds"], 3), h["incumbent_val_acc"]] for h in result.history],
    }
    if reference is not None and reference.search_seconds > 0:
        t = time_to_match(result.history, reference.val_acc)
        out["time_to_match_seconds"] = t
        out["time_to_match"] = None if t is None else t / reference.search_seconds
    return out


def run_target(
    task: Task,
    zoo: TaskZoo,
    cfg: NasConfig,
    exclude: list[str],
    device: torch.device,
    timer: Timer,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Every strategy on one target; full-space FUSE first (it sets DARTS' budget and the match target)."""
    budget = Budget(epochs=cfg.search_epochs)
    fuse_cfg = cfg.fuse_config()
    common = dict(
        seed=cfg.seed,
        device=device,
        final_seeds=cfg.final_seeds,
        final_epochs=cfg.final_epochs,
        final_train=cfg.train_config(),
        quiet=True,
    )
    results: dict[str, SearchResult] = {}

    with timer("fuse"):
        results["fuse"] = run_search(task, "fuse", fuse_cfg, budget=budget, **common)
    fuse = results["fuse"]
    log(f"{task.name}: fuse {fuse.genotype_obj} val {fuse.val_acc:.3f} in {fuse.search_seconds:.0f}s")
    if "tanas" in cfg.strategies:
        tcfg = TanasConfig(probe=ProbeConfig(**cfg.probe), probe_seeds=1, fuse=fuse_cfg, **cfg.tanas)
        with timer("tanas"):
            results["tanas"] = run_search(
                task,
                "tanas",
                tcfg,
                budget=budget,
                **common,
                zoo=zoo,
                name=task.name,
                origin=task.spec,
                exclude=exclude,
                data_root=cfg.data_root,
            )
        r = results["tanas"]
        log(
            f"{task.name}: tanas {r.genotype_obj} val {r.val_acc:.3f} in {r.search_seconds:.0f}s "
            f"(nearest {[n['name'] for n in r.nearest if n['used']]}, space {r.space_size}, fallback {r.fallback})"
        )
    if "random" in cfg.strategies:
        rcfg = RandomConfig(epochs_per_trial=cfg.random_epochs_per_trial, C=cfg.C, N=cfg.N, train=cfg.train_config())
        with timer("random"):
            results["random"] = run_search(task, "random", rcfg, budget=budget, **common)
        log(f"{task.name}: random val {results['random'].val_acc:.3f}")
    if "darts" in cfg.strategies:
        dcfg = DartsConfig(C=cfg.C, N=cfg.N, **cfg.darts)
        dbudget = Budget(seconds=max(fuse.search_seconds, 1.0))
        with timer("darts"):
            results["darts"] = run_search(task, "darts", dcfg, budget=dbudget, **common)
        log(f"{task.name}: darts val {results['darts'].val_acc:.3f}")

    out = {name: _summary(r, fuse if name != "fuse" else None) for name, r in results.items()}
    if "tanas" in results:
        r = results["tanas"]
        out["tanas"].update(
            nearest=[{k: n[k] for k in ("name", "distance", "used")} for n in r.nearest],
            fallback=r.fallback,
            overhead=r.overhead,
            radius=r.zoo.get("radius"),
        )
    return {s: out[s] for s in STRATEGIES if s in out}


# --------------------------------------------------------------------------- the run


def zoo_seed(cfg: NasConfig, index: int) -> int:
    """The search seed of zoo task ``index``: FUSE draws its candidates from a stream of the seed alone,
    so with the targets' seed every zoo search would start from the very candidates the full-space
    baseline draws on the targets; distinct seeds keep the zoo's genotypes independent prior knowledge."""
    return cfg.seed + 1000 + index


def run(cfg: NasConfig, *, work: Path | None = None, quiet: bool = False) -> dict[str, Any]:
    """Run the benchmark in ``work`` (a temporary folder by default); returns the JSON-ready result."""
    env, device, timer, started, log = start_run(cfg, quiet=quiet)
    with tempfile.TemporaryDirectory(prefix="tanas-nas-bench-") as tmp:
        folder = Path(work) if work is not None else Path(tmp)
        if (folder / "zoo").exists():
            # a zoo from an earlier run already holds the targets' genotypes: TA-NAS would find them
            raise ConfigError(f"{folder / 'zoo'} exists from an earlier run; remove it or pass another --work folder")
        folder.mkdir(parents=True, exist_ok=True)
        with timer("data"):
            token = source_token(cfg, folder)
            cache: dict = {}
            zoo_tasks = [build(token, name, kind, cfg, cache) for name, kind, _ in cfg.zoo_tasks]
            targets = [build(token, name, kind, cfg, cache) for name, kind, _ in cfg.targets]
        zoo = TaskZoo(folder / "zoo")
        try:
            probe_cfg = ProbeConfig(**cfg.probe)
            zoo_info = {}
            for i, task in enumerate(zoo_tasks):
                with timer("zoo-probe"):
                    zoo.add_task(
                        task,
                        name=task.name,
                        origin=task.spec,
                        probe=probe_cfg,
                        seeds=1,
                        kind=cfg.tanas.get("kind", "empirical"),
                        device=device,
                        quiet=True,
                    )
                with timer("zoo-genotype"):
                    seeded = ensure_genotype(
                        zoo,
                        task.name,
                        budget=Budget(epochs=cfg.zoo_search_epochs),
                        fuse=cfg.fuse_config(),
                        task=task,
                        seed=zoo_seed(cfg, i),
                        device=device,
                        quiet=True,
                    )
                zoo_info[task.name] = {
                    "spec": task.spec.replace(token, cfg.data),
                    "genotype": seeded.genotype,
                    "val_acc": seeded.score,
                    "search_seconds": seeded.search_seconds,
                }
                log(f"zoo {task.name}: {'|'.join(seeded.genotype)} val {seeded.score:.3f}")
            results: dict[str, Any] = {}
            for i, task in enumerate(targets):
                exclude = [t.name for t in targets[:i]]  # earlier targets are in the zoo by now; leave them out
                results[task.name] = run_target(task, zoo, cfg, exclude, device, timer, log)
        finally:
            zoo.close()
        sizes = {t.name: {k: len(v) for k, v in t.splits.items()} for t in targets}
        input_shape = list(targets[0].input_shape)

    return {
        "targets": [t.name for t in targets],
        "results": results,
        "zoo": zoo_info,
        "timing": {"total_wall_s": round(time.perf_counter() - started, 2), "pieces": timer.to_dict()},
        "config": {
            **dataclasses.asdict(cfg),
            "target_specs": {t.name: t.spec.replace(token, cfg.data) for t in targets},
            "zoo_specs": {t.name: t.spec.replace(token, cfg.data) for t in zoo_tasks},
            "split_sizes": sizes,
            "input_shape": input_shape,
            "full_space_size": SearchSpace.full().size,
            "env": {**env, "device": str(device)},
            "data_note": (
                f"Fashion-MNIST 2x2-average-pooled to 14x14 uint8; {cfg.train_per_class} train and "
                f"{cfg.test_per_class} test images per class (seeded), saved as an npz source; the data "
                "layer then balances and splits each task (val from train)"
            )
            if cfg.data == "fashion14"
            else f"source {cfg.data} as the data layer builds it",
            "budgets": (
                "fuse, tanas, random: search_epochs network-epochs; darts: wall-clock seconds equal to "
                "fuse's search_seconds on the same target (at least 1 s); tanas' seconds include its probe, Fisher and "
                "distances"
            ),
            "time_to_match": "first elapsed time at which the incumbent reached fuse's final val acc / fuse's "
            "search seconds (None: never); darts' incumbent accuracy is its one-shot supernet "
            "estimate, so its time-to-match is indicative only",
        },
    }


def report(result: dict[str, Any]) -> str:
    rows = []
    for target in result["targets"]:
        for name, r in result["results"][target].items():
            acc = r["test_acc"]
            ttm = r.get("time_to_match")
            rows.append(
                [
                    target,
                    name,
                    pm(100 * acc["mean"], 100 * acc["std"], 2) if acc else "–",
                    f"{r['params'] / 1e3:.1f}k",
                    f"{r['search_seconds']:.0f}",
                    f"{r['space_size']:,}",
                    r["val_acc"],
                    "–" if name == "fuse" else ("never" if ttm is None else f"{ttm:.2f}"),
                ]
            )
    text = (
        "### NAS on Fashion-MNIST targets (equal search budgets)\n\n"
        if result["config"]["data"] == "fashion14"
        else "### NAS benchmark\n\n"
    )
    text += markdown_table(
        [
            "target",
            "method",
            "test acc % (mean ± std)",
            "params",
            "search s",
            "space",
            "val acc",
            "time-to-match (× fuse)",
        ],
        rows,
    )
    text += "\n\nZoo: " + "; ".join(
        f"{n} {z['spec']} → {'|'.join(z['genotype'])} (val {z['val_acc']:.3f})" for n, z in result["zoo"].items()
    )
    for target in result["targets"]:
        t = result["results"][target].get("tanas")
        if t:
            near = ", ".join(f"{n['name']} {neighbour_value(n):.3f}{'*' if n['used'] else ''}" for n in t["nearest"])
            text += f"\n\nTA-NAS {target}: nearest {near} (* used); fallback: {t['fallback']}"
    text += f"\n\nTotal wall time: {result['timing']['total_wall_s']:.0f} s\n"
    return text


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_options(p, quick_help="one target, small zoo and budgets (development)", stem="nas")
    p.add_argument("--search-epochs", type=int, help="network-epoch budget of fuse, tanas and random search")
    p.add_argument("--final-seeds", type=int, help="seeds of the final retraining")
    p.add_argument("--work", type=Path, default=None, help="keep the npz source and zoo in this folder")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    cfg = quick_config() if args.quick else smoke_config() if args.smoke else NasConfig()
    if args.search_epochs is not None:
        cfg.search_epochs = args.search_epochs
    if args.final_seeds is not None:
        cfg.final_seeds = args.final_seeds
    cfg.threads, cfg.device, cfg.data_root = args.threads, args.device, args.data_root
    result = run(cfg, work=args.work, quiet=args.quiet)
    save_result(result, args.out, stem="nas", mode=cfg.mode, report=report)
    return result


if __name__ == "__main__":
    run_script(main)
