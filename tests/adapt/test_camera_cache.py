"""Adapted denoisers cached per camera (restora denoise --adapt): grouping by EXIF camera and ISO band, a miss
adapts and caches, a hit reuses without adapting, and weights that failed their checks fall back to the base."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from restora.adapt import camera_cache
from restora.adapt.camera_cache import Camera, camera_of, group_by_camera, model_for_camera
from restora.adapt.trainer import AdaptResult
from restora.models.modelfile import save_model
from restora.models.nafnet import NAFNet


def photo(path, make=None, model=None, iso=None, seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 40, 3), dtype=np.uint8)
    exif = PILImage.Exif()
    if make:
        exif[0x010F], exif[0x0110] = make, model
    if iso:
        exif.get_ifd(0x8769)[0x8827] = iso
    PILImage.fromarray(pixels).save(path, quality=95, exif=exif.tobytes())
    return path


def tiny_denoiser(path, name, summary, seed):
    """A small NAFNet denoising model file, randomly initialised with ``seed``."""
    torch.manual_seed(seed)
    net = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,), uses_sigma=True)
    save_model(net, path, {"name": name, "task": "denoise", "tasks": ["denoise"], "summary": summary})
    return path


@pytest.fixture
def base(tmp_path):
    return tiny_denoiser(tmp_path / "base.safetensors", "base", "tiny test net", seed=0)


def test_photos_group_by_camera_and_iso_band(tmp_path):
    a = photo(tmp_path / "a.jpg", "Canon", "Canon EOS 5D Mark III", 3200)
    b = photo(tmp_path / "b.jpg", "Canon", "Canon EOS 5D Mark III", 4000, seed=1)  # same band
    c = photo(tmp_path / "c.jpg", "Canon", "Canon EOS 5D Mark III", 800, seed=2)
    d = photo(tmp_path / "d.jpg", "NIKON CORPORATION", "NIKON D800", 3200, seed=3)
    e = photo(tmp_path / "e.jpg", seed=4)  # no EXIF camera
    groups = group_by_camera([a, b, c, d, e])
    labels = {(cam.label if cam else None): paths for cam, paths in groups.items()}
    assert labels == {
        "Canon EOS 5D Mark III ISO 3200": [a, b],
        "Canon EOS 5D Mark III ISO 800": [c],
        "NIKON CORPORATION NIKON D800 ISO 3200": [d],
        None: [e],
    }
    assert camera_of({"camera_make": "Sony", "camera_model": "ILCE-7M3"}).label == "Sony ILCE-7M3 (ISO unknown)"


def fake_adapt(calls, improved):
    def run(photos, output, base, cfg, progress=True):
        calls.append((list(photos), cfg.minutes))
        torch.manual_seed(1)
        save_model(
            NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,), uses_sigma=True),
            output,
            {"name": output.stem, "tasks": ["denoise"], "adaptation": {"improved": improved}},
        )
        return AdaptResult(output, 1, 0.1, 1.0, 0.9, 1, improved)

    return run


def test_a_miss_adapts_and_caches_and_a_hit_reuses(tmp_path, base, monkeypatch):
    calls = []
    monkeypatch.setattr(camera_cache, "adapt", fake_adapt(calls, improved=True))
    cam = Camera("Canon", "Canon EOS 5D Mark III", 3200)
    shots = [photo(tmp_path / "a.jpg", "Canon", "Canon EOS 5D Mark III", 3200)]
    first = model_for_camera(cam, shots, str(base), minutes=2.0, root=tmp_path / "cache")
    assert first.status == "adapted" and first.path.parent == tmp_path / "cache" and calls == [(shots, 2.0)]
    assert first.path.name.startswith("canon-eos-5d-mark-iii-iso-3200-")
    again = model_for_camera(cam, shots, str(base), root=tmp_path / "cache")
    assert again.status == "cached" and again.path == first.path and len(calls) == 1  # no second adaptation
    assert "from the cache" in again.describe(1)
    # Another ISO band, or another base model, is another entry.
    other = model_for_camera(Camera("Canon", "Canon EOS 5D Mark III", 800), shots, str(base), root=tmp_path / "cache")
    assert other.status == "adapted" and other.path != first.path and len(calls) == 2
    base2 = tiny_denoiser(tmp_path / "base2.safetensors", "base2", "another tiny net", seed=5)
    newer = model_for_camera(cam, shots, str(base2), root=tmp_path / "cache")
    assert newer.status == "adapted" and newer.path != first.path and len(calls) == 3


def test_weights_that_failed_their_checks_fall_back_to_the_base(tmp_path, base, monkeypatch):
    calls = []
    monkeypatch.setattr(camera_cache, "adapt", fake_adapt(calls, improved=False))
    cam = Camera("NIKON CORPORATION", "NIKON D800", 1600)
    shots = [photo(tmp_path / "n.jpg", "NIKON CORPORATION", "NIKON D800", 1600)]
    first = model_for_camera(cam, shots, str(base), root=tmp_path / "cache")
    assert first.status == "base kept" and first.path == base
    # The failed attempt is cached too: the next batch from that camera does not adapt again.
    second = model_for_camera(cam, shots, str(base), root=tmp_path / "cache")
    assert second.status == "base kept" and second.path == base and len(calls) == 1
    assert "did not pass" in second.describe(1)


def test_denoise_adapt_uses_each_cameras_model_and_says_so(tmp_path, base, monkeypatch, invoke_cli):
    from restora.settings import get_settings

    monkeypatch.setenv("RESTORA_CACHE", str(tmp_path / "cache"))
    get_settings.cache_clear()
    calls = []
    monkeypatch.setattr(camera_cache, "adapt", fake_adapt(calls, improved=True))
    (tmp_path / "in").mkdir()
    photo(tmp_path / "in" / "a.jpg", "Canon", "Canon EOS 5D Mark III", 3200)
    photo(tmp_path / "in" / "b.jpg", "Canon", "Canon EOS 5D Mark III", 3200, seed=1)
    photo(tmp_path / "in" / "c.jpg", seed=2)
    try:
        result = invoke_cli(
            "denoise",
            tmp_path / "in",
            "-o",
            tmp_path / "out",
            "--model",
            base,
            "--adapt",
            "--adapt-minutes",
            "0.5",
            "--no-reliability",
        )
        assert result.exit_code == 0, result.output
        assert len(calls) == 1 and calls[0][1] == 0.5 and len(calls[0][0]) == 2  # one camera, both its photos
        assert "adapt: Canon EOS 5D Mark III ISO 3200: 2 photo(s), newly adapted weights (cached)" in result.stdout
        assert "adapt: 1 photo(s) without EXIF camera make and model: not adapted" in result.stdout
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.jpg", "b.jpg", "c.jpg"]
        again = invoke_cli(
            "denoise", tmp_path / "in", "-o", tmp_path / "out2", "--model", base, "--adapt", "--no-reliability"
        )
        assert again.exit_code == 0 and len(calls) == 1 and "adapted weights from the cache" in again.stdout
        wrong = invoke_cli("deblur", tmp_path / "in", "-o", tmp_path / "out3", "--adapt")
        assert wrong.exit_code == 2 and "--adapt is for denoising" in wrong.output
    finally:
        get_settings.cache_clear()
