"""Classical peers of the restoration tasks on tiny synthetic data: each must undo its degradation."""

import numpy as np
import pytest

from restora.degrade.blur import convolve, disk_kernel, shake_kernel
from restora.degrade.haze import scatter
from restora.engine import run_restore
from restora.engine.deblur import (
    BlindDeconvolution,
    estimate_kernel,
    gaussian_kernel,
    richardson_lucy_deconvolve,
    wiener_deconvolve,
)
from restora.engine.dehaze import estimate_airlight
from restora.engine.filters import guided_filter


def mse(a, b):
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def patches(h=128, w=128, seed=0):
    """Saturated colour blocks with edges and a little texture: dark pixels in some channel everywhere (as
    the dark channel prior expects of haze-free photos) and plenty of edges for deblurring."""
    rng = np.random.default_rng(seed)
    blocks = rng.uniform(0, 1, (8, 8, 3)) ** 2
    blocks[..., rng.integers(0, 3, (8, 8))] *= 0.1
    img = np.kron(blocks, np.ones((h // 8, w // 8, 1)))
    yy, xx = np.mgrid[0:h, 0:w]
    img = img + 0.05 * np.sin(xx / 2.5)[:, :, None] * np.cos(yy / 3.0)[:, :, None]
    return np.clip(img, 0, 1).astype(np.float32)


@pytest.mark.parametrize("deconvolve", [richardson_lucy_deconvolve, wiener_deconvolve])
def test_deconvolution_given_the_true_kernel_beats_the_blurred_input(deconvolve):
    clean = patches()
    kernel = shake_kernel(13, np.random.default_rng(3))
    blurred = np.clip(convolve(clean, kernel) + np.random.default_rng(4).normal(0, 1 / 255, clean.shape), 0, 1)
    restored = deconvolve(blurred.astype(np.float32), kernel)
    assert restored.shape == clean.shape
    assert mse(restored, clean) < 0.5 * mse(blurred, clean)


def test_grey_images_are_deconvolved_once_and_stay_grey():
    grey = patches()[:, :, :1].repeat(3, axis=2)
    out = wiener_deconvolve(convolve(grey, disk_kernel(2.0)), disk_kernel(2.0))
    assert np.array_equal(out[:, :, 0], out[:, :, 1]) and np.array_equal(out[:, :, 0], out[:, :, 2])


def test_blind_deconvolution_identifies_a_gaussian_blur_and_sharpens():
    import cv2

    rng = np.random.default_rng(0)
    clean = (
        cv2.resize(rng.uniform(0, 1, (48, 48, 3)).astype(np.float32), (192, 192), interpolation=cv2.INTER_NEAREST) ** 2
    )
    blurred = convolve(clean, gaussian_kernel(2.0)) + rng.normal(0, 1 / 255, clean.shape)  # a stored photo:
    blurred = (np.rint(np.clip(blurred, 0, 1) * 255) / 255).astype(np.float32)  # a little noise, 8 bits
    name, kernel, _ = estimate_kernel(blurred)
    assert name in ("gaussian σ=1.8", "gaussian σ=2.7"), name
    assert mse(BlindDeconvolution().process(blurred, None), clean) < 0.7 * mse(blurred, clean)
    sharp_name, _, _ = estimate_kernel((np.rint(clean * 255) / 255).astype(np.float32))
    assert sharp_name in ("none", "gaussian σ=0.8"), sharp_name


def test_dark_channel_prior_dehazes_a_synthetic_hazy_image():
    clean = patches(160, 160)
    yy, xx = np.mgrid[0:160, 0:160].astype(np.float32)
    t = 0.05 + 0.85 * xx / 160  # known transmission: opaque haze at the far left, as distant scenery
    airlight = np.array([0.85, 0.88, 0.92], np.float32)
    hazy = scatter(clean, t, airlight)
    assert np.allclose(estimate_airlight(hazy), airlight, atol=0.1)
    out = run_restore(hazy, task="dehaze", model="dcp").image.pixels
    assert mse(out, clean) < 0.25 * mse(hazy, clean)


@pytest.mark.parametrize("model", ["clahe", "gamma", "retinex"])
def test_low_light_methods_brighten_and_keep_the_scene(model):
    clean = patches()
    dark = (clean**1.3 * 0.12).astype(np.float32)
    out = run_restore(dark, task="lowlight", model=model).image.pixels
    assert out.mean() > 1.8 * dark.mean()
    assert np.corrcoef(out.ravel(), clean.ravel())[0, 1] > 0.7  # CLAHE equalises locally: the least faithful


@pytest.mark.parametrize("model", ["median", "guided"])
def test_filters_take_thin_rain_streaks_away(model):
    from restora.degrade.rain import screen, streak_layer

    clean = patches(128, 128)
    streaks = streak_layer(
        (128, 128), np.random.default_rng(5), density=0.004, length=20, angle=10, width=1, blur=0.0, brightness=0.8
    )
    rainy = screen(clean, streaks[:, :, None])
    out = run_restore(rainy, task="derain", model=model).image.pixels
    assert mse(out, clean) < 0.7 * mse(rainy, clean)


def test_guided_filter_keeps_the_guides_edges_and_smooths_the_rest():
    rng = np.random.default_rng(0)
    step = np.zeros((64, 64), np.float32)
    step[:, 32:] = 1.0
    noisy = step + rng.normal(0, 0.1, step.shape).astype(np.float32)
    out = guided_filter(step, noisy, 4, 1e-3)
    assert np.abs(out[:, 36:60].mean() - 1.0) < 0.05 and np.abs(out[:, 4:28].mean()) < 0.05  # edge kept
    assert out[:, 4:28].std() < 0.5 * noisy[:, 4:28].std()  # noise smoothed


def test_the_cli_runs_the_blind_classical_methods(tmp_path):
    from restora.engine.catalogue import available_methods, default_method

    tasks = {
        t: {m.name for m in available_methods(t) if m.kind == "classical"}
        for t in ("deblur", "derain", "dehaze", "lowlight")
    }
    assert tasks == {
        "deblur": {"deconv-blind"},
        "derain": {"median", "guided"},
        "dehaze": {"dcp"},
        "lowlight": {"clahe", "gamma", "retinex"},
    }
    assert "rl" not in {m.name for m in available_methods()}  # the kernel-given peers are benchmark-only
    assert default_method("dehaze") in ("restora-dehaze", "restora-allinone", "dcp")
