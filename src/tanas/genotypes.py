"""The cell's vocabulary: its edges, the op names, and genotypes (docs/architecture.md §1.6).

Torch-free, like DARTS' ``genotypes.py``: the zoo, the report and the CLI can
read and validate genotypes without importing the network code. The ops
themselves are built in :mod:`tanas.nas.ops`, for exactly these names.

A genotype is one op name per cell edge, in the edge order :data:`EDGES`.
String form: the six op names joined by ``|`` in edge order, e.g.
``"conv_3x3|skip_connect|conv_1x1|none|avg_pool_3x3|sep_conv_3x3"``.
JSON form: the list of the six names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from tanas.errors import GenotypeError

#: The op names in canonical order. The order is part of the public contract:
#: it fixes the column order of DARTS' α and of every per-edge op listing.
OP_NAMES: tuple[str, ...] = (
    "none",
    "skip_connect",
    "max_pool_3x3",
    "avg_pool_3x3",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
    "conv_7x1_1x7",
)
OP_INDEX: dict[str, int] = {name: i for i, name in enumerate(OP_NAMES)}

#: The cell edges (source node, target node), in genotype order. Node 0 is the
#: cell input, node 3 its output; node j sums its incoming edges.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_EDGES = len(EDGES)
SEPARATOR = "|"


def check_op(name: Any, where: str = "") -> str:
    """``name`` if it is a known op; else a :class:`GenotypeError` that lists the valid ones."""
    if not isinstance(name, str) or name not in OP_INDEX:
        place = f" {where}" if where else ""
        raise GenotypeError(f"unknown op {name!r}{place}: valid ops are {', '.join(OP_NAMES)}")
    return name


def validate_ops(ops: Any) -> tuple[str, ...]:
    """The six op names of a genotype, checked: a sequence (not a string) of :data:`NUM_EDGES` known ops."""
    if isinstance(ops, str) or not isinstance(ops, Sequence):
        raise GenotypeError(
            f"a genotype is a sequence of {NUM_EDGES} op names, got {type(ops).__name__}; "
            f"use Genotype.parse() for the 'op|op|...' string form"
        )
    ops = tuple(ops)
    if len(ops) != NUM_EDGES:
        raise GenotypeError(
            f"a genotype has exactly {NUM_EDGES} ops (edges {', '.join(f'{i}->{j}' for i, j in EDGES)}), "
            f"got {len(ops)}: {list(ops)}"
        )
    for k, name in enumerate(ops):
        check_op(name, f"on edge {EDGES[k][0]}->{EDGES[k][1]}")
    return ops


@dataclass(frozen=True)
class Genotype:
    """A cell: ``ops[k]`` is the op on edge ``EDGES[k]``. Immutable and hashable."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "ops", validate_ops(self.ops))

    # ------------------------------------------------------------------ forms
    @classmethod
    def parse(cls, text: str) -> Genotype:
        """Parse the ``op|op|op|op|op|op`` string form (whitespace around names is ignored)."""
        if not isinstance(text, str):
            raise GenotypeError(f"expected a genotype string 'op|op|op|op|op|op', got {type(text).__name__}")
        return cls(tuple(part.strip() for part in text.split(SEPARATOR)))

    @classmethod
    def from_json(cls, value: Any) -> Genotype:
        """Accept the JSON form (a list of six names) or the string form."""
        if isinstance(value, str):
            return cls.parse(value)
        if isinstance(value, (list, tuple)):
            return cls(tuple(value))
        raise GenotypeError(f"a genotype in JSON is a list of {NUM_EDGES} op names, got {value!r}")

    def to_json(self) -> list[str]:
        return list(self.ops)

    def to_str(self) -> str:
        return SEPARATOR.join(self.ops)

    def __str__(self) -> str:
        return self.to_str()

    # ---------------------------------------------------------------- helpers
    @property
    def indices(self) -> tuple[int, ...]:
        """The op indices into :data:`OP_NAMES`."""
        return tuple(OP_INDEX[name] for name in self.ops)

    def hamming(self, other: Genotype) -> int:
        """The number of edges whose op differs."""
        return sum(a != b for a, b in zip(self.ops, other.ops))

    def replace(self, edge: int, op: str) -> Genotype:
        """A copy with edge ``edge`` (0..5) set to ``op``."""
        if not 0 <= edge < NUM_EDGES:
            raise GenotypeError(f"edge index must be in 0..{NUM_EDGES - 1}, got {edge}")
        ops = list(self.ops)
        ops[edge] = op
        return Genotype(tuple(ops))


def as_genotype(value: Genotype | str | Iterable[str]) -> Genotype:
    """Coerce a Genotype, its string form or a list of six names into a :class:`Genotype`."""
    if isinstance(value, Genotype):
        return value
    if isinstance(value, str):
        return Genotype.parse(value)
    return Genotype(tuple(value))


__all__ = [
    "EDGES",
    "NUM_EDGES",
    "OP_INDEX",
    "OP_NAMES",
    "SEPARATOR",
    "Genotype",
    "as_genotype",
    "check_op",
    "validate_ops",
]
