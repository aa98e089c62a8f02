"""Data sources: whole labelled datasets held in memory as uint8 tensors.

A :class:`Source` is a dataset before any task is carved out of it. Images are
``(N, C, H, W)`` uint8 tensors; labels are int64. Per-channel mean and std are
taken over the source's training images, on the [0, 1] scale.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from tanas.errors import (
    CorruptDataError,
    DatasetNotFoundError,
    DataShapeError,
    UnknownSourceError,
    UnreadableDataError,
)

if TYPE_CHECKING:
    from PIL import Image

#: Where Debian's ``dataset-fashion-mnist`` package puts its gzip IDX files.
DEBIAN_DATASETS = Path("/usr/share/datasets")

FASHION_MNIST_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)

SOURCE_NAMES = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "cifar100_coarse", "imagefolder", "npz")

SOURCE_HELP = {
    "digits": "scikit-learn's 8x8 handwritten digits, embedded (no download)",
    "mnist": "MNIST IDX files (--data-root / TANAS_DATA, torchvision layout, or --download)",
    "fashion_mnist": "Fashion-MNIST IDX files (Debian dataset-fashion-mnist, --data-root, or --download)",
    "cifar10": "CIFAR-10 in torchvision's format (--data-root, or --download)",
    "cifar100": "CIFAR-100 fine labels, torchvision's format (--data-root, or --download)",
    "cifar100_coarse": "CIFAR-100 with its 20 superclass labels",
    "imagefolder": "imagefolder@PATH: one folder per class (optionally under train/ and test/)",
    "npz": "npz@PATH: arrays x, y and optionally x_test, y_test, class_names",
}


@dataclass
class Source:
    """A labelled dataset in memory. ``test_x`` is None when the source has no test set."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor | None
    test_y: torch.Tensor | None
    class_names: list[str]
    mean: tuple[float, ...] = field(default=())
    std: tuple[float, ...] = field(default=())
    #: optional named groups of class ids (CIFAR-100 superclasses)
    groups: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_arrays(self.name, self.train_x, self.train_y, len(self.class_names))
        if self.test_x is not None:
            _check_arrays(self.name, self.test_x, self.test_y, len(self.class_names))
            if self.test_x.shape[1:] != self.train_x.shape[1:]:
                raise DataShapeError(
                    f"{self.name}: test images are {tuple(self.test_x.shape[1:])} but train images are "
                    f"{tuple(self.train_x.shape[1:])}; they must match"
                )
        if not self.mean:
            self.mean, self.std = channel_stats(self.train_x)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def _check_arrays(name: str, x: torch.Tensor, y: torch.Tensor | None, num_classes: int) -> None:
    if y is None:
        raise DataShapeError(f"{name}: images are given without labels")
    if x.dtype != torch.uint8 or x.ndim != 4:
        raise DataShapeError(f"{name}: images must be uint8 (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise DataShapeError(
            f"{name}: labels must be 1-D with one per image; got {tuple(y.shape)} for {x.shape[0]} images"
        )
    if x.shape[0] == 0:
        raise DataShapeError(f"{name}: the dataset is empty")
    if 0 in x.shape[1:]:
        raise DataShapeError(f"{name}: images of shape {tuple(x.shape[1:])} (C, H, W) hold no pixels")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise DataShapeError(f"{name}: labels must lie in 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")


def _refuse_unreadable(path: Path, exc: BaseException) -> None:
    """Raise :class:`UnreadableDataError` when ``exc`` is a permission error: the file is fine, its mode is not."""
    if isinstance(exc, PermissionError):
        raise UnreadableDataError(
            f"cannot read {path}: permission denied; fix its permissions (chmod/chown) and rerun"
        ) from exc


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images on the [0, 1] scale.

    Exact and fast: it counts the 256 possible values per channel rather than summing floats.
    """
    levels = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for channel in range(x.shape[1]):
        counts = torch.bincount(x[:, channel].reshape(-1), minlength=256).double()
        total = counts.sum()
        mean = float((counts * levels).sum() / total)
        var = float((counts * (levels - mean) ** 2).sum() / total)
        means.append(mean / 255.0)
        stds.append(max(var**0.5 / 255.0, 1e-3))
    return tuple(means), tuple(stds)


# ---------------------------------------------------------------- digits
def load_digits() -> Source:
    """scikit-learn's 8x8 digits (values 0..16), rescaled to uint8 0..255. No test set."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None, :, :]
    return Source(
        name="digits",
        train_x=torch.from_numpy(images),
        train_y=torch.from_numpy(bunch.target.astype(np.int64)),
        test_x=None,
        test_y=None,
        class_names=[str(i) for i in range(10)],
    )


