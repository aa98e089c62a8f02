"""Saving and restoring what the Fisher computation changes on the caller's model."""

from __future__ import annotations

from torch import nn


class ModelState:
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
