"""The real-photo noise estimator (std, noise level function, correlation) and pixel-shuffle denoising."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from restora.engine.noise import measure_noise
from restora.engine.restore import pd_stride_for, pixel_shuffle_apply, run_restore


def _scene(size: int = 192) -> np.ndarray:
    """A smooth colour scene with a few soft shapes (little texture), float32 [0, 1]."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    base = np.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.8 - 0.6 * xx * yy], axis=2)
    blob = np.exp(-((xx - 0.4) ** 2 + (yy - 0.6) ** 2) / 0.02)[..., None]
    return (base * (1 - 0.3 * blob)).astype(np.float32)


def _correlated(shape, blur: float, rng) -> np.ndarray:
    """Unit-variance Gaussian noise low-passed by a Gaussian of ``blur`` px (spatially correlated)."""
    w = rng.standard_normal(shape).astype(np.float32)
    w = cv2.GaussianBlur(w, (0, 0), blur)
    return w / w.std()


@pytest.mark.parametrize("sigma", [5.0, 15.0, 50.0])
def test_white_noise_std_within_15_percent_and_reads_white(sigma):
    rng = np.random.default_rng(int(sigma))
    clean = _scene()
    noisy = clean + rng.normal(0, sigma / 255, clean.shape).astype(np.float32)
    p = measure_noise(noisy)
    assert np.all(np.abs(p.sigma / sigma - 1) < 0.15), p.sigma
    assert p.neighbour_correlation < 0.15 and p.decorrelating_stride(0.2) == 1
    assert pd_stride_for(noisy) == 1


def test_correlated_noise_std_correlation_and_pd_stride():
    rng = np.random.default_rng(3)
    clean = _scene()
    noise = _correlated(clean.shape, 0.9, rng) * 8 / 255
    p = measure_noise(clean + noise)
    truth = noise.reshape(-1, 3).std(axis=0) * 255
    assert np.all(np.abs(p.sigma / truth - 1) < 0.2), (p.sigma, truth)
    assert p.neighbour_correlation > 0.4 and p.correlation_length > 2
    assert pd_stride_for(clean + noise) == 2 and pd_stride_for(clean + noise, "off") == 1
    # the old patch-PCA estimator reads only the noise's whitest part: much less than the std
    from restora.engine.noise import estimate_sigma

    assert np.all(estimate_sigma(clean + noise) < 0.7 * truth)


def test_signal_dependent_noise_level_function_rises_with_brightness():
    rng = np.random.default_rng(4)
    clean = _scene()
    std = (2 + 20 * clean) / 255  # σ from 2 in the dark to 22 at white
    noisy = clean + rng.standard_normal(clean.shape).astype(np.float32) * std
    p = measure_noise(noisy)
    for c in range(3):
        assert p.level_sigma[c, -1] > 1.5 * p.level_sigma[c, 0], p.level_sigma[c]
    assert p.signal_dependence > 1.5
    truth = (noisy - clean).reshape(-1, 3).std(axis=0) * 255
    assert np.all(np.abs(p.sigma / truth - 1) < 0.2), (p.sigma, truth)
    json.dumps(p.to_dict())  # plain JSON values


def test_pixel_shuffle_denoises_each_sub_image_and_interleaves_back():
    x = np.random.default_rng(0).random((9, 7, 3)).astype(np.float32)
    seen = []
    y = pixel_shuffle_apply(x, 3, lambda s: (seen.append(s.shape), s + 1)[1])
    assert np.allclose(y, x + 1) and len(seen) == 9 and seen[0] == (3, 3, 3)


def test_restore_uses_pd_for_correlated_noise_only_when_asked_or_measured():
    rng = np.random.default_rng(5)
    clean = _scene(128)
    noisy = np.clip(clean + _correlated(clean.shape, 0.9, rng) * 10 / 255, 0, 1)
    auto = run_restore(noisy, "denoise", "nlm", real_noise="auto")
    off = run_restore(noisy, "denoise", "nlm", real_noise="off")
    assert auto.pd_stride == 2 and off.pd_stride == 1
    assert auto.image.pixels.shape == noisy.shape
    white = np.clip(clean + rng.normal(0, 10 / 255, clean.shape), 0, 1).astype(np.float32)
    assert run_restore(white, "denoise", "nlm").pd_stride == 1
    assert run_restore(white, "denoise", "nlm", real_noise="on").pd_stride >= 2


