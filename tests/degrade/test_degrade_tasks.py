"""Degradations of the restoration tasks beyond noise: blur, rain, haze, low light and their mixture."""

import doctest

import numpy as np
import pytest

from restora.degrade import DefocusBlur, Haze, LevinKernels, MotionBlur, Rain, Underexpose, get_pipeline
from restora.degrade import blur, exposure, haze, rain
from restora.degrade.blur import convolve, disk_kernel, shake_kernel
from restora.degrade.haze import invert_scatter, scatter
from restora.degrade.rain import screen, streak_layer
from restora.errors import RestoraError

NEW_PIPELINES = ["motion-blur", "defocus", "rain", "haze", "lowlight-dark", "all-in-one"]


def texture(size=64, seed=0):
    return np.random.default_rng(seed).random((size, size, 3)).astype(np.float32)


def high_frequency_fraction(channel: np.ndarray) -> float:
    """Share of the (mean-removed) power above 0.25 cycles/pixel."""
    power = np.abs(np.fft.fft2(channel - channel.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(channel.shape[1]), np.fft.fftfreq(channel.shape[0])))
    return float(power[f > 0.25].sum() / power.sum())


@pytest.mark.parametrize("module", [blur, haze, rain, exposure])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("size", [7, 15, 31])
def test_shake_kernel_sums_to_one_fits_and_is_not_a_point(size):
    for seed in range(5):
        k = shake_kernel(size, np.random.default_rng(seed), inertia=0.8, jerk_prob=0.05)
        assert k.shape == (size, size) and k.min() >= 0
        assert abs(float(k.sum()) - 1.0) < 1e-5
        support = np.argwhere(k > 0)
        assert np.ptp(support, axis=0).max() >= size - 3  # the path spans the kernel
        assert (k > 0).sum() >= size  # a connected trail, not a few dots


def test_motion_and_defocus_blur_move_energy_to_low_frequencies_and_keep_the_mean():
    x = texture(64)
    before = high_frequency_fraction(x[:, :, 0])
    # A shake path is thin, so detail across it survives; a disk blurs every direction.
    for op, most in ((MotionBlur(size=(15, 15)), 0.5), (DefocusBlur(radius=(3, 3)), 0.2)):
        y = op(x, np.random.default_rng(1))
        assert high_frequency_fraction(y[:, :, 0]) < most * before
        assert abs(float(y.mean() - x.mean())) < 5e-3  # kernel sums to 1: DC unchanged
        assert y.std() < x.std()


def test_kernel_spectrum_never_amplifies():
    k = shake_kernel(21, np.random.default_rng(3))
    otf = np.abs(np.fft.fft2(k, s=(64, 64)))
    assert otf[0, 0] == pytest.approx(1.0, abs=1e-5) and otf.max() <= 1.0 + 1e-5


def test_convolve_is_a_true_convolution_with_a_centred_kernel():
    impulse = np.zeros((21, 21, 3), np.float32)
    impulse[10, 10] = 1.0
    k = np.zeros((5, 5), np.float32)
    k[0, 1], k[2, 2] = 0.25, 0.75
    y = convolve(impulse, k)[:, :, 0]
    assert np.allclose(y[8:13, 8:13], k)  # the impulse response is the kernel itself, not its mirror


@pytest.mark.parametrize("radius", [1.0, 2.7, 6.0])
def test_defocus_kernel_is_radially_symmetric(radius):
    k = disk_kernel(radius)
    assert abs(float(k.sum()) - 1.0) < 1e-6
    for transformed in (k.T, k[::-1], k[:, ::-1], np.rot90(k)):
        assert np.allclose(k, transformed)
    c = k.shape[0] // 2
    yy, xx = np.mgrid[: k.shape[0], : k.shape[1]] - c
    r = np.hypot(yy, xx)
    assert np.allclose(k[r <= radius - 1], k[c, c])  # flat inside the disk
    assert np.all(k[r >= radius + 1] == 0)  # nothing outside it
    edge = (r > radius - 1) & (r < radius + 1)
    assert np.all(k[edge] <= k[c, c] + 1e-7)  # antialiased rim falls off


def test_levin_kernels_load_when_the_data_exists():
    try:
        op = LevinKernels()
    except RestoraError as err:
        pytest.skip(f"Levin kernels not available: {err}")
    assert len(op.kernels) == 8
    assert [k.shape[0] for k in op.kernels] == [19, 17, 15, 27, 13, 21, 23, 23]  # k1 … k8
    for k in op.kernels:
        assert abs(float(k.sum()) - 1.0) < 1e-5
    y = op(texture(48), np.random.default_rng(0))
    assert y.shape == (48, 48, 3) and high_frequency_fraction(y[:, :, 0]) < high_frequency_fraction(
        texture(48)[:, :, 0]
    )


