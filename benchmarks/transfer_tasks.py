"""The task sets of the transfer benchmark (``transfer.py``) and how they are built.

A task entry is ``(name, spec, description)``. ``spec`` is a tanas task spec,
optionally followed by ``@`` and ``+``-joined image transforms applied in order:

* ``resize28``: :func:`tanas.data.adapt_task` to 1×28×28 (bilinear, antialiased);
  any ``resizeN`` works;
* ``rot90``: every image rotated by 90° counter-clockwise (:func:`torch.rot90`);
* ``invert``: intensities inverted, ``255 − x``.

A transformed task keeps its labels and splits; its mean/std are recomputed on its
training images and its ``spec`` carries the transforms, so its fingerprint (and every
seed derived from the spec) differs from the untransformed task's. Its *domain* is the
source plus the image transforms (``fashion_mnist+rot90``); resizing alone does not
make a new domain.

The second task set is cross-domain: label overlap is undefined there (the class ids
of two sources name different things), so that baseline is left out of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from tanas.data import Split, Task, adapt_task, parse_task
from tanas.data.sources import channel_stats
from tanas.errors import ConfigError

TaskEntry = tuple[str, str, str]

#: within Fashion-MNIST: the paper's four tasks plus four groupings of the ten classes
FASHION_SUITE: tuple[TaskEntry, ...] = (
    ("T0", "fashion_mnist:indicator:0", "t-shirt/top vs rest (paper T0)"),
    ("T1", "fashion_mnist:indicator:1", "trouser vs rest (paper T1)"),
    ("T2", "fashion_mnist:multiclass:0,1,2,3", "t-shirt, trouser, pullover, dress + other (paper T2)"),
    ("T3", "fashion_mnist:full", "all ten classes (paper T3)"),
    ("T4", "fashion_mnist:indicator:sandal,sneaker,ankle_boot", "footwear vs rest"),
    ("T5", "fashion_mnist:subset:0,2,4,6", "tops: t-shirt, pullover, coat, shirt"),
    ("T6", "fashion_mnist:subset:sandal,sneaker", "sandal vs sneaker"),
    ("T7", "fashion_mnist:subset:trouser,bag,dress", "trouser, bag, dress"),
)

#: cross-domain, all 1×28×28: Fashion-MNIST, digits upsampled, Fashion-MNIST rotated and inverted.
#: R0 and I1 are F0 and F1 seen through a transform (same labels, other images).
CROSS_SUITE: tuple[TaskEntry, ...] = (
    ("F0", "fashion_mnist:indicator:0", "fashion: t-shirt/top vs rest"),
    ("F1", "fashion_mnist:subset:sandal,sneaker", "fashion: sandal vs sneaker"),
    ("F2", "fashion_mnist:multiclass:0,1,2,3", "fashion: t-shirt, trouser, pullover, dress + other"),
    ("D0", "digits:indicator:0@resize28", "digits 8x8 -> 28x28: 0 vs rest"),
    ("D1", "digits:subset:3,5@resize28", "digits 8x8 -> 28x28: 3 vs 5"),
    ("D2", "digits:full@resize28", "digits 8x8 -> 28x28: all ten digits"),
    ("R0", "fashion_mnist:indicator:0@rot90", "fashion rotated 90 deg: t-shirt/top vs rest (F0 rotated)"),
    ("R1", "fashion_mnist:subset:trouser,bag,dress@rot90", "fashion rotated 90 deg: trouser, bag, dress"),
    (
        "R2",
        "fashion_mnist:multiclass:sandal,sneaker,ankle_boot@rot90",
        "fashion rotated 90 deg: sandal, sneaker, ankle boot + other",
    ),
    ("I0", "fashion_mnist:indicator:1@invert", "fashion inverted: trouser vs rest"),
    ("I1", "fashion_mnist:subset:sandal,sneaker@invert", "fashion inverted: sandal vs sneaker (F1 inverted)"),
    ("I2", "fashion_mnist:multiclass:0,2,4,6@invert", "fashion inverted: t-shirt, pullover, coat, shirt + other"),
)

QUICK_SUITE: tuple[TaskEntry, ...] = tuple(t for t in FASHION_SUITE if t[0] in ("T0", "T1", "T2", "T6"))
QUICK_CROSS_SUITE: tuple[TaskEntry, ...] = tuple(t for t in CROSS_SUITE if t[0] in ("F0", "D1", "D2", "R0", "R1", "I1"))

#: the test suite's tiny sets, on the embedded 8×8 digits only (no dataset files needed)
SMOKE_SUITE: tuple[TaskEntry, ...] = (
    ("D0", "digits:indicator:0", "0 vs rest"),
    ("D1", "digits:subset:3,5", "3 vs 5"),
    ("D2", "digits:multiclass:0,1,2,3", "0-3 + other"),
)
SMOKE_CROSS_SUITE: tuple[TaskEntry, ...] = (
    ("P0", "digits:indicator:0", "digits: 0 vs rest"),
    ("R1", "digits:subset:3,5@rot90", "digits rotated: 3 vs 5"),
    ("I2", "digits:multiclass:0,1,2,3@invert", "digits inverted: 0-3 + other"),
)


# --------------------------------------------------------------------------- transforms


def _map_images(task: Task, fn: Callable[[torch.Tensor], torch.Tensor], tag: str) -> Task:
    """``task`` with ``fn`` applied to every split's uint8 images; mean/std recomputed, ``@tag`` in the spec."""
    splits = {name: Split(fn(s.x).contiguous(), s.y) for name, s in task.splits.items()}
    mean, std = channel_stats(splits["train"].x)
    joiner = "+" if "@" in task.spec else "@"
    return dataclasses.replace(
        task, spec=f"{task.spec}{joiner}{tag}", splits=splits, mean=mean, std=std, _fingerprint=None
    )


