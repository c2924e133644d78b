"""Impulse and periodic degradations have the statistics their docstrings state."""

import numpy as np

from restora.degrade import PeriodicNoise, SaltPepperNoise, get_pipeline


def photo(size=128, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 0.8, (size, size, 3)).astype(np.float32)


def test_salt_and_pepper_corrupts_the_asked_fraction_half_salt_half_pepper():
    x = photo(256)
    y = SaltPepperNoise(amount=(0.1, 0.1))(x, np.random.default_rng(1))
    changed = np.any(y != x, axis=2)
    assert abs(changed.mean() - 0.1) < 0.005
    assert np.array_equal(y[~changed], x[~changed])  # the rest is untouched
    salt, pepper = np.all(y == 1, axis=2).mean(), np.all(y == 0, axis=2).mean()
    assert abs(salt - 0.05) < 0.004 and abs(pepper - 0.05) < 0.004  # specks take all three channels


def test_independent_salt_and_pepper_corrupts_channels_separately():
    x = photo(256)
    y = SaltPepperNoise(amount=(0.2, 0.2), independent=True)(x, np.random.default_rng(2))
    per_channel = (y != x).mean(axis=(0, 1))
    assert np.allclose(per_channel, 0.2, atol=0.01)
    all_three = np.all(y != x, axis=2).mean()
    assert all_three < 0.02  # ≈ 0.2³ if independent, 0.2 if shared


def test_periodic_noise_is_a_sinusoid_of_the_asked_amplitude_and_frequency():
    x = np.zeros((256, 256, 3), np.float32)
    op = PeriodicNoise(count=(1, 1), amplitude=(20, 20), frequency=(0.125, 0.125), colour=0.0)
    n = op(x, np.random.default_rng(3))[..., 0]
    assert abs(n.std() * 255 - 20 / np.sqrt(2)) < 0.3 and abs(n.mean()) < 1e-3
    spectrum = np.abs(np.fft.fft2(n))
    fy, fx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    freq = np.hypot(np.fft.fftfreq(256)[fy], np.fft.fftfreq(256)[fx])
    assert abs(freq - 0.125) < 2 / 256
    power = np.roll(spectrum**2, (128 - fy, 128 - fx), axis=(0, 1))
    assert power[124:133, 124:133].sum() > 0.45 * power.sum()  # ~ half the energy near the peak, half at its mirror


def test_scan_pipelines_are_registered_and_seeded():
    x = photo(64)
    for name in ("salt-pepper", "salt-pepper-5", "salt-pepper-10", "salt-pepper-20", "periodic"):
        a = get_pipeline(name)(x, np.random.default_rng(4))
        b = get_pipeline(name)(x, np.random.default_rng(4))
        assert a.shape == x.shape and a.dtype == np.float32 and np.array_equal(a, b)
        assert a.min() >= 0 and a.max() <= 1
