import numpy as np
import pytest

from restora.degrade import (
    JPEG,
    CameraPipeline,
    Compose,
    CorrelatedNoise,
    FilmGrain,
    GaussianNoise,
    LowLight,
    PIPELINES,
    PoissonGaussianNoise,
    get_pipeline,
)
from restora.degrade.camera import demosaic_rggb, linear_to_srgb, mosaic_rggb, srgb_to_linear
from restora.errors import RestoraError


def flat(v=0.5, size=128):
    return np.full((size, size, 3), v, np.float32)


@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_gaussian_noise_has_the_asked_sigma(sigma):
    y = GaussianNoise(sigma=(sigma, sigma))(flat(size=256), np.random.default_rng(1))
    measured = (y - 0.5).std(axis=(0, 1)) * 255
    assert np.allclose(measured, sigma, rtol=0.02)
    assert y.min() < 0 or sigma < 30  # not clipped: statistics stay exact


def test_gray_gaussian_noise_is_shared_by_channels():
    y = GaussianNoise(sigma=(20, 20), gray_prob=1.0)(flat(), np.random.default_rng(0))
    assert np.allclose(y[:, :, 0], y[:, :, 1]) and np.allclose(y[:, :, 1], y[:, :, 2])


def test_shot_noise_variance_grows_linearly_with_signal():
    op = PoissonGaussianNoise(shot=(0.004, 0.004), read=(2.0, 2.0))
    variances = []
    for level in (0.1, 0.4, 0.8):
        y = op(flat(level, 256), np.random.default_rng(2))
        variances.append(((y - level) ** 2).mean())
    expected = [0.004 * v + (2 / 255) ** 2 for v in (0.1, 0.4, 0.8)]
    assert np.allclose(variances, expected, rtol=0.05)


def test_correlated_noise_spectrum_is_not_white():
    y = CorrelatedNoise(sigma=(10, 10), exponent=(2, 2), cutoff=(0.05, 0.05))(flat(0.0, 128), np.random.default_rng(3))
    n = y[:, :, 0]
    power = np.abs(np.fft.fft2(n - n.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128)))
    assert power[(f > 0) & (f < 0.1)].mean() > 10 * power[f > 0.3].mean()
    assert abs(n.std() * 255 - 10) < 0.5


def test_white_noise_has_flat_spectrum_for_contrast():
    y = GaussianNoise(sigma=(10, 10))(flat(0.0, 128), np.random.default_rng(3))[:, :, 0]
    power = np.abs(np.fft.fft2(y)) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128)))
    ratio = power[(f > 0) & (f < 0.1)].mean() / power[f > 0.3].mean()
    assert 0.7 < ratio < 1.3


def test_mosaic_demosaic_round_trip_on_smooth_image():
    x = np.dstack([np.tile(np.linspace(0.2, 0.8, 64, dtype=np.float32), (64, 1))] * 3)
    assert np.abs(demosaic_rggb(mosaic_rggb(x)) - x)[2:-2, 2:-2].max() < 0.01
    assert np.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-5)


def test_camera_pipeline_noise_is_spatially_correlated():
    rng = np.random.default_rng(4)
    x = flat(0.4, 128)
    n = (CameraPipeline(shot=(5e-3, 5e-3), jpeg_prob=0.0)(x, rng) - x)[:, :, 1]
    n = n - n.mean()
    lag1 = (n[:, 1:] * n[:, :-1]).mean() / n.var()
    assert lag1 > 0.1  # demosaicing spreads each photosite's noise to its neighbours


def test_in_camera_noise_reduction_leaves_weaker_lower_frequency_noise_and_keeps_the_image():
    import cv2

    x = flat(0.4, 96)  # grey survives unprocessing exactly, so x − result is the noise alone
    plain = CameraPipeline(shot=(5e-3, 5e-3), jpeg_prob=0.0)(x, np.random.default_rng(4)) - x
    reduced = CameraPipeline(shot=(5e-3, 5e-3), jpeg_prob=0.0, isp_nr_prob=1.0)(x, np.random.default_rng(4)) - x

    def low_share(n):  # share of the noise's energy that survives a σ = 2 px blur
        n = n - n.mean((0, 1))
        return float((cv2.GaussianBlur(n, (0, 0), 2) ** 2).mean() / (n**2).mean())

    assert reduced.std() < 0.8 * plain.std()
    assert low_share(reduced) > 2 * low_share(plain)
    assert abs(float(reduced.mean())) < 0.01  # noise only: the grey level is kept


def test_lowlight_is_noisier_in_shadows_than_plain_image_and_clipped():
    y = LowLight(factor=(16, 16))(flat(0.3), np.random.default_rng(5))
    assert 0.0 <= y.min() and y.max() <= 1.0
    assert (y - 0.3).std() > 0.01


def test_film_grain_and_jpeg_change_the_image():
    rng = np.random.default_rng(6)
    x = np.random.default_rng(0).random((64, 64, 3)).astype(np.float32)
    assert np.abs(FilmGrain()(x, rng) - x).mean() > 1e-3
    assert np.abs(JPEG(quality=(40, 40))(x, rng) - x).mean() > 1e-2


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_every_pipeline_is_seeded_and_keeps_shape(name):
    x = np.random.default_rng(0).random((48, 40, 3)).astype(np.float32)
    a = get_pipeline(name)(x, np.random.default_rng(7))
    b = get_pipeline(name)(x, np.random.default_rng(7))
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.array_equal(a, b)


def test_compose_applies_in_order_and_unknown_pipeline_is_a_clear_error():
    x = flat()
    y = Compose([GaussianNoise(sigma=(10, 10)), JPEG(quality=(90, 90))])(x, np.random.default_rng(0))
    assert y.min() >= 0  # JPEG last: clipped and quantised
    with pytest.raises(RestoraError, match="unknown degradation pipeline"):
        get_pipeline("nope")