def _resize(task: Task, size: int) -> Task:
    adapted = adapt_task(task, (task.input_shape[0], size, size))
    if adapted is task:
        return task
    joiner = "+" if "@" in task.spec else "@"
    return dataclasses.replace(adapted, spec=f"{task.spec}{joiner}resize{size}", _fingerprint=None)


def apply_transform(task: Task, token: str) -> Task:
    """One transform (``rot90``, ``invert`` or ``resizeN``) of ``task``."""
    if token == "rot90":
        return _map_images(task, lambda x: torch.rot90(x, 1, dims=(2, 3)), token)
    if token == "invert":
        return _map_images(task, lambda x: 255 - x, token)
    if token.startswith("resize") and token[6:].isdigit() and int(token[6:]) > 0:
        return _resize(task, int(token[6:]))
    raise ConfigError(f"unknown image transform {token!r} in a benchmark task: use rot90, invert or resizeN")


def split_spec(spec: str) -> tuple[str, list[str]]:
    """``'fashion_mnist:full@rot90+invert'`` -> ``('fashion_mnist:full', ['rot90', 'invert'])``."""
    base, _, tail = spec.partition("@")
    return base, [t for t in tail.split("+") if t] if tail else []


def domain_of(spec: str) -> str:
    """The source and image transforms of a task entry's spec (resizing does not change the domain)."""
    base, transforms = split_spec(spec)
    return "+".join([base.split(":", 1)[0], *(t for t in transforms if not t.startswith("resize"))])


def load_tasks(entries: list[TaskEntry] | tuple[TaskEntry, ...], *, data_root: str | None) -> list[Task]:
    """The tasks of ``entries``, named by their entry; every one must have the same input shape."""
    sources: dict = {}
    tasks = []
    for name, spec, _ in entries:
        base, transforms = split_spec(spec)
        (task,) = parse_task(base, seed=0, data_root=data_root, sources=sources)
        for token in transforms:
            task = apply_transform(task, token)
        tasks.append(dataclasses.replace(task, name=name))
    shapes = {t.input_shape for t in tasks}
    if len(shapes) > 1:
        raise ConfigError(
            "every task of a benchmark set needs the same input shape (one probe architecture), got "
            + ", ".join(f"{t.name} {t.input_shape}" for t in tasks)
        )
    return tasks


# --------------------------------------------------------------------------- label overlap


def named_classes(task: Task) -> frozenset[int]:
    """The source classes a task gives a label of their own.

    ``indicator(C)``, ``multiclass(C)``, ``subset(C)``: the listed classes C (the
    indicator's and multiclass' "other" lumps the rest together, so they are
    not distinguished); ``full``: every class of the source.
    """
    if task.kind == "full":
        return frozenset(range(task.num_classes))
    listed = split_spec(task.spec)[0].rsplit(":", 1)[1]
    return frozenset(int(c) for c in listed.split(","))


def label_overlap_distance(a: frozenset[int], b: frozenset[int]) -> float:
    """1 − Jaccard(a, b) = 1 − |a ∩ b| / |a ∪ b| (symmetric, in [0, 1])."""
    union = a | b
    if not union:
        raise ConfigError("label overlap of two tasks without classes is undefined")
    return 1.0 - len(a & b) / len(union)
