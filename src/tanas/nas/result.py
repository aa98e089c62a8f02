"""The result of a search plus its final evaluation (:func:`finish_search`), as ``result.json`` holds it.

``result.json`` schema (``SearchResult.to_dict``)::

    {
      "task": "digits:multiclass:0,1,2,3",     # canonical spec
      "task_name": "T2",
      "strategy": "fuse" | "random" | "darts" | ...,
      "genotype": [6 op names, edge order 0->1, 0->2, 1->2, 0->3, 1->3, 2->3],
      "genotype_str": "op|op|op|op|op|op",
      "params": int,                            # trainable parameters of the final network
      "val_acc": float,                         # the winner's val accuracy as measured in the search
      "test_acc": {"mean": float, "std": float, "runs": [float, ...]} | null,   # null: no final seeds
      "search_seconds": float,                  # wall clock of the search alone
      "device": "cpu" | "cuda:0" ...,
      "cpu_threads": int,                       # torch's intra-op threads (timings and bitwise results depend on it)
      "space_size": int,
      "history": [{"stage", "elapsed_seconds", "epochs_used", "incumbent", "incumbent_val_acc",
                   "candidates", "extra"}, ...],
      "seed": int, "budget": {...}, "epochs_used": int, "stop_reason": str,
      "space": {...}, "config": {...}, "final": {...} | null
    }
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tanas.data import Task
from tanas.errors import StrategyConfigError
from tanas.genotypes import Genotype
from tanas.nas.common import Budget, SearchOutcome, TrainConfig, time_to_match
from tanas.nas.final import FinalResult, final_evaluation
from tanas.nas.network import build_network, count_parameters
from tanas.nas.space import SearchSpace
from tanas.runtime import atomic_write_text

RESULT_FILE = "result.json"


@dataclass
class SearchResult:
    """A finished search in the ``result.json`` schema (see module doc)."""

    task: str
    strategy: str
    genotype: list[str]
    params: int
    val_acc: float
    test_acc: dict[str, Any] | None
    search_seconds: float
    device: str
    space_size: int
    history: list[dict[str, Any]]
    task_name: str = ""
    seed: int = 0
    budget: dict[str, Any] = field(default_factory=dict)
    epochs_used: int = 0
    stop_reason: str = ""
    space: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    final: dict[str, Any] | None = None
    cpu_threads: int = 0  # 0: not recorded (results written before it was)

    @property
    def genotype_obj(self) -> Genotype:
        return Genotype(tuple(self.genotype))

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["genotype_str"] = str(self.genotype_obj)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchResult:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in ("task", "strategy", "genotype", "val_acc", "history") if n not in data]
        if missing:
            raise StrategyConfigError(f"not a search result: missing {missing}")
        return cls(**{k: v for k, v in data.items() if k in names})

    def save(self, out_dir: str | Path) -> Path:
        """Write ``out_dir/result.json`` atomically; returns its path."""
        path = Path(out_dir) / RESULT_FILE
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SearchResult:
        path = Path(path)
        if path.is_dir():
            path = path / RESULT_FILE
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise StrategyConfigError(f"cannot read search result {str(path)!r}: {exc}") from None

    def time_to_match(self, target: float) -> float | None:
        return time_to_match(self.history, target)

    @classmethod
    def from_outcome(
        cls,
        outcome: SearchOutcome,
        task: Task,
        *,
        space: SearchSpace,
        final: FinalResult | None,
        params: int,
        seed: int,
        budget: Budget,
    ) -> SearchResult:
        return cls(
            task=task.spec,
            task_name=task.name,
            strategy=outcome.strategy,
            genotype=outcome.genotype.to_json(),
            params=params,
            val_acc=outcome.val_acc,
            test_acc=final.test_acc() if final is not None else None,
            search_seconds=outcome.search_seconds,
            device=outcome.device,
            space_size=outcome.space_size,
            history=[h.to_dict() for h in outcome.history],
            seed=seed,
            budget=budget.to_dict(),
            epochs_used=outcome.epochs_used,
            stop_reason=outcome.stop_reason,
            space=space.to_dict(),
            config=outcome.config,
            final=final.to_dict() if final is not None else None,
            cpu_threads=torch.get_num_threads(),
        )


def check_final_protocol(final_seeds: int, final_epochs: int) -> None:
    """Reject a final protocol that cannot run, before any search time is spent."""
    if final_seeds < 0 or final_epochs < 1:
        raise StrategyConfigError(
            f"final seeds must be >= 0 and final epochs >= 1, got {final_seeds} and {final_epochs}"
        )


def finish_search(
    outcome: SearchOutcome,
    task: Task,
    *,
    space: SearchSpace,
    budget: Budget,
    seed: int,
    device: torch.device,
    C: int,
    N: int,
    final_seeds: int,
    final_epochs: int,
    final_train: TrainConfig | None,
    quiet: bool,
) -> SearchResult:
    """The final protocol (skipped with ``final_seeds=0``, then only the parameter count) and the result record."""
    final = None
    if final_seeds > 0:
        final = final_evaluation(
            outcome.genotype,
            task,
            seeds=final_seeds,
            epochs=final_epochs,
            C=C,
            N=N,
            device=device,
            train=final_train,
            seed=seed,
            quiet=quiet,
        )
        params = final.params
    else:
        params = count_parameters(build_network(outcome.genotype, task.input_shape[0], task.num_classes, C=C, N=N))
    return SearchResult.from_outcome(outcome, task, space=space, final=final, params=params, seed=seed, budget=budget)
