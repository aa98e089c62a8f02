"""Data sources and tasks through the public API: real digits and Fashion-MNIST, and files the tests write."""

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from tanas.data import parse_task
from tanas.data import sources as sources_module
from tanas.errors import (
    ConfigError,
    CorruptDataError,
    DatasetNotFoundError,
    DataShapeError,
    DuplicateClassError,
    EmptyTaskError,
    TanasError,
    UnknownClassError,
    UnknownSourceError,
)


def write_idx(folder: Path, stem: str, array: np.ndarray, gz: bool = True) -> Path:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path = folder / (stem + (".gz" if gz else ""))
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def make_mnist_folder(root: Path, n_train: int = 200, n_test: int = 50, gz: bool = True) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "MNIST" / "raw"  # torchvision's layout
    folder.mkdir(parents=True)
    write_idx(folder, "train-images-idx3-ubyte", rng.integers(0, 256, (n_train, 28, 28)), gz)
    write_idx(folder, "train-labels-idx1-ubyte", np.arange(n_train) % 10, gz)
    write_idx(folder, "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28)), gz)
    write_idx(folder, "t10k-labels-idx1-ubyte", np.arange(n_test) % 10, gz)
    return folder


# ------------------------------------------------------------------ digits and the paper suites
def test_paper_digits_suite_matches_design():
    tasks = parse_task("paper-digits")
    assert [t.name for t in tasks] == ["T0", "T1", "T2", "T3"]
    assert [t.spec for t in tasks] == [
        "digits:indicator:0",
        "digits:indicator:1",
        "digits:multiclass:0,1,2,3",
        "digits:full",
    ]
    assert [t.num_classes for t in tasks] == [2, 2, 5, 10]
    for task in tasks:
        assert task.input_shape == (1, 8, 8)
        for split in task.splits.values():
            assert split.x.dtype == torch.uint8 and split.y.dtype == torch.int64
            assert split.x.shape[1:] == (1, 8, 8)


def test_indicator_is_balanced_and_labels_are_right():
    (task,) = parse_task("digits:indicator:3,5")
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * 255 / 16).astype(np.uint8)
    lookup = {images[i].tobytes(): int(digits.target[i]) for i in range(len(images))}
    for split in task.splits.values():
        counts = torch.bincount(split.y, minlength=2).tolist()
        assert abs(counts[0] - counts[1]) <= 1
        for x, y in zip(split.x[:, 0].numpy(), split.y.tolist()):
            original = lookup[x.tobytes()]
            assert y == int(original in (3, 5))


def test_multiclass_and_subset_relabel():
    (multi,) = parse_task("digits:multiclass:7,2")
    assert multi.class_names == ["other", "7", "2"]
    counts = torch.bincount(multi.splits["train"].y).tolist()
    # "other" is sampled down to about one listed class's size
    assert counts[0] <= max(counts[1:]) + 2 and counts[0] >= min(counts[1:]) - 2
    (subset,) = parse_task("digits:subset:9,4")
    assert subset.num_classes == 2 and subset.class_names == ["9", "4"]


def test_splits_are_disjoint_and_test_is_shared_across_tasks():
    t0, t3 = parse_task("paper-digits/T0")[0], parse_task("paper-digits/T3")[0]

    def keys(split):
        return {x.numpy().tobytes() for x in split.x}

    train, val, test = (keys(t3.splits[s]) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    # no task of the suite trains on another task's test images
    assert not (keys(t0.splits["train"]) & test)


def test_same_seed_same_splits_other_seed_differs():
    a = parse_task("digits:multiclass:0,1,2,3", seed=0)[0]
    b = parse_task("digits:multiclass:0,1,2,3", seed=0)[0]
    c = parse_task("digits:multiclass:0,1,2,3", seed=1)[0]
    for name in ("train", "val", "test"):
        assert torch.equal(a.splits[name].x, b.splits[name].x)
        assert torch.equal(a.splits[name].y, b.splits[name].y)
    assert not torch.equal(a.splits["val"].x, c.splits["val"].x)
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_normalise_uses_source_statistics():
    (task,) = parse_task("digits:full")
    x = task.normalise(task.splits["train"].x)
    assert x.dtype == torch.float32
    assert abs(float(x.mean())) < 0.1 and abs(float(x.std()) - 1.0) < 0.1


def test_classes_by_name_on_fashion_mnist():
    (task,) = parse_task("fashion_mnist:indicator:sandal,sneaker,ankle_boot")
    assert task.spec == "fashion_mnist:indicator:5,7,9"
    assert task.class_names == ["other", "{sandal,sneaker,ankle boot}"]


def test_paper_fashion_mnist_uses_debian_files_and_official_test_set():
    tasks = parse_task("paper-fashion-mnist")
    assert [t.num_classes for t in tasks] == [2, 2, 5, 10]
    t3 = tasks[3]
    assert len(t3.splits["test"]) == 10_000
    assert len(t3.splits["train"]) + len(t3.splits["val"]) == 60_000
    assert t3.input_shape == (1, 28, 28)


# ------------------------------------------------------------------ IDX files
def test_idx_gzip_and_raw_in_torchvision_layout(tmp_path):
    make_mnist_folder(tmp_path / "gz")
    make_mnist_folder(tmp_path / "raw", gz=False)
    a = parse_task("mnist:subset:0,1", data_root=str(tmp_path / "gz"))[0]
    b = parse_task("mnist:subset:0,1", data_root=str(tmp_path / "raw"))[0]
    assert torch.equal(a.splits["train"].x, b.splits["train"].x)
    assert len(a.splits["test"]) == 10  # 50 test images, classes 0 and 1


def test_truncated_idx_is_reported(tmp_path):
    folder = make_mnist_folder(tmp_path, gz=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match="truncated"):
        parse_task("mnist:full", data_root=str(tmp_path))


def test_corrupt_gzip_is_reported(tmp_path):
    folder = make_mnist_folder(tmp_path)
    path = folder / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CorruptDataError, match="corrupt or truncated"):
        parse_task("mnist:full", data_root=str(tmp_path))


