"""The per-pixel noise-level map on synthetic noise of known σ."""

import numpy as np
import pytest

from restora.degrade import PoissonGaussianNoise
from restora.explain import estimate_noise_model, noise_map, noise_map_overall
from restora.io import Image


@pytest.mark.parametrize("sigma", [5.0, 20.0, 45.0])
def test_gaussian_noise_of_known_sigma(scene, sigma):
    clean = scene()
    noisy = clean + np.random.default_rng(1).normal(0, sigma / 255, clean.shape).astype(np.float32)
    m = noise_map(noisy)
    assert m.shape == clean.shape and m.dtype == np.float32
    assert np.abs(m - sigma).mean() <= max(1.0, 0.06 * sigma)


def test_each_channel_gets_its_own_sigma(scene):
    clean = scene()
    sigmas = np.array([4.0, 12.0, 30.0], np.float32)
    noisy = clean + np.random.default_rng(2).standard_normal(clean.shape).astype(np.float32) * sigmas / 255
    means = noise_map(noisy).reshape(-1, 3).mean(axis=0)
    assert np.allclose(means, sigmas, rtol=0.1)


def test_signal_dependent_noise_follows_brightness(scene):
    clean = scene()
    shot, read = 4e-3, 3.0
    noisy = PoissonGaussianNoise(shot=(shot, shot), read=(read, read))(clean, np.random.default_rng(3))
    truth = np.sqrt(shot * clean + (read / 255) ** 2) * 255
    m = noise_map(noisy)
    assert np.mean(np.abs(m - truth) / truth) <= 0.2
    model = estimate_noise_model(noisy)
    assert np.all(np.diff(model.sigma[0]) > -0.5)  # rises with brightness (up to estimation noise)
    assert model.shot == pytest.approx([shot] * 3, rel=0.35)
    assert model.signal_dependence > 1.5


def test_noise_free_photo_has_a_near_zero_map(scene):
    assert noise_map(scene()).max() < 1.0


def test_overall_map_is_the_drop_in_for_the_web_page(scene):
    clean = scene(64, 80)
    noisy = clean + np.random.default_rng(4).normal(0, 10 / 255, clean.shape).astype(np.float32)
    from_image = noise_map_overall(Image.from_array(noisy))
    assert from_image.shape == (64, 80) and from_image.dtype == np.float32
    assert np.array_equal(from_image, noise_map_overall(noisy))
    assert abs(float(from_image.mean()) - 10) < 1.5
    assert noise_map_overall(noisy.mean(axis=2)).shape == (64, 80)  # greyscale (H, W) arrays too


def test_tiny_and_flat_images_do_not_fail():
    assert np.array_equal(noise_map(np.full((4, 5, 3), 0.5, np.float32)), np.zeros((4, 5, 3), np.float32))
    flat = noise_map(np.full((40, 40, 3), 0.5, np.float32))
    assert flat.shape == (40, 40, 3) and np.all(flat == 0)


@pytest.mark.parametrize("shape", [(7, 7), (8, 8), (15, 15), (8, 15), (9, 30)])
def test_images_with_too_few_patches_for_the_noise_model_get_an_empty_map(shape):
    """7 px and more fit a 7×7 patch, but under 98 patches no brightness bin can be measured."""
    noisy = np.random.default_rng(0).random((*shape, 3)).astype(np.float32)
    assert np.array_equal(noise_map(noisy), np.zeros((*shape, 3), np.float32))


def test_sixteen_pixels_square_is_enough_for_a_noise_model():
    noisy = 0.5 + np.random.default_rng(0).normal(0, 20 / 255, (16, 16, 3)).astype(np.float32)
    assert noise_map(noisy).min() > 0  # measured (from few patches: biased low)
