"""Transferability scores of a source probe on a target task (docs/architecture.md §1.9).

A score reads one forward pass of source ``a``'s probe over target ``b``'s
**validation** split (the split the Fisher of a distance uses): the body's
penultimate features for LogME and H-score, the source head's softmax for LEEP and
NCE. Every score is "higher transfers better"; the estimators themselves live in
:mod:`tanas.transferability`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from tanas.data import Task
from tanas.distance.choices import SCORE_METHODS, check_choice
from tanas.distance.heads import check_probe_fits
from tanas.probe import ProbeNet
from tanas.runtime import resolve_device
from tanas.transferability import ESTIMATORS

#: the target split every score reads
SCORE_SPLIT = "val"


@torch.no_grad()
def source_outputs(
    model: ProbeNet,
    task: Task,
    *,
    split: str = SCORE_SPLIT,
    device: str | torch.device | None = None,
    batch_size: int = 1024,
) -> tuple[np.ndarray, np.ndarray]:
    """``model``'s penultimate features and head softmax over ``task``'s ``split``, as float64 arrays.

    The model runs in eval mode (BatchNorm on its running statistics) on ``device``: a
    model held elsewhere (a probe loaded from the zoo sits on the CPU) is copied there,
    so the caller's model stays where it is. ``task`` must already be in the probe's
    input format (see :func:`tanas.data.adapt_task`).
    """
    check_probe_fits(model, task)
    dev = resolve_device(device)
    if any(p.device != dev for p in model.parameters()):
        model = copy.deepcopy(model).to(dev)
    was_training = model.training
    model.eval()
    data = task.splits[split]
    feats, probs = [], []
    try:
        for start in range(0, len(data), batch_size):
            f = model.features(task.normalise(data.x[start : start + batch_size].to(dev)))
            feats.append(f.to(torch.float64).cpu())
            probs.append(torch.softmax(model.head(f).to(torch.float64), dim=1).cpu())
    finally:
        model.train(was_training)
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def transfer_score(model_a: ProbeNet, task_b: Task, method: str, *, device: str | torch.device | None = None) -> float:
    """The transferability score ``method`` (``leep``, ``nce``, ``logme``, ``hscore``) of ``a``'s probe for ``b``."""
    check_choice("score", method, SCORE_METHODS)
    estimator = ESTIMATORS[method]
    features, probs = source_outputs(model_a, task_b, device=device)
    labels = task_b.splits[SCORE_SPLIT].y.numpy()
    return float(estimator.fn(probs if estimator.needs == "probs" else features, labels))
