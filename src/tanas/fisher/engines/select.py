"""Choosing an engine: each candidate is checked against the loop before it is trusted.

``auto`` takes ``hooks`` when it passes; otherwise ``vmap`` if it passes and is
faster per sample than the loop (timed on the first batch), else the loop. An
explicitly requested engine that fails the check raises :class:`FisherError`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor, nn

from tanas.errors import FisherError
from tanas.fisher.engines.base import Engine, EngineFailure
from tanas.fisher.engines.hooks import HookEngine
from tanas.fisher.engines.loop import LoopEngine
from tanas.fisher.engines.vmap import VmapEngine
from tanas.fisher.targets import check_labels

ENGINES: dict[str, Callable[[nn.Module], Engine]] = {
    "hooks": HookEngine,
    "vmap": VmapEngine,
    "loop": LoopEngine,
}

T = TypeVar("T")

# Relative L2 error above which an engine is judged to disagree with the loop.
_VERIFY_RTOL = 1e-3
# Samples of the first batch on which auto times vmap against the loop: vmap has a
# per-call cost that only a batch of realistic size amortises (vmap is timed on one
# chunk of up to this many samples, the loop on a few).
_TIMING_SAMPLES = 64
_TIMING_LOOP_SAMPLES = 4


def _relative_error(got: dict[str, Tensor], reference: dict[str, Tensor]) -> tuple[float, float]:
    """(‖got - reference‖, ‖reference‖) over all parameters together, L2, in float64.

    Parameter by parameter: concatenating the whole model first (ResNet-18: 11M
    values, twice) cost more than the engine's own two-sample check.
    """
    err2 = scale2 = 0.0
    for name, ref in reference.items():
        err2 += float(torch.linalg.vector_norm(got[name] - ref, dtype=torch.float64)) ** 2
        scale2 += float(torch.linalg.vector_norm(ref, dtype=torch.float64)) ** 2
    return math.sqrt(err2), math.sqrt(scale2)


def _timed(fn: Callable[[], T], device: torch.device) -> tuple[T, float]:
    """``fn()`` and the wall-clock seconds it took (waiting for the GPU where there is one)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return out, time.perf_counter() - start


def _try_engine(
    name: str, model: nn.Module, x: Tensor, labels: Tensor, weights: Tensor, reference: dict[str, Tensor]
) -> tuple[Engine | None, str]:
    """Build engine ``name`` and check it against the loop's ``reference`` on a few samples.

    Returns (engine or None, reason it failed).
    """
    engine: Engine | None = None
    try:
        engine = ENGINES[name](model)
        got = engine.batch_sums(x, labels, weights)
    except EngineFailure as exc:
        if engine is not None:
            engine.close()
        return None, str(exc)
    except Exception as exc:
        if engine is not None:
            engine.close()
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    err, scale = _relative_error(got, reference)
    if not math.isfinite(err) or err > _VERIFY_RTOL * max(scale, 1e-30):
        engine.close()
        rel = err / scale if scale > 0 else math.inf
        return None, f"its per-sample gradients disagree with the loop's (relative error {rel:.2e})"
    return engine, ""


def select_engine(
    model: nn.Module, method: str, first: tuple[Tensor, Tensor], num_classes: int
) -> tuple[Engine, list[str]]:
    """The engine to use, verified against the loop on (up to) two samples of the first batch.

    ``auto`` takes ``hooks`` when it passes; otherwise ``vmap`` if it passes and
    is faster per sample than the loop (vmap timed on up to ``_TIMING_SAMPLES`` samples of the
    first batch, the loop on ``_TIMING_LOOP_SAMPLES``), else the loop. Also returns
    why ``auto`` passed over faster engines, if it did.
    """
    if method == "loop":
        return LoopEngine(model), []
    check_labels(first[1], num_classes)
    device = first[0].device
    x, y = first[0][:2], first[1][:2]
    labels, weights = y.view(-1, 1), torch.ones(y.shape[0], 1, dtype=x.dtype, device=x.device)
    loop = LoopEngine(model)
    reference = loop.batch_sums(x, labels, weights)
    candidates = [method] if method != "auto" else ["hooks", "vmap"]
    notes: list[str] = []
    for name in candidates:
        engine, reason = _try_engine(name, model, x, labels, weights, reference)
        if engine is None:
            if method != "auto":
                raise FisherError(f"method {name!r} cannot compute this model's Fisher: {reason}; use method='auto'")
            notes.append(f"{name}: {reason}")
            continue
        if name == "vmap" and method == "auto":
            vmap_rate, loop_rate = _per_sample_seconds(engine, loop, first, device)
            if vmap_rate > loop_rate:
                engine.close()
                notes.append(
                    f"vmap: slower than the loop on this model "
                    f"({vmap_rate * 1e3:.3g} vs {loop_rate * 1e3:.3g} ms per sample)"
                )
                break
        return engine, notes
    return LoopEngine(model), notes


def _per_sample_seconds(
    vmap: Engine, loop: Engine, first: tuple[Tensor, Tensor], device: torch.device
) -> tuple[float, float]:
    """Seconds per sample of the (already warmed-up) vmap and loop engines on the first batch."""
    xv, yv = first[0][: min(_TIMING_SAMPLES, getattr(vmap, "chunk", _TIMING_SAMPLES))], first[1]
    xl = first[0][:_TIMING_LOOP_SAMPLES]

    def run(engine: Engine, xs: Tensor) -> dict[str, Tensor]:
        n = xs.shape[0]
        ones = torch.ones(n, 1, dtype=xs.dtype, device=device)
        return engine.batch_sums(xs, yv[:n].view(-1, 1), ones)

    _, vmap_seconds = _timed(lambda: run(vmap, xv), device)
    _, loop_seconds = _timed(lambda: run(loop, xl), device)
    return vmap_seconds / xv.shape[0], loop_seconds / xl.shape[0]
