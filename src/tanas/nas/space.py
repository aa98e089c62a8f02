"""Search spaces over cell genotypes (docs/architecture.md §1.6, §1.7 step 4).

A :class:`SearchSpace` is the set

    S = (E_0 × E_1 × … × E_5)  ∪  { g ∈ U^6 : hamming(g, a) ≤ r for some anchor a }

where ``E_k`` are the ops allowed on edge k (the *product part*), ``U`` is the op
universe (all 11 ops unless given), ``a`` ranges over the *anchors* and ``r`` is
the *radius*. With ``radius == 0`` the ball part is just the anchors.

:meth:`SearchSpace.restricted` builds TA-NAS' space from the best genotypes of
the nearest zoo tasks: ``E_k`` is the union of their ops on edge k and the
anchors are the genotypes themselves, so ``radius = r`` also admits every cell
within ``r`` edge changes of one of them.

Sizes are exact and computed without enumerating the space: a dynamic program
walks the edges carrying, per anchor, the Hamming distance so far (capped at
r+1) and whether the prefix is still inside the product part. The same program
ranks genotypes, which gives exactly uniform sampling from a seeded
``torch.Generator`` (the authors' code drew ops with an unseeded, biased
choice) and the best member under per-edge scores (used by DARTS).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from tanas.errors import GenotypeError, SearchSpaceError
from tanas.genotypes import EDGES, NUM_EDGES, OP_INDEX, OP_NAMES, Genotype, as_genotype

_State = tuple[bool, tuple[int, ...]]
#: Above this many members, :meth:`SearchSpace.enumerate` refuses (use sample()).
ENUMERATE_LIMIT = 2_000_000


def _canonical_ops(ops: Any, where: str) -> tuple[str, ...]:
    if isinstance(ops, str) or not isinstance(ops, Sequence):
        raise SearchSpaceError(f"{where}: expected a list of op names, got {ops!r}")
    unknown = [o for o in ops if o not in OP_INDEX]
    if unknown:
        raise SearchSpaceError(f"{where}: unknown op(s) {unknown}: valid ops are {', '.join(OP_NAMES)}")
    if not ops:
        raise SearchSpaceError(f"{where}: no ops allowed, so the space would be empty; allow at least one op")
    return tuple(sorted(set(ops), key=OP_INDEX.__getitem__))


@dataclass(frozen=True)
class SearchSpace:
    """A set of genotypes: a per-edge product part united with Hamming balls (see module doc)."""

    edges: tuple[tuple[str, ...], ...]
    anchors: tuple[Genotype, ...] = ()
    radius: int = 0
    universe: tuple[str, ...] = OP_NAMES
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        edges = self.edges
        if isinstance(edges, str) or not isinstance(edges, Sequence) or len(edges) != NUM_EDGES:
            raise SearchSpaceError(
                f"a search space lists the allowed ops of each of the {NUM_EDGES} edges "
                f"({', '.join(f'{i}->{j}' for i, j in EDGES)}); got {edges!r}"
            )
        edges = tuple(_canonical_ops(ops, f"edge {EDGES[k][0]}->{EDGES[k][1]}") for k, ops in enumerate(edges))
        universe = _canonical_ops(self.universe, "universe")
        try:
            anchors = tuple(dict.fromkeys(as_genotype(a) for a in self.anchors))
        except GenotypeError as exc:
            raise SearchSpaceError(f"bad anchor genotype: {exc}") from None
        if isinstance(self.radius, bool) or not isinstance(self.radius, int) or not 0 <= self.radius <= NUM_EDGES:
            raise SearchSpaceError(f"radius must be an integer in 0..{NUM_EDGES}, got {self.radius!r}")
        allowed = set(universe)
        for k, ops in enumerate(edges):
            outside = [o for o in ops if o not in allowed]
            if outside:
                raise SearchSpaceError(f"edge {k} allows {outside}, which the universe {list(universe)} lacks")
        for a in anchors:
            outside = [o for o in a.ops if o not in allowed]
            if outside:
                raise SearchSpaceError(f"anchor {a} uses {outside}, which the universe {list(universe)} lacks")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "universe", universe)
        object.__setattr__(self, "anchors", anchors)

    # ------------------------------------------------------------ constructors
    @classmethod
    def full(cls, universe: Sequence[str] = OP_NAMES) -> SearchSpace:
        """Every op on every edge: 11^6 = 1,771,561 genotypes."""
        ops = _canonical_ops(universe, "universe")
        return cls(edges=(ops,) * NUM_EDGES, universe=ops)

    @classmethod
    def restricted(
        cls,
        genotypes: Sequence[Genotype | str | Sequence[str]],
        radius: int = 0,
        universe: Sequence[str] = OP_NAMES,
    ) -> SearchSpace:
        """TA-NAS' space: per-edge union of the genotypes' ops, plus cells within ``radius`` changes of one."""
        if isinstance(genotypes, (str, Genotype)) or not genotypes:
            raise SearchSpaceError("restricted() needs a non-empty list of genotypes")
        try:
            gs = [as_genotype(g) for g in genotypes]
        except GenotypeError as exc:
            raise SearchSpaceError(f"bad genotype: {exc}") from None
        edges = tuple(tuple(g.ops[k] for g in gs) for k in range(NUM_EDGES))
        return cls(edges=edges, anchors=tuple(gs), radius=radius, universe=tuple(universe))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """``{"edges": [[ops]×6]}``, ``{"genotypes": [...], "radius": r}``, or the :meth:`to_dict` form."""
        if not isinstance(data, Mapping):
            raise SearchSpaceError(f"a search space file holds a JSON object, got {type(data).__name__}")
        known = {"edges", "genotypes", "anchors", "radius", "universe"}
        extra = set(data) - known
        if extra:
            raise SearchSpaceError(f"unknown key(s) {sorted(extra)} in search space; use {sorted(known)}")
        universe = data.get("universe", OP_NAMES)
        radius = data.get("radius", 0)
        if "edges" in data:
            if "genotypes" in data:
                raise SearchSpaceError("give either 'edges' or 'genotypes' in a search space, not both")
            edges = data["edges"]
            if isinstance(edges, list):
                edges = tuple(tuple(e) if isinstance(e, list) else e for e in edges)
            return cls(
                edges=edges,
                anchors=tuple(data.get("anchors", ())),
                radius=radius,
                universe=tuple(universe),
            )
        if "genotypes" in data:
            gs = data["genotypes"]
            if not isinstance(gs, list):
                raise SearchSpaceError(
                    "'genotypes' must be a list of genotypes (lists of 6 op names or 'a|b|...' strings)"
                )
            return cls.restricted(gs, radius=radius, universe=tuple(universe))
        raise SearchSpaceError(
            "a search space needs 'edges' ([[ops] x 6]) or 'genotypes' ([...], with optional 'radius')"
        )

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        """Read a JSON search-space file (see :meth:`from_dict`)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SearchSpaceError(
                f"search space file {str(path)!r} does not exist; pass --space full or a JSON file"
            ) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SearchSpaceError(f"cannot read search space file {str(path)!r}: {exc}") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"edges": [list(e) for e in self.edges]}
        if self.anchors:
            out["anchors"] = [a.to_json() for a in self.anchors]
            out["radius"] = self.radius
        if self.universe != OP_NAMES:
            out["universe"] = list(self.universe)
        return out

    # ------------------------------------------------------------- membership
    @property
    def product_size(self) -> int:
        return math.prod(len(e) for e in self.edges)

    def in_product(self, genotype: Genotype) -> bool:
        return all(op in ops for op, ops in zip(genotype.ops, self.edges))

    def contains(self, genotype: Genotype | str | Sequence[str]) -> bool:
        g = as_genotype(genotype)
        if any(op not in self.universe for op in g.ops):
            return False
        return self.in_product(g) or any(g.hamming(a) <= self.radius for a in self.anchors)

    def __contains__(self, genotype: object) -> bool:
        try:
            return self.contains(genotype)  # type: ignore[arg-type]
        except GenotypeError:
            return False

    def edge_ops(self, edge: int) -> tuple[str, ...]:
        """The ops that some member of the space uses on ``edge`` (what a DARTS supernet mixes there)."""
        ops = set(self.edges[edge]) | {a.ops[edge] for a in self.anchors}
        if self.radius >= 1 and self.anchors:
            ops |= set(self.universe)
        return tuple(sorted(ops, key=OP_INDEX.__getitem__))

    # ----------------------------------------------------- dynamic programme
    def _start(self) -> _State:
        return (True, (0,) * len(self.anchors))

    def _step(self, state: _State, edge: int, op: str) -> _State | None:
        in_product, dists = state
        cap = self.radius + 1
        in_product = in_product and op in self.edges[edge]
        dists = tuple(min(d + (op != a.ops[edge]), cap) for d, a in zip(dists, self.anchors))
        if not in_product and all(d > self.radius for d in dists):
            return None  # no completion can re-enter the space
        return (in_product, dists)

    def _accepts(self, state: _State) -> bool:
        return state[0] or any(d <= self.radius for d in state[1])

    def _completions(self, edge: int, state: _State | None) -> int:
        """How many members of the space extend a prefix in ``state`` after ``edge`` edges."""
        if state is None:
            return 0
        if edge == NUM_EDGES:
            return int(self._accepts(state))
        key = ("n", edge, state)
        memo = self._memo
        if key not in memo:
            memo[key] = sum(self._completions(edge + 1, self._step(state, edge, op)) for op in self.universe)
        return memo[key]

    @cached_property
    def size(self) -> int:
        """The exact number of genotypes in the space."""
        return self._completions(0, self._start())

    def __len__(self) -> int:
        return self.size

    def index_of(self, genotype: Genotype | str | Sequence[str]) -> int:
        """The rank of a member in the canonical order (inverse of :meth:`unrank`)."""
        g = as_genotype(genotype)
        if not self.contains(g):
            raise SearchSpaceError(f"genotype {g} is not in this search space")
        rank, state = 0, self._start()
        for edge, chosen in enumerate(g.ops):
            for op in self.universe:
                if op == chosen:
                    break
                rank += self._completions(edge + 1, self._step(state, edge, op))
            nxt = self._step(state, edge, chosen)
            assert nxt is not None  # g is a member, so none of its prefixes leaves the space
            state = nxt
        return rank

    def unrank(self, index: int) -> Genotype:
        """The member with rank ``index`` (0 ≤ index < size) in the canonical order."""
        if not 0 <= index < self.size:
            raise SearchSpaceError(f"index {index} is outside the space of {self.size} genotypes")
        ops: list[str] = []
        state = self._start()
        for edge in range(NUM_EDGES):
            for op in self.universe:
                nxt = self._step(state, edge, op)
                count = self._completions(edge + 1, nxt)
                if index < count:
                    assert nxt is not None  # a dead prefix has no completions
                    ops.append(op)
                    state = nxt
                    break
                index -= count
        return Genotype(tuple(ops))

    def sample(self, generator: torch.Generator) -> Genotype:
        """One genotype drawn exactly uniformly from the space with the seeded ``generator``."""
        index = int(torch.randint(self.size, (1,), generator=generator).item())
        return self.unrank(index)

    def sample_distinct(self, k: int, generator: torch.Generator, exclude: Sequence[Genotype] = ()) -> list[Genotype]:
        """Up to ``k`` distinct members, none in ``exclude``, as a uniform random subset.

        Returns fewer than ``k`` only when the space has fewer members left.
        """
        excluded = {as_genotype(g) for g in exclude}
        available = self.size - sum(1 for g in excluded if self.contains(g))
        k = min(k, available)
        if k <= 0:
            return []
        if self.size <= 4 * (k + len(excluded)):
            # Small space: a seeded permutation of all ranks, skipping the excluded.
            out = []
            for i in torch.randperm(self.size, generator=generator).tolist():
                g = self.unrank(i)
                if g not in excluded:
                    out.append(g)
                    if len(out) == k:
                        break
            return out
        chosen: list[Genotype] = []
        seen = set(excluded)
        while len(chosen) < k:  # terminates fast: at least 3/4 of the draws are new
            g = self.sample(generator)
            if g not in seen:
                seen.add(g)
                chosen.append(g)
        return chosen

    def enumerate(self) -> Iterator[Genotype]:
        """Every member in canonical order (refuses spaces above ENUMERATE_LIMIT)."""
        if self.size > ENUMERATE_LIMIT:
            raise SearchSpaceError(f"the space has {self.size} genotypes, too many to enumerate; sample instead")
        for i in range(self.size):
            yield self.unrank(i)

    def best(self, scores: torch.Tensor | Sequence[Mapping[str, float]]) -> Genotype:
        """The member maximising Σ_k scores[k][op_k]; ties go to the op earlier in OP_NAMES.

        ``scores`` is a (6, 11) tensor in OP_NAMES column order or six {op: score}
        mappings (missing ops score −inf and are never chosen unless forced).
        """
        if isinstance(scores, torch.Tensor):
            if tuple(scores.shape) != (NUM_EDGES, len(OP_NAMES)):
                raise SearchSpaceError(
                    f"scores must have shape ({NUM_EDGES}, {len(OP_NAMES)}), got {tuple(scores.shape)}"
                )
            table = [{op: float(scores[k, OP_INDEX[op]]) for op in OP_NAMES} for k in range(NUM_EDGES)]
        else:
            if len(scores) != NUM_EDGES:
                raise SearchSpaceError(f"scores must list {NUM_EDGES} edges, got {len(scores)}")
            table = [dict(s) for s in scores]
        memo: dict[tuple[int, _State], tuple[float, tuple[str, ...]]] = {}
        neg = -math.inf

        def value(edge: int, state: _State | None) -> tuple[float, tuple[str, ...]]:
            if state is None:
                return (neg, ())
            if edge == NUM_EDGES:
                return (0.0, ()) if self._accepts(state) else (neg, ())
            key = (edge, state)
            if key not in memo:
                best_ops: tuple[str, ...] = ()
                best_v, found = neg, False
                for op in self.universe:
                    nxt = self._step(state, edge, op)
                    if self._completions(edge + 1, nxt) == 0:
                        continue
                    tail_v, tail_ops = value(edge + 1, nxt)
                    v = table[edge].get(op, neg) + tail_v
                    if not found or v > best_v:
                        best_v, best_ops, found = v, (op, *tail_ops), True
                memo[key] = (best_v, best_ops)
            return memo[key]

        _, ops = value(0, self._start())
        return Genotype(ops)

    def describe(self) -> str:
        """A one-line human summary."""
        if self.product_size == len(self.universe) ** NUM_EDGES and not self.anchors:
            return f"full space ({self.size:,} genotypes)"
        parts = [f"per-edge ops {[len(e) for e in self.edges]}"]
        if self.anchors:
            parts.append(f"{len(self.anchors)} anchor(s), radius {self.radius}")
        return f"restricted space ({self.size:,} genotypes; {'; '.join(parts)})"
