"""Shared pieces of the evaluation benchmarks (``transfer.py``, ``nas.py``).

Kept free of benchmark-specific logic: reproducible process settings, seeded
subsampling and downsampling of tasks, timing, JSON output and markdown tables,
and the command-line options, run prologue and result output the scripts share.
Everything random takes an explicit seed and uses its own ``torch.Generator``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from tanas import runtime
from tanas.data import Split, Task
from tanas.errors import ConfigError, EmptyTaskError, TanasError
from tanas.runtime import atomic_write_text, make_generator, resolve_device, set_threads

RESULTS_DIR = Path(__file__).resolve().parent / "results"


# --------------------------------------------------------------------------- process settings


def configure_torch(threads: int) -> dict[str, Any]:
    """Fix the intra-op thread count and ask for deterministic kernels.

    One thread is the default of the benchmarks: on the shared 2-core machine
    two OpenMP threads per process ran a probe epoch ~10x slower than one
    (busy-waiting threads of several processes fight for the same cores), and a
    fixed count also fixes the order of floating-point reductions.
    """
    if threads is None:  # set_threads reads None as "keep"; a benchmark always fixes the count
        raise ConfigError("threads must be a positive integer, got None")
    set_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return {"threads": threads, "torch": torch.__version__, "deterministic": True}


def sub_seed(*parts: object) -> int:
    """A stable 31-bit seed derived from ``parts`` (independent streams per purpose)."""
    return zlib.crc32(repr(parts).encode()) & 0x7FFFFFFF


def generator(*parts: object) -> torch.Generator:
    """A CPU generator seeded with ``sub_seed(*parts)``."""
    return make_generator(sub_seed(*parts))


def check_positive_ints(config: object, labels: Sequence[str]) -> None:
    """Reject a benchmark setting named in ``labels`` that is not a positive ``int`` (bools are not)."""
    for label in labels:
        value = getattr(config, label)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{label} must be a positive integer, got {value!r}")


# --------------------------------------------------------------------------- subsampling


def stratified_indices(y: torch.Tensor, n: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """At most ``n`` indices of ``y``, drawn per class in proportion to its size (at least one per class).

    Returns every index when ``n >= len(y)``; the result is sorted.
    """
    total = int(y.shape[0])
    if n >= total:
        return torch.arange(total)
    if n < num_classes:
        raise ConfigError(f"cannot keep {n} samples of a {num_classes}-class split: keep at least one per class")
    counts = torch.bincount(y, minlength=num_classes)
    quota = [max(1, round(n * int(c) / total)) if int(c) else 0 for c in counts]
    chosen = []
    for label, q in enumerate(quota):
        members = torch.nonzero(y == label, as_tuple=False).flatten()
        if q:
            chosen.append(members[torch.randperm(len(members), generator=gen)[:q]])
    return torch.cat(chosen).sort().values


def per_class_indices(y: torch.Tensor, n_per_class: int, num_classes: int, gen: torch.Generator) -> torch.Tensor:
    """Exactly ``n_per_class`` indices of each class of ``y`` (seeded), sorted."""
    chosen = []
    for label in range(num_classes):
        members = torch.nonzero(y == label, as_tuple=False).flatten()
        if len(members) < n_per_class:
            raise EmptyTaskError(
                f"class {label} has only {len(members)} samples but {n_per_class} per class were asked for; "
                "lower the number of shots"
            )
        chosen.append(members[torch.randperm(len(members), generator=gen)[:n_per_class]])
    return torch.cat(chosen).sort().values


def take(split: Split, idx: torch.Tensor) -> Split:
    return Split(split.x[idx].contiguous(), split.y[idx].contiguous())


def cap_task(task: Task, caps: dict[str, int | None], *, seed: int) -> Task:
    """A copy of ``task`` whose splits keep at most ``caps[split]`` samples (stratified, seeded).

    Splits not named in ``caps`` (or capped at ``None``) are kept whole.
    """
    splits = {}
    for name, split in task.splits.items():
        cap = caps.get(name)
        if cap is None or cap >= len(split):
            splits[name] = split
        else:
            idx = stratified_indices(split.y, int(cap), task.num_classes, generator("cap", task.spec, name, seed))
            splits[name] = take(split, idx)
    return dataclasses.replace(task, splits=splits, _fingerprint=None)


def downsample_task(task: Task, factor: int) -> Task:
    """A copy of ``task`` with images average-pooled by ``factor`` (uint8 kept; mean/std recomputed on train).

    Not used by the benchmarks at present: ``nas.py`` pools Fashion-MNIST to 14×14
    itself while it writes its npz source (``fashion14_npz``), before the tasks exist.
    """
    if factor == 1:
        return task
    if factor < 1 or task.input_shape[1] % factor or task.input_shape[2] % factor:
        raise ConfigError(f"cannot downsample {task.input_shape[1]}x{task.input_shape[2]} images by {factor}")

    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x.float(), factor).round_().clamp_(0, 255).to(torch.uint8)

    splits = {name: Split(pool(s.x), s.y.clone()) for name, s in task.splits.items()}
    train = splits["train"].x.float().div_(255.0)
    mean = tuple(float(v) for v in train.mean(dim=(0, 2, 3)))
    std = tuple(max(float(v), 1e-6) for v in train.std(dim=(0, 2, 3)))
    c, h, w = task.input_shape
    return dataclasses.replace(
        task, splits=splits, input_shape=(c, h // factor, w // factor), mean=mean, std=std, _fingerprint=None
    )


# --------------------------------------------------------------------------- timing


class Timer:
    """Accumulates wall-clock and CPU seconds per named piece of work."""

    def __init__(self) -> None:
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.count: dict[str, int] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        w, c = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - w
            self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - c
            self.count[name] = self.count.get(name, 0) + 1

    def to_dict(self) -> dict[str, dict[str, float]]:
        return {
            name: {"wall_s": round(self.wall[name], 3), "cpu_s": round(self.cpu[name], 3), "count": self.count[name]}
            for name in self.wall
        }


# --------------------------------------------------------------------------- output


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value), ignoring NaN."""
    vals = [float(v) for v in values if not math.isnan(float(v))]
    return runtime.mean_std(vals) if vals else (float("nan"), float("nan"))


