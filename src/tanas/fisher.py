"""Diagonal Fisher Information from per-sample gradients.

``F[i] = mean over samples n of  E_y [ (d/dθ_i log p_θ(y | x_n))² ]``, where the
expectation over ``y`` depends on the *kind*:

* ``empirical``: y is the sample's true label (the paper's choice);
* ``exact``: the sum over all classes c weighted by p_θ(c | x_n);
* ``mc``: y drawn from p_θ(· | x_n) with a seeded generator (``mc_samples`` draws
  per input, averaged).

Gradients are taken **per sample**. Squaring the gradient of a batch mean (what
the authors' published code did) gives a different, much smaller quantity.

Every kind is computed the same way: each input x_n gets a set of labels
``y_{n,m}`` with weights ``w_{n,m}`` (empirical: its label, weight 1; exact: every
class, weight p_c; mc: the draws, weight 1/M), and the engines accumulate
``Σ_n Σ_m w_{n,m} g(x_n, y_{n,m})²``. Labels and weights come from one batched
forward pass, so all methods see the same Monte Carlo draws for a given seed.

Three engines compute the per-sample squares:

* ``hooks``: forward hooks store each layer's input, tensor hooks on each layer's
  output receive ``∂ loss/∂ output``. With the loss *summed* over the batch (and
  BatchNorm in eval mode, so samples do not interact), that is exactly each
  sample's own output gradient, from which the layer's per-sample weight
  gradients are formed and squared (the idea of BackPACK's ``SumGradSquared``).
  Supported: ``nn.Linear``, ``nn.Conv2d`` (any stride, padding, dilation,
  groups; zero padding only) and ``nn.BatchNorm1d/2d`` with running statistics.
  The parameters are frozen during the pass and the outputs of the first layers
  are made the graph's roots, so autograd computes neither the (unused) batch
  weight gradients nor a gradient for the input. Costs about 1.3-1.7 batched
  backward passes on the CPU.
* ``vmap``: ``torch.func.vmap(grad(...))`` over samples; works for any
  functional model.
* ``loop``: one forward and backward pass per sample; the slow reference.

``method="auto"`` checks, on two samples of the first batch, that an engine agrees
with the loop before trusting it (which catches weight sharing, parameters used
outside their module, batch-coupled layers, unsupported modules), and picks
``hooks`` when it is valid, else the faster of ``vmap`` and ``loop`` (timed on
the first batch: vmap wins on small conv nets, the loop on ResNet-sized ones and
on MLPs with wide layers, on the CPU). It never
silently returns a wrong answer: an explicitly requested engine that fails the
check raises :class:`FisherError`.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor, nn

from tanas.errors import ConfigError, DataError, FisherError
from tanas.runtime import make_generator, progress, resolve_device

__all__ = [
    "FISHER_KINDS",
    "FISHER_METHODS",
    "FisherError",
    "FisherInfo",
    "diagonal_fisher",
    "diagonal_fisher_with_info",
    "fisher_trace",
]

FISHER_KINDS: tuple[str, ...] = ("empirical", "exact", "mc")
FISHER_METHODS: tuple[str, ...] = ("auto", "hooks", "vmap", "loop")

# Largest temporary (in elements) the vmap engine materialises at once: per-sample
# gradients of the whole model for a chunk of samples. 2**24 float32 = 64 MiB.
_CHUNK_ELEMENTS = 2**24
# The hooks engine forms per-sample gradients in pieces of at most this many
# elements (2 MiB in float32) per CPU thread squared, which stay in cache while they
# are squared and summed: with one thread 1.5-3x faster than materialising a whole
# batch of them; with more threads each op needs more work to pay for waking them
# (2 threads: 4x the elements measured 2x faster than 1x). On a GPU: _CHUNK_ELEMENTS.
_CACHE_ELEMENTS = 2**19
# ... and unfolds (im2col) convolution inputs in chunks of at most this many elements.
_UNFOLD_ELEMENTS = 2**22
# Relative L2 error above which an engine is judged to disagree with the loop.
_VERIFY_RTOL = 1e-3


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


class _EngineFailure(Exception):
    """An engine cannot handle this model (internal; turned into a fallback or FisherError)."""


# --------------------------------------------------------------------------- public API


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
    _check_options(kind, method, batch_size, mc_samples)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = list(model.named_parameters())
    if not named:
        raise FisherError("the model has no parameters, so it has no Fisher Information")
    dev = resolve_device(device) if device is not None else named[0][1].device
    batches, total = _iter_batches(data, batch_size)

    start = time.perf_counter()
    state = _ModelState(model)
    chosen: _Engine | None = None
    grad_mode = torch.is_grad_enabled()
    try:
        torch.set_grad_enabled(True)  # callers inside torch.no_grad() still get gradients
        model.eval()
        if any(p.device != dev for _, p in named) or any(b.device != dev for b in model.buffers()):
            model.to(dev)
        dtype = named[0][1].dtype
        prepared = (_prepare_batch(x, y, dev, dtype) for x, y in batches)
        prepared = (b for b in prepared if b[0].shape[0] > 0)
        try:
            first = next(prepared)
        except StopIteration:
            raise DataError("the data holds no samples: the Fisher needs at least one (x, y) pair") from None
        num_classes = _num_classes(model, first[0][:1])
        chosen, notes = _select_engine(model, method, first, num_classes)

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
            _check_labels(y, num_classes)
            labels, weights = _targets(model, x, y, kind, num_classes, generator, mc_samples)
            try:
                batch_sums = chosen.batch_sums(x, labels, weights)
            except _EngineFailure as exc:  # only reachable for inputs unlike the verified batch
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


# --------------------------------------------------------------------------- input handling


def _check_options(kind: str, method: str, batch_size: int, mc_samples: int) -> None:
    if kind not in FISHER_KINDS:
        raise ConfigError(f"unknown Fisher kind {kind!r}: choose one of {', '.join(FISHER_KINDS)}")
    if method not in FISHER_METHODS:
        raise ConfigError(f"unknown Fisher method {method!r}: choose one of {', '.join(FISHER_METHODS)}")
    for label, value in (("batch_size", batch_size), ("mc_samples", mc_samples)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{label} must be a positive integer, got {value!r}")


def _iter_batches(data: Any, batch_size: int) -> tuple[Iterator[tuple[Any, Any]], int | None]:
    """Batches of ``data`` (a tuple of tensors or an iterable of batches) and their count if known."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        x, y = data
        if x.dim() == 0 or y.dim() == 0 or x.shape[0] != y.shape[0]:
            raise DataError(
                f"x and y must have the same number of samples, got x of shape {tuple(x.shape)} "
                f"and y of shape {tuple(y.shape)}"
            )
        starts = range(0, x.shape[0], batch_size)
        return ((x[s : s + batch_size], y[s : s + batch_size]) for s in starts), len(starts)
    if isinstance(data, Tensor) or isinstance(data, (str, bytes, dict)) or not isinstance(data, Iterable):
        raise DataError(
            f"data must be a tuple (x, y) of tensors or an iterable of (x, y) batches such as a "
            f"DataLoader, got {type(data).__name__}; for a Task use tanas.distance.task_inputs(task)"
        )
    if isinstance(data, (tuple, list)) and data and all(isinstance(t, Tensor) for t in data):
        raise DataError(f"data as a tuple must hold exactly two tensors (x, y), got {len(data)}")
    try:
        total: int | None = len(data)  # type: ignore[arg-type]
    except TypeError:
        total = None
    return iter(data), total


