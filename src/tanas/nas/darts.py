"""First-order DARTS on the same cell skeleton (docs/architecture.md §1.8).

The supernet puts a softmax mixture of the space's ops on every edge (ops the
space never uses on an edge are masked out); one α of shape (6, 11) is shared
by all cells, as in NAS-Bench-201's DARTS. Each step updates α on a
**validation** batch (Adam) and then the weights on a **train** batch (SGD,
cosine), i.e. first-order DARTS. BatchNorm in the supernet has no affine
parameters and always uses batch statistics (NAS-Bench-201 convention), so the
network with α replaced by a one-hot choice can be evaluated directly: that is
the one-shot val estimate recorded as ``incumbent_val_acc``.

Deriving the genotype follows the DARTS convention: ``none`` is excluded from
the argmax (it can only be chosen on an edge where it is the sole option). On a
non-product space (radius > 0) the per-edge argmax may fall outside it, so the
genotype is the member of the space with the largest total log-weight
(:meth:`SearchSpace.best`), which equals the per-edge argmax whenever that is a
member.

Defaults are sized for small data (digits): α's learning rate is 10× DARTS'
3e-4 because a digits epoch has only ~10 steps.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from tanas.data import Split, Task
from tanas.errors import StrategyConfigError
from tanas.genotypes import EDGES, NUM_EDGES, OP_INDEX, OP_NAMES, Genotype
from tanas.nas.common import Budget, SearchOutcome
from tanas.nas.network import CellNetwork, seeded_init
from tanas.nas.ops import make_op
from tanas.nas.registry import register_strategy
from tanas.nas.search_run import SearchRun
from tanas.nas.space import SearchSpace
from tanas.runtime import derive_seed, make_generator
from tanas.train import evaluate, iterate_batches

_NONE = OP_INDEX["none"]


@dataclass(frozen=True)
class DartsConfig:
    """First-order DARTS settings; ``epochs`` None means: until the budget ends."""

    epochs: int | None = None
    C: int = 16
    N: int = 1
    batch_size: int = 64
    w_lr: float = 0.025
    w_lr_min: float = 0.001
    w_momentum: float = 0.9
    w_weight_decay: float = 3e-4
    alpha_lr: float = 3e-3
    alpha_weight_decay: float = 1e-3
    grad_clip: float = 5.0
    schedule_epochs: int = 50

    def __post_init__(self) -> None:
        if self.epochs is not None and self.epochs < 1:
            raise StrategyConfigError(f"DARTS epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1 or not self.w_lr > 0 or not self.alpha_lr > 0 or self.schedule_epochs < 1:
            raise StrategyConfigError(f"invalid DARTS settings {self}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MixedCell(nn.Module):
    """A cell whose edge k computes Σ_op w[k, op] · op(x) over the ops allowed on edge k."""

    def __init__(self, channels: int, edge_ops: list[tuple[str, ...]]) -> None:
        super().__init__()
        self.edge_ops = edge_ops
        self.ops = nn.ModuleList(
            nn.ModuleDict(
                {
                    name: make_op(name, channels, affine=False, track_running_stats=False)
                    for name in ops
                    if name != "none"
                }
            )
            for ops in edge_ops
        )

    def forward(self, x: torch.Tensor, weights: torch.Tensor, only: Genotype | None = None) -> torch.Tensor:
        """Mix every allowed op by ``weights``, or with ``only`` run just that genotype's op per edge."""
        nodes = [x]
        for j in (1, 2, 3):
            total = torch.zeros_like(x)
            for k, (src, dst) in enumerate(EDGES):
                if dst != j:
                    continue
                edge = cast(nn.ModuleDict, self.ops[k])  # ModuleList types its items as plain Modules
                if only is not None:
                    if only.ops[k] != "none":
                        total = total + edge[only.ops[k]](nodes[src])
                    continue
                for name, op in edge.items():
                    total = total + weights[k, OP_INDEX[name]] * op(nodes[src])
            nodes.append(total)
        return nodes[3]