# ---------------------------------------------------------------- IDX (MNIST, Fashion-MNIST)
_IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}
_IDX_DIRS = {
    "mnist": ("mnist", "MNIST/raw", "MNIST", ""),
    "fashion_mnist": ("fashion_mnist", "fashion-mnist", "FashionMNIST/raw", "FashionMNIST", ""),
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file, gzip-compressed or raw, as a uint8 array.

    Raises :class:`CorruptDataError` when the file is truncated or malformed.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        _refuse_unreadable(path, exc)
        raise CorruptDataError(
            f"{path}: cannot decompress ({exc}); the file is corrupt or truncated, fetch it again"
        ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CorruptDataError(f"{path}: not an IDX file (bad magic number); fetch it again")
    dtype_code, ndim = raw[2], raw[3]
    if dtype_code != 0x08:
        raise CorruptDataError(f"{path}: IDX data type 0x{dtype_code:02x} is not unsigned bytes")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise CorruptDataError(f"{path}: truncated IDX header; fetch the file again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(dims))
    if len(raw) - header != expected:
        raise CorruptDataError(
            f"{path}: IDX file holds {len(raw) - header} bytes of data but its header promises {expected}; "
            "it is truncated or corrupt, fetch it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx_dir(name: str, data_root: str | None) -> Path | None:
    roots: list[Path] = []
    if data_root:
        roots.append(Path(data_root).expanduser())
    if name == "fashion_mnist":
        roots.append(DEBIAN_DATASETS / "fashion-mnist")
    else:
        roots.append(DEBIAN_DATASETS / "mnist")
    for root in roots:
        for sub in _IDX_DIRS[name]:
            folder = root / sub if sub else root
            if all(_idx_file(folder, stem) is not None for stem in _IDX_FILES.values()):
                return folder
    return None


def _idx_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def load_idx_source(name: str, data_root: str | None = None, download: bool = False) -> Source:
    """MNIST or Fashion-MNIST from IDX files (see :data:`_IDX_DIRS` for where it looks)."""
    folder = _find_idx_dir(name, data_root)
    if folder is None and download:
        folder = _torchvision_download(name, data_root)
    if folder is None:
        pretty = "Fashion-MNIST" if name == "fashion_mnist" else "MNIST"
        hint = "install the Debian package dataset-fashion-mnist, " if name == "fashion_mnist" else ""
        raise DatasetNotFoundError(
            f"{pretty} IDX files not found (looked in {data_root or 'no --data-root'} and {DEBIAN_DATASETS}); "
            f"{hint}put train-images-idx3-ubyte[.gz] and friends in a folder given by --data-root or TANAS_DATA, "
            "or pass --download"
        )
    arrays = {key: read_idx(_idx_file(folder, stem)) for key, stem in _IDX_FILES.items()}  # type: ignore[arg-type]
    for split in ("train", "test"):
        if arrays[f"{split}_x"].ndim != 3 or arrays[f"{split}_y"].ndim != 1:
            raise CorruptDataError(f"{folder}: {split} IDX files have unexpected dimensions")
    class_names = list(FASHION_MNIST_CLASSES) if name == "fashion_mnist" else [str(i) for i in range(10)]
    return Source(
        name=name,
        train_x=torch.from_numpy(arrays["train_x"].copy()).unsqueeze(1),
        train_y=torch.from_numpy(arrays["train_y"].astype(np.int64)),
        test_x=torch.from_numpy(arrays["test_x"].copy()).unsqueeze(1),
        test_y=torch.from_numpy(arrays["test_y"].astype(np.int64)),
        class_names=class_names,
    )


def _download_root(data_root: str | None) -> Path:
    if data_root:
        return Path(data_root).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tanas"


def _torchvision_download(name: str, data_root: str | None) -> Path:
    """Fetch a dataset with torchvision (users with internet access); return its folder."""
    import torchvision

    root = _download_root(data_root)
    klass = {
        "mnist": torchvision.datasets.MNIST,
        "fashion_mnist": torchvision.datasets.FashionMNIST,
        "cifar10": torchvision.datasets.CIFAR10,
        "cifar100": torchvision.datasets.CIFAR100,
        "cifar100_coarse": torchvision.datasets.CIFAR100,
    }[name]
    try:
        klass(str(root), train=True, download=True)
        klass(str(root), train=False, download=True)
    except Exception as exc:  # network failures come in many types
        raise DatasetNotFoundError(f"downloading {name} into {root} failed: {exc}") from exc
    if name in ("mnist", "fashion_mnist"):
        return root / ("MNIST" if name == "mnist" else "FashionMNIST") / "raw"
    return root


# ---------------------------------------------------------------- CIFAR (torchvision's pickle format)
def _unpickle(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return pickle.load(handle, encoding="latin1")
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        _refuse_unreadable(path, exc)
        raise CorruptDataError(f"{path}: cannot read CIFAR batch ({exc}); fetch it again") from exc


def load_cifar_source(name: str, data_root: str | None = None, download: bool = False) -> Source:
    """CIFAR-10, CIFAR-100 (fine) or CIFAR-100 coarse from torchvision's folder layout."""
    folder_name = "cifar-10-batches-py" if name == "cifar10" else "cifar-100-python"
    candidates = []
    if data_root:
        base = Path(data_root).expanduser()
        candidates += [base / folder_name, base / name / folder_name, base / "cifar100" / folder_name]
    folder = next((c for c in candidates if c.is_dir()), None)
    if folder is None and download:
        folder = _torchvision_download(name, data_root) / folder_name
    if folder is None:
        raise DatasetNotFoundError(
            f"{name}: folder {folder_name} not found under {data_root or 'no --data-root'}; "
            "point --data-root (or TANAS_DATA) at the folder holding it, or pass --download"
        )

    def to_images(data: np.ndarray) -> torch.Tensor:
        if data.ndim != 2 or data.shape[1] != 3072:
            raise CorruptDataError(f"{folder}: CIFAR data has shape {data.shape}, expected (N, 3072)")
        return torch.from_numpy(np.ascontiguousarray(data.reshape(-1, 3, 32, 32)))

    if name == "cifar10":
        batches = [_unpickle(folder / f"data_batch_{i}") for i in range(1, 6)]
        test = _unpickle(folder / "test_batch")
        meta = _unpickle(folder / "batches.meta")
        train_x = to_images(np.concatenate([b["data"] for b in batches]))
        train_y = torch.tensor(np.concatenate([b["labels"] for b in batches]), dtype=torch.int64)
        return Source(
            name,
            train_x,
            train_y,
            to_images(np.asarray(test["data"])),
            torch.tensor(test["labels"], dtype=torch.int64),
            list(meta["label_names"]),
        )
    train, test, meta = _unpickle(folder / "train"), _unpickle(folder / "test"), _unpickle(folder / "meta")
    key = "coarse" if name == "cifar100_coarse" else "fine"
    groups: dict[int, list[int]] = {}
    for fine, coarse in zip(train["fine_labels"], train["coarse_labels"]):
        groups.setdefault(int(coarse), [])
        if int(fine) not in groups[int(coarse)]:
            groups[int(coarse)].append(int(fine))
    return Source(
        name,
        to_images(np.asarray(train["data"])),
        torch.tensor(train[f"{key}_labels"], dtype=torch.int64),
        to_images(np.asarray(test["data"])),
        torch.tensor(test[f"{key}_labels"], dtype=torch.int64),
        list(meta[f"{key}_label_names"]),
        groups={k: sorted(v) for k, v in sorted(groups.items())},
    )


# ---------------------------------------------------------------- image folders
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def load_imagefolder_source(path: str, image_size: int = 32) -> Source:
    """One folder per class (ImageNet style). ``train/`` and ``test/`` (or ``val/``) subfolders are used when present.

    Images are centre-cropped to a square and resized to ``image_size``; they are
    kept grayscale when every image is, RGB otherwise.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(
            f"imagefolder: {root} is not a folder; give imagefolder@PATH with one sub-folder per class"
        )
    train_dir = root / "train" if (root / "train").is_dir() else root
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None) if train_dir != root else None
    classes = sorted(p.name for p in train_dir.iterdir() if p.is_dir())
    if not classes:
        raise DatasetNotFoundError(f"imagefolder: {train_dir} has no class sub-folders")
    train_files = _list_images(train_dir, classes)
    test_files = _list_images(test_dir, classes) if test_dir is not None else []
    from PIL import Image, UnidentifiedImageError

    def read(files: list[tuple[Path, int]]) -> tuple[list[np.ndarray], list[int], bool]:
        images, labels, gray = [], [], True
        for file, label in files:
            try:
                with Image.open(file) as img:
                    gray = gray and img.mode in ("L", "1", "I;16", "I")
                    images.append(_square_resize(img, image_size))
            except (UnidentifiedImageError, OSError, CorruptDataError) as exc:
                _refuse_unreadable(file, exc)
                raise CorruptDataError(f"imagefolder: cannot read {file}: {exc}") from exc
            labels.append(label)
        return images, labels, gray

    train_imgs, train_lab, gray_a = read(train_files)
    test_imgs, test_lab, gray_b = read(test_files)
    channels = 1 if gray_a and gray_b else 3

    def stack(images: list[np.ndarray]) -> torch.Tensor:
        arr = np.stack([_to_channels(img, channels) for img in images])
        return torch.from_numpy(arr)

    if not train_imgs:
        raise DatasetNotFoundError(f"imagefolder: no images ({', '.join(sorted(_IMAGE_SUFFIXES))}) under {train_dir}")
    return Source(
        name="imagefolder",
        train_x=stack(train_imgs),
        train_y=torch.tensor(train_lab, dtype=torch.int64),
        test_x=stack(test_imgs) if test_imgs else None,
        test_y=torch.tensor(test_lab, dtype=torch.int64) if test_imgs else None,
        class_names=classes,
    )


def _list_images(folder: Path, classes: list[str]) -> list[tuple[Path, int]]:
    files = []
    for label, name in enumerate(classes):
        sub = folder / name
        if sub.is_dir():
            files += [(f, label) for f in sorted(sub.rglob("*")) if f.suffix.lower() in _IMAGE_SUFFIXES]
    return files


def _square_resize(img: Image.Image, size: int) -> np.ndarray:
    from PIL import Image

    w, h = img.size
    if w == 0 or h == 0:
        raise CorruptDataError(f"the image is {w}x{h} pixels; remove or replace it")
    img = img.convert("RGB")
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8)


def _to_channels(img: np.ndarray, channels: int) -> np.ndarray:
    chw = img.transpose(2, 0, 1)
    return chw[:1] if channels == 1 else chw


# ---------------------------------------------------------------- npz
def load_npz_source(path: str) -> Source:
    """Arrays ``x``, ``y`` and optionally ``x_test``, ``y_test``, ``class_names`` from an .npz file.

    ``x`` is uint8 (or float in [0, 1]) shaped (N, H, W), (N, H, W, C) or (N, C, H, W), C in {1, 3}.
    """
    file = Path(path).expanduser()
    if not file.is_file():
        raise DatasetNotFoundError(f"npz: file {file} not found; give npz@PATH to a .npz with arrays x and y")
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        _refuse_unreadable(file, exc)
        raise CorruptDataError(f"npz: cannot read {file} ({exc}); the file is truncated or not an .npz") from exc
    for missing in ("x", "y"):
        if missing not in arrays:
            raise DataShapeError(f"npz: {file} has no array {missing!r} (it has {sorted(arrays)}); save x and y")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise DataShapeError(f"npz: {file} must hold both x_test and y_test, or neither")
    train_x = _npz_images(arrays["x"], "x")
    train_y = _npz_labels(arrays["y"], "y")
    test_x = _npz_images(arrays["x_test"], "x_test") if "x_test" in arrays else None
    test_y = _npz_labels(arrays["y_test"], "y_test") if "y_test" in arrays else None
    for key, labels in (("y", train_y), ("y_test", test_y)):
        if labels is not None and labels.numel() == 0:
            raise DataShapeError(
                f"npz: {file} is empty (array {key!r} has no labels); save at least one image per class"
            )
    num_classes = int(max(train_y.max(), test_y.max() if test_y is not None else 0)) + 1
    if "class_names" in arrays:
        names = [str(n) for n in arrays["class_names"].tolist()]
        if len(names) < num_classes:
            raise DataShapeError(f"npz: class_names has {len(names)} names but labels reach {num_classes - 1}")
    else:
        names = [str(i) for i in range(num_classes)]
    return Source("npz", train_x, train_y, test_x, test_y, names)


def _npz_images(x: np.ndarray, key: str) -> torch.Tensor:
    if x.dtype == np.uint8:
        pass
    elif np.issubdtype(x.dtype, np.floating):
        if x.size and (np.nanmin(x) < 0.0 or np.nanmax(x) > 1.0 or np.isnan(x).any()):
            raise DataShapeError(f"npz: float array {key!r} must hold values in [0, 1]; save uint8 0..255 instead")
        x = np.round(x * 255.0).astype(np.uint8)
    else:
        raise DataShapeError(f"npz: array {key!r} has dtype {x.dtype}; images must be uint8 or float in [0, 1]")
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4:
        if x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
            x = x.transpose(0, 3, 1, 2)
        elif x.shape[1] not in (1, 3):
            raise DataShapeError(
                f"npz: array {key!r} has shape {x.shape}; expected (N,H,W), (N,H,W,C) or (N,C,H,W) with C 1 or 3"
            )
    else:
        raise DataShapeError(f"npz: array {key!r} has shape {x.shape}; expected (N,H,W), (N,H,W,C) or (N,C,H,W)")
    return torch.from_numpy(np.ascontiguousarray(x))


def _npz_labels(y: np.ndarray, key: str) -> torch.Tensor:
    if not np.issubdtype(y.dtype, np.integer):
        raise DataShapeError(f"npz: labels {key!r} have dtype {y.dtype}; they must be integers 0..K-1")
    if y.ndim != 1:
        raise DataShapeError(f"npz: labels {key!r} have shape {y.shape}; they must be 1-D")
    if y.size and y.min() < 0:
        raise DataShapeError(f"npz: labels {key!r} must be non-negative")
    return torch.from_numpy(y.astype(np.int64))


def load_source(
    name: str, *, path: str | None = None, data_root: str | None = None, download: bool = False, image_size: int = 32
) -> Source:
    """Load the source called ``name``; ``path`` is for ``imagefolder`` and ``npz``."""
    if name == "digits":
        return load_digits()
    if name in ("mnist", "fashion_mnist"):
        return load_idx_source(name, data_root, download)
    if name in ("cifar10", "cifar100", "cifar100_coarse"):
        return load_cifar_source(name, data_root, download)
    if name in ("imagefolder", "npz"):
        if not path:
            raise UnknownSourceError(f"source {name!r} needs a path: write {name}@PATH:KIND[:CLASSES]")
        return load_npz_source(path) if name == "npz" else load_imagefolder_source(path, image_size)
    raise UnknownSourceError(f"unknown source {name!r}; known sources: {', '.join(SOURCE_NAMES)}")