def _prepare_batch(x: Any, y: Any, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise DataError(f"each batch must be a pair of tensors (x, y), got ({type(x).__name__}, {type(y).__name__})")
    if not x.is_floating_point():
        raise DataError(
            f"x must be a float tensor of normalised inputs, got dtype {x.dtype}; normalise it first "
            "(e.g. task.normalise(x) or tanas.distance.task_inputs(task))"
        )
    if y.dim() != 1 or y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise DataError(f"y must be a 1-D tensor of integer class labels, got dtype {y.dtype} and shape {tuple(y.shape)}")
    if x.dim() == 0 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"x and y must have the same number of samples, got x of shape {tuple(x.shape)} "
            f"and y of shape {tuple(y.shape)}"
        )
    return x.to(device=device, dtype=dtype), y.to(device=device, dtype=torch.long)


def _num_classes(model: nn.Module, x: Tensor) -> int:
    with torch.no_grad():
        out = model(x)
    if not isinstance(out, Tensor) or out.dim() != 2 or out.shape[0] != x.shape[0]:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise FisherError(f"the model must return logits of shape (N, num_classes), got {shape}")
    if out.shape[1] < 1:
        raise FisherError("the model returns zero logits per sample")
    return int(out.shape[1])


def _check_labels(y: Tensor, num_classes: int) -> None:
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        raise DataError(f"labels must lie in 0..{num_classes - 1} (the model has {num_classes} outputs), got {lo}..{hi}")


