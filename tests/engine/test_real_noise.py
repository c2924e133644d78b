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
    assert [(m.label, m.real_noise) for m in chosen] == [("restora-denoise-fast", "auto"),
                                                         ("restora-denoise-fast plain", "off")]
    assert unavailable == {}
    with pytest.raises(ModelError, match="follows a network of ours"):
        parse_methods("nlm+plain")