def test_bench_runs_our_networks_plain_with_a_plain_suffix():
    from restora.errors import ModelError
    from restora.eval.peers import parse_methods

    chosen, unavailable = parse_methods("restora-denoise-fast,restora-denoise-fast+plain")
    assert [(m.label, m.real_noise) for m in chosen] == [
        ("restora-denoise-fast", "auto"),
        ("restora-denoise-fast plain", "off"),
    ]
    assert unavailable == {}
    with pytest.raises(ModelError, match="follows a network of ours"):
        parse_methods("nlm+plain")


def _textured(size: int = 192) -> np.ndarray:
    """The smooth scene plus gratings of periods 3–9 px, about 12 grey levels, everywhere (no flat areas left)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    texture = sum(
        np.cos(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period + a)
        for a, period in [(0.3, 3.1), (1.2, 4.7), (2.0, 6.3), (2.7, 9.0)]
    )
    return _scene(size) + (12 / 255 * texture / texture.std())[..., None]


def test_stride_ratio_tells_white_noise_on_texture_from_correlated_noise():
    from restora.engine.noise import WHITE_STRIDE_RATIO, stride_ratio

    rng = np.random.default_rng(8)
    clean = _textured()
    white = clean + rng.normal(0, 5 / 255, clean.shape).astype(np.float32)
    correlated = _scene() + _correlated(clean.shape, 0.9, rng) * 5 / 255
    assert np.mean(stride_ratio(white)) < WHITE_STRIDE_RATIO < np.mean(stride_ratio(correlated))
    p = measure_noise(white)
    assert p.white and pd_stride_for(white) == 1
    assert np.all(np.abs(p.sigma / 5 - 1) < 0.15), p.sigma
    assert not measure_noise(correlated).white


def test_iterative_weak_texture_selection_ignores_texture_the_half_selection_keeps():
    from restora.engine.noise import _half_selection_sigma, _patches, _pca_sigma

    rng = np.random.default_rng(9)
    clean = _textured(160)[..., 0]
    clean[:, :16] = 0.5  # a tenth of the photo is flat
    noisy = (clean + rng.normal(0, 4 / 255, clean.shape)) * 255
    p = _patches(noisy, rng).astype(np.float64)
    half = _half_selection_sigma(p)
    iterative = _pca_sigma(p)
    assert abs(iterative / 4 - 1) < 0.03 and abs(iterative - 4) < 0.5 * abs(half - 4), (iterative, half)


def test_bin_variance_reads_the_spread_of_noise_variance_from_low_quantiles():
    # Window variances σ²·m·G with G of unit mean and shape a below the χ² value k/2: the noise variance itself
    # varies between windows (as camera noise of one channel follows the others); a ninth of them are texture.
    from scipy.stats import chi2

    from restora.engine.noise import _bin_noise_variance

    rng = np.random.default_rng(10)
    m, dof, sigma2 = 0.85, 40.0, 25.0
    noise = sigma2 * m * rng.gamma(6.0, 1 / 6.0, 4000)
    var = np.concatenate([noise, noise[:500] + rng.uniform(100, 1000, 500)])
    est = _bin_noise_variance(var, m, dof, 0.2)
    chi2_rule = np.quantile(var, 0.2) / (m * chi2.ppf(0.2, dof) / dof)
    assert abs(est / sigma2 - 1) < 0.1 < abs(chi2_rule / sigma2 - 1), (est, chi2_rule)
    homogeneous = sigma2 * m * rng.chisquare(dof, 4000) / dof
    assert abs(_bin_noise_variance(homogeneous, m, dof, 0.2) / sigma2 - 1) < 0.05


def test_estimator_survives_a_blown_out_photo():
    # Two thirds of the frame at full scale: the brightness bins' quantile edges repeat and some bins are empty.
    rng = np.random.default_rng(0)
    x = np.ones((256, 256, 3), np.float32)
    x[:, :80] = np.clip(0.5 + rng.normal(0, 12.75 / 255, (256, 80, 3)), 0, 1)
    p = measure_noise(x)
    assert np.all(np.isfinite(p.sigma)) and np.all(p.sigma > 3)
    assert np.all(np.isfinite(p.level_sigma))
