"""Training a probe to ε on a task's validation split.

The probe is trained with the shared trainer (:mod:`tanas.train`) on the task's
train split. After every epoch its error on the validation split is measured;
training stops as soon as that error is at most ``epsilon`` (once at least
``min_steps`` optimiser steps have run, so that a tiny task is not stopped after
a couple of lucky steps), or when another epoch would pass ``max_epochs`` epochs
or ``max_steps`` steps (the step cap keeps large tasks such as Fashion-MNIST from
dominating the run time; at least one epoch always runs). The weights returned
are those at the stop, and the record says which error they reached.

On the CPU a training is deterministic for a given seed: the weights are
initialised from a generator seeded with ``seed`` and batches are shuffled with
another one; nothing reads the global RNG. (A different number of intra-op
threads changes the floating-point rounding of the convolutions, so runs with
different ``torch.get_num_threads()`` agree only approximately.)
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import torch

from tanas.data import Task
from tanas.errors import ConfigError
from tanas.probe.models import PROBE_NAMES, ProbeNet, build_probe
from tanas.runtime import make_generator, progress, resolve_device
from tanas.train import evaluate, train_epoch


@dataclass(frozen=True)
class ProbeConfig:
    """How a probe is trained: checked once when made, and immutable after that.

    Attributes:
        name: probe architecture, one of :data:`PROBE_NAMES`.
        epsilon: target validation error; training stops once it is reached.
        max_epochs: at most this many passes over the train split.
        max_steps: no epoch is started that would take the step count past this
            (the first epoch always runs).
        min_steps: reaching epsilon stops training only after this many steps.
        lr: Adam learning rate.
        batch_size: training batch size.
        weight_decay: Adam (L2) weight decay.
        augment: random shifts of up to 2 px per batch (off by default: the
            Fisher is taken on unshifted data).
    """

    name: str = "cnn"
    epsilon: float = 0.02
    max_epochs: int = 100
    max_steps: int = 1500
    min_steps: int = 100
    lr: float = 3e-3
    batch_size: int = 128
    weight_decay: float = 0.0
    augment: bool = False

    def __post_init__(self) -> None:
        """Raise :class:`ConfigError` on a value that cannot be trained with."""
        if self.name not in PROBE_NAMES:
            raise ConfigError(f"unknown probe {self.name!r}: choose one of {', '.join(PROBE_NAMES)}")
        if not (0.0 <= float(self.epsilon) < 1.0):
            raise ConfigError(f"probe epsilon must be a validation error in [0, 1), got {self.epsilon!r}")
        if not isinstance(self.min_steps, int) or isinstance(self.min_steps, bool) or self.min_steps < 0:
            raise ConfigError(f"probe min_steps must be a non-negative integer, got {self.min_steps!r}")
        for label in ("max_epochs", "max_steps", "batch_size"):
            value = getattr(self, label)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"probe {label} must be a positive integer, got {value!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"probe lr must be a positive number, got {self.lr!r}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ConfigError(f"probe weight_decay must be >= 0, got {self.weight_decay!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown probe config keys {unknown}; known: {sorted(known)}")
        return cls(**data)


@dataclass
class ProbeRecord:
    """What a probe training did: enough to rebuild the network and judge it."""

    probe: str
    seed: int
    in_channels: int
    num_classes: int
    input_size: int
    epochs: int
    val_error: float
    val_acc: float
    reached_epsilon: bool
    train_seconds: float
    config: dict[str, Any]
    task: str = ""
    task_spec: str = ""
    steps: int = 0
    device: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeRecord:
        """Inverse of :meth:`to_dict`; keys this version does not know are ignored."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        required = [n for n, f in fields.items() if f.default is dataclasses.MISSING]
        missing = [n for n in required if n not in data]
        if missing:
            raise ConfigError(f"probe record lacks {missing}; it was not written by tanas.probe.ProbeRecord.to_dict")
        return cls(**{k: v for k, v in data.items() if k in fields})

    def build(self) -> ProbeNet:
        """An untrained network of this record's architecture (load the weights into it)."""
        return build_probe(
            self.probe,
            in_channels=self.in_channels,
            num_classes=self.num_classes,
            input_size=self.input_size,
            seed=self.seed,
        )


def as_probe_config(probe: str | ProbeConfig) -> ProbeConfig:
    """A probe name or a ProbeConfig as a ProbeConfig (a name gets the default settings)."""
    if isinstance(probe, ProbeConfig):
        return probe
    if isinstance(probe, str):
        return ProbeConfig(name=probe)  # its check rejects an unknown name
    raise ConfigError(f"probe must be a probe name or a ProbeConfig, got {type(probe).__name__}")


def probe_for_task(name: str, task: Task, *, seed: int = 0) -> ProbeNet:
    """An untrained probe ``name`` shaped for ``task``'s inputs and classes."""
    c, h, w = task.input_shape
    return build_probe(
        name, in_channels=int(c), num_classes=int(task.num_classes), input_size=int(min(h, w)), seed=seed
    )


def train_probe(
    task: Task,
    config: ProbeConfig | None = None,
    *,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = False,
) -> tuple[ProbeNet, ProbeRecord]:
    """Train a probe on ``task`` until its validation error is at most ``config.epsilon``.

    Returns the trained network (in eval mode, on ``device``) and its record.
    """
    config = config or ProbeConfig()
    for split in ("train", "val"):
        if split not in task.splits or len(task.splits[split]) == 0:
            raise ConfigError(f"task {task.name!r} has an empty {split} split; a probe needs train and val data")
    device = resolve_device(device)
    model = probe_for_task(config.name, task, seed=seed).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    # A separate stream for shuffling, so that it does not depend on the init draws.
    generator = make_generator(seed * 2654435761 % (2**63 - 1) + 1)
    train, val = task.splits["train"], task.splits["val"]
    steps_per_epoch = math.ceil(len(train) / config.batch_size)

    start = time.perf_counter()
    epochs = steps = 0
    val_acc = 0.0
    bar = progress(
        total=min(config.max_epochs, max(1, config.max_steps // steps_per_epoch)),
        desc=f"probe {config.name} {task.name} s{seed}",
        quiet=quiet,
        unit="ep",
    )
    try:
        while epochs == 0 or (epochs < config.max_epochs and steps + steps_per_epoch <= config.max_steps):
            train_epoch(
                model,
                task,
                train,
                optimizer,
                batch_size=config.batch_size,
                device=device,
                generator=generator,
                augment=config.augment,
            )
            epochs += 1
            steps += steps_per_epoch
            val_acc = evaluate(model, task, val, device=device)
            bar.update(1)
            bar.set_postfix(val_err=f"{1.0 - val_acc:.4f}")
            if 1.0 - val_acc <= config.epsilon and steps >= config.min_steps:
                break
    finally:
        bar.close()
    model.eval()
    val_error = 1.0 - val_acc
    record = ProbeRecord(
        probe=config.name,
        seed=int(seed),
        in_channels=model.in_channels,
        num_classes=model.num_classes,
        input_size=model.input_size,
        epochs=epochs,
        val_error=float(val_error),
        val_acc=float(val_acc),
        reached_epsilon=bool(val_error <= config.epsilon),
        train_seconds=time.perf_counter() - start,
        config=config.to_dict(),
        task=task.name,
        task_spec=task.spec,
        steps=steps,
        device=str(device),
    )
    return model, record
