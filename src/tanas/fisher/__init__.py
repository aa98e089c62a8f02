"""Diagonal Fisher Information from per-sample gradients.

``F[i] = mean over samples n of  E_y [ (d/dθ_i log p_θ(y | x_n))² ]``, where the
expectation over ``y`` depends on the *kind*:

* ``empirical``: y is the sample's true label (the paper's choice);
* ``exact``: the sum over all classes c weighted by p_θ(c | x_n);
* ``mc``: y drawn from p_θ(· | x_n) with a seeded generator (``mc_samples`` draws
  per input, averaged).

Gradients are taken **per sample**. Squaring the gradient of a batch mean (what
the authors' published code did) gives a different, much smaller quantity.

Every kind is computed the same way: each input x_n gets a set of labels
``y_{n,m}`` with weights ``w_{n,m}`` (empirical: its label, weight 1; exact: every
class, weight p_c; mc: the draws, weight 1/M), and the engines accumulate
``Σ_n Σ_m w_{n,m} g(x_n, y_{n,m})²``. Labels and weights come from one batched
forward pass, so all methods see the same Monte Carlo draws for a given seed.

Three engines compute the per-sample squares:

* ``hooks``: forward hooks store each layer's input, tensor hooks on each layer's
  output receive ``∂ loss/∂ output``. With the loss *summed* over the batch (and
  BatchNorm in eval mode, so samples do not interact), that is exactly each
  sample's own output gradient, from which the layer's per-sample weight
  gradients are formed and squared (the idea of BackPACK's ``SumGradSquared``).
  Supported: ``nn.Linear``, ``nn.Conv2d`` (any stride, padding, dilation,
  groups; zero padding only) and ``nn.BatchNorm1d/2d`` with running statistics.
  The parameters are frozen during the pass and the outputs of the first layers
  are made the graph's roots, so autograd computes neither the (unused) batch
  weight gradients nor a gradient for the input. Costs about 1.3-1.7 batched
  backward passes on the CPU.
* ``vmap``: ``torch.func.vmap(grad(...))`` over samples; works for any
  functional model.
* ``loop``: one forward and backward pass per sample; the slow reference.

``method="auto"`` checks, on two samples of the first batch, that an engine agrees
with the loop before trusting it (which catches weight sharing, parameters used
outside their module, batch-coupled layers, unsupported modules), and picks
``hooks`` when it is valid, else the faster of ``vmap`` and ``loop`` (timed on
the first batch: vmap wins on small conv nets, the loop on ResNet-sized ones and
on MLPs with wide layers, on the CPU). It never
silently returns a wrong answer: an explicitly requested engine that fails the
check raises :class:`FisherError`.

Layout: :mod:`.api` (the entry points), :mod:`.options`, :mod:`.batches` and
:mod:`.targets` (input checks, batching, the labels and weights of each kind),
:mod:`.engines` (the three engines behind one protocol, and :mod:`.engines.select`,
which verifies and picks one), :mod:`.rules` (the hooks engine's per-layer maths,
one rule per layer type in one map), :mod:`.squares` and :mod:`.workspace` (the
hooks engine's accumulators and scratch buffers).
"""

from __future__ import annotations

from tanas.errors import FisherError
from tanas.fisher.api import (
    FisherInfo,
    diagonal_fisher,
    diagonal_fisher_with_info,
    fisher_trace,
)
from tanas.fisher.options import FISHER_KINDS, FISHER_METHODS

__all__ = [
    "FISHER_KINDS",
    "FISHER_METHODS",
    "FisherError",
    "FisherInfo",
    "diagonal_fisher",
    "diagonal_fisher_with_info",
    "fisher_trace",
]
