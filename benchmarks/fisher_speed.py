"""How fast is the per-sample Fisher? (docs/architecture.md §1.3)

For two probes, on the same **synthetic** data (standard-normal images, uniform
random labels; speed does not depend on the values), measure samples per second of

* ``auto``: :func:`tanas.fisher.diagonal_fisher` with ``method="auto"`` (the engine
  it picks, its check on two samples included), empirical kind;
* ``loop``: the same with ``method="loop"``, one forward and backward pass per
  sample (the naive per-sample reference), on fewer samples;
* ``batched``: one plain batched forward + backward of the mean cross-entropy,
  same batch size, model in eval mode (what a non-per-sample, wrong Fisher costs).

Models: ``cnn`` on 1x28x28 and ``resnet18`` on 3x32x32, 10 classes. Each
measurement is repeated (interleaved, after an untimed warm-up) and reported as
mean ± std. Targets: cnn auto >= 5x the loop and <= 2x the batched pass;
resnet18 auto >= 3x the loop.

The ratios depend on the thread count (a batch-of-one loop uses extra cores far
worse than batched work), so one run measures each count of ``--threads``: by
default one thread and every core of the machine (torch's own default, what a
user gets). The targets are judged at the last count; the JSON keeps all of them
under ``by_threads``.

Run ``python benchmarks/fisher_speed.py`` (full, a few minutes on 2 cores),
``--quick`` or ``--smoke`` (seconds; numbers meaningless). Results go to
``benchmarks/results/fisher_speed.json`` (``--out``);
``--check`` exits with status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, configure_torch, markdown_table, mean_std, run_script, write_json
from tanas.errors import ConfigError
from tanas.fisher import diagonal_fisher_with_info
from tanas.probe import build_probe
from tanas.runtime import resolve_device

DEFAULT_OUT = RESULTS_DIR / "fisher_speed.json"


@dataclass(frozen=True)
class Case:
    """One model to measure."""

    model: str
    channels: int
    size: int
    num_classes: int
    batch_size: int
    n_samples: int  # for auto and batched
    n_loop: int  # for the per-sample loop
    min_speedup_vs_loop: float
    max_cost_vs_batched: float | None


def cases(quick: bool, smoke: bool = False) -> list[Case]:
    if smoke:  # the test suite's check that the script runs and writes its schema
        return [
            Case("cnn", 1, 28, 10, 32, 64, 8, 5.0, 2.0),
            Case("resnet18", 3, 32, 10, 4, 4, 2, 3.0, None),
        ]
    if quick:
        return [
            Case("cnn", 1, 28, 10, 256, 1024, 128, 5.0, 2.0),
            Case("resnet18", 3, 32, 10, 32, 32, 8, 3.0, None),
        ]
    return [
        Case("cnn", 1, 28, 10, 256, 4096, 512, 5.0, 2.0),
        Case("resnet18", 3, 32, 10, 64, 128, 32, 3.0, None),
    ]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of ``fn()``."""
    _sync(device)
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    _sync(device)
    return time.perf_counter() - start, time.process_time() - cpu


