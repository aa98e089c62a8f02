"""The entry points: :func:`diagonal_fisher` and the record of how it was computed.

See the package docstring for the definitions, the kinds and the engines.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from tanas.errors import ConfigError, DataError, FisherError
from tanas.fisher.batches import iter_batches, prepare_batch
from tanas.fisher.engines import Engine, EngineFailure, select_engine
from tanas.fisher.options import check_options
from tanas.fisher.state import ModelState
from tanas.fisher.targets import check_labels, count_classes, targets
from tanas.runtime import make_generator, progress, resolve_device


@dataclass(frozen=True)
class FisherInfo:
    """How a Fisher was computed (for records and benchmarks)."""

    kind: str
    method: str  # the engine actually used
    requested_method: str
    n_samples: int
    mc_samples: int
    seconds: float
    device: str
    notes: tuple[str, ...] = ()  # why auto passed over faster engines, if it did

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["notes"] = list(self.notes)
        return d


def diagonal_fisher(
    model: nn.Module,
    data: Any,
    kind: str = "empirical",
    *,
    method: str = "auto",
    batch_size: int = 256,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = True,
    mc_samples: int = 1,
) -> dict[str, Tensor]:
    """Diagonal Fisher Information of ``model`` on ``data``.

    Args:
        model: a classifier returning logits of shape ``(N, C)``.
        data: a tuple ``(x, y)`` of tensors (x already normalised, float; y integer
            labels in ``0..C-1``), or an iterable of such ``(x, y)`` batches, e.g. a
            ``DataLoader``.
        kind: ``"empirical"``, ``"exact"`` or ``"mc"`` (see the module docstring).
        method: ``"auto"``, ``"hooks"``, ``"vmap"`` or ``"loop"``.
        batch_size: batch size used when ``data`` is a tuple of tensors.
        seed: seeds the label draws of ``kind="mc"``.
        device: where to compute; ``None`` uses the model's own device. The model
            is moved there for the computation and moved back afterwards.
        quiet: hide the progress bar.
        mc_samples: labels drawn per input for ``kind="mc"``.

    Returns:
        ``{parameter name: tensor shaped like the parameter}`` on the CPU, for every
        parameter of ``model.named_parameters()`` (frozen ones included). The
        model's train/eval modes and ``requires_grad`` flags are restored.
    """
    fisher, _ = diagonal_fisher_with_info(
        model,
        data,
        kind,
        method=method,
        batch_size=batch_size,
        seed=seed,
        device=device,
        quiet=quiet,
        mc_samples=mc_samples,
    )
    return fisher


def diagonal_fisher_with_info(
    model: nn.Module,
    data: Any,
    kind: str = "empirical",
    *,
    method: str = "auto",
    batch_size: int = 256,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = True,
    mc_samples: int = 1,
) -> tuple[dict[str, Tensor], FisherInfo]:
    """:func:`diagonal_fisher`, also returning a :class:`FisherInfo` (engine used, timing)."""
    check_options(kind, method, batch_size, mc_samples)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = list(model.named_parameters())
    if not named:
        raise FisherError("the model has no parameters, so it has no Fisher Information")
    dev = resolve_device(device) if device is not None else named[0][1].device
    batches, total = iter_batches(data, batch_size)

    start = time.perf_counter()
    state = ModelState(model)
    chosen: Engine | None = None
    grad_mode = torch.is_grad_enabled()
    try:
        torch.set_grad_enabled(True)  # callers inside torch.no_grad() still get gradients
        model.eval()
        if any(p.device != dev for _, p in named) or any(b.device != dev for b in model.buffers()):
            model.to(dev)
        dtype = named[0][1].dtype
        prepared = (prepare_batch(x, y, dev, dtype) for x, y in batches)
        prepared = (b for b in prepared if b[0].shape[0] > 0)
        try:
            first = next(prepared)
        except StopIteration:
            raise DataError("the data holds no samples: the Fisher needs at least one (x, y) pair") from None
        num_classes = count_classes(model, first[0][:1])
        chosen, notes = select_engine(model, method, first, num_classes)

        generator = make_generator(seed)
        acc = {name: torch.zeros(p.shape, dtype=torch.float64, device=dev) for name, p in named}
        n_samples = 0
        bar = progress(
            itertools.chain([first], prepared),
            total=total,
            desc=f"fisher {kind}/{chosen.name}",
            quiet=quiet,
            unit="batch",
        )
        for x, y in bar:
            check_labels(y, num_classes)
            labels, weights = targets(model, x, y, kind, num_classes, generator, mc_samples)
            try:
                batch_sums = chosen.batch_sums(x, labels, weights)
            except EngineFailure as exc:  # only reachable for inputs unlike the verified batch
                raise FisherError(f"method {chosen.name!r} failed on a later batch: {exc}; use method='loop'") from exc
            for name, value in batch_sums.items():
                acc[name].add_(value)
            n_samples += x.shape[0]
    finally:
        if chosen is not None:
            chosen.close()  # removes the hooks even when a later batch raised
        state.restore()
        torch.set_grad_enabled(grad_mode)

    assert chosen is not None
    fisher: dict[str, Tensor] = {}
    for name, p in named:
        value = (acc[name] / n_samples).to(dtype=p.dtype if p.is_floating_point() else torch.float32)
        if not torch.isfinite(value).all():
            raise FisherError(
                f"the Fisher of parameter {name!r} is not finite: the model produced non-finite "
                "logits or gradients on this data (check the input normalisation and the weights)"
            )
        fisher[name] = value.cpu()
    info = FisherInfo(
        kind=kind,
        method=chosen.name,
        requested_method=method,
        n_samples=n_samples,
        mc_samples=mc_samples if kind == "mc" else 1,
        seconds=time.perf_counter() - start,
        device=str(dev),
        notes=tuple(notes),
    )
    return fisher, info


def fisher_trace(fisher: dict[str, Tensor]) -> float:
    """Sum of all diagonal entries of a Fisher returned by :func:`diagonal_fisher`."""
    return float(sum(v.double().sum() for v in fisher.values()))
