"""Residual (exact), its spectrum and reading, detail at risk, and the files ``--noise-map``/``--residual`` write."""

import cv2
import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from restora.errors import OutputError
from restora.explain import detail_at_risk, noise_map, power_spectrum, residual, write_noise_map, write_residual
from restora.explain.residual import reading


def noisy_pair(scene, sigma=20.0, seed=0):
    clean = scene()
    return clean, clean + np.random.default_rng(seed).normal(0, sigma / 255, clean.shape).astype(np.float32)


def test_residual_is_input_minus_output_exactly(scene):
    clean, noisy = noisy_pair(scene)
    noisy[0, 0] = [1.3, -0.2, 0.5]  # unclipped input values stay as they are
    out = np.clip(cv2.GaussianBlur(noisy, (0, 0), 1.0), 0, 1)
    r = residual(noisy, out)
    assert r.dtype == np.float32 and np.array_equal(r, noisy - out)
    with pytest.raises(ValueError):
        residual(noisy, out[:-1])


@pytest.mark.parametrize("ext", [".npy", ".tif"])
def test_written_residual_holds_the_exact_values(tmp_path, scene, ext):
    clean, noisy = noisy_pair(scene)
    out = np.clip(cv2.GaussianBlur(noisy, (0, 0), 1.0), 0, 1)
    path = tmp_path / f"residual{ext}"
    write_residual(path, noisy, out)
    back = np.load(path) if ext == ".npy" else tifffile.imread(path)
    assert back.dtype == np.float32 and np.array_equal(back, noisy - out)


def test_residual_and_noise_map_pictures(tmp_path, scene):
    clean, noisy = noisy_pair(scene)
    write_residual(tmp_path / "r.png", noisy, noisy)  # nothing removed: mid-grey everywhere
    view = np.asarray(PILImage.open(tmp_path / "r.png"))
    assert view.shape == noisy.shape and np.all(view == 128)
    smap = write_noise_map(tmp_path / "m.npy", noisy)
    assert np.array_equal(np.load(tmp_path / "m.npy"), smap) and np.array_equal(smap, noise_map(noisy))
    write_noise_map(tmp_path / "m.png", noisy, smap)
    heat = np.asarray(PILImage.open(tmp_path / "m.png").convert("RGB"))
    assert heat.shape == noisy.shape and heat[..., 0].mean() > heat[..., 2].mean()  # inferno at σ≈20: red, not blue
    with pytest.raises(OutputError):
        write_noise_map(tmp_path / "missing" / "m.png", noisy, smap)


def test_spectrum_tells_white_from_correlated_noise():
    rng = np.random.default_rng(0)
    white = rng.normal(0, 0.05, (256, 256, 3)).astype(np.float32)
    s = power_spectrum(white)
    assert s.whiteness > 0.9 and 0.8 < s.low_high_ratio < 1.25
    assert np.mean(s.power) == pytest.approx(
        (0.05 * 255) ** 2 * np.sum([0.299, 0.587, 0.114] * np.array([0.299, 0.587, 0.114])), rel=0.15
    )
    blotchy = cv2.GaussianBlur(white, (0, 0), 1.5)
    c = power_spectrum(blotchy)
    assert c.whiteness < 0.5 and c.low_high_ratio > 10


def test_detail_at_risk_separates_noise_from_removed_structure(scene):
    clean, noisy = noisy_pair(scene, sigma=10.0)
    smap = noise_map(noisy)
    oracle = detail_at_risk(clean, residual(noisy, clean), smap)  # only noise removed
    blurred = np.clip(cv2.GaussianBlur(noisy, (0, 0), 2.0), 0, 1)
    smoothing = detail_at_risk(blurred, residual(noisy, blurred), smap)  # stripes and edges removed too
    assert oracle.at_risk_fraction < 0.05
    assert smoothing.at_risk_fraction > 0.3
    assert smoothing.risk.shape == clean.shape[:2] and 0 <= smoothing.risk.min() and smoothing.risk.max() <= 1
    # the reading says which is which
    assert reading(power_spectrum(residual(noisy, clean)), oracle).startswith("The residual is close to white noise")
    assert reading(power_spectrum(residual(noisy, blurred)), smoothing).startswith(
        "The residual contains image structure"
    )
