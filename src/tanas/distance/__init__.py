"""The Fisher Task Distance (FTD), distance matrices over seeds, and a Task2Vec baseline.

Definitions (docs/architecture.md §1.4):

* ``F_{a→b}`` is the diagonal Fisher of the probe trained on task ``a``, taken on
  task ``b``'s **validation** inputs and labels (never the test split).
* ``head="refit"`` (default): ``b``'s labels need not exist in ``a``'s output
  layer, so a new output layer for ``b`` is fitted on ``b``'s **train** split with
  ``a``'s body frozen. That is multinomial logistic regression on fixed features,
  a convex problem, solved to convergence (L-BFGS, float64, small L2). The Fisher
  is then taken over the whole network. Only for ``a = b`` is the trained network
  used as it is.
* ``head="pad"`` (the paper's way): ``b``'s labels are read as class ids of ``a``'s
  head. No phantom logits are ever added: when ``b`` has more classes than ``a``'s
  head, the transfer is undefined and :func:`transfer_fisher` raises
  :class:`DistanceError` (a distance matrix marks such pairs as NaN / ``null``).
  When ``b`` has fewer classes, ``F_{a→b}``'s head is larger than ``F_{b→b}``'s and
  :func:`fisher_task_distance` zero-pads the smaller one (the rows of the classes
  ``b`` lacks get Fisher 0).
* ``d(a→b) = (1/√2) ‖F̃_{a→b}^{1/2} − F̃_{b→b}^{1/2}‖_F`` with F̃ the normalised
  Fisher; it lies in [0, 1], is 0 for ``a = b`` and is asymmetric.
  ``squared=True`` gives the paper's printed form ``‖·‖_F² = 2 d²`` (in [0, 2]).
"""

from tanas.distance.choices import (
    DISTANCE_METHODS,
    HEADS,
    LAYERS,
    METHODS,
    NORMALISATIONS,
    REFIT_L2,
    SCORE_METHODS,
    higher_is_better,
)
from tanas.distance.heads import HeadFit, fit_linear_head, refit_head, task_inputs, transfer_fisher
from tanas.distance.matrix import DistanceMatrix, distance_matrix, nearest_sources, seed_mean_std
from tanas.distance.measures import fisher_task_distance, task2vec_distance
from tanas.distance.scores import SCORE_SPLIT, source_outputs, transfer_score
from tanas.errors import DistanceError

__all__ = [
    "DISTANCE_METHODS",
    "HEADS",
    "LAYERS",
    "METHODS",
    "NORMALISATIONS",
    "REFIT_L2",
    "SCORE_METHODS",
    "SCORE_SPLIT",
    "DistanceError",
    "DistanceMatrix",
    "HeadFit",
    "distance_matrix",
    "fisher_task_distance",
    "fit_linear_head",
    "higher_is_better",
    "nearest_sources",
    "refit_head",
    "seed_mean_std",
    "source_outputs",
    "task2vec_distance",
    "task_inputs",
    "transfer_fisher",
    "transfer_score",
]
