"""The final protocol (docs/architecture.md §1.6): retrain the chosen genotype from scratch and test it.

For each seed: a fresh network (initialisation and data order are functions of
the seed) trains ``epochs`` epochs on the train split with cosine-decayed SGD;
after every epoch it is scored on the val split and the weights of the best
val epoch are kept (early stopping by selection; ties keep the earlier epoch,
and ``patience`` optionally stops training after that many epochs without a
val improvement). Those weights are evaluated on the test split exactly once.
The report is the mean and the sample standard deviation (n−1; 0 for a single
seed) of the test accuracies.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from tanas.data import Task
from tanas.errors import StrategyConfigError
from tanas.genotypes import Genotype, as_genotype
from tanas.nas.common import TrainConfig, make_candidate
from tanas.nas.network import count_parameters
from tanas.runtime import derive_seed, make_generator, mean_std, progress, resolve_device
from tanas.train import evaluate, train_epoch


@dataclass
class FinalResult:
    """Test accuracy of a retrained genotype over seeds."""

    genotype: list[str]
    mean: float
    std: float
    runs: list[float]
    seeds: list[int]
    val_accs: list[float]
    best_epochs: list[int]
    val_curves: list[list[float]]
    params: int
    epochs: int
    device: str
    seconds: float
    train: dict[str, Any] = field(default_factory=dict)

    def test_acc(self) -> dict[str, Any]:
        """The ``test_acc`` object of ``result.json``."""
        return {"mean": self.mean, "std": self.std, "runs": list(self.runs)}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def final_evaluation(
    genotype: Genotype | str,
    task: Task,
    *,
    seeds: int | Sequence[int] = 3,
    epochs: int = 30,
    C: int = 16,
    N: int = 1,
    device: str | torch.device | None = None,
    train: TrainConfig | None = None,
    patience: int | None = None,
    seed: int = 0,
    quiet: bool = False,
) -> FinalResult:
    """Retrain ``genotype`` from scratch once per seed; report test accuracy mean ± std.

    ``seeds`` is a count (seed values derived from ``seed``) or explicit seed values.
    """
    genotype = as_genotype(genotype)
    if isinstance(seeds, int):
        if seeds < 1:
            raise StrategyConfigError(f"the final protocol needs at least 1 seed, got {seeds}")
        seed_values = [derive_seed(seed, "final", i) % (2**31) for i in range(seeds)]
    else:
        seed_values = [int(s) for s in seeds]
        if not seed_values:
            raise StrategyConfigError("the final protocol needs at least 1 seed")
    if epochs < 1:
        raise StrategyConfigError(f"the final protocol needs at least 1 epoch, got {epochs}")
    if patience is not None and patience < 1:
        raise StrategyConfigError(f"patience must be >= 1 epoch, got {patience}")
    for name in ("train", "val", "test"):
        if name not in task.splits or len(task.splits[name]) == 0:
            raise StrategyConfigError(
                f"task {task.name} has no (or an empty) {name} split; the final protocol needs it"
            )
    train = train or TrainConfig()
    device = resolve_device(device)
    started = time.perf_counter()
    runs, vals, best_epochs, curves = [], [], [], []
    params = 0
    bar = progress(total=len(seed_values) * epochs, desc=f"final {genotype}", quiet=quiet, unit="epoch")
    for s in seed_values:
        model = make_candidate(genotype, task, C=C, N=N, seed=s, device=device)
        params = count_parameters(model)
        opt = train.optimizer(model.parameters())
        sched = train.scheduler(opt, epochs)
        data_gen = make_generator(derive_seed(s, "final-data"))
        best_val, best_epoch, best_state = -1.0, -1, None
        curve: list[float] = []
        for epoch in range(epochs):
            train_epoch(
                model,
                task,
                task.splits["train"],
                opt,
                batch_size=train.batch_size,
                device=device,
                generator=data_gen,
                augment=train.augment,
            )
            sched.step()
            val = evaluate(model, task, task.splits["val"], device=device)
            curve.append(val)
            bar.update(1)
            if val > best_val:
                best_val, best_epoch = val, epoch
                best_state = copy.deepcopy(model.state_dict())
            elif patience is not None and epoch - best_epoch >= patience:
                bar.update(epochs - epoch - 1)
                break
        assert best_state is not None
        model.load_state_dict(best_state)
        runs.append(evaluate(model, task, task.splits["test"], device=device))
        vals.append(best_val)
        best_epochs.append(best_epoch)
        curves.append(curve)
    bar.close()
    mean, std = mean_std(runs)
    return FinalResult(
        genotype=genotype.to_json(),
        mean=mean,
        std=std,
        runs=runs,
        seeds=seed_values,
        val_accs=vals,
        best_epochs=best_epochs,
        val_curves=curves,
        params=params,
        epochs=epochs,
        device=str(device),
        seconds=time.perf_counter() - started,
        train=asdict(train),
    )