@torch.no_grad()
def _targets(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    kind: str,
    num_classes: int,
    generator: torch.Generator,
    mc_samples: int,
) -> tuple[Tensor, Tensor]:
    """Labels ``(N, M)`` and weights ``(N, M)`` whose weighted squared gradients make the Fisher."""
    n = x.shape[0]
    if kind == "empirical":
        return y.view(n, 1), torch.ones(n, 1, dtype=x.dtype, device=x.device)
    probs = torch.softmax(model(x).to(torch.float64), dim=1)
    if kind == "exact":
        labels = torch.arange(num_classes, device=x.device).expand(n, num_classes)
        return labels, probs.to(x.dtype)
    # mc: the draw happens on the CPU generator, so it does not depend on the device
    draws = torch.multinomial(probs.cpu(), mc_samples, replacement=True, generator=generator)
    weights = torch.full((n, mc_samples), 1.0 / mc_samples, dtype=x.dtype, device=x.device)
    return draws.to(x.device), weights


# --------------------------------------------------------------------------- model state


class _ModelState:
    """Saves and restores each module's train/eval mode, ``requires_grad`` flags and device."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.modes = [(m, m.training) for m in model.modules()]
        self.flags = [(p, p.requires_grad) for p in model.parameters()]
        params = list(model.parameters())
        self.device = params[0].device if params else None

    def restore(self) -> None:
        if self.device is not None and any(p.device != self.device for p in self.model.parameters()):
            self.model.to(self.device)
        for module, mode in self.modes:
            module.training = mode
        for p, flag in self.flags:
            p.requires_grad_(flag)


# --------------------------------------------------------------------------- engines


class _Engine:
    name = ""

    def batch_sums(self, x: Tensor, labels: Tensor, weights: Tensor) -> dict[str, Tensor]:
        """``{name: Σ_n Σ_m w_nm g_nm²}`` for one batch (parameters of the model's dtype)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release hooks or other state."""


class _LoopEngine(_Engine):
    """One forward and backward per sample: the reference."""

    name = "loop"

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.named = list(model.named_parameters())

    def batch_sums(self, x: Tensor, labels: Tensor, weights: Tensor) -> dict[str, Tensor]:
        params = [p for _, p in self.named]
        for p in params:  # another engine (hooks) may have frozen them since the last call
            p.requires_grad_(True)
        sums = [torch.zeros_like(p) for p in params]
        n, m_cols = labels.shape
        for i in range(n):
            logp = torch.log_softmax(self.model(x[i : i + 1]), dim=1)[0]
            for m in range(m_cols):
                w = float(weights[i, m])
                if w == 0.0:
                    continue
                grads = torch.autograd.grad(
                    logp[labels[i, m]], params, retain_graph=m < m_cols - 1, allow_unused=True
                )
                for s, g in zip(sums, grads):
                    if g is not None:
                        s.addcmul_(g, g, value=w)
        return {name: s for (name, _), s in zip(self.named, sums)}


class _VmapEngine(_Engine):
    """Per-sample gradients with ``torch.func.vmap(grad(...))``, in memory-bounded chunks."""

    name = "vmap"

    def __init__(self, model: nn.Module) -> None:
        from torch.func import functional_call, grad, vmap

        self.model = model
        self.params = {name: p.detach() for name, p in model.named_parameters()}
        self.buffers = {name: b.detach() for name, b in model.named_buffers()}
        n_params = sum(p.numel() for p in self.params.values())
        self.chunk = max(1, _CHUNK_ELEMENTS // max(1, n_params))

        def log_prob(params: dict[str, Tensor], xi: Tensor, label: Tensor) -> Tensor:
            out = functional_call(model, (params, self.buffers), (xi.unsqueeze(0),))
            return torch.log_softmax(out, dim=1)[0].gather(0, label.view(1)).squeeze(0)

        self.per_sample = vmap(grad(log_prob), in_dims=(None, 0, 0))

    def batch_sums(self, x: Tensor, labels: Tensor, weights: Tensor) -> dict[str, Tensor]:
        n, m_cols = labels.shape
        sample = torch.arange(n, device=x.device).repeat_interleave(m_cols)
        flat_labels, flat_w = labels.reshape(-1), weights.reshape(-1)
        keep = flat_w > 0
        sample, flat_labels, flat_w = sample[keep], flat_labels[keep], flat_w[keep]
        sums = {name: torch.zeros_like(p) for name, p in self.params.items()}
        for s in range(0, sample.shape[0], self.chunk):
            idx = slice(s, s + self.chunk)
            grads = self.per_sample(self.params, x[sample[idx]], flat_labels[idx])
            w = flat_w[idx]
            for name, g in grads.items():
                sums[name] += torch.einsum("n,n...->...", w, g * g)
        return sums


_HOOKED_TYPES: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)


def _hooks_unsupported_reason(model: nn.Module) -> str | None:
    """Why the hooks engine cannot handle ``model`` (None when it statically can)."""
    seen: dict[int, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:
            return f"parameter {name!r} is shared with {seen[id(p)]!r}"
        seen[id(p)] = name
    for prefix, module in model.named_modules():
        own = [n for n, p in module.named_parameters(recurse=False)]
        if not own:
            continue
        where = prefix or "the root module"
        base = next((t for t in _HOOKED_TYPES if isinstance(module, t)), None)
        if base is None:
            return f"{where} ({type(module).__name__}) holds parameters and is not one of Linear, Conv2d, BatchNorm"
        if type(module).forward is not base.forward:
            return f"{where} ({type(module).__name__}) overrides forward()"
        if set(own) - {"weight", "bias"}:
            return f"{where} has parameters other than weight and bias"
        if isinstance(module, nn.Conv2d) and module.padding_mode != "zeros":
            return f"{where} uses padding_mode={module.padding_mode!r}"
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and (
            not module.track_running_stats or module.running_mean is None or module.running_var is None
        ):
            return f"{where} has no running statistics, so its outputs depend on the whole batch"
    return None


class _HookEngine(_Engine):
    """Per-sample squared gradients of Linear, Conv2d and BatchNorm layers from hooks.

    A forward hook stores each layer's input and registers a hook on its output;
    that hook receives ``∂L/∂output`` with ``L = Σ_n sqrt(w_n) log p(y_n | x_n)``, so
    row n is exactly ``sqrt(w_n)`` times sample n's own gradient, and the layer's
    per-sample weight gradients are formed from it and squared.
    """

    name = "hooks"

    def __init__(self, model: nn.Module) -> None:
        reason = _hooks_unsupported_reason(model)
        if reason is not None:
            raise _EngineFailure(reason)
        self.model = model
        self.layers: dict[nn.Module, tuple[str, str]] = {}  # module -> (weight name, bias name)
        for prefix, module in model.named_modules():
            if isinstance(module, _HOOKED_TYPES) and any(True for _ in module.parameters(recurse=False)):
                dot = f"{prefix}." if prefix else ""
                self.layers[module] = (f"{dot}weight", f"{dot}bias")
        self.param_names = [name for name, _ in model.named_parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        self.calls: dict[nn.Module, int] = {}
        self.sums: dict[str, Tensor] = {}
        self.error: str | None = None
        self.roots: list[Tensor] = []
        self.clone_roots = False
        self.workspace: dict[str, Tensor] = {}
        self.accumulators: dict[str, Tensor] = {}
        self.padded: dict[tuple[Any, ...], Tensor] = {}
        self.handles = [m.register_forward_hook(self._forward_hook) for m in self.layers]

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
        self.workspace = {}
        self.accumulators = {}
        self.padded = {}
        self.roots = []

    # hooks ---------------------------------------------------------------
    def _forward_hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Tensor | None:
        if not torch.is_grad_enabled():  # e.g. the no-grad forward that computes the targets
            return None
        self.calls[module] = self.calls.get(module, 0) + 1
        if self.calls[module] > 1:
            self.error = f"{self.layers[module][0].rsplit('.', 1)[0]} is called more than once per forward pass"
            return None
        if not isinstance(output, Tensor):
            self.error = f"{type(module).__name__} returned a {type(output).__name__}, not a tensor"
            return None
        replacement: Tensor | None = None
        if not output.requires_grad:
            # The parameters are frozen, so a layer fed only by the (constant) input
            # makes a graph root here: backward stops at this output instead of
            # computing a gradient for the input, which nobody needs. A root is a
            # leaf, which in-place ops may not modify; for models that do (e.g.
            # conv -> ReLU(inplace=True)) the roots are cloned (see batch_sums).
            root = output.detach().requires_grad_(True)
            self.roots.append(root)
            replacement = output = root.clone() if self.clone_roots else root
        a = inputs[0].detach()
        version = inputs[0]._version

        def backward_hook(grad_out: Tensor) -> None:
            if inputs[0]._version != version:
                self.error = "a layer's input was modified in place after the layer used it"
                return
            try:
                self._accumulate(module, a, grad_out.detach())
            except Exception as exc:  # noqa: BLE001 - reported as an engine failure
                self.error = f"{type(exc).__name__}: {exc}"

        output.register_hook(backward_hook)
        return replacement

    def _target(self, name: str, shape: torch.Size, like: Tensor) -> Tensor:
        """This batch's accumulator for parameter ``name`` (reused across batches, zeroed on first use)."""
        acc = self.accumulators.get(name)
        if acc is None or acc.shape != shape or acc.dtype != like.dtype or acc.device != like.device:
            acc = torch.zeros(shape, dtype=like.dtype, device=like.device)
            self.accumulators[name] = acc
        elif name not in self.sums:
            acc.zero_()
        self.sums[name] = acc
        return acc

    def _add(self, name: str, value: Tensor) -> None:
        self._target(name, value.shape, value).add_(value)

    @staticmethod
    def _piece(like: Tensor) -> int:
        """Elements per piece of per-sample gradients (see ``_CACHE_ELEMENTS``)."""
        if like.device.type != "cpu":
            return _CHUNK_ELEMENTS
        return min(_CHUNK_ELEMENTS, _CACHE_ELEMENTS * max(1, torch.get_num_threads()) ** 2)

    def _add_squares(self, name: str, per_sample: Tensor) -> None:
        """Add ``Σ_n per_sample[n]²`` to ``name``'s accumulator (squares ``per_sample`` in place)."""
        self._sum_squares_into(self._target(name, per_sample.shape[1:], per_sample), per_sample)

    def _sum_squares_into(self, acc: Tensor, per_sample: Tensor) -> None:
        """Add ``Σ_n per_sample[n]²`` to ``acc`` (shaped like ``per_sample[0]``; squares ``per_sample`` in place)."""
        n = per_sample.shape[0]
        if n == 1:
            acc.addcmul_(per_sample[0], per_sample[0])
            return
        # a GEMV with a ones vector sums over samples without allocating (sum() fills a fresh output)
        ones = self._buffer("ones", (1, n), per_sample).fill_(1.0)
        acc.view(1, -1).addmm_(ones, per_sample.square_().view(n, -1))

    def _add_squared_products(self, name: str, shape: torch.Size, left: Tensor, right: Tensor) -> None:
        """Add ``Σ_n (left[n] @ right[n])²`` to ``name``'s accumulator (viewed as ``(o, k)``).

        ``left`` is ``(n, o, L)`` and ``right`` ``(n, L, k)``: sample n's gradient is their
        product. Small products are formed a few samples at a time with ``bmm``; large
        ones (e.g. 512x4608 for a 3x3 conv with 512 channels) one sample and one block
        of rows at a time, so that the product and its rows of the accumulator stay in
        cache while they are squared and added.
        """
        n, o, _ = left.shape
        k = right.shape[2]
        acc = self._target(name, shape, left).view(o, k)
        piece = self._piece(left)
        if o * k <= piece:
            step = max(1, min(n, piece // (o * k)))
            for s in range(0, n, step):
                e = min(n, s + step)
                pg = self._buffer("grad", (e - s, o, k), left)
                torch.bmm(left[s:e], right[s:e], out=pg)
                self._sum_squares_into(acc, pg)
            return
        rows = max(1, min(o, piece // k))
        buf = self._buffer("grad", (rows, k), left)
        for r in range(0, o, rows):
            re = min(o, r + rows)
            block, acc_rows = buf[: re - r], acc[r:re]
            for i in range(n):
                torch.mm(left[i, r:re], right[i], out=block)
                acc_rows.addcmul_(block, block)

    def _accumulate(self, module: nn.Module, a: Tensor, g: Tensor) -> None:
        wname, bname = self.layers[module]
        if isinstance(module, nn.Linear):
            self._linear(module, a, g, wname, bname)
        elif isinstance(module, nn.Conv2d):
            self._conv2d(module, a, g, wname, bname)
        else:
            self._batchnorm(module, a, g, wname, bname)

    def _buffer(self, slot: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A reusable scratch tensor: fresh multi-MB allocations cost page faults on the CPU."""
        numel = math.prod(shape)
        buf = self.workspace.get(slot)
        if buf is None or buf.numel() < numel or buf.dtype != like.dtype or buf.device != like.device:
            buf = torch.empty(numel, dtype=like.dtype, device=like.device)
            self.workspace[slot] = buf
        return buf[:numel].view(shape)

    def _linear(self, module: nn.Linear, a: Tensor, g: Tensor, wname: str, bname: str) -> None:
        n = a.shape[0]
        a3 = a.reshape(n, -1, a.shape[-1])
        g3 = g.reshape(n, -1, g.shape[-1])
        if a3.shape[1] == 1:
            # per-sample gradient is an outer product: Σ_n (g_n x_n^T)² = (g²)^T (x²)
            a2, g2 = a3[:, 0], g3[:, 0]
            self._target(wname, module.weight.shape, a).addmm_((g2 * g2).t(), a2 * a2)
            if module.bias is not None:
                self._add(bname, (g2 * g2).sum(0))
            return
        self._add_squared_products(wname, module.weight.shape, g3.transpose(1, 2), a3)
        if module.bias is not None:
            gb = g3.sum(1)
            self._add(bname, (gb * gb).sum(0))

    @staticmethod
    def _pads(module: nn.Conv2d) -> tuple[int, int, int, int]:
        """(left, right, top, bottom) zero padding of ``module``."""
        kh, kw = module.kernel_size
        dh, dw = module.dilation
        padding: Any = module.padding
        if isinstance(padding, str):
            if padding == "valid":
                return 0, 0, 0, 0
            th, tw = dh * (kh - 1), dw * (kw - 1)  # "same": PyTorch puts the odd pixel at the end
            return tw // 2, tw - tw // 2, th // 2, th - th // 2
        ph, pw = padding
        return pw, pw, ph, ph

    def _padded(self, module: nn.Conv2d, a: Tensor, channels_last: bool) -> Tensor:
        """The layer input copied into a zero-bordered buffer (borders never written).

        Layers with the same padding and padded shape share one buffer: each use
        overwrites its whole interior, and is consumed before the next layer's.
        """
        pads = self._pads(module)
        left, right, top, bottom = pads
        n, c, h, w = a.shape
        hp, wp = h + top + bottom, w + left + right
        shape = (n, hp, wp, c) if channels_last else (n, c, hp, wp)
        key = (pads, channels_last, shape[1:], a.dtype, a.device)
        padded = self.padded.get(key)
        if padded is None or padded.shape[0] < n:
            padded = torch.zeros(shape, dtype=a.dtype, device=a.device)
            self.padded[key] = padded
        padded = padded[:n]
        if channels_last:
            padded[:, top : top + h, left : left + w, :].copy_(a.permute(0, 2, 3, 1))
        else:
            padded[:, :, top : top + h, left : left + w].copy_(a)
        return padded

    def _im2col(self, module: nn.Conv2d, a: Tensor, out_hw: tuple[int, int]) -> Tensor:
        """``F.unfold`` of the layer input, ``(N, C*kh*kw, Ho*Wo)``, as one strided copy.

        ``F.unfold`` (aten::im2col) is several times slower on the CPU than copying
        this strided view of the padded input into the workspace.
        """
        kh, kw = module.kernel_size
        dh, dw = module.dilation
        sh, sw = module.stride
        n, c = a.shape[:2]
        ho, wo = out_hw
        padded = self._padded(module, a, channels_last=False) if any(self._pads(module)) else a.contiguous()
        s_n, s_c, s_h, s_w = padded.stride()
        view = padded.as_strided((n, c, kh, kw, ho, wo), (s_n, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w))
        unf = self._buffer("unfold", (n, c, kh, kw, ho, wo), a)
        unf.copy_(view)
        return unf.view(n, c * kh * kw, ho * wo)

    def _im2row(self, module: nn.Conv2d, a: Tensor, out_hw: tuple[int, int]) -> Tensor:
        """The channels-last unfolding, ``(N, Ho*Wo, kh*kw*C)``: each row is a patch.

        Its copy moves runs of C contiguous channels, which is several times faster
        than :meth:`_im2col` when the map is small and the channels many (late layers).
        """
        kh, kw = module.kernel_size
        dh, dw = module.dilation
        sh, sw = module.stride
        n, c = a.shape[:2]
        ho, wo = out_hw
        padded = self._padded(module, a, channels_last=True)
        s_n, s_h, s_w, s_c = padded.stride()
        view = padded.as_strided((n, ho, wo, kh, kw, c), (s_n, sh * s_h, sw * s_w, dh * s_h, dw * s_w, s_c))
        rows = self._buffer("unfold", (n, ho, wo, kh, kw, c), a)
        rows.copy_(view)
        return rows.view(n, ho * wo, kh * kw * c)

    def _conv2d(self, module: nn.Conv2d, a: Tensor, g: Tensor, wname: str, bname: str) -> None:
        n = a.shape[0]
        kh, kw = module.kernel_size
        groups, c_out, c_in = module.groups, module.out_channels, module.in_channels
        k_group = (c_in // groups) * kh * kw
        o_group = c_out // groups
        spatial = g.shape[2] * g.shape[3]
        go = g.reshape(n, groups, o_group, spatial)
        # unfold a few samples at a time (the unfolded input is c_in*kh*kw*spatial per sample)
        step = max(1, min(n, _UNFOLD_ELEMENTS // max(1, c_in * kh * kw * spatial)))
        out_hw = (g.shape[2], g.shape[3])
        if groups == 1 and 1 < spatial <= 4 * c_in:
            # channels-last patches: the gradient comes out as (o, kh, kw, c), hence
            # its own accumulator, seen by the caller through a permuted view
            key = f"{wname}#channels_last"
            for s in range(0, n, step):
                e = min(n, s + step)
                rows = self._im2row(module, a[s:e], out_hw)
                self._add_squared_products(key, torch.Size((c_out, kh, kw, c_in)), go[s:e, 0], rows)
            self.sums[wname] = self.sums[key].permute(0, 3, 1, 2)
        else:
            wshape = torch.Size((groups, o_group, k_group))
            for s in range(0, n, step):
                e = min(n, s + step)
                unf = self._im2col(module, a[s:e], out_hw).view(e - s, groups, k_group, spatial)
                gs = go[s:e]
                if spatial == 1:  # outer products: Σ_n g² (x²)^T
                    part = torch.einsum("ngo,ngk->gok", gs[..., 0].square(), unf[..., 0].square())
                    self._target(wname, wshape, a).add_(part)
                elif groups == 1:
                    self._add_squared_products(wname, wshape, gs[:, 0], unf[:, 0].transpose(1, 2))
                else:
                    self._add_squares(wname, torch.einsum("ngol,ngkl->ngok", gs, unf))
            self.sums[wname] = self.sums[wname].view(module.weight.shape)
        if module.bias is not None:
            gb = g.sum((2, 3))
            self._add(bname, (gb * gb).sum(0))

    def _batchnorm(self, module: nn.modules.batchnorm._BatchNorm, a: Tensor, g: Tensor, wname: str, bname: str) -> None:
        # eval mode: y = γ x̂ + β with x̂ = (x - μ) r, r = 1/sqrt(σ² + eps), so per sample
        # ∂/∂γ_c = Σ_hw g x̂ = r_c (Σ_hw g x - μ_c Σ_hw g) and ∂/∂β_c = Σ_hw g.
        assert module.running_mean is not None and module.running_var is not None
        n, c = a.shape[:2]
        a3, g3 = a.reshape(n, c, -1), g.reshape(n, c, -1)
        gb = g3.sum(2)
        if module.weight is not None:
            r = torch.rsqrt(module.running_var + module.eps).to(a.dtype)
            gx = torch.linalg.vecdot(g3, a3, dim=2)
            gw = (gx - gb * module.running_mean.to(a.dtype)) * r
            self._add(wname, (gw * gw).sum(0))
        if module.bias is not None:
            self._add(bname, (gb * gb).sum(0))

    # batch -----------------------------------------------------------------
    def batch_sums(self, x: Tensor, labels: Tensor, weights: Tensor) -> dict[str, Tensor]:
        self.calls, self.sums, self.error, self.roots = {}, {}, None, []
        try:
            try:
                logits = self.model(x)
            except RuntimeError as exc:
                if self.clone_roots or "leaf Variable that requires grad" not in str(exc):
                    raise
                self.clone_roots = True  # an in-place op on a first layer's output: retry with clones
                self.calls, self.error, self.roots = {}, None, []
                logits = self.model(x)
            logp = torch.log_softmax(logits, dim=1)
            if self.error is not None:
                raise _EngineFailure(self.error)
            if not self.roots or not logp.requires_grad:
                raise _EngineFailure("the model output does not depend on any Linear, Conv2d or BatchNorm layer")
            m_cols = labels.shape[1]
            for m in range(m_cols):
                sw = weights[:, m].clamp_min(0).sqrt()
                objective = (logp.gather(1, labels[:, m : m + 1]).squeeze(1) * sw).sum()
                torch.autograd.grad(objective, self.roots, retain_graph=m < m_cols - 1, allow_unused=True)
                if self.error is not None:
                    raise _EngineFailure(self.error)
        except _EngineFailure:
            raise
        except RuntimeError as exc:
            raise _EngineFailure(f"{type(exc).__name__}: {exc}") from exc
        out: dict[str, Tensor] = {}
        params = dict(self.model.named_parameters())
        for name in self.param_names:
            value = self.sums.get(name)
            out[name] = value if value is not None else torch.zeros_like(params[name])
        return out


_ENGINES: dict[str, Callable[[nn.Module], _Engine]] = {
    "hooks": _HookEngine,
    "vmap": _VmapEngine,
    "loop": _LoopEngine,
}


# --------------------------------------------------------------------------- engine choice


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


def _timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
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
) -> tuple[_Engine | None, str]:
    """Build engine ``name`` and check it against the loop's ``reference`` on a few samples.

    Returns (engine or None, reason it failed).
    """
    engine: _Engine | None = None
    try:
        engine = _ENGINES[name](model)
        got = engine.batch_sums(x, labels, weights)
    except _EngineFailure as exc:
        if engine is not None:
            engine.close()
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001 - torch.func raises many kinds on unsupported models
        if engine is not None:
            engine.close()
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    err, scale = _relative_error(got, reference)
    if not math.isfinite(err) or err > _VERIFY_RTOL * max(scale, 1e-30):
        engine.close()
        rel = err / scale if scale > 0 else math.inf
        return None, f"its per-sample gradients disagree with the loop's (relative error {rel:.2e})"
    return engine, ""


# Samples of the first batch on which auto times vmap against the loop: vmap has a
# per-call cost that only a batch of realistic size amortises (vmap is timed on one
# chunk of up to this many samples, the loop on a few).
_TIMING_SAMPLES = 64
_TIMING_LOOP_SAMPLES = 4


def _select_engine(
    model: nn.Module, method: str, first: tuple[Tensor, Tensor], num_classes: int
) -> tuple[_Engine, list[str]]:
    """The engine to use, verified against the loop on (up to) two samples of the first batch.

    ``auto`` takes ``hooks`` when it passes; otherwise ``vmap`` if it passes and
    is faster per sample than the loop (vmap timed on up to ``_TIMING_SAMPLES`` samples of the
    first batch, the loop on ``_TIMING_LOOP_SAMPLES``), else the loop.
    """
    if method == "loop":
        return _LoopEngine(model), []
    _check_labels(first[1], num_classes)
    device = first[0].device
    x, y = first[0][:2], first[1][:2]
    labels, weights = y.view(-1, 1), torch.ones(y.shape[0], 1, dtype=x.dtype, device=x.device)
    loop = _LoopEngine(model)
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
                    f"vmap: slower than the loop on this model ({vmap_rate * 1e3:.3g} vs {loop_rate * 1e3:.3g} ms per sample)"
                )
                break
        return engine, notes
    return _LoopEngine(model), notes


def _per_sample_seconds(
    vmap: _Engine, loop: _Engine, first: tuple[Tensor, Tensor], device: torch.device
) -> tuple[float, float]:
    """Seconds per sample of the (already warmed-up) vmap and loop engines on the first batch."""
    xv, yv = first[0][: min(_TIMING_SAMPLES, getattr(vmap, "chunk", _TIMING_SAMPLES))], first[1]
    xl = first[0][:_TIMING_LOOP_SAMPLES]

    def run(engine: _Engine, xs: Tensor) -> dict[str, Tensor]:
        n = xs.shape[0]
        ones = torch.ones(n, 1, dtype=xs.dtype, device=device)
        return engine.batch_sums(xs, yv[:n].view(-1, 1), ones)

    _, vmap_seconds = _timed(lambda: run(vmap, xv), device)
    _, loop_seconds = _timed(lambda: run(loop, xl), device)
    return vmap_seconds / xv.shape[0], loop_seconds / xl.shape[0]
