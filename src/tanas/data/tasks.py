"""Tasks: class selections of a source with seeded balancing and train/val/test splits.

A spec string is ``SOURCE:KIND[:CLASSES]``; ``SOURCE`` may carry a path
(``npz@data.npz``, ``imagefolder@/data/pets``). Classes are indices or names,
comma separated. See docs/architecture.md §1.1 for the four kinds.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from tanas.data.sources import SOURCE_NAMES, Source
from tanas.errors import (
    DuplicateClassError,
    EmptyTaskError,
    TaskSpecError,
    UnknownClassError,
    UnknownSourceError,
)

KINDS = ("indicator", "multiclass", "subset", "full")
SPLITS = ("train", "val", "test")

#: fraction of a source without its own test set that is held out (seeded) as the test split
HELD_OUT_TEST_FRACTION = 0.2
#: fraction of the training pool used for validation, with a floor of MIN_VAL samples
VAL_FRACTION = 0.1
MIN_VAL = 300


@dataclass(frozen=True)
class Split:
    """Images (uint8, N×C×H×W) and labels (int64, N) of one split."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def class_counts(self, num_classes: int) -> list[int]:
        return torch.bincount(self.y, minlength=num_classes).tolist()


@dataclass
class Task:
    """A labelled classification problem with its splits, ready to train on."""

    name: str
    spec: str
    source: str
    kind: str
    num_classes: int
    class_names: list[str]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    splits: dict[str, Split]
    seed: int
    #: JSON-able record of the input adapter that produced these images (tanas.data.adapt); None for original data
    adapter: dict[str, Any] | None = None
    _fingerprint: str | None = field(default=None, repr=False, compare=False)

    def normalise(self, x_uint8: torch.Tensor) -> torch.Tensor:
        """Float images ``(x / 255 - mean) / std`` on ``x``'s device."""
        shape = (1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x_uint8.device).view(shape)
        std = torch.tensor(self.std, dtype=torch.float32, device=x_uint8.device).view(shape)
        return (x_uint8.float().div_(255.0) - mean) / std

    def fingerprint(self) -> str:
        """SHA-256 of the spec, seed, adapter record (if any) and every split's images and labels."""
        if self._fingerprint is None:
            header = f"{self.spec}|{self.seed}|{self.input_shape}"
            if self.adapter is not None:  # absent for original data, so their fingerprints stay as they were
                header += "|adapter=" + json.dumps(self.adapter, sort_keys=True, separators=(",", ":"))
            digest = hashlib.sha256(header.encode())
            for name in SPLITS:
                split = self.splits[name]
                digest.update(name.encode())
                digest.update(split.x.contiguous().numpy().tobytes())
                digest.update(split.y.contiguous().numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def summary(self) -> dict[str, Any]:
        """The JSON form used by ``tanas tasks show``."""
        return {
            "name": self.name,
            "spec": self.spec,
            "num_classes": self.num_classes,
            "class_names": self.class_names,
            "input_shape": list(self.input_shape),
            "splits": {
                name: {"size": len(split), "class_counts": split.class_counts(self.num_classes)}
                for name, split in self.splits.items()
            },
        } | ({"adapter": self.adapter} if self.adapter is not None else {})


@dataclass(frozen=True)
class TaskSpec:
    """A parsed spec: which source, which kind, which classes (as given)."""

    source: str
    kind: str
    classes: tuple[str, ...] = ()
    path: str | None = None
    name: str | None = None
    val_fraction: float = VAL_FRACTION
    image_size: int = 32

    @property
    def source_token(self) -> str:
        return f"{self.source}@{self.path}" if self.path else self.source


def parse_spec(spec: str) -> TaskSpec:
    """Parse ``SOURCE[@PATH]:KIND[:CLASSES]`` without loading any data."""
    tokens = spec.strip().split(":")
    kind_at = max((i for i, t in enumerate(tokens) if t in KINDS and i > 0), default=None)
    if kind_at is None:
        raise TaskSpecError(
            f"cannot read task spec {spec!r}: write SOURCE:KIND[:CLASSES] with KIND one of {', '.join(KINDS)} "
            "(e.g. digits:indicator:0), or a suite name (tanas tasks list)"
        )
    source_token = ":".join(tokens[:kind_at])
    source, _, path = source_token.partition("@")
    if source not in SOURCE_NAMES:
        raise UnknownSourceError(f"unknown source {source!r} in {spec!r}; known sources: {', '.join(SOURCE_NAMES)}")
    kind = tokens[kind_at]
    class_text = ":".join(tokens[kind_at + 1 :]).strip()
    classes = tuple(c.strip() for c in class_text.split(",")) if class_text else ()
    if any(c == "" for c in classes):
        raise TaskSpecError(f"empty class name in {spec!r}: separate classes with single commas")
    if kind == "full" and classes:
        raise TaskSpecError(f"{spec!r}: the kind 'full' takes no classes")
    if kind != "full" and not classes:
        raise EmptyTaskError(f"{spec!r}: the kind {kind!r} needs at least one class, e.g. {source_token}:{kind}:0")
    return TaskSpec(source=source, kind=kind, classes=classes, path=path or None)


def canonical_spec(spec: TaskSpec, class_ids: list[int]) -> str:
    base = f"{spec.source_token}:{spec.kind}"
    return base if spec.kind == "full" else f"{base}:{','.join(str(c) for c in class_ids)}"


def resolve_classes(spec: TaskSpec, source: Source) -> list[int]:
    """Class tokens (indices or names, case-insensitive) to class ids of ``source``."""
    lookup: dict[str, int] = {}
    for idx, name in enumerate(source.class_names):
        for variant in {name.lower(), name.lower().replace(" ", "_"), name.lower().replace(" ", "-")}:
            lookup.setdefault(variant, idx)
    ids: list[int] = []
    for token in spec.classes:
        key = token.lower()
        if key.isdigit() and int(key) < source.num_classes:
            idx = int(key)
        elif key in lookup:
            idx = lookup[key]
        else:
            shown = ", ".join(source.class_names[:12]) + (" ..." if source.num_classes > 12 else "")
            raise UnknownClassError(
                f"source {source.name!r} has no class {token!r}; "
                f"use an index 0..{source.num_classes - 1} or a name ({shown})"
            )
        if idx in ids:
            raise DuplicateClassError(f"class {token!r} ({source.class_names[idx]}) is listed twice in the task spec")
        ids.append(idx)
    return ids


def _stable_seed(*parts: object) -> list[int]:
    return [zlib.crc32(str(p).encode()) for p in parts]


def _select(
    y: np.ndarray, kind: str, class_ids: list[int], num_source_classes: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Indices into the source and their new labels, for one split."""
    if kind == "full":
        idx = np.arange(len(y))
        return idx, y[idx]
    chosen = np.isin(y, class_ids)
    if kind == "subset":
        idx = np.flatnonzero(chosen)
        remap = np.full(num_source_classes, -1, dtype=np.int64)
        remap[class_ids] = np.arange(len(class_ids))
        return idx, remap[y[idx]]
    positives = np.flatnonzero(chosen)
    negatives = np.flatnonzero(~chosen)
    if kind == "indicator":
        keep = min(len(negatives), len(positives))
        negatives = np.sort(rng.choice(negatives, size=keep, replace=False)) if keep < len(negatives) else negatives
        idx = np.concatenate([positives, negatives])
        labels = chosen[idx].astype(np.int64)
    else:  # multiclass: 1..k for the listed classes, 0 for "other" sampled to about one class's size
        per_class = round(len(positives) / len(class_ids))
        keep = min(len(negatives), per_class)
        negatives = np.sort(rng.choice(negatives, size=keep, replace=False)) if keep < len(negatives) else negatives
        idx = np.concatenate([positives, negatives])
        remap = np.zeros(num_source_classes, dtype=np.int64)
        remap[class_ids] = np.arange(1, len(class_ids) + 1)
        labels = remap[y[idx]]
    order = np.argsort(idx, kind="stable")
    return idx[order], labels[order]


def _class_names(kind: str, class_ids: list[int], source: Source) -> list[str]:
    names = [source.class_names[c] for c in class_ids]
    if kind == "full":
        return list(source.class_names)
    if kind == "subset":
        return names
    if kind == "indicator":
        return ["other", "{" + ",".join(names) + "}"]
    return ["other", *names]


def build_task(spec: TaskSpec, source: Source, *, seed: int = 0, name: str | None = None) -> Task:
    """Carve the task ``spec`` out of ``source``, with seeded balancing and splits."""
    class_ids = resolve_classes(spec, source) if spec.kind != "full" else []
    if spec.kind in ("indicator", "multiclass") and len(class_ids) == source.num_classes:
        raise EmptyTaskError(
            f"{spec.kind} over all {source.num_classes} classes of {source.name!r} leaves no negative class; "
            "use the kind 'full' instead"
        )
    canon = canonical_spec(spec, class_ids)
    train_y_all = source.train_y.numpy()
    # The held-out test split depends on the source and seed only, so that no task of
    # a suite trains on another task's test images.
    if source.test_x is None:
        perm = np.random.default_rng(_stable_seed("test-holdout", source.name, spec.path, seed)).permutation(
            len(train_y_all)
        )
        n_test = max(1, round(HELD_OUT_TEST_FRACTION * len(perm)))
        test_pool, train_pool = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        test_x_all, test_y_all = source.train_x, train_y_all
    else:
        assert source.test_y is not None  # Source refuses test images without labels
        train_pool = np.arange(len(train_y_all))
        test_pool = np.arange(len(source.test_y))
        test_x_all, test_y_all = source.test_x, source.test_y.numpy()

    rng = np.random.default_rng(_stable_seed("task", canon, seed))
    sel, labels = _select(train_y_all[train_pool], spec.kind, class_ids, source.num_classes, rng)
    pool_idx = train_pool[sel]
    test_sel, test_labels = _select(test_y_all[test_pool], spec.kind, class_ids, source.num_classes, rng)
    test_idx = test_pool[test_sel]

    # Stratified, seeded validation split from the training pool.
    val_mask = np.zeros(len(pool_idx), dtype=bool)
    n_val_total = min(max(round(spec.val_fraction * len(pool_idx)), MIN_VAL), int(0.3 * len(pool_idx)))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n_val = round(n_val_total * len(members) / max(len(pool_idx), 1))
        if len(members) >= 2:
            n_val = min(max(n_val, 1), len(members) - 1)
        val_mask[rng.choice(members, size=n_val, replace=False)] = True

    num_classes = (
        source.num_classes
        if spec.kind == "full"
        else (len(class_ids) if spec.kind == "subset" else 2 if spec.kind == "indicator" else len(class_ids) + 1)
    )
    splits = {
        "train": Split(source.train_x[pool_idx[~val_mask]], torch.from_numpy(labels[~val_mask])),
        "val": Split(source.train_x[pool_idx[val_mask]], torch.from_numpy(labels[val_mask])),
        "test": Split(test_x_all[test_idx], torch.from_numpy(np.ascontiguousarray(test_labels))),
    }
    for split_name, split in splits.items():
        counts = split.class_counts(num_classes)
        if len(split) == 0 or min(counts) == 0:
            empty = [i for i, c in enumerate(counts) if c == 0]
            raise EmptyTaskError(
                f"task {canon!r} has no {split_name} samples for class(es) {empty} "
                f"(of {num_classes}); pick classes that exist in the data"
            )
    return Task(
        name=name or spec.name or canon,
        spec=canon,
        source=spec.source_token,
        kind=spec.kind,
        num_classes=num_classes,
        class_names=_class_names(spec.kind, class_ids, source),
        input_shape=source.input_shape,
        mean=source.mean,
        std=source.std,
        splits=splits,
        seed=seed,
    )
