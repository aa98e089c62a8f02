"""The Fisher engines (loop, vmap, hooks) behind one protocol, and the choice among them."""

from __future__ import annotations

from tanas.fisher.engines.base import Engine, EngineFailure
from tanas.fisher.engines.hooks import HookEngine
from tanas.fisher.engines.loop import LoopEngine
from tanas.fisher.engines.select import ENGINES, select_engine
from tanas.fisher.engines.vmap import VmapEngine

__all__ = ["ENGINES", "Engine", "EngineFailure", "HookEngine", "LoopEngine", "VmapEngine", "select_engine"]
