import numpy as np
import pytest
import torch

from restora.engine import estimate_sigma, restore, run_restore
from restora.engine.methods import Method
from restora.engine.neural import NeuralMethod
from restora.models.modelfile import save_model
from restora.engine.tiling import axis_weights, process_tiled, tile_starts
from restora.errors import ModelError, RestoraError
from restora.io import Image
from restora.models.nafnet import NAFNet


def textured(h=96, w=128, seed=0):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    # Deterministic texture (no random term: that would itself be noise to the estimator).
    base = 0.5 + 0.25 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + 0.1 * np.sin(xx * 0.9 + yy * 0.4)
    return np.clip(np.dstack([base, base[::-1], base[:, ::-1]]), 0, 1).astype(np.float32)


@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_estimator_within_15_percent(sigma):
    clean = textured(256, 256)
    noisy = clean + np.random.default_rng(sigma).normal(0, sigma / 255, clean.shape).astype(np.float32)
    est = estimate_sigma(noisy)
    assert est.shape == (3,)
    assert np.all(np.abs(est - sigma) <= 0.15 * sigma), est


def test_estimator_sees_per_channel_levels():
    clean = textured(256, 256)
    rng = np.random.default_rng(1)
    noisy = clean + rng.normal(0, 1, clean.shape).astype(np.float32) * (np.array([5, 15, 30], np.float32) / 255)
    est = estimate_sigma(noisy)
    assert est[0] < est[1] < est[2]


def test_tiles_cover_and_weights_sum_to_one():
    for length, tile, overlap in [(100, 32, 8), (33, 32, 8), (257, 64, 16), (10, 64, 16)]:
        starts = tile_starts(length, tile, overlap)
        total = np.zeros(length)
        for s, w in zip(starts, axis_weights(length, tile, starts)):
            total[s : s + len(w)] += w
        assert np.allclose(total, 1.0)


class BoxFilter(Method):
    """3×3 mean: receptive radius 1, so tiles with ≥1 px context must match the whole image exactly."""

    name = "box"
    context = 2

    def process(self, tile, sigma):
        p = np.pad(tile, ((1, 1), (1, 1), (0, 0)), mode="reflect")
        return sum(p[i : i + tile.shape[0], j : j + tile.shape[1]] for i in range(3) for j in range(3)) / 9.0


def test_tiled_equals_untiled_for_small_receptive_field():
    x = textured(150, 170)
    m = BoxFilter()
    fn = lambda w, r: m.process(w, None)  # noqa: E731
    whole = process_tiled(x, fn, tile=1000, overlap=0, halo=0)
    tiled = process_tiled(x, fn, tile=48, overlap=12, halo=m.halo)
    assert np.abs(whole - tiled).max() < 1e-4


def test_tiled_conv_network_equals_untiled():
    # The "conv" block has a finite receptive field (NAFBlock's channel attention pools globally).
    torch.manual_seed(0)
    net = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,), block="conv").eval()
    torch.nn.init.normal_(net.ending.weight, std=0.05)
    method = NeuralMethod(net, "tiny", "cpu")
    x = textured(130, 150)
    sig = np.full(3, 10.0, np.float32)
    whole = process_tiled(
        x, lambda w, r: method.process(w, sig), tile=1000, overlap=0, halo=0, multiple=method.size_multiple
    )
    tiled = process_tiled(
        x, lambda w, r: method.process(w, sig), tile=64, overlap=16, halo=method.halo, multiple=method.size_multiple
    )
    assert np.abs(whole - tiled).max() < 1e-4


def test_restore_accepts_arrays_and_images_and_keeps_metadata():
    x = textured(40, 50)
    y = restore(x, model="identity")
    assert isinstance(y, np.ndarray) and np.allclose(y, x)
    img = Image(pixels=x, alpha=np.full((40, 50), 0.5, np.float32), bit_depth=16, icc=b"icc", exif=b"exif")
    out = restore(img, model="identity")
    assert isinstance(out, Image) and out.bit_depth == 16 and out.icc == b"icc" and np.array_equal(out.alpha, img.alpha)
    u8 = restore((x * 255).astype(np.uint8), model="identity")
    assert u8.dtype == np.float32 and u8.max() <= 1.0


def test_nlm_denoises_and_strength_scales_sigma():
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    clean = np.dstack([0.5 + 0.3 * np.sin(xx / 9.0) * np.cos(yy / 11.0)] * 3).astype(np.float32)
    noisy = clean + np.random.default_rng(0).normal(0, 20 / 255, clean.shape).astype(np.float32)
    mse = lambda a: float(np.mean((a - clean) ** 2))  # noqa: E731
    full = run_restore(noisy, model="nlm", sigma=20)
    half = run_restore(noisy, model="nlm", sigma=20, strength=0.5)
    assert mse(full.image.pixels) < 0.5 * mse(noisy)
    assert np.allclose(full.sigma, 20) and half.strength == 0.5
    assert not np.allclose(full.image.pixels, half.image.pixels)
    assert np.array_equal(run_restore(noisy, model="nlm", sigma=20, strength=0.0).image.pixels, np.clip(noisy, 0, 1))


def test_strength_blends_for_methods_without_sigma(tmp_path):
    net = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,), uses_sigma=False).eval()
    torch.nn.init.normal_(net.ending.weight, std=0.05)
    path = tmp_path / "blind.safetensors"
    save_model(net, path, {"task": "denoise"})
    x = textured(32, 32)
    full = restore(x, model=str(path), strength=1.0, device="cpu")
    half = restore(x, model=str(path), strength=0.5, device="cpu")
    inside = (full > 0) & (full < 1)  # where the full output was not clipped
    assert inside.mean() > 0.9
    assert np.allclose(half[inside], 0.5 * full[inside] + 0.5 * x[inside], atol=1e-5)


def test_bad_arguments_are_clear_errors(tmp_path):
    x = textured(16, 16)
    with pytest.raises(RestoraError, match="strength"):
        restore(x, model="identity", strength=1.5)
    with pytest.raises(RestoraError, match="unknown task"):
        restore(x, task="colourise")
    with pytest.raises(ModelError, match="unknown model"):
        restore(x, model="no-such-model")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a valid"):
        restore(x, model=str(bad))
    with pytest.raises(RestoraError, match="sigma"):
        restore(x, model="nlm", sigma="loud")