def measure(case: Case, repeats: int, device: torch.device, *, quiet: bool = False) -> dict[str, Any]:
    model = build_probe(
        case.model, in_channels=case.channels, num_classes=case.num_classes, input_size=case.size, seed=0
    ).to(device)
    model.eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(case.n_samples, case.channels, case.size, case.size, generator=gen).to(device)
    y = torch.randint(0, case.num_classes, (case.n_samples,), generator=gen).to(device)
    xl, yl = x[: case.n_loop], y[: case.n_loop]
    chosen: list[str] = []

    def auto() -> None:
        _, info = diagonal_fisher_with_info(model, (x, y), method="auto", batch_size=case.batch_size)
        chosen.append(info.method)

    def loop() -> None:
        diagonal_fisher_with_info(model, (xl, yl), method="loop", batch_size=case.batch_size)

    def batched() -> None:
        for s in range(0, case.n_samples, case.batch_size):
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[s : s + case.batch_size]), y[s : s + case.batch_size]).backward()
        model.zero_grad(set_to_none=True)

    # untimed warm-up: first calls pay for thread pools, kernel selection, allocator growth
    diagonal_fisher_with_info(model, (x[:4], y[:4]), method="auto", batch_size=case.batch_size)
    diagonal_fisher_with_info(model, (x[:2], y[:2]), method="loop")
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x[:4]), y[:4]).backward()
    model.zero_grad(set_to_none=True)

    rates: dict[str, list[float]] = {"auto": [], "loop": [], "batched": []}
    cpu_rates: dict[str, list[float]] = {"auto": [], "loop": [], "batched": []}
    counts = {"auto": case.n_samples, "loop": case.n_loop, "batched": case.n_samples}
    fns = {"auto": auto, "loop": loop, "batched": batched}
    for r in range(repeats):
        for name in ("batched", "auto", "loop"):  # interleaved, so load changes hit all three alike
            seconds, cpu_seconds = _timed(fns[name], device)
            rates[name].append(counts[name] / seconds)
            cpu_rates[name].append(counts[name] / max(cpu_seconds, 1e-9))
            if not quiet:
                print(
                    f"  {case.model} repeat {r + 1}/{repeats} {name}: {rates[name][-1]:.1f} samples/s", file=sys.stderr
                )

    (auto_m, auto_s), (loop_m, loop_s), (bat_m, bat_s) = (mean_std(rates[k]) for k in ("auto", "loop", "batched"))
    speedup = auto_m / loop_m
    cost = bat_m / auto_m
    cpu = {k: mean_std(v)[0] for k, v in cpu_rates.items()}
    meets = speedup >= case.min_speedup_vs_loop and (
        case.max_cost_vs_batched is None or cost <= case.max_cost_vs_batched
    )
    return {
        "input_shape": [case.channels, case.size, case.size],
        "num_classes": case.num_classes,
        "batch_size": case.batch_size,
        "n_samples": case.n_samples,
        "n_loop_samples": case.n_loop,
        "auto_method": chosen[-1],
        "auto_sps": auto_m,
        "auto_sps_std": auto_s,
        "loop_sps": loop_m,
        "loop_sps_std": loop_s,
        "batched_sps": bat_m,
        "batched_sps_std": bat_s,
        "speedup_vs_loop": speedup,
        "cost_vs_batched": cost,
        "per_repeat_sps": rates,
        # the same work per second of this process's CPU time: far less noisy than
        # wall-clock on a machine shared with other jobs (with 1 thread, it excludes
        # the time other processes held the core)
        "cpu_sps": cpu,
        "cpu_speedup_vs_loop": cpu["auto"] / cpu["loop"],
        "cpu_cost_vs_batched": cpu["batched"] / cpu["auto"],
        "targets": {"min_speedup_vs_loop": case.min_speedup_vs_loop, "max_cost_vs_batched": case.max_cost_vs_batched},
        "meets_targets": meets,
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer samples and one repeat (development)")
    mode.add_argument("--smoke", action="store_true", help="a few samples (the test suite's run; numbers meaningless)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per measurement (default 3; quick: 1)")
    p.add_argument("--models", default="cnn,resnet18", help="comma-separated subset of: cnn, resnet18")
    p.add_argument(
        "--threads",
        default=None,
        help="comma-separated torch intra-op thread counts to measure, e.g. 1,2 "
        "(default: 1 and all cores; smoke: 1); the targets are judged at the last",
    )
    p.add_argument("--device", default="auto", help="auto (default: cuda if present), cpu or cuda")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    p.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    p.add_argument("--quiet", action="store_true", help="no per-repeat lines on stderr")
    return p


def _thread_counts(spec: str | None, *, smoke: bool) -> list[int]:
    """The thread counts to measure, in order; the last is the one the targets use."""
    if spec is None:
        cores = os.cpu_count() or 1
        return [1] if smoke or cores == 1 else [1, cores]
    try:
        counts = [int(part) for part in spec.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"--threads must be comma-separated positive integers, got {spec!r}") from None
    if not counts or any(c < 1 for c in counts):
        raise ConfigError(f"--threads must be comma-separated positive integers, got {spec!r}")
    return list(dict.fromkeys(counts))


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = _parser().parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick or args.smoke else 3)
    if repeats < 1:
        raise ConfigError("--repeats must be at least 1")
    wanted = [m.strip() for m in args.models.split(",") if m.strip()]
    known = {c.model: c for c in cases(args.quick, args.smoke)}
    unknown = [m for m in wanted if m not in known]
    if unknown or not wanted:
        raise ConfigError(f"unknown model(s) {unknown or wanted}; choose from {', '.join(known)}")
    thread_counts = _thread_counts(args.threads, smoke=args.smoke)
    device = resolve_device(args.device)

    started = time.perf_counter()
    by_threads: dict[str, dict[str, Any]] = {}
    for threads in thread_counts:
        configure_torch(threads)
        if not args.quiet:
            print(f"{threads} thread(s):", file=sys.stderr)
        by_threads[str(threads)] = {name: measure(known[name], repeats, device, quiet=args.quiet) for name in wanted}
    models = by_threads[str(thread_counts[-1])]
    result = {
        "benchmark": "fisher_speed",
        "device": str(device) if device.type != "cuda" else f"cuda ({torch.cuda.get_device_name(device)})",
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "threads": thread_counts[-1],  # the count "models" (and the targets) refer to
        "quick": bool(args.quick),
        "smoke": bool(args.smoke),
        "repeats": repeats,
        "data": "synthetic: standard-normal inputs, uniform random labels",
        "fisher_kind": "empirical",
        "batched_pass": "mean cross-entropy forward + backward per batch, model in eval mode",
        "seconds": time.perf_counter() - started,
        "models": models,
        "by_threads": by_threads,
    }
    write_json(args.out, result)

    rows = [
        [
            str(threads),
            name,
            m["auto_method"],
            f"{m['auto_sps']:.1f} ± {m['auto_sps_std']:.1f}",
            f"{m['loop_sps']:.1f} ± {m['loop_sps_std']:.1f}",
            f"{m['batched_sps']:.1f} ± {m['batched_sps_std']:.1f}",
            f"{m['speedup_vs_loop']:.1f}x (>= {m['targets']['min_speedup_vs_loop']:g}x)",
            f"{m['cost_vs_batched']:.2f}x"
            + (f" (<= {m['targets']['max_cost_vs_batched']:g}x)" if m["targets"]["max_cost_vs_batched"] else ""),
            f"{m['cpu_speedup_vs_loop']:.1f}x / {m['cpu_cost_vs_batched']:.2f}x",
            "yes" if m["meets_targets"] else "NO",
        ]
        for threads, run in by_threads.items()
        for name, m in run.items()
    ]
    print(f"Fisher speed on {result['device']}, torch {result['torch']}, synthetic data")
    print(
        markdown_table(
            [
                "threads",
                "model",
                "auto engine",
                "auto samples/s",
                "loop samples/s",
                "batched samples/s",
                "auto vs loop",
                "cost vs batched",
                "same, CPU time",
                "targets",
            ],
            rows,
        )
    )
    print(f"wrote {args.out}")
    if args.check and not all(m["meets_targets"] for m in models.values()):
        raise SystemExit(1)
    return result


if __name__ == "__main__":
    run_script(main)