def test_bad_idx_magic_is_reported(tmp_path):
    folder = make_mnist_folder(tmp_path, gz=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(b"\x12\x34garbage")
    with pytest.raises(CorruptDataError, match="magic"):
        parse_task("mnist:full", data_root=str(tmp_path))


def test_missing_fashion_mnist_names_the_debian_package(tmp_path, monkeypatch):
    monkeypatch.setattr(sources_module, "DEBIAN_DATASETS", tmp_path / "nothing")
    with pytest.raises(DatasetNotFoundError) as info:
        parse_task("fashion_mnist:full", data_root=str(tmp_path))
    message = str(info.value)
    assert "dataset-fashion-mnist" in message and "--data-root" in message and "--download" in message


# ------------------------------------------------------------------ npz and image folders
def test_npz_source_with_and_without_test(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (120, 12, 12, 3), dtype=np.uint8)  # NHWC
    y = np.arange(120) % 3
    np.savez(tmp_path / "with.npz", x=x, y=y, x_test=x[:30], y_test=y[:30], class_names=np.array(["a", "b", "c"]))
    np.savez(tmp_path / "without.npz", x=x[..., 0], y=y)
    (with_test,) = parse_task(f"npz@{tmp_path / 'with.npz'}:subset:a,c")
    assert with_test.input_shape == (3, 12, 12) and with_test.class_names == ["a", "c"]
    assert len(with_test.splits["test"]) == 20
    (held_out,) = parse_task(f"npz@{tmp_path / 'without.npz'}:full")
    assert held_out.input_shape == (1, 12, 12)
    assert len(held_out.splits["test"]) == 24  # 20% held out


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x": np.zeros((10, 4, 4), np.float64) + 3.0, "y": np.zeros(10, np.int64)}, "values in \\[0, 1\\]"),
        ({"x": np.zeros((10, 4, 4), np.int32), "y": np.zeros(10, np.int64)}, "dtype int32"),
        ({"x": np.zeros((10, 5, 4, 4), np.uint8), "y": np.zeros(10, np.int64)}, "shape"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros(10, np.float32)}, "integers"),
        ({"x": np.zeros((10, 4, 4), np.uint8), "y": np.zeros(9, np.int64)}, "one per image"),
        ({"x": np.zeros((10, 4, 4), np.uint8)}, "no array 'y'"),
    ],
)
def test_npz_wrong_shape_or_dtype(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataShapeError, match=message):
        parse_task(f"npz@{tmp_path / 'bad.npz'}:full")


def test_corrupt_npz(tmp_path):
    np.savez(tmp_path / "ok.npz", x=np.zeros((10, 4, 4), np.uint8), y=np.zeros(10, np.int64))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDataError, match="truncated"):
        parse_task(f"npz@{tmp_path / 'cut.npz'}:full")


def test_imagefolder(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 12), ("test", 4)):
        for cls in ("cat", "dog"):
            folder = tmp_path / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (task,) = parse_task(f"imagefolder@{tmp_path}:full")
    assert task.class_names == ["cat", "dog"] and task.input_shape == (3, 32, 32)
    assert len(task.splits["test"]) == 8


# ------------------------------------------------------------------ TOML task files
def test_toml_file(tmp_path):
    (tmp_path / "tasks.toml").write_text(
        '[[task]]\nname = "zero"\nspec = "digits:indicator:0"\n\n'
        '[[task]]\nname = "small"\nsource = "digits"\nkind = "subset"\nclasses = [3, 5]\n'
    )
    tasks = parse_task(str(tmp_path / "tasks.toml"))
    assert [t.name for t in tasks] == ["zero", "small"]
    assert tasks[1].spec == "digits:subset:3,5"


def test_toml_unknown_key(tmp_path):
    (tmp_path / "tasks.toml").write_text('[[task]]\nspec = "digits:full"\ncolour = "red"\n')
    with pytest.raises(ConfigError, match=r"unknown key.*colour"):
        parse_task(str(tmp_path / "tasks.toml"))


# ------------------------------------------------------------------ spec errors
@pytest.mark.parametrize(
    "spec, error, message",
    [
        ("imagenet:full", UnknownSourceError, "unknown source 'imagenet'"),
        ("digits:indicator:11", UnknownClassError, "no class '11'"),
        ("fashion_mnist:subset:shoe", UnknownClassError, "no class 'shoe'"),
        ("digits:subset:3,3", DuplicateClassError, "listed twice"),
        ("digits:indicator", EmptyTaskError, "needs at least one class"),
        ("digits:indicator:0,1,2,3,4,5,6,7,8,9", EmptyTaskError, "no negative class"),
        ("digits", TanasError, "SOURCE:KIND"),
        ("paper-digits/T7", TanasError, "T0..T3"),
    ],
)
def test_bad_specs(spec, error, message):
    with pytest.raises(error, match=message):
        parse_task(spec)


def test_empty_split_is_an_error(tmp_path):
    # class 2 exists only in the training data, never in the test set
    np.savez(
        tmp_path / "d.npz",
        x=np.zeros((30, 4, 4), np.uint8),
        y=np.arange(30) % 3,
        x_test=np.zeros((6, 4, 4), np.uint8),
        y_test=np.arange(6) % 2,
    )
    with pytest.raises(EmptyTaskError, match="no test samples"):
        parse_task(f"npz@{tmp_path / 'd.npz'}:subset:1,2")