class SuperNet(CellNetwork):
    """The DARTS supernet over ``space``: α (6 × 11) with ops outside the space masked to −inf."""

    mask: torch.Tensor  # a buffer: 0 where the space allows an op, −inf elsewhere

    def __init__(self, space: SearchSpace, in_channels: int, num_classes: int, C: int = 16, N: int = 1) -> None:
        edge_ops = [space.edge_ops(k) for k in range(NUM_EDGES)]
        super().__init__(
            lambda ch: MixedCell(ch, edge_ops), in_channels, num_classes, C, N, affine=False, track_running_stats=False
        )
        mask = torch.full((NUM_EDGES, len(OP_NAMES)), -math.inf)
        for k, ops in enumerate(edge_ops):
            for name in ops:
                mask[k, OP_INDEX[name]] = 0.0
        self.register_buffer("mask", mask)
        self.alpha = nn.Parameter(1e-3 * torch.randn(NUM_EDGES, len(OP_NAMES)))
        self.space = space
        self.fixed: Genotype | None = None  # set for one-shot evaluation of a single genotype

    def arch_weights(self) -> torch.Tensor:
        return torch.softmax(self.alpha + self.mask, dim=1)

    def weight_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name != "alpha"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.arch_weights()
        h = self.stem(x)
        for layer in self.cells:
            h = layer(h, weights, self.fixed) if isinstance(layer, MixedCell) else layer(h)
        return self.classifier(self.head(h))

    def derive(self) -> Genotype:
        """The genotype: argmax per edge without ``none`` (DARTS), projected onto the space."""
        scores = torch.log_softmax((self.alpha + self.mask).detach().float().cpu(), dim=1)
        scores[:, _NONE] = -1e9  # only chosen where it is the sole option of an edge
        return self.space.best(scores)


def _cycle(
    split: Split, batch_size: int, seed: int, device: torch.device
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for epoch in itertools.count():
        yield from iterate_batches(
            split, batch_size, shuffle=True, generator=make_generator(derive_seed(seed, epoch)), device=device
        )


@register_strategy("darts", DartsConfig)
def darts_search(
    task: Task,
    *,
    budget: Budget,
    space: SearchSpace | None = None,
    initial: Genotype | str | None = None,
    config: DartsConfig | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = False,
) -> SearchOutcome:
    """First-order DARTS on ``task`` over ``space`` (default: the full space).

    ``initial`` is unused (DARTS has no incumbent to start from).
    """
    config = config or DartsConfig()
    run = SearchRun(
        "darts",
        task,
        config=config,
        budget=budget,
        space=space,
        seed=seed,
        device=device,
        quiet=quiet,
        total=config.epochs,
        unit="epoch",
        stop_reason="epochs",
    )
    space, device, train_split, val_split = run.space, run.device, run.train, run.val
    with seeded_init(derive_seed(seed, "darts-init")):
        net = SuperNet(space, task.input_shape[0], task.num_classes, C=config.C, N=config.N).to(device)
    w_params = net.weight_parameters()
    w_opt = torch.optim.SGD(w_params, lr=config.w_lr, momentum=config.w_momentum, weight_decay=config.w_weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=config.schedule_epochs, eta_min=config.w_lr_min)
    a_opt = torch.optim.Adam(
        [net.alpha], lr=config.alpha_lr, betas=(0.5, 0.999), weight_decay=config.alpha_weight_decay
    )
    val_stream = _cycle(val_split, config.batch_size, derive_seed(seed, "darts-val"), device)
    max_epochs = config.epochs if config.epochs is not None else 10**9
    steps = 0
    genotype, one_shot = net.derive(), 0.0

    with run:
        clock = run.clock
        for epoch in range(max_epochs):
            if run.history and clock.exhausted(upcoming_epochs=1):
                run.stop_reason = "budget"
                break
            net.train()
            batches = iterate_batches(
                train_split,
                config.batch_size,
                shuffle=True,
                generator=make_generator(derive_seed(seed, "darts-train", epoch)),
                device=device,
            )
            truncated = False
            loss_sum, n = 0.0, 0
            for xb, yb in batches:
                if steps and clock.exhausted():  # time is up (the epoch part was checked before the epoch)
                    truncated = True
                    break
                xv, yv = next(val_stream)
                a_opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(task.normalise(xv)), yv).backward()
                a_opt.step()
                w_opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(net(task.normalise(xb)), yb)
                loss.backward()
                nn.utils.clip_grad_norm_(w_params, config.grad_clip)
                w_opt.step()
                loss_sum += float(loss.detach()) * len(yb)
                n += len(yb)
                steps += 1
            sched.step()
            clock.charge(1)
            genotype = net.derive()
            supernet_acc = evaluate(net, task, val_split, device=device)
            net.fixed = genotype
            one_shot = evaluate(net, task, val_split, device=device)
            net.fixed = None
            weights = net.arch_weights().detach().cpu()
            alpha = [{name: float(weights[k, OP_INDEX[name]]) for name in space.edge_ops(k)} for k in range(NUM_EDGES)]
            run.record(
                epoch,
                genotype,
                one_shot,
                extra={
                    "alpha": alpha,
                    "supernet_val_acc": supernet_acc,
                    "train_loss": loss_sum / max(n, 1),
                    "steps": steps,
                    "truncated": truncated,
                },
                one_shot=f"{one_shot:.3f}",
                supernet=f"{supernet_acc:.3f}",
            )
            if truncated:
                run.stop_reason = "budget"
                break
    return run.finish(genotype, one_shot)
