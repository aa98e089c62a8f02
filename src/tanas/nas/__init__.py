"""Architecture search: ops, genotypes, search spaces, the cell network and the strategies.

    from tanas.data import parse_task
    from tanas.nas import Budget, SearchSpace, fuse_search, final_evaluation, run_search

    [task] = parse_task("paper-digits/T2")
    space = SearchSpace.restricted(["conv_3x3|skip_connect|conv_1x1|none|avg_pool_3x3|conv_1x1"], radius=1)
    outcome = fuse_search(task, budget=Budget(seconds=60), space=space, initial=space.anchors[0], seed=0)
    final = final_evaluation(outcome.genotype, task, seeds=3, epochs=30)
    result = run_search(task, "random", budget=Budget(seconds=60))   # search + final protocol -> SearchResult

Layering: this core (ops, genotype, space, network, fuse, random_search, darts,
final, result) imports neither the zoo nor the distance; only the TA-NAS
pipeline (``tanas.nas.tanas``) may.
"""

from tanas.nas.common import Budget, SearchOutcome, StageRecord, TrainConfig, time_to_match
from tanas.nas.darts import DartsConfig, SuperNet, darts_search
from tanas.errors import GenotypeError, SearchSpaceError, StrategyConfigError
from tanas.genotypes import EDGES, OP_NAMES, Genotype
from tanas.nas.final import FinalResult, final_evaluation
from tanas.nas.fuse import FuseConfig, fuse_search
from tanas.nas.network import build_network, count_parameters
from tanas.nas.random_search import RandomConfig, random_search
from tanas.nas.result import STRATEGIES, SearchResult, run_search
from tanas.nas.space import SearchSpace

__all__ = [
    "Budget", "DartsConfig", "EDGES", "FinalResult", "FuseConfig", "Genotype", "GenotypeError", "OP_NAMES",
    "RandomConfig", "STRATEGIES", "SearchOutcome", "SearchResult", "SearchSpace", "SearchSpaceError",
    "StageRecord", "StrategyConfigError", "SuperNet", "TrainConfig", "build_network", "count_parameters",
    "darts_search", "final_evaluation", "fuse_search", "random_search", "run_search", "time_to_match",
]
