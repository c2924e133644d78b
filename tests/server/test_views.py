"""The page's views: the noise map and residual are restora.explain's, shown as 8-bit pictures."""

from __future__ import annotations

import numpy as np

from restora.explain import noise_map_overall
from restora.explain.outputs import heat_map
from restora.io.image import Image
from restora.explain.noise_map import noise_map_scale
from restora.server.views import noise_map_rgb, residual_rgb


def ramp(height: int = 96, width: int = 128) -> np.ndarray:
    """A noise-free colour ramp, dark on the left, bright on the right, in [0.1, 0.9]."""
    x = np.linspace(0.1, 0.9, width, dtype=np.float32)
    y = np.linspace(0.0, 0.1, height, dtype=np.float32)
    return np.clip(x[None, :, None] + y[:, None, None] * np.array([1.0, -1.0, 0.5], np.float32), 0, 1)


def test_noise_map_view_is_explains_map_and_reads_sigma_20():
    clean = ramp()
    noisy = clean + np.random.default_rng(0).normal(0, 20 / 255, clean.shape).astype(np.float32)
    view = noise_map_rgb(noisy)
    assert view.shape == (96, 128, 3) and view.dtype == np.uint8
    np.testing.assert_array_equal(view, heat_map(noise_map_overall(Image.from_array(noisy))))
    # Every pixel shows the colour of σ ≈ 20 on the photo's own scale (18 and 22 bracket it).
    scale = noise_map_scale(noise_map_overall(Image.from_array(noisy)))
    assert 20 <= scale <= 30
    grid = np.linspace(0, scale, 241)
    colours = heat_map(grid[None, :], scale)[0].astype(int)
    median = np.median(view.reshape(-1, 3), axis=0)
    assert 18 <= grid[np.argmin(np.abs(colours - median).sum(axis=1))] <= 22  # the σ the median colour shows


def test_noise_map_view_is_brighter_where_noise_is_stronger():
    clean = ramp()
    sigma = 2.0 + 40.0 * clean  # signal-dependent: σ grows with brightness, as in camera noise
    noisy = clean + np.random.default_rng(1).standard_normal(clean.shape).astype(np.float32) * sigma / 255
    brightness = noise_map_rgb(noisy).astype(int).sum(axis=2)
    assert brightness[:, -32:].mean() > brightness[:, :32].mean() + 100


def test_a_given_sigma_map_is_shown_without_estimating_again():
    sigma_map = np.full((4, 6, 3), 25.0, np.float32)
    view = noise_map_rgb(np.zeros((4, 6, 3), np.float32), sigma_map)
    np.testing.assert_array_equal(view, heat_map(np.full((4, 6), 25.0), 30.0))


def test_heat_map_runs_dark_to_bright():
    rgb = heat_map(np.array([[0.0, 25.0, 50.0, 250.0]]), 50.0)
    brightness = rgb.astype(int).sum(axis=2)[0]
    assert rgb.dtype == np.uint8 and brightness[0] < 20
    assert brightness[0] < brightness[1] < brightness[2] == brightness[3]


def test_residual_is_grey_where_nothing_changed():
    a = np.random.default_rng(1).random((8, 8, 3), dtype=np.float32)
    assert set(np.unique(residual_rgb(a, a))) == {128}
    brighter = residual_rgb(a, np.clip(a - 0.05, 0, 1))
    assert brighter[a > 0.05].min() > 128


def test_heat_map_scale_is_the_photos_own():
    # A camera JPEG's σ 5 fills the colours as a scan's σ 50 does: the default scale follows the map.
    faint, strong = heat_map(np.full((2, 2), 5.0)), heat_map(np.full((2, 2), 50.0))
    np.testing.assert_array_equal(faint, strong)
    assert faint.astype(int).sum(axis=2).min() > 300  # bright, not the near black of σ 5 on a 0–50 scale
    assert heat_map(np.full((2, 2), 5.0), 50.0).astype(int).sum(axis=2).max() < 150
