"""Whole-image context for tiling: haze and low light depend on statistics of the whole image, so tiles get
the context computed once on the downscaled whole image and a tiled result equals the untiled one."""

import numpy as np
import pytest
import torch

from restora.engine import run_restore
from restora.engine.methods import TileContext, context_image
from restora.engine.neural import NeuralMethod
from restora.models.modelfile import load_module
from restora.engine.tiling import process_tiled
from restora.errors import ModelError


def gradient_image(h=200, w=232, dark=False, seed=0):
    """A smooth diagonal colour gradient with fine texture: any seam or brightness step between tiles shows."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = 0.15 + 0.7 * (xx / w * 0.6 + yy / h * 0.4)
    texture = 0.04 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
    rgb = np.dstack([base + texture, 0.9 * base, 0.8 * base[::-1] + texture]).astype(np.float32)
    if dark:
        rgb = 0.12 * rgb
    return np.clip(rgb, 0, 1)


@pytest.fixture(scope="module")
def allinone_file(tiny_allinone):
    """A small randomly initialised AllInOneNet whose output depends on the whole-image embedding."""
    return tiny_allinone()


@pytest.mark.parametrize("task, dark", [("dehaze", False), ("lowlight", True)])
def test_allinone_tiled_equals_untiled(allinone_file, task, dark):
    x = gradient_image(dark=dark)
    whole = run_restore(x, task=task, model=str(allinone_file), tile=0, device="cpu").image.pixels
    tiled = run_restore(x, task=task, model=str(allinone_file), tile=96, device="cpu").image.pixels
    assert np.abs(whole - x).max() > 0.01  # the model does change the image
    assert np.abs(whole - tiled).max() < 1e-4
    # No seam or brightness step: across every column the tiled output changes as smoothly as the untiled one.
    step_tiled = np.abs(np.diff(tiled.mean(axis=0), axis=0)).max()
    step_whole = np.abs(np.diff(whole.mean(axis=0), axis=0)).max()
    assert step_tiled <= step_whole + 1e-4


def test_without_shared_context_tiles_disagree(allinone_file):
    """The control: each tile described on its own (no shared embedding) gives visible tile differences,
    so the test above would catch an engine that dropped the context."""
    module, _ = load_module(allinone_file)
    method = NeuralMethod(module, "tiny", "cpu")
    x = gradient_image()
    prepared = method.prepare(method.context_input(x))
    shared = process_tiled(
        x,
        lambda w, r: method.process(w, None, TileContext(prepared, r, x.shape[:2])),
        96,
        24,
        method.halo,
        method.size_multiple,
    )
    alone = process_tiled(x, lambda w, r: method.process(w, None), 96, 24, method.halo, method.size_multiple)
    assert np.abs(shared - alone).max() > 1e-3


@pytest.mark.parametrize("model", ["dcp", "gamma", "retinex", "median", "guided"])
def test_classical_tiled_equals_untiled(model):
    rng = np.random.default_rng(1)
    x = gradient_image(260, 300, dark=model in ("gamma", "retinex"))
    x = np.clip(x + rng.uniform(-0.03, 0.03, x.shape).astype(np.float32), 0, 1)
    whole = run_restore(x, model=model, tile=0).image.pixels
    tiled = run_restore(x, model=model, tile=128).image.pixels
    assert np.abs(whole - x).max() > 0.01
    assert np.abs(whole - tiled).max() < 1e-4


def test_whole_image_methods_ignore_the_tile_size():
    x = gradient_image(150, 170, dark=True)
    assert np.array_equal(
        run_restore(x, model="clahe", tile=64).image.pixels, run_restore(x, model="clahe", tile=0).image.pixels
    )


def test_allinone_models_run_in_pytorch_only(allinone_file):
    from restora.engine.restore import get_method

    assert get_method(str(allinone_file), "cpu", "auto").runtime == "torch"
    with pytest.raises(ModelError, match="takes whole-image context"):
        get_method(str(allinone_file), "cpu", "onnx")


def test_context_image_long_side():
    small = context_image(np.zeros((1000, 400, 3), np.float32))
    assert small.shape == (256, 102, 3)
    same = context_image(np.ones((100, 80, 3), np.float32))
    assert same.shape == (100, 80, 3)


def test_allinone_context_is_downscaled_as_in_training(allinone_file, monkeypatch):
    """The engine's whole-image copy for an all-in-one model is the model's own describe_input (antialiased
    bilinear, what training described), not the area averaging other methods get."""
    from restora.models.allinone import describe_input

    module, _ = load_module(allinone_file)
    method = NeuralMethod(module, "tiny", "cpu")
    x = gradient_image(300, 520)
    small = method.context_input(x)
    expected = describe_input(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None])[0].permute(1, 2, 0)
    assert small.shape == (148, 256, 3) and small.dtype == np.float32
    np.testing.assert_allclose(small, expected.numpy(), atol=1e-6)
    assert np.abs(small - context_image(x)).max() > 1e-4  # a different downscaling than area averaging
    # run_restore describes exactly that copy.
    seen, prepare = [], NeuralMethod.prepare
    monkeypatch.setattr(NeuralMethod, "prepare", lambda self, s: seen.append(s) or prepare(self, s))
    run_restore(x, task="dehaze", model=str(allinone_file), device="cpu")
    np.testing.assert_array_equal(seen[0], small)
    # A network without describe_input keeps the engine's area averaging.
    assert np.array_equal(NeuralMethod(torch.nn.Conv2d(3, 3, 1), "conv", "cpu").context_input(x), context_image(x))


class FarReachingBrightening(torch.nn.Module):
    """Stands in for a trunk whose brightening of a pixel depends on content far away (its large receptive
    field): near a bright object a dark flat field is lifted more than far from it."""

    def forward(self, x, multiscale=False, embedding=None):
        return x + 0.5 * torch.nn.functional.avg_pool2d(x, 81, 1, 40, count_include_pad=False)


@pytest.mark.parametrize("tile", [0, 64])
def test_lowlight_correction_is_one_curve_for_the_whole_image(tile, tiny_allinone_net):
    """A dark photo of a flat sky beside a white lighthouse: the exposure correction is one global curve, so
    every pixel of the flat field gets the same value however near the bright object it is (no smear)."""
    from restora.models.allinone import TASKS

    net = tiny_allinone_net()
    with torch.no_grad():  # the classifier calls every image low light
        net.classify.weight.zero_()
        net.classify.bias.copy_(torch.tensor([4.0 if t == "lowlight" else 0.0 for t in TASKS]))
    net.trunk = FarReachingBrightening()
    x = np.full((160, 160, 3), 0.08, np.float32)
    x[20:50, 20:50] = 0.6
    y = run_restore(x, task="lowlight", model=NeuralMethod(net, "far-reaching", "cpu"), tile=tile).image.pixels
    sky = np.ones((160, 160), bool)
    sky[:70, :70] = False  # the flat field, 20 px and more from the object
    assert y[sky].mean() > 0.1  # it was brightened
    assert np.ptp(y[sky], axis=0).max() < 0.01  # uniformly (without the whole-image curve: 0.04, 10 grey levels)


def test_allinone_lowlight_tiled_equals_untiled_with_its_exposure_curve(tiny_allinone):
    x = gradient_image(dark=True)
    model = str(tiny_allinone("lowlight"))
    whole = run_restore(x, task="lowlight", model=model, tile=0, device="cpu").image.pixels
    tiled = run_restore(x, task="lowlight", model=model, tile=96, device="cpu").image.pixels
    assert np.abs(whole - x).max() > 0.01
    assert np.abs(whole - tiled).max() < 1e-4
