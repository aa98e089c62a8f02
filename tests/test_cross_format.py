"""Any task against any task: a zoo of 28×28 grey Fashion-MNIST tasks and a target of 32×32 RGB photos.

The target is a folder of PNGs (Fashion-MNIST footwear, resized and saved as RGB), read
by the ``imagefolder`` source. Every zoo task must be compared with it through the input
adapter, the footwear task must rank first, and TA-NAS must search from the zoo's cells
rather than fall back to the full space.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tanas.data import load_source
from tanas.probe import ProbeConfig
from tanas.zoo import TaskZoo

FASHION = Path("/usr/share/datasets/fashion-mnist")
pytestmark = pytest.mark.skipif(not FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist")

ZOO_SPECS = ("fashion_mnist:subset:5,7,9", "fashion_mnist:subset:0,2,4,6", "fashion_mnist:subset:1,3,8")
FOOTWEAR = {"sandal": 5, "sneaker": 7, "ankle_boot": 9}
GENOTYPES = {
    "fashion_mnist:subset:5,7,9": ["conv_3x3", "skip_connect", "conv_1x1", "none", "avg_pool_3x3", "conv_3x3"],
    "fashion_mnist:subset:0,2,4,6": ["sep_conv_3x3", "none", "skip_connect", "conv_1x1", "none", "max_pool_3x3"],
    "fashion_mnist:subset:1,3,8": ["dil_conv_3x3", "conv_1x1", "none", "skip_connect", "avg_pool_3x3", "none"],
}
FAST = ProbeConfig(max_epochs=1, min_steps=0, epsilon=0.0)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """120 training and 40 test images per footwear class, as 32×32 RGB PNGs in train/ and test/."""
    from PIL import Image

    root = tmp_path_factory.mktemp("footwear")
    source = load_source("fashion_mnist")
    rng = np.random.default_rng(0)
    for split, x, y, count in (
        ("train", source.train_x, source.train_y, 120),
        ("test", source.test_x, source.test_y, 40),
    ):
        labels = y.numpy()
        for name, label in FOOTWEAR.items():
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in rng.choice(np.flatnonzero(labels == label), size=count, replace=False):
                grey = Image.fromarray(x[i, 0].numpy()).resize((32, 32), Image.BILINEAR)
                Image.merge("RGB", (grey, grey, grey)).save(folder / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("zoo") / "zoo"
    with TaskZoo(path) as zoo:
        for spec in ZOO_SPECS:
            zoo.add(spec, probe=FAST, seeds=1, quiet=True)
            zoo.put_genotype(spec, GENOTYPES[spec], 0.9, {"strategy": "test"})
    return path


def test_zoo_nearest_compares_every_task_with_rgb_photos_and_ranks_footwear_first(cli_inproc, photos, zoo_dir):
    out = cli_inproc("zoo", "nearest", f"imagefolder@{photos}:full", "--zoo", str(zoo_dir), "--json", "--quiet")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["method"] == "logme" and result["higher_is_better"] is True  # the default, by the benchmark
    assert result["skipped"] == {}
    assert result["nearest"][0]["name"] == "fashion_mnist:subset:5,7,9"
    assert len(result["nearest"]) == 3
    assert result["config"]["adapted"] == ["1x28x28:bilinear-aa:luma-bt601:grey-repeat"]
    again = json.loads(
        cli_inproc("zoo", "nearest", f"imagefolder@{photos}:full", "--zoo", str(zoo_dir), "--json", "--quiet").stdout
    )
    assert again["computed"] == 0 and again["cached"] == 3
    assert [n["score"] for n in again["nearest"]] == [n["score"] for n in result["nearest"]]


def test_tanas_search_on_rgb_photos_starts_from_the_zoo_without_fallback(cli_inproc, photos, zoo_dir, tmp_path):
    out = cli_inproc(
        "search",
        f"imagefolder@{photos}:full",
        "--strategy",
        "tanas",
        "--zoo",
        str(zoo_dir),
        "--budget-epochs",
        "2",
        "--final-seeds",
        "0",
        "--json",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["fallback"] is None, result["fallback"]
    assert {n["name"] for n in result["nearest"]} == set(ZOO_SPECS)
    assert result["nearest"][0]["name"] == "fashion_mnist:subset:5,7,9"
    assert result["space_size"] < result["full_space_size"] == 11**6
