"""The ×8 geometric self-ensemble (restora.engine.ensemble) and its use through run_restore, the CLI and bench."""

from __future__ import annotations

import numpy as np
import pytest

from restora.engine.ensemble import ORIENTATIONS, dihedral_mean
from restora.errors import ModelError, RestoraError


def _shift_right(window, sigma):
    """Not equivariant: moves the picture one pixel right (a network's orientation-dependent error)."""
    return np.roll(window, 1, axis=1)


def test_orientations_are_the_eight_symmetries_of_the_square():
    x = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    from restora.engine.ensemble import _orient, _unorient

    seen = {_orient(x, t, f).tobytes() + bytes(_orient(x, t, f).shape) for t, f in ORIENTATIONS}
    assert len(seen) == 8
    for t, f in ORIENTATIONS:
        np.testing.assert_array_equal(_unorient(_orient(x, t, f), t, f), x)


def test_an_equivariant_method_is_unchanged_on_non_square_windows():
    x = np.random.default_rng(0).random((6, 9, 3), dtype=np.float32)
    np.testing.assert_allclose(dihedral_mean(lambda w, s: np.sqrt(w), x, None), np.sqrt(x), atol=1e-6)


def test_the_mean_is_equivariant_even_when_the_method_is_not():
    x = np.random.default_rng(1).random((8, 8, 3), dtype=np.float32)
    single = _shift_right(x, None)
    assert not np.allclose(np.rot90(single), _shift_right(np.rot90(x), None))
    ensembled = dihedral_mean(_shift_right, x, None)
    np.testing.assert_allclose(
        np.rot90(ensembled), dihedral_mean(_shift_right, np.ascontiguousarray(np.rot90(x)), None), atol=1e-6
    )
    np.testing.assert_allclose(
        ensembled[:, ::-1], dihedral_mean(_shift_right, np.ascontiguousarray(x[:, ::-1]), None), atol=1e-6
    )


def test_a_sigma_map_turns_with_its_window_and_a_per_channel_sigma_is_passed_as_is():
    x = np.zeros((5, 7, 3), np.float32)
    sigma_map = np.random.default_rng(2).random((5, 7, 3), dtype=np.float32)

    def echo_sigma(window, sigma):
        assert sigma.shape == window.shape
        return sigma

    np.testing.assert_allclose(dihedral_mean(echo_sigma, x, sigma_map), sigma_map, atol=1e-6)
    padded = np.zeros((6, 8, 3), np.float32)  # a window padded to the model's size multiple
    np.testing.assert_allclose(dihedral_mean(echo_sigma, padded, sigma_map)[:5, :7], sigma_map, atol=1e-6)
    per_channel = np.array([1.0, 2.0, 3.0], np.float32)
    seen = []
    dihedral_mean(lambda w, s: seen.append(s) or w, x, per_channel)
    assert len(seen) == 8 and all(s is per_channel for s in seen)


def _psnr(a, b):
    return 10 * np.log10(1.0 / np.mean((np.asarray(a, np.float64) - b) ** 2))


def test_self_ensemble_of_a_shipped_network_is_at_least_as_good_and_tiles_agree():
    from restora.engine import run_restore

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:96, 0:80].astype(np.float32)
    clean = np.stack([0.5 + 0.3 * np.sin(xx / 5), 0.4 + 0.2 * np.cos(yy / 7), 0.3 + 0.002 * (xx + yy)], 2)
    noisy = np.clip(clean + rng.normal(0, 25 / 255, clean.shape), 0, 1).astype(np.float32)
    single = run_restore(noisy, model="restora-denoise-fast", tile=0).image.pixels
    ensembled = run_restore(noisy, model="restora-denoise-fast", tile=0, self_ensemble=True).image.pixels
    assert not np.allclose(single, ensembled)
    assert _psnr(ensembled, clean) >= _psnr(single, clean) - 0.05 > _psnr(noisy, clean) + 3
    tiled = run_restore(noisy, model="restora-denoise-fast", tile=64, self_ensemble=True).image.pixels
    assert np.abs(tiled - ensembled).max() < 2 / 255


def test_self_ensemble_needs_one_of_our_networks():
    from restora.engine import run_restore

    with pytest.raises(RestoraError, match="--self-ensemble needs one of our networks; 'nlm'"):
        run_restore(np.zeros((16, 16, 3), np.float32), model="nlm", self_ensemble=True)


def test_bench_methods_take_a_x8_suffix_for_our_networks():
    from restora.eval.peers import parse_methods

    chosen, unavailable = parse_methods("restora-denoise-fast,restora-denoise-fast+x8,identity")
    assert [(m.label, m.engine_name, m.self_ensemble) for m in chosen] == [
        ("restora-denoise-fast", "restora-denoise-fast", False),
        ("restora-denoise-fast ×8", "restora-denoise-fast", True),
        ("identity", "identity", False),
    ]
    assert unavailable == {}
    with pytest.raises(ModelError, match="follows a network of ours"):
        parse_methods("nlm+x8")
