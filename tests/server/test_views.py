"""The page's views: the noise map and residual are restora.explain's, shown as 8-bit pictures."""

from __future__ import annotations

import numpy as np

from restora.explain import noise_map_overall
from restora.explain.outputs import heat_map
from restora.io.image import Image
from restora.server.views import HEAT_MAP_MAX_SIGMA, noise_map_rgb, residual_rgb


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
    # Every pixel shows the colour of σ ≈ 20 on the fixed 0–50 scale (18 and 22 bracket it).
    low, high = heat_map(np.array([[18.0, 22.0]]))[0].astype(int)
    median = np.median(view.reshape(-1, 3), axis=0)
    assert np.all(median >= np.minimum(low, high) - 2) and np.all(median <= np.maximum(low, high) + 2)


def test_noise_map_view_is_brighter_where_noise_is_stronger():
    clean = ramp()
    sigma = 2.0 + 40.0 * clean  # signal-dependent: σ grows with brightness, as in camera noise
    noisy = clean + np.random.default_rng(1).standard_normal(clean.shape).astype(np.float32) * sigma / 255
    brightness = noise_map_rgb(noisy).astype(int).sum(axis=2)
    assert brightness[:, -32:].mean() > brightness[:, :32].mean() + 100


def test_a_given_sigma_map_is_shown_without_estimating_again():
    sigma_map = np.full((4, 6, 3), HEAT_MAP_MAX_SIGMA / 2, np.float32)
    view = noise_map_rgb(np.zeros((4, 6, 3), np.float32), sigma_map)
    np.testing.assert_array_equal(view, heat_map(np.full((4, 6), HEAT_MAP_MAX_SIGMA / 2)))


def test_heat_map_runs_dark_to_bright():
    rgb = heat_map(np.array([[0.0, HEAT_MAP_MAX_SIGMA / 2, HEAT_MAP_MAX_SIGMA, 5 * HEAT_MAP_MAX_SIGMA]]))
    brightness = rgb.astype(int).sum(axis=2)[0]
    assert rgb.dtype == np.uint8 and brightness[0] < 20
    assert brightness[0] < brightness[1] < brightness[2] == brightness[3]


def test_residual_is_grey_where_nothing_changed():
    a = np.random.default_rng(1).random((8, 8, 3), dtype=np.float32)
    assert set(np.unique(residual_rgb(a, a))) == {128}
    brighter = residual_rgb(a, np.clip(a - 0.05, 0, 1))
    assert brighter[a > 0.05].min() > 128
