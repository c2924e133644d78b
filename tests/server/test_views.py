"""The local noise-level map and the residual view."""

from __future__ import annotations

import numpy as np

from restora.io.image import Image
from restora.server.views import HEAT_MAP_MAX_SIGMA, heat_map_rgb, noise_map, residual_rgb


def test_noise_map_follows_local_noise_level():
    rng = np.random.default_rng(0)
    x = np.full((128, 192, 3), 0.5, np.float32)
    x[:, :96] += rng.normal(0, 20 / 255, (128, 96, 3)).astype(np.float32)
    x[:, 96:] += rng.normal(0, 5 / 255, (128, 96, 3)).astype(np.float32)
    sigma = noise_map(Image(pixels=x))
    assert sigma.shape == (128, 192) and sigma.dtype == np.float32
    assert abs(np.median(sigma[:, :64]) - 20) < 2
    assert abs(np.median(sigma[:, 128:]) - 5) < 1


def test_noise_map_ignores_smooth_shading_and_odd_sizes():
    ramp = np.linspace(0, 1, 101, dtype=np.float32)
    x = (ramp[None, :, None] * 0.6 + ramp[:37, None, None] * 0.3).repeat(3, axis=2)
    sigma = noise_map(x)
    assert sigma.shape == (37, 101)
    assert sigma.max() < 0.5
    assert noise_map(np.zeros((2, 5, 3), np.float32)).shape == (2, 5)


def test_heat_map_runs_dark_to_bright():
    rgb = heat_map_rgb(np.array([[0.0, HEAT_MAP_MAX_SIGMA / 2, HEAT_MAP_MAX_SIGMA, 5 * HEAT_MAP_MAX_SIGMA]]))
    brightness = rgb.astype(int).sum(axis=2)[0]
    assert rgb.dtype == np.uint8 and brightness[0] < 20
    assert brightness[0] < brightness[1] < brightness[2] == brightness[3]


def test_residual_is_grey_where_nothing_changed():
    a = np.random.default_rng(1).random((8, 8, 3), dtype=np.float32)
    assert set(np.unique(residual_rgb(a, a))) == {128}
    brighter = residual_rgb(a, np.clip(a - 0.05, 0, 1))
    assert brighter[a > 0.05].min() > 128
