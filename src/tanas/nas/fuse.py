"""FUSE: fuse K candidate networks with softmax(β) weights and keep the argmax (docs/architecture.md §1.6).

Corrected form of the paper's search, as tanas runs it:

1. A stage's K candidates are the incumbent plus K−1 *distinct* genotypes drawn
   uniformly (seeded) from the search space; the incumbent sits at index 0, so
   it wins ties. Without an initial incumbent the first stage draws all K.
2. The fused model mixes **probabilities**: p(y|x) = Σ_i softmax(β)_i · softmax(f_i(x))_y.
   (The paper sums outputs; mixing probabilities makes β proper mixture weights
   whose scale cannot be traded against a candidate's logit scale.)
3. R rounds alternate: (a) train the candidates' weights on the **train** split
   with β fixed, then (b) fit β on the **validation** split with the weights
   fixed and BatchNorm in eval mode. With the weights fixed the val outputs
   are fixed too, so (b) computes them once and runs ``beta_steps`` full-batch
   Adam steps on the mixture's negative log-likelihood — the same objective as
   mini-batch training over the val split, without re-running the networks.
   Weight objective (a): ``"independent"`` (default) trains each candidate on
   its own cross-entropy — with β fixed, β does not enter this loss — so every
   candidate gets the same training and the comparison is fair; ``"fused"``
   trains all candidates jointly on the fused NLL (the paper's choice), where
   each candidate's gradient is weighted by its responsibility for the sample.
4. The candidate with the largest β becomes the incumbent.
5. Stages repeat up to S, or until the incumbent has survived P stages in a
   row, or until the budget ends. A stage starts only if its training is
   expected to fit in the budget left (epochs exactly, seconds as estimated
   from the stages so far); when only part of it fits, the last stage pits
   the incumbent against fewer challengers (at least one) rather than
   training everyone for fewer epochs. Weights are re-initialised every stage so the
   incumbent has no head start over the new candidates.

Only the train and val splits are read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tanas.data import Task
from tanas.errors import SearchSpaceError, StrategyConfigError
from tanas.genotypes import Genotype
from tanas.nas.common import Budget, Objective, SearchOutcome, TrainConfig, accuracy, make_candidate
from tanas.nas.registry import register_strategy
from tanas.nas.search_run import SearchRun
from tanas.nas.space import SearchSpace
from tanas.runtime import derive_seed, make_generator
from tanas.train import predict_logits, train_epoch


@dataclass(frozen=True)
class FuseConfig:
    """FUSE settings: K candidates, R rounds per stage, S stages, patience P."""

    candidates: int = 4
    rounds: int = 3
    epochs_per_round: int = 2
    stages: int = 50
    patience: int = 3
    objective: Objective = "independent"
    beta_lr: float = 0.1
    beta_steps: int = 100
    C: int = 16
    N: int = 1
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.candidates < 2:
            raise StrategyConfigError(f"FUSE needs at least 2 candidates per stage (K), got {self.candidates}")
        for name in ("rounds", "epochs_per_round", "stages", "patience", "beta_steps"):
            if getattr(self, name) < 1:
                raise StrategyConfigError(f"FUSE {name} must be >= 1, got {getattr(self, name)}")
        if self.objective not in ("independent", "fused"):
            raise StrategyConfigError(f"FUSE objective must be 'independent' or 'fused', got {self.objective!r}")
        if not self.beta_lr > 0:
            raise StrategyConfigError(f"FUSE beta_lr must be positive, got {self.beta_lr}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FusedModel(nn.Module):
    """log Σ_i softmax(β)_i softmax(f_i(x)): returns log-probabilities, so cross-entropy on it is the mixture NLL."""

    beta: torch.Tensor  # a buffer, so that it moves with the model but takes no gradient

    def __init__(self, candidates: list[nn.Module], beta: torch.Tensor) -> None:
        super().__init__()
        self.candidates = nn.ModuleList(candidates)
        self.register_buffer("beta", beta.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_w = F.log_softmax(self.beta, dim=0)
        parts = torch.stack([F.log_softmax(m(x), dim=1) for m in self.candidates])  # K × B × classes
        return torch.logsumexp(parts + log_w.view(-1, 1, 1), dim=0)


def fit_beta(val_log_probs: torch.Tensor, beta: torch.Tensor, *, lr: float = 0.1, steps: int = 100) -> torch.Tensor:
    """Fit β to maximise the val log-likelihood of the mixture.

    ``val_log_probs`` is (N_val, K): candidate i's log-probability of sample n's true label.
    Returns the new β (a detached tensor of shape (K,)), starting from ``beta``.
    """
    beta = beta.detach().clone().float().requires_grad_(True)
    opt = torch.optim.Adam([beta], lr=lr)
    target = val_log_probs.detach().float()
    for _ in range(steps):
        loss = -torch.logsumexp(target + F.log_softmax(beta, dim=0), dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return beta.detach()


@register_strategy("fuse", FuseConfig)
def fuse_search(
    task: Task,
    *,
    budget: Budget,
    space: SearchSpace | None = None,
    initial: Genotype | str | None = None,
    config: FuseConfig | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    quiet: bool = False,
) -> SearchOutcome:
    """Run FUSE on ``task`` over ``space`` (default: the full space), starting from ``initial`` if given."""
    config = config or FuseConfig()
    run = SearchRun(
        "fuse",
        task,
        config=config,
        budget=budget,
        space=space,
        seed=seed,
        device=device,
        quiet=quiet,
        total=config.stages,
        unit="stage",
        stop_reason="stages",
    )
    space, device, train_split, val_split = run.space, run.device, run.train, run.val
    first = incumbent = run.start_from(initial, "initial incumbent")
    if space.size < 2:
        raise SearchSpaceError(f"FUSE needs a space with at least 2 genotypes; this one has {space.size}")

    sampler = make_generator(derive_seed(seed, "fuse-sample"))
    survived = 0
    incumbent_val_acc = 0.0
    val_y = val_split.y
    tcfg = config.train
    epochs_per_stage = config.rounds * config.epochs_per_round

    candidate_seconds: list[float] = []  # seconds per candidate of each complete stage
    with run:
        clock = run.clock
        for stage in range(config.stages):
            wanted = config.candidates
            if run.history:
                # Start a stage only if its full training fits what is left; when only part
                # of it fits, the stage shrinks to fewer candidates (incumbent + challengers).
                # Every stage so far was complete (a truncated one ends the search), so
                # candidate_seconds is not empty here.
                per_candidate = sum(candidate_seconds) / len(candidate_seconds)
                while wanted >= 2 and not clock.affords(wanted * epochs_per_stage, per_candidate * wanted):
                    wanted -= 1
                if wanted < 2:
                    run.stop_reason = "budget"
                    break
            stage_start = clock.elapsed()
            exclude = [incumbent] if incumbent is not None else []
            drawn = space.sample_distinct(wanted - len(exclude), sampler, exclude=exclude)
            cands = exclude + drawn
            if len(cands) < 2:
                run.stop_reason = "space exhausted"
                break
            K = len(cands)
            models = [
                make_candidate(
                    g, task, C=config.C, N=config.N, seed=derive_seed(seed, "fuse-init", stage, i), device=device
                )
                for i, g in enumerate(cands)
            ]
            beta = torch.zeros(K)
            if config.objective == "fused":
                fused = FusedModel(models, beta).to(device)
                optimizers = [tcfg.optimizer(fused.parameters())]
            else:
                optimizers = [tcfg.optimizer(m.parameters()) for m in models]
            schedulers = [tcfg.scheduler(opt, epochs_per_stage) for opt in optimizers]

            rounds_done, truncated = 0, False
            cand_acc: list[float] = [0.0] * K
            for rnd in range(config.rounds):
                trained = 0
                for ep in range(config.epochs_per_round):
                    if (rounds_done or ep) and clock.exhausted(upcoming_epochs=K):
                        truncated = True
                        break
                    trained += 1
                    data_seed = derive_seed(seed, "fuse-data", stage, rnd, ep)
                    if config.objective == "fused":
                        fused.beta.copy_(beta.to(device))
                        train_epoch(
                            fused,
                            task,
                            train_split,
                            optimizers[0],
                            batch_size=tcfg.batch_size,
                            device=device,
                            generator=make_generator(data_seed),
                            augment=tcfg.augment,
                        )
                    else:
                        # Common random numbers: every candidate sees the same batches in the same order.
                        for m, opt in zip(models, optimizers):
                            train_epoch(
                                m,
                                task,
                                train_split,
                                opt,
                                batch_size=tcfg.batch_size,
                                device=device,
                                generator=make_generator(data_seed),
                                augment=tcfg.augment,
                            )
                    for sched in schedulers:
                        sched.step()
                    clock.charge(K)
                if trained == 0:
                    break  # budget ended at a round boundary: β already fits these weights
                # β step on the validation split: weights fixed, BN in eval (predict_logits sets eval mode).
                logits = [predict_logits(m, task, val_split, device=device) for m in models]
                log_p = torch.stack(
                    [F.log_softmax(lg, dim=1).gather(1, val_y.view(-1, 1)).squeeze(1) for lg in logits], dim=1
                )
                beta = fit_beta(log_p, beta, lr=config.beta_lr, steps=config.beta_steps)
                cand_acc = [accuracy(lg, val_y) for lg in logits]
                rounds_done += 1
                if truncated:
                    break

            weights = torch.softmax(beta, dim=0)
            fused_log_p = torch.logsumexp(
                torch.stack([F.log_softmax(lg, dim=1) for lg in logits]) + torch.log(weights).view(-1, 1, 1), dim=0
            )
            winner = int(torch.argmax(beta))
            previous = incumbent
            incumbent = cands[winner]
            incumbent_val_acc = cand_acc[winner]
            survived = survived + 1 if previous is not None and incumbent == previous else 0
            run.record(
                stage,
                incumbent,
                incumbent_val_acc,
                candidates=[
                    {"genotype": g.to_json(), "beta": float(b), "weight": float(w), "val_acc": a}
                    for g, b, w, a in zip(cands, beta.tolist(), weights.tolist(), cand_acc)
                ],
                extra={
                    "fused_val_acc": accuracy(fused_log_p, val_y),
                    "rounds": rounds_done,
                    "truncated": truncated,
                    "survived": survived,
                    "previous": previous.to_json() if previous is not None else None,
                },
                val=f"{incumbent_val_acc:.3f}",
                survived=survived,
            )
            if not truncated:
                candidate_seconds.append((clock.elapsed() - stage_start) / K)
            if survived >= config.patience:
                run.stop_reason = "patience"
                break
            if truncated:
                run.stop_reason = "budget"
                break
    assert incumbent is not None
    return run.finish(incumbent, incumbent_val_acc, initial=first.to_json() if first is not None else None)
