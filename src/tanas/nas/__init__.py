"""Architecture search: ops, search spaces, the cell network, the strategies and their registry.

    from tanas.data import parse_task
    from tanas.nas import Budget, SearchSpace, fuse_search, final_evaluation, run_search, strategy_config

    [task] = parse_task("paper-digits/T2")
    space = SearchSpace.restricted(["conv_3x3|skip_connect|conv_1x1|none|avg_pool_3x3|conv_1x1"], radius=1)
    outcome = fuse_search(task, budget=Budget(seconds=60), space=space, initial=space.anchors[0], seed=0)
    final = final_evaluation(outcome.genotype, task, seeds=3, epochs=30)
    config = strategy_config("random", {"epochs_per_trial": "4"}, C=8)
    result = run_search(task, "random", config, budget=Budget(seconds=60))   # search + final protocol -> SearchResult

Genotypes, the op names and the cell's edges live in the torch-free :mod:`tanas.genotypes`.
Layering: this core (ops, space, network, the strategies fuse, random_search and darts,
search_run, registry, final, result) imports neither the zoo nor the distance; only the
TA-NAS pipeline (``tanas.nas.task_aware``) may.
"""

from tanas.errors import GenotypeError, SearchSpaceError, StrategyConfigError
from tanas.genotypes import EDGES, OP_NAMES, Genotype
from tanas.nas.common import Budget, SearchOutcome, StageRecord, TrainConfig, time_to_match
from tanas.nas.final import FinalResult, final_evaluation
from tanas.nas.network import build_network, count_parameters
from tanas.nas.registry import STRATEGIES, StrategySpec, get_strategy, register_strategy, run_search, strategy_config
from tanas.nas.result import SearchResult
from tanas.nas.search_run import SearchRun
from tanas.nas.space import SearchSpace

# Importing a strategy registers it; this order (fuse, random, darts, tanas) is the registry's,
# so the import sorter must leave it alone.
# isort: off
from tanas.nas.fuse import FuseConfig, fuse_search
from tanas.nas.random_search import RandomConfig, random_search
from tanas.nas.darts import DartsConfig, SuperNet, darts_search
from tanas.nas.task_aware import TanasConfig, TanasResult, run_tanas
# isort: on

__all__ = [
    "EDGES",
    "OP_NAMES",
    "STRATEGIES",
    "Budget",
    "DartsConfig",
    "FinalResult",
    "FuseConfig",
    "Genotype",
    "GenotypeError",
    "RandomConfig",
    "SearchOutcome",
    "SearchResult",
    "SearchRun",
    "SearchSpace",
    "SearchSpaceError",
    "StageRecord",
    "StrategyConfigError",
    "StrategySpec",
    "SuperNet",
    "TanasConfig",
    "TanasResult",
    "TrainConfig",
    "build_network",
    "count_parameters",
    "darts_search",
    "final_evaluation",
    "fuse_search",
    "get_strategy",
    "random_search",
    "register_strategy",
    "run_search",
    "run_tanas",
    "strategy_config",
    "time_to_match",
]