def jsonable(value: Any) -> Any:
    """NaN/inf -> None, tuples -> lists, dataclasses -> dicts, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, torch.Tensor):
        return jsonable(value.tolist())
    return value


def write_json(path: str | Path, data: Any) -> Path:
    path = Path(path)
    atomic_write_text(path, json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")
    return path


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats are printed with 3 decimals, None as '–'."""

    def cell(v: Any) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        if isinstance(v, float):
            return f"{v:.3f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def pm(mean: float, std: float, digits: int = 3) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


# --------------------------------------------------------------------------- command line and run


def add_run_options(parser: argparse.ArgumentParser, *, quick_help: str, stem: str) -> None:
    """The options every benchmark run shares: --quick/--smoke, --threads, --device, --data-root, --out, --quiet."""
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help=quick_help)
    mode.add_argument("--smoke", action="store_true", help="tiny run on the embedded digits (tests)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--device", default="auto", help="auto (default: cuda when present, else cpu), cpu or cuda")
    parser.add_argument("--data-root", default=None, help="dataset folder (default: TANAS_DATA, Debian files)")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"JSON output path (default: benchmarks/results/{stem}.json)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


class RunStart(NamedTuple):
    """What a benchmark run starts from: process settings, device, timer, start time, progress log."""

    env: dict[str, Any]
    device: torch.device
    timer: Timer
    started: float
    log: Callable[[str], None]


def start_run(cfg: Any, *, quiet: bool) -> RunStart:
    """Validate ``cfg`` (it has ``validate()``, ``threads`` and ``device``), fix the process settings, start the clock.

    The log prints ``[elapsed s] message`` lines on stderr unless ``quiet``.
    """
    cfg.validate()
    env = configure_torch(cfg.threads)
    device = resolve_device(cfg.device)
    timer = Timer()
    started = time.perf_counter()

    def log(message: str) -> None:
        if not quiet:
            print(f"[{time.perf_counter() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    return RunStart(env, device, timer, started, log)


def save_result(
    result: dict[str, Any], out: Path | None, *, stem: str, mode: str, report: Callable[[dict[str, Any]], str]
) -> Path:
    """Write ``result`` to ``out`` (default ``RESULTS_DIR/<stem>.json``, ``<stem>-<mode>.json`` outside full
    mode), then print ``report(result)`` and the path written."""
    out = out or RESULTS_DIR / (f"{stem}.json" if mode == "full" else f"{stem}-{mode}.json")
    write_json(out, result)
    print(report(result))
    print(f"wrote {out}")
    return out


def run_script(main: Callable[[], Any]) -> None:
    """Run a benchmark's ``main``; a tanas error becomes one ``error:`` line and exit status 2."""
    try:
        main()
    except TanasError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
