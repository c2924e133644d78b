"""The tiler's memory is bounded by the tile size: it blends exactly as a whole-image accumulation would,
and neither it nor an in-place restore allocates a whole-image float buffer beyond the output."""

import tracemalloc

import numpy as np
import pytest

from restora.engine import run_restore
from restora.engine.methods import Method
from restora.engine.tiling import iter_tiles, pad_to_multiple, process_tiled
from restora.io import Image


def photo(h, w, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def local_nonlinear(window, region):
    """A 3×3 mean then a square: depends on neighbours (needs context) and is not linear (blending shows)."""
    p = np.pad(window, ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = window.shape[:2]
    return (sum(p[i : i + h, j : j + w] for i in range(3) for j in range(3)) / 9.0) ** 2


def accumulate_whole(pixels, fn, tile, overlap, context, multiple):
    """The reference: every tile's weighted result added into one whole-image buffer."""
    height, width = pixels.shape[:2]
    out = np.zeros(pixels.shape, np.float32)
    for y, x, h, w, weight in iter_tiles(height, width, tile, overlap):
        y0, x0 = max(0, y - context) // multiple * multiple, max(0, x - context) // multiple * multiple
        y1, x1 = min(height, y + h + context), min(width, x + w + context)
        window, (wh, ww) = pad_to_multiple(pixels[y0:y1, x0:x1], multiple)
        result = fn(window, (slice(y0, y1), slice(x0, x1)))[:wh, :ww]
        out[y : y + h, x : x + w] += weight * result[y - y0 : y - y0 + h, x - x0 : x - x0 + w]
    return out


@pytest.mark.parametrize(
    "shape, tile, overlap, context, multiple",
    [
        ((150, 170), 48, 12, 4, 1),
        ((97, 203), 32, 8, 8, 8),
        ((64, 64), 64, 16, 4, 4),
        ((300, 40), 40, 10, 16, 8),
    ],
)
@pytest.mark.parametrize("in_place", [False, True])
def test_banded_blending_equals_whole_image_accumulation(shape, tile, overlap, context, multiple, in_place):
    x = photo(*shape)
    expected = accumulate_whole(x, local_nonlinear, tile, overlap, context, multiple)
    source = x.copy()
    got = process_tiled(source, local_nonlinear, tile, overlap, context, multiple, out=source if in_place else None)
    assert (got is source) == in_place
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)


def test_integer_input_is_read_as_unit_float():
    x8 = (photo(70, 90) * 255).astype(np.uint8)
    got = process_tiled(x8, local_nonlinear, 32, 8, 4)
    np.testing.assert_allclose(
        got, accumulate_whole(x8.astype(np.float32) / 255, local_nonlinear, 32, 8, 4, 1), atol=1e-6
    )


def peak_bytes(run):
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tiler_allocates_one_band_not_the_photo():
    """Blending buffers hold a row of tiles: restoring in place allocates a small fraction of the photo
    (no whole-image accumulator, no list of per-tile weights); a new output is one photo and that band."""
    x = photo(1280, 640)
    size = x.nbytes
    in_place = peak_bytes(lambda: process_tiled(x, local_nonlinear, 64, 16, 8, out=x))
    assert in_place < 0.25 * size
    separate = peak_bytes(lambda: process_tiled(x, local_nonlinear, 64, 16, 8))
    assert separate < 1.25 * size


class Brighten(Method):
    name = "brighten"
    context = 4

    def process(self, tile, sigma, context=None):
        return tile * 1.5


@pytest.mark.parametrize("strength", [1.0, 0.6])
def test_restore_in_place_matches_and_allocates_no_second_photo(strength):
    x = photo(1280, 640)
    # The real-noise path's measurement (a bounded ≤ 4-MP working copy, whatever the photo) is measured elsewhere.
    expected = run_restore(x.copy(), model=Brighten(), tile=128, strength=strength, real_noise="off").image.pixels
    image = Image.from_array(x)
    results = []
    peak = peak_bytes(
        lambda: results.append(
            run_restore(image, model=Brighten(), tile=128, strength=strength, real_noise="off", in_place=True)
        )
    )
    assert np.shares_memory(results[0].image.pixels, image.pixels)  # the input's pixels now hold the result
    np.testing.assert_array_equal(image.pixels, expected)
    assert peak < 0.35 * x.nbytes
