"""Salt-and-pepper and periodic noise: the switching median, the notch filter, the noise-kind detector."""

import cv2
import numpy as np
import pytest

from restora.degrade import JPEG, GaussianNoise, PeriodicNoise, SaltPepperNoise
from restora.degrade.noise import shaped_noise
from restora.engine.impulse import switching_median
from restora.engine.noise_type import classify_noise, jpeg_step
from restora.engine.periodic import pattern_peaks, remove_periodic
from restora.eval.metrics import psnr


def u8(x):
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def photo(size=160, seed=0):
    """A photo-like image: a smooth random colour field (1/f² spectrum) with a few sharp-edged shapes."""
    rng = np.random.default_rng(seed)
    x = 0.5 + 0.12 * shaped_noise((size, size, 3), 2.0, 0.01, rng)
    for _ in range(4):
        y0, x0 = rng.integers(0, size - 40, 2)
        x[y0 : y0 + rng.integers(15, 40), x0 : x0 + rng.integers(15, 40)] = rng.uniform(0.1, 0.9, 3)
    return np.clip(x, 0.02, 0.98).astype(np.float32)


def test_switching_median_beats_a_plain_median_and_keeps_uncorrupted_pixels():
    clean = photo()
    noisy = SaltPepperNoise(amount=(0.2, 0.2))(clean, np.random.default_rng(1))
    out = switching_median(noisy)
    plain = cv2.medianBlur(u8(noisy), 3)
    assert psnr(u8(clean), u8(out)) > psnr(u8(clean), plain) + 3
    spared = np.all(noisy == clean, axis=2)
    assert np.array_equal(out[spared], clean[spared])


def test_switching_median_keeps_a_truly_black_region():
    x = photo()
    x[40:80, 40:80] = 0.0
    kept = switching_median(x)[41:79, 41:79]  # its inside and edges (a corner's 5×5 window is mostly not black)
    assert np.array_equal(kept, x[41:79, 41:79])


def test_notch_removes_a_pure_sinusoid():
    flat = np.full((128, 160, 3), 0.5, np.float32)
    noisy = PeriodicNoise(count=(1, 1), amplitude=(20, 20), colour=0.0)(flat, np.random.default_rng(2))
    out = remove_periodic(noisy)
    assert np.abs(out - flat).max() < 1 / 255


def test_notch_gains_on_a_photo_with_a_pattern_and_leaves_a_clean_photo_within_0_1_db():
    clean = photo(256, seed=3)
    noisy = PeriodicNoise(count=(2, 2), amplitude=(15, 15), frequency=(0.15, 0.4))(clean, np.random.default_rng(3))
    assert psnr(u8(clean), u8(remove_periodic(noisy))) > psnr(u8(clean), u8(noisy)) + 8
    assert pattern_peaks(clean) == []
    assert psnr(u8(clean), u8(remove_periodic(clean))) == pytest.approx(float("inf")) or np.array_equal(
        u8(remove_periodic(clean)), u8(clean)
    )
    grainy = np.clip(GaussianNoise(sigma=(10, 10))(clean, np.random.default_rng(4)), 0, 1)
    before, after = psnr(u8(clean), u8(grainy)), psnr(u8(clean), u8(remove_periodic(grainy)))
    assert abs(after - before) < 0.1


@pytest.mark.parametrize(
    "kind, make",
    [
        ("gaussian", lambda x, rng: GaussianNoise(sigma=(25, 25))(x, rng)),
        ("salt-pepper", lambda x, rng: SaltPepperNoise(amount=(0.05, 0.05))(x, rng)),
        ("periodic", lambda x, rng: PeriodicNoise(count=(1, 1), amplitude=(20, 20), frequency=(0.15, 0.4))(x, rng)),
        ("jpeg", lambda x, rng: JPEG(quality=(20, 20))(x, rng)),
    ],
)
def test_the_detector_tells_each_kind(kind, make):
    clean = photo(seed=5)
    degraded = np.clip(make(clean, np.random.default_rng(5)), 0, 1)
    assert classify_noise(u8(degraded).astype(np.float32) / 255).kind == kind
    assert classify_noise(clean).kind == "gaussian"  # nothing special on a clean photo


def test_jpeg_step_reads_the_quantisation_step():
    x = photo(seed=6)
    assert jpeg_step(x) == 1
    assert jpeg_step(JPEG(quality=(50, 50))(x, np.random.default_rng(0))) in (6, 12)  # 12 (or a divisor) at q50
