"""Input adapters: run a probe on images of another size or channel count.

A probe is trained on one input format (C, H, W). To compare it with a task whose
images differ, the task's images are converted to the probe's format:

* channels first: RGB → grey by luminance (ITU-R BT.601 weights), grey → RGB by
  repetition; any other channel mismatch makes the comparison impossible;
* then size: bilinear interpolation (``align_corners=False``), antialiased when an
  axis shrinks, so that downsampling averages rather than aliases.

Images stay uint8: each batch is converted in float32, rounded (half to even) and
clamped back to 0..255, chunk by chunk, so the adapted task costs no more memory than
its images. The adapter's :meth:`InputAdapter.to_dict` record travels with the adapted
task (``Task.adapter``), and so enters its fingerprint and every cache key built on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch

from tanas.data.sources import channel_stats
from tanas.data.tasks import Split, Task
from tanas.errors import AdapterError

RESIZE_MODES = ("bilinear",)
GREY_TO_RGB_MODES = ("repeat",)
RGB_TO_GREY_MODES = ("luminance",)
#: how each rule is spelled in :attr:`InputAdapter.key`
_KEY_NAMES = {"luminance": "luma-bt601", "repeat": "grey-repeat", "bilinear": "bilinear-aa"}

#: ITU-R BT.601 luma weights for R, G, B
BT601 = (0.299, 0.587, 0.114)

#: images converted per float32 batch; bounds the extra memory of an adaptation
CHUNK = 2048


def _positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_input_shape(shape: object, what: str = "input shape") -> tuple[int, int, int]:
    """``shape`` as a (C, H, W) tuple of positive ints, or a one-line :class:`AdapterError`."""
    dims: tuple[object, ...]
    try:
        dims = tuple(shape)  # type: ignore[arg-type]  # any iterable will do; TypeError answers the rest
    except TypeError:
        dims = ()
    if len(dims) != 3 or not all(_positive_int(d) for d in dims):
        raise AdapterError(f"{what} must be (channels, height, width) as three positive integers, got {shape!r}")
    return cast(tuple[int, int, int], dims)  # checked just above


def shape_text(shape: Sequence[int]) -> str:
    """``(1, 28, 28)`` → ``'1x28x28'``, the form used in messages and keys."""
    return "x".join(str(int(d)) for d in shape)


@dataclass(frozen=True)
class InputAdapter:
    """Convert uint8 images (N, C, H, W) to ``channels`` × ``size``.

    ``size`` is an int (square) or (height, width); it is stored as a (height, width) tuple.
    """

    channels: int
    size: int | tuple[int, int]
    resize: str = "bilinear"
    grey_to_rgb: str = "repeat"
    rgb_to_grey: str = "luminance"

    def __post_init__(self) -> None:
        given: object = (
            (self.size, self.size) if isinstance(self.size, int) and not isinstance(self.size, bool) else self.size
        )
        size: tuple[object, ...]
        try:
            size = tuple(given)  # type: ignore[arg-type]  # any iterable will do; TypeError answers the rest
        except TypeError:
            size = ()
        if not _positive_int(self.channels) or len(size) != 2 or not all(_positive_int(s) for s in size):
            raise AdapterError(
                f"an input adapter needs a positive channel count and a positive size (int or (height, width)), "
                f"got channels={self.channels!r}, size={self.size!r}"
            )
        object.__setattr__(self, "size", size)
        for option, value, known in (
            ("resize", self.resize, RESIZE_MODES),
            ("grey_to_rgb", self.grey_to_rgb, GREY_TO_RGB_MODES),
            ("rgb_to_grey", self.rgb_to_grey, RGB_TO_GREY_MODES),
        ):
            if value not in known:
                raise AdapterError(f"unknown input adapter {option} {value!r}; known: {', '.join(known)}")

    @classmethod
    def for_shape(cls, input_shape: Sequence[int], **options: str) -> InputAdapter:
        """The adapter to a probe's ``input_shape`` (C, H, W)."""
        c, h, w = check_input_shape(input_shape)
        return cls(channels=c, size=(h, w), **options)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> InputAdapter:
        """Read back a :meth:`to_dict` record (from a config or a zoo)."""
        try:
            return cls.for_shape(
                record["input_shape"],
                resize=record["resize"],
                grey_to_rgb=record["grey_to_rgb"],
                rgb_to_grey=record["rgb_to_grey"],
            )
        except (KeyError, TypeError) as exc:
            raise AdapterError(f"not an input adapter record: {record!r} (missing {exc})") from exc

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """The (C, H, W) the adapter produces."""
        h, w = self.size  # type: ignore[misc]
        return self.channels, h, w

    @property
    def key(self) -> str:
        """A short stable string naming the target and every rule.

        For example ``1x28x28:bilinear-aa:luma-bt601:grey-repeat``.
        """
        rules = (_KEY_NAMES[self.resize], _KEY_NAMES[self.rgb_to_grey], _KEY_NAMES[self.grey_to_rgb])
        return ":".join((shape_text(self.input_shape), *rules))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record for configs and cache keys; :meth:`from_dict` reads it back."""
        return {
            "key": self.key,
            "input_shape": list(self.input_shape),
            "resize": self.resize,
            "antialias": "when downsampling",
            "align_corners": False,
            "grey_to_rgb": self.grey_to_rgb,
            "rgb_to_grey": self.rgb_to_grey,
            "luma_weights": list(BT601),
        }

    def is_identity(self, shape: Sequence[int]) -> bool:
        """Whether images shaped ``shape`` (C, H, W) pass unchanged."""
        return tuple(int(d) for d in shape) == self.input_shape

    def check(self, shape: Sequence[int]) -> None:
        """Raise :class:`AdapterError` when images shaped ``shape`` cannot be adapted (channel counts)."""
        c = int(shape[0])
        if c != self.channels and {c, self.channels} != {1, 3}:
            raise AdapterError(
                f"cannot adapt {shape_text(shape)} images to {shape_text(self.input_shape)}: only grey (1 channel) "
                f"and RGB (3 channels) map onto each other, so {c}-channel inputs cannot be compared "
                f"with a {self.channels}-channel probe"
            )

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """The uint8 batch ``x`` (N, C, H, W) in the adapter's format, as a new uint8 tensor."""
        if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.ndim != 4:
            got = f"{x.dtype} {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
            raise AdapterError(f"an input adapter takes uint8 images (N, C, H, W), got {got}")
        self.check(tuple(x.shape[1:]))
        c, h, w = self.input_shape
        if x.shape[0] == 0:
            return torch.empty((0, c, h, w), dtype=torch.uint8, device=x.device)
        if self.is_identity(tuple(x.shape[1:])):
            return x.clone()
        return torch.cat([self._convert(x[i : i + CHUNK]) for i in range(0, x.shape[0], CHUNK)])

    def _convert(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = self.input_shape
        source_c = x.shape[1]
        y = x.float()
        if source_c == 3 and c == 1:  # luminance before resizing: the probe sees what a grey camera would
            weights = torch.tensor(BT601, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
            y = _to_uint8_levels((y * weights).sum(dim=1, keepdim=True))
        if tuple(y.shape[2:]) != (h, w):
            shrinks = h < y.shape[2] or w < y.shape[3]
            y = torch.nn.functional.interpolate(y, size=(h, w), mode="bilinear", align_corners=False, antialias=shrinks)
        out = _to_uint8_levels(y).to(torch.uint8)
        if source_c == 1 and c == 3:  # repetition commutes with resizing, so resize one channel, not three
            out = out.repeat(1, 3, 1, 1)
        return out


def _to_uint8_levels(y: torch.Tensor) -> torch.Tensor:
    """Round half to even and clamp to 0..255, staying float."""
    return torch.round(y).clamp_(0.0, 255.0)


def adapt_task(task: Task, input_shape: Sequence[int] | InputAdapter) -> Task:
    """``task`` with every split's images converted to ``input_shape`` (C, H, W) or by the given adapter.

    Returns ``task`` itself when its images already have that shape. Otherwise the new
    task keeps the name, spec, labels and splits; its mean/std are recomputed from the
    adapted training images, and ``adapter`` records the conversion (with the original
    shape, and any earlier adaptation) so that its fingerprint differs from the original's.
    """
    adapter = input_shape if isinstance(input_shape, InputAdapter) else InputAdapter.for_shape(input_shape)
    if "train" not in task.splits or len(task.splits["train"]) == 0:
        raise AdapterError(f"task {task.name!r} has no training images to adapt")
    if adapter.is_identity(task.input_shape):
        return task
    adapter.check(task.input_shape)
    splits = {name: Split(adapter.apply(split.x), split.y) for name, split in task.splits.items()}
    mean, std = channel_stats(splits["train"].x)
    record = adapter.to_dict() | {"from_shape": list(task.input_shape)}
    if task.adapter is not None:
        record["previous"] = task.adapter
    return Task(
        name=task.name,
        spec=task.spec,
        source=task.source,
        kind=task.kind,
        num_classes=task.num_classes,
        class_names=list(task.class_names),
        input_shape=adapter.input_shape,
        mean=mean,
        std=std,
        splits=splits,
        seed=task.seed,
        adapter=record,
    )
