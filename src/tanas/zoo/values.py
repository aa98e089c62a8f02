"""The plain values the zoo stores, checked and encoded.

JSON encoding of records, the identity of a probe config (its hash), genotypes,
seed lists and Fisher kinds. Torch-free: :mod:`tanas.probe` and :mod:`tanas.fisher`
are imported only where a ProbeConfig is built or a Fisher kind is checked.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tanas.errors import ConfigError, GenotypeError, ZooError, ZooVersionError
from tanas.genotypes import NUM_EDGES, validate_ops

if TYPE_CHECKING:  # pragma: no cover
    from tanas.probe import ProbeConfig

#: A genotype is the op names of the cell's 6 edges (docs/architecture.md §1.6).
GENOTYPE_EDGES = NUM_EDGES


def now() -> float:
    return time.time()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_json(value: Any, what: str) -> str:
    """``value`` as sorted, strict JSON; raises :class:`ZooError` naming ``what`` otherwise."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ZooError(
            f"{what} is not JSON-serialisable ({exc}); pass plain dicts, lists, str, int and finite floats"
        ) from exc


def _json_default(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        return item()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def config_dict(config: Any) -> dict[str, Any]:
    """A probe config as a plain, JSON-stable dict."""
    if is_dataclass(config) and not isinstance(config, type):
        data = asdict(config)
    elif isinstance(config, dict):
        data = dict(config)
    else:
        raise ConfigError(f"probe config must be a ProbeConfig or a dict, not {type(config).__name__}")
    return json.loads(to_json(data, "probe config"))


def config_hash(config: Any) -> str:
    """Stable identity of a probe config: sha256 of its sorted JSON (first 16 hex digits)."""
    return sha256(to_json(config_dict(config), "probe config").encode())[:16]


def config_from_dict(data: dict[str, Any]) -> ProbeConfig:
    """The ProbeConfig of a stored config dict; a field this tanas does not know is a version error."""
    from dataclasses import fields

    from tanas.probe import ProbeConfig

    unknown = set(data) - {f.name for f in fields(ProbeConfig)}
    if unknown:
        raise ZooVersionError(
            f"the zoo's probe config has fields this tanas does not know ({sorted(unknown)}); upgrade tanas"
        )
    return ProbeConfig.from_dict(data)


def validate_genotype(genotype: Any) -> list[str]:
    """A genotype (op names, or a :class:`~tanas.genotypes.Genotype`) as a list of 6 known op names.

    The rule is :func:`tanas.genotypes.validate_ops`; a bad genotype raises :class:`ZooError`.
    """
    ops = getattr(genotype, "ops", genotype)
    if isinstance(ops, str) or not isinstance(ops, Sequence):
        raise ZooError(f"a genotype is a list of {NUM_EDGES} op names, not {type(genotype).__name__}")
    try:
        return list(validate_ops(ops))
    except GenotypeError as exc:
        raise ZooError(f"a genotype is a list of {NUM_EDGES} op names: {exc}") from None


def check_kind(kind: str) -> str:
    """``kind`` if it is a Fisher kind tanas computes (imports tanas.fisher, and so torch)."""
    from tanas.fisher import FISHER_KINDS

    if kind not in FISHER_KINDS:
        raise ConfigError(f"unknown Fisher kind {kind!r}; choose one of {', '.join(FISHER_KINDS)}")
    return kind


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """A count N (seeds 0..N-1) or explicit seeds as a sorted list without repeats."""
    if isinstance(seeds, bool):
        raise ConfigError("seeds must be a count or a list of seeds")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ConfigError(f"seeds must be at least 1, not {seeds}")
        return list(range(seeds))
    values = sorted({int(s) for s in seeds})
    if not values or values[0] < 0:
        raise ConfigError(f"seeds must be non-negative and not empty, not {list(seeds)!r}")
    return values
