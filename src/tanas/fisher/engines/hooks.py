"""The hooks engine: per-sample squared gradients from each layer's input and output gradient.

The maths of each layer type is a rule of :data:`tanas.fisher.rules.LAYER_RULES`;
this module owns the hooks, the graph roots and the checks that make the hooked
gradients per-sample.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from tanas.fisher.engines.base import EngineFailure
from tanas.fisher.rules import LayerRule, ParamNames, rule_for
from tanas.fisher.squares import SquareSums


def hooks_unsupported_reason(model: nn.Module) -> str | None:
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
        found = rule_for(module)
        if found is None:
            return f"{where} ({type(module).__name__}) holds parameters and is not one of Linear, Conv2d, BatchNorm"
        base, rule = found
        if type(module).forward is not base.forward:
            return f"{where} ({type(module).__name__}) overrides forward()"
        if set(own) - {"weight", "bias"}:
            return f"{where} has parameters other than weight and bias"
        reason = rule.unsupported(module)
        if reason is not None:
            return f"{where} {reason}"
    return None


class HookEngine:
    """Per-sample squared gradients of Linear, Conv2d and BatchNorm layers from hooks.

    A forward hook stores each layer's input and registers a hook on its output;
    that hook receives ``∂L/∂output`` with ``L = Σ_n sqrt(w_n) log p(y_n | x_n)``, so
    row n is exactly ``sqrt(w_n)`` times sample n's own gradient, and the layer's
    per-sample weight gradients are formed from it and squared.
    """

    name = "hooks"

    def __init__(self, model: nn.Module) -> None:
        reason = hooks_unsupported_reason(model)
        if reason is not None:
            raise EngineFailure(reason)
        self.model = model
        self.layers: dict[nn.Module, tuple[LayerRule, ParamNames]] = {}
        for prefix, module in model.named_modules():
            found = rule_for(module)
            if found is not None and any(True for _ in module.parameters(recurse=False)):
                dot = f"{prefix}." if prefix else ""
                self.layers[module] = (found[1], ParamNames(f"{dot}weight", f"{dot}bias"))
        self.param_names = [name for name, _ in model.named_parameters()]
        for p in model.parameters():
            p.requires_grad_(False)
        self.calls: dict[nn.Module, int] = {}
        self.squares = SquareSums()
        self.error: str | None = None
        self.roots: list[Tensor] = []
        self.clone_roots = False
        self.handles = [m.register_forward_hook(self._forward_hook) for m in self.layers]

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
        self.squares.clear()
        self.roots = []

    # hooks ---------------------------------------------------------------
    def _forward_hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Tensor | None:
        if not torch.is_grad_enabled():  # e.g. the no-grad forward that computes the targets
            return None
        self.calls[module] = self.calls.get(module, 0) + 1
        if self.calls[module] > 1:
            self.error = f"{self.layers[module][1].weight.rsplit('.', 1)[0]} is called more than once per forward pass"
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
        rule, names = self.layers[module]

        def backward_hook(grad_out: Tensor) -> None:
            if inputs[0]._version != version:
                self.error = "a layer's input was modified in place after the layer used it"
                return
            try:
                rule.accumulate(module, a, grad_out.detach(), names, self.squares)
            except Exception as exc:
                self.error = f"{type(exc).__name__}: {exc}"

        output.register_hook(backward_hook)
        return replacement

    # batch -----------------------------------------------------------------
    def batch_sums(self, x: Tensor, labels: Tensor, weights: Tensor) -> dict[str, Tensor]:
        self.calls, self.error, self.roots = {}, None, []
        self.squares.begin()
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
                raise EngineFailure(self.error)
            if not self.roots or not logp.requires_grad:
                raise EngineFailure("the model output does not depend on any Linear, Conv2d or BatchNorm layer")
            m_cols = labels.shape[1]
            for m in range(m_cols):
                sw = weights[:, m].clamp_min(0).sqrt()
                objective = (logp.gather(1, labels[:, m : m + 1]).squeeze(1) * sw).sum()
                torch.autograd.grad(objective, self.roots, retain_graph=m < m_cols - 1, allow_unused=True)
                if self.error is not None:
                    raise EngineFailure(self.error)
        except EngineFailure:
            raise
        except RuntimeError as exc:
            raise EngineFailure(f"{type(exc).__name__}: {exc}") from exc
        out: dict[str, Tensor] = {}
        params = dict(self.model.named_parameters())
        for name in self.param_names:
            value = self.squares.get(name)
            out[name] = value if value is not None else torch.zeros_like(params[name])
        return out
