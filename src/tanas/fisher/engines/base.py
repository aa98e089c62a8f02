"""The one protocol every Fisher engine follows, and how an engine says it cannot cope."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor


class EngineFailure(Exception):
    """An engine cannot handle this model (internal; turned into a fallback or FisherError)."""


class Engine(Protocol):
    """Per-sample squared gradients of a model's parameters, batch by batch.

    An engine is built for one model (``Engine(model)``, which may raise
    :class:`EngineFailure`) and is closed once it is no longer needed.
    """

    name: str

    def batch_sums(self, x: Tensor, labels: Tensor, weights: Tensor) -> dict[str, Tensor]:
        """``{name: Σ_n Σ_m w_nm g_nm²}`` for one batch (parameters of the model's dtype).

        ``labels`` and ``weights`` are ``(N, M)``: ``g_nm`` is the gradient of
        ``log p(labels[n, m] | x[n])``.
        """
        ...

    def close(self) -> None:
        """Release hooks, buffers or other state."""
        ...
