"""Input adapters against independent references: hand-computed pixels, a naive bilinear formula, float64 stats."""

import json
import math

import numpy as np
import pytest
import torch

from tanas.data import InputAdapter, Split, Task, adapt_task, parse_task
from tanas.errors import AdapterError, DataError, TanasError


@pytest.fixture(scope="module")
def small():
    (task,) = parse_task("digits:subset:0,1", seed=0)
    return task


def make_task(x: torch.Tensor, name: str = "hand") -> Task:
    """A tiny hand-built task whose three splits share the images ``x``."""
    y = torch.arange(x.shape[0], dtype=torch.int64) % 2
    split = Split(x, y)
    return Task(
        name=name,
        spec=f"npz@{name}.npz:full",
        source="npz",
        kind="full",
        num_classes=2,
        class_names=["a", "b"],
        input_shape=tuple(int(d) for d in x.shape[1:]),
        mean=(0.5,) * x.shape[1],
        std=(0.25,) * x.shape[1],
        splits={"train": split, "val": split, "test": split},
        seed=0,
    )


def naive_bilinear(img: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Half-pixel bilinear (align_corners=False, no antialias), edges clamped, in float64, pixel by pixel."""
    in_h, in_w = img.shape

    def taps(i: int, n_in: int, n_out: int) -> tuple[int, int, float]:
        src = max((i + 0.5) * n_in / n_out - 0.5, 0.0)
        lo = min(math.floor(src), n_in - 1)
        hi = min(lo + 1, n_in - 1)
        return lo, hi, src - lo

    out = np.zeros((out_h, out_w))
    for r in range(out_h):
        r0, r1, fr = taps(r, in_h, out_h)
        for c in range(out_w):
            c0, c1, fc = taps(c, in_w, out_w)
            top = (1 - fc) * img[r0, c0] + fc * img[r0, c1]
            bottom = (1 - fc) * img[r1, c0] + fc * img[r1, c1]
            out[r, c] = (1 - fr) * top + fr * bottom
    return out


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert text and "\n" not in text, text
    return text


# ------------------------------------------------------------------ the adapter on image batches
def test_grey_to_rgb_repeats_exactly():
    x = torch.randint(0, 256, (5, 1, 6, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    out = InputAdapter(channels=3, size=(6, 7)).apply(x)
    assert out.dtype == torch.uint8 and out.shape == (5, 3, 6, 7)
    for channel in range(3):
        assert torch.equal(out[:, channel], x[:, 0])


def test_rgb_to_grey_matches_bt601_by_hand():
    pixels = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (10, 20, 30), (200, 100, 50), (255, 255, 255)]
    # 0.299 R + 0.587 G + 0.114 B, rounded: 76.245, 149.685, 29.07, 18.15, 124.2, 255
    expected = [76, 150, 29, 18, 124, 255]
    x = torch.tensor(pixels, dtype=torch.uint8).T.reshape(1, 3, 1, len(pixels))
    out = InputAdapter(channels=1, size=(1, len(pixels))).apply(x)
    assert out.dtype == torch.uint8 and out.shape == (1, 1, 1, len(pixels))
    assert out.flatten().tolist() == expected


def test_grey_rgb_grey_round_trip_is_exact():
    x = torch.arange(256, dtype=torch.uint8).reshape(1, 1, 16, 16)
    rgb = InputAdapter(3, 16).apply(x)
    assert torch.equal(InputAdapter(1, 16).apply(rgb), x)


@pytest.mark.parametrize("size", [(28, 28), (4, 4), (8, 20), (3, 11)])
def test_constant_image_stays_constant(size):
    x = torch.full((3, 1, 8, 8), 137, dtype=torch.uint8)
    out = InputAdapter(1, size).apply(x)
    assert out.shape == (3, 1, *size) and out.dtype == torch.uint8
    assert bool((out == 137).all())


def test_tiny_upsampling_matches_bilinear_by_hand():
    a, b, c, d = 0, 100, 200, 40
    x = torch.tensor([[a, b], [c, d]], dtype=torch.uint8).reshape(1, 1, 2, 2)
    out = InputAdapter(1, 4).apply(x)[0, 0].tolist()
    # Half-pixel centres: output rows/columns 0..3 sit at source -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1),
    # so each axis mixes its two pixels with weights (1, 0), (3/4, 1/4), (1/4, 3/4), (0, 1).
    weights = [(1.0, 0.0), (0.75, 0.25), (0.25, 0.75), (0.0, 1.0)]
    by_hand = [
        [round(wr0 * (wc0 * a + wc1 * b) + wr1 * (wc0 * c + wc1 * d)) for wc0, wc1 in weights] for wr0, wr1 in weights
    ]
    assert out == by_hand
    assert out[1][1] == round(0.75 * (0.75 * a + 0.25 * b) + 0.25 * (0.75 * c + 0.25 * d)) == 59
    assert out[0] == [0, 25, 75, 100] and out[3] == [200, 160, 80, 40]


def test_digits_upsampled_to_28_match_naive_bilinear(small):
    x = small.splits["train"].x[:4]
    out = InputAdapter(1, 28).apply(x)
    assert out.shape == (4, 1, 28, 28) and out.dtype == torch.uint8
    for image, adapted in zip(x, out):
        reference = naive_bilinear(image[0].numpy().astype(np.float64), 28, 28)
        diff = np.abs(adapted[0].numpy().astype(np.float64) - np.round(reference))
        # float32 against float64 may round a value within a hair of .5 the other way; nothing else may differ
        near_tie = np.abs(reference - np.floor(reference) - 0.5) < 1e-3
        assert diff.max() <= 1 and bool((diff[~near_tie] == 0).all())
    # one known pixel by the formula: row 13, column 13 of 28 sits at source 13.5 * 8/28 - 0.5 = 3.357...
    r = 13.5 * 8 / 28 - 0.5
    f = r - 3
    img = x[0, 0].double()
    expected = (1 - f) * ((1 - f) * img[3, 3] + f * img[3, 4]) + f * ((1 - f) * img[4, 3] + f * img[4, 4])
    assert abs(int(out[0, 0, 13, 13]) - float(expected)) <= 0.5 + 1e-3


@pytest.mark.parametrize("in_size,out_size", [(32, 8), (28, 8), (28, 12)])
def test_downsampling_is_antialiased_like_pil(in_size, out_size):
    """PIL's BILINEAR resize (a triangle filter widened by the scale) in float mode is the reference."""
    from PIL import Image

    x = torch.randint(0, 256, (3, 1, in_size, in_size), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    out = InputAdapter(1, out_size).apply(x)
    assert out.dtype == torch.uint8 and out.shape == (3, 1, out_size, out_size)
    for image, adapted in zip(x, out):
        pil = Image.fromarray(image[0].numpy().astype(np.float32), mode="F")
        reference = np.asarray(pil.resize((out_size, out_size), Image.BILINEAR), dtype=np.float64)
        assert np.abs(adapted[0].numpy() - np.round(reference)).max() <= 1
    # and it is not plain bilinear sampling, which aliases
    plain = torch.nn.functional.interpolate(x.float(), size=(out_size, out_size), mode="bilinear", align_corners=False)
    assert not torch.equal(out, plain.round().to(torch.uint8))


def test_large_batches_are_converted_in_chunks_with_same_result():
    from tanas.data import adapt as adapt_module

    x = torch.randint(
        0, 256, (adapt_module.CHUNK + 3, 3, 5, 5), dtype=torch.uint8, generator=torch.Generator().manual_seed(1)
    )
    adapter = InputAdapter(1, 9)
    whole = adapter.apply(x)
    assert whole.shape == (x.shape[0], 1, 9, 9)
    assert torch.equal(whole[-3:], adapter.apply(x[-3:]))


def test_identity_and_empty_batches():
    adapter = InputAdapter(1, 8)
    assert adapter.is_identity((1, 8, 8)) and not adapter.is_identity((3, 8, 8)) and not adapter.is_identity((1, 8, 9))
    x = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)
    assert torch.equal(adapter.apply(x), x)
    assert adapter.apply(torch.empty((0, 3, 32, 32), dtype=torch.uint8)).shape == (0, 1, 8, 8)


def test_record_and_key_are_stable_and_json_able():
    adapter = InputAdapter(channels=1, size=28)
    assert adapter.size == (28, 28) and adapter.input_shape == (1, 28, 28)
    assert adapter.key == "1x28x28:bilinear-aa:luma-bt601:grey-repeat"
    record = adapter.to_dict()
    assert json.loads(json.dumps(record)) == record and record["key"] == adapter.key
    assert InputAdapter.from_dict(record) == adapter
    assert InputAdapter.for_shape((3, 32, 16)).key == "3x32x16:bilinear-aa:luma-bt601:grey-repeat"
    assert hash(adapter) == hash(InputAdapter(1, (28, 28)))


# ------------------------------------------------------------------ whole tasks
def test_adapted_task_keeps_labels_and_splits(small):
    adapted = adapt_task(small, (3, 28, 28))
    assert adapted is not small and adapted.input_shape == (3, 28, 28)
    assert (adapted.name, adapted.spec, adapted.seed, adapted.num_classes) == (
        small.name,
        small.spec,
        small.seed,
        small.num_classes,
    )
    assert adapted.class_names == small.class_names
    assert list(adapted.splits) == list(small.splits)
    for name, split in small.splits.items():
        new = adapted.splits[name]
        assert torch.equal(new.y, split.y)
        assert new.x.dtype == torch.uint8 and new.x.shape == (len(split), 3, 28, 28)
    # the original is left alone
    assert small.input_shape == (1, 8, 8) and small.splits["train"].x.shape[1:] == (1, 8, 8)
    assert adapted.adapter["key"] == "3x28x28:bilinear-aa:luma-bt601:grey-repeat"
    assert adapted.adapter["from_shape"] == [1, 8, 8]
    assert adapted.summary()["adapter"] == adapted.adapter and "adapter" not in small.summary()


def test_adapted_statistics_come_from_adapted_train_images(small):
    adapted = adapt_task(small, (3, 16, 16))
    x = adapted.splits["train"].x.double() / 255.0
    for channel in range(3):
        values = x[:, channel].reshape(-1)
        assert adapted.mean[channel] == pytest.approx(float(values.mean()), abs=1e-12)
        assert adapted.std[channel] == pytest.approx(float(values.std(unbiased=False)), abs=1e-12)
    assert adapted.mean[0] == adapted.mean[1] == adapted.mean[2]


def test_fingerprint_differs_and_includes_the_adapter(small):
    adapted = adapt_task(small, (1, 28, 28))
    assert adapted.fingerprint() != small.fingerprint()
    assert adapt_task(small, (1, 28, 28)).fingerprint() == adapted.fingerprint()
    # Same images, a different record: the record alone changes the fingerprint.
    same_images = make_task(adapted.splits["train"].x[:4])
    relabelled = make_task(adapted.splits["train"].x[:4])
    relabelled.adapter = {"key": "other"}
    assert same_images.fingerprint() != relabelled.fingerprint()


def test_identity_returns_the_same_task(small):
    assert adapt_task(small, (1, 8, 8)) is small
    assert adapt_task(small, InputAdapter(1, 8)) is small


def test_chained_adaptation_keeps_the_earlier_record(small):
    once = adapt_task(small, (3, 16, 16))
    twice = adapt_task(once, InputAdapter(1, 12))
    assert twice.input_shape == (1, 12, 12)
    assert twice.adapter["from_shape"] == [3, 16, 16] and twice.adapter["previous"] == once.adapter


# ------------------------------------------------------------------ errors, one line each
@pytest.mark.parametrize("shape", [(28, 28), (1, 0, 28), (1, 28.0, 28), (True, 28, 28), "1x28x28", None, (1, -2, 3, 4)])
def test_bad_input_shape_is_one_line(small, shape):
    with pytest.raises(AdapterError) as exc:
        adapt_task(small, shape)
    assert "(channels, height, width)" in one_line(exc)


@pytest.mark.parametrize("channels,target", [(2, (3, 8, 8)), (4, (1, 8, 8)), (3, (4, 8, 8)), (1, (2, 8, 8))])
def test_unmappable_channels_are_one_line(channels, target):
    task = make_task(torch.zeros((2, channels, 8, 8), dtype=torch.uint8))
    with pytest.raises(AdapterError) as exc:
        adapt_task(task, target)
    text = one_line(exc)
    assert "cannot be compared" in text and f"{channels}-channel" in text
    assert isinstance(exc.value, DataError) and isinstance(exc.value, TanasError)


def test_task_without_images_is_one_line():
    task = make_task(torch.zeros((0, 1, 8, 8), dtype=torch.uint8))
    with pytest.raises(AdapterError) as exc:
        adapt_task(task, (1, 16, 16))
    assert "no training images" in one_line(exc)


def test_bad_adapter_options_and_inputs_are_one_line():
    bad = ({"channels": 0, "size": 8}, {"channels": 1, "size": (8,)}, {"channels": 1, "size": 8, "resize": "cubic"})
    for kwargs in bad:
        with pytest.raises(AdapterError) as exc:
            InputAdapter(**kwargs)
        one_line(exc)
    with pytest.raises(AdapterError) as exc:
        InputAdapter(1, 8).apply(torch.zeros((1, 1, 8, 8)))
    assert "uint8" in one_line(exc)
    with pytest.raises(AdapterError) as exc:
        InputAdapter.from_dict({"key": "1x8x8"})
    one_line(exc)