def test_levin_kernels_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(RestoraError, match="Levin kernels not found"):
        LevinKernels(tmp_path / "levin09.npz")


def test_haze_round_trip_recovers_the_clear_image_exactly():
    x = texture(48)
    hazy, t, a = Haze().synthesize(x, np.random.default_rng(2))
    assert t.shape == (48, 48) and a.shape == (3,)
    assert 0.2 - 1e-6 <= t.min() and t.max() <= 0.95 + 1e-6
    assert np.all((0.7 * 0.95 - 1e-6 <= a) & (a <= 1.0))
    assert np.allclose(invert_scatter(hazy, t, a), x, atol=1e-5)
    assert np.allclose(scatter(x, t, a), hazy)
    assert hazy.std() < x.std()  # haze lowers contrast


def test_haze_transmission_is_smooth():
    for seed in range(3):  # even on white-noise texture: no neighbouring pixels differ by 10% of t's range
        _, t, _ = Haze().synthesize(texture(128), np.random.default_rng(seed))
        steps = max(np.abs(np.diff(t, axis=0)).max(), np.abs(np.diff(t, axis=1)).max())
        assert steps < 0.1 * (t.max() - t.min())


def test_rain_layer_density_grows_with_the_density_parameter():
    coverage = []
    for density in (0.002, 0.01, 0.05):
        layer = streak_layer(
            (96, 96), np.random.default_rng(5), density=density, length=12, angle=10, width=1, blur=0.5, brightness=0.8
        )
        assert 0.0 <= layer.min() and layer.max() <= 1.0
        coverage.append(float((layer > 0.05).mean()))
    assert coverage[0] < coverage[1] < coverage[2]
    assert coverage[0] > 0


def test_screen_blend_never_darkens():
    rng = np.random.default_rng(6)
    a, b = rng.random((64, 64, 3)).astype(np.float32), rng.random((64, 64, 3)).astype(np.float32)
    s = screen(a, b)
    assert np.all(s >= np.maximum(a, b) - 1e-6) and np.all(s <= 1.0)
    assert np.allclose(screen(a, np.zeros_like(a)), a, atol=1e-6)  # black adds nothing


def test_rain_only_brightens_and_stays_in_range():
    x = texture(64)
    y = Rain()(x, np.random.default_rng(7))
    assert y.min() >= 0 and y.max() <= 1
    assert np.all(y >= np.minimum(x, 0.7) - 1e-6)  # streaks add light; the veil only pulls towards bright air


def test_additive_rain_adds_the_same_grey_streaks_to_every_channel():
    # Rain100H's composite I = min(1, J + S): rainy - clean is equal in R, G, B wherever nothing clips
    x = 0.6 * texture(96)
    y = Rain(additive=1.0, veil_prob=0.0)(x, np.random.default_rng(3))
    d = y - x
    unclipped = y.max(axis=2) < 1.0
    assert d.max() > 0.2 and np.mean(d.mean(axis=2) > 0.05) > 0.01  # streaks are there
    assert np.abs(d - d.mean(axis=2, keepdims=True))[unclipped].max() < 1e-5


def test_underexpose_darkens_monotonically():
    ramp = np.dstack([np.tile(np.linspace(0, 1, 32, dtype=np.float32), (8, 1))] * 3)
    y = Underexpose()(ramp, np.random.default_rng(8))
    assert np.all(y <= ramp + 1e-6) and np.all(np.diff(y[0, :, 0]) >= 0)


@pytest.mark.parametrize("name", NEW_PIPELINES)
def test_new_pipelines_are_seeded_and_keep_shape(name):
    x = np.random.default_rng(0).random((40, 36, 3)).astype(np.float32)
    a = get_pipeline(name)(x, np.random.default_rng(11))
    b = get_pipeline(name)(x, np.random.default_rng(11))
    c = get_pipeline(name)(x, np.random.default_rng(12))
    assert a.shape == x.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0.0 <= a.min() and a.max() <= 1.0


def test_lowlight_dark_pipeline_is_darker():
    x = texture(48)
    assert get_pipeline("lowlight-dark")(x, np.random.default_rng(9)).mean() < 0.6 * x.mean()
