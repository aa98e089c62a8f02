"""tanas: Fisher Task Distance and task-aware neural architecture search."""

from tanas.errors import TanasError

__version__ = "0.1.0"
__all__ = ["TanasError", "__version__"]
