"""Bad input gives one clear line; writes are atomic; bad outputs are refused."""

import os
import tempfile

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

import restora.io.write as write_module
from restora.errors import BadInputError, OutputError, RestoraError
from restora.io import Image, probe, read_image, write_image
from restora.settings import get_settings


def _bad(path, match, **kwargs):
    with pytest.raises(BadInputError, match=match) as raised:
        read_image(path, **kwargs)
    message = str(raised.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_file(tmp_path):
    _bad(tmp_path / "nope.jpg", "no such file")


def test_directory(tmp_path):
    (tmp_path / "folder.png").mkdir()
    _bad(tmp_path / "folder.png", "folder")


def test_empty_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    _bad(tmp_path / "empty.png", "empty")


def test_text_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("these are not pixels\n" * 20)
    _bad(tmp_path / "notes.jpg", "not an image")
    with pytest.raises(BadInputError, match="not an image"):
        probe(tmp_path / "notes.jpg")


@pytest.mark.parametrize("ext,depth", [(".jpg", 8), (".png", 8), (".png", 16), (".tif", 16), (".webp", 8)])
def test_truncated_files_are_refused(tmp_path, ext, depth):
    noise = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    good = tmp_path / f"good{ext}"
    write_image(good, Image.from_array(noise), bit_depth=depth)
    data = good.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: len(data) * 3 // 4])
    _bad(cut, "cut")


def test_truncated_heic_is_refused(tmp_path, photo):
    write_image(tmp_path / "good.heic", photo)
    data = (tmp_path / "good.heic").read_bytes()
    (tmp_path / "cut.heic").write_bytes(data[: len(data) * 3 // 4])
    _bad(tmp_path / "cut.heic", "cut.heic")


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif", ".heic", ".webp", ".bmp"])
def test_size_guard_before_decoding(tmp_path, photo, monkeypatch, ext):
    path = tmp_path / f"big{ext}"
    write_image(path, photo)  # 32 x 24 = 768 pixels
    monkeypatch.setattr(PILImage.Image, "load", _never_decode)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", _never_decode)
    message = _bad(path, "limit", max_pixels=700)
    assert "700" in message or "0.0007" in message
    with pytest.raises(BadInputError, match="limit"):
        probe(path, max_pixels=700)


def _never_decode(*args, **kwargs):
    raise AssertionError("pixels were decoded before the size check")


def test_size_guard_default_from_settings(tmp_path, photo, monkeypatch):
    write_image(tmp_path / "a.png", photo)
    monkeypatch.setenv("RESTORA_MAX_PIXELS", "500")
    get_settings.cache_clear()
    try:
        _bad(tmp_path / "a.png", "limit")
    finally:
        monkeypatch.delenv("RESTORA_MAX_PIXELS")
        get_settings.cache_clear()
    assert read_image(tmp_path / "a.png").width == 32


def test_pillow_limit_is_left_as_it_was(tmp_path, photo):
    before = PILImage.MAX_IMAGE_PIXELS
    write_image(tmp_path / "a.png", photo)
    with pytest.raises(BadInputError):
        read_image(tmp_path / "a.png", max_pixels=10)
    read_image(tmp_path / "a.png")
    assert PILImage.MAX_IMAGE_PIXELS == before


def test_bad_raw_output_option(tmp_path, photo):
    write_image(tmp_path / "a.png", photo)
    with pytest.raises(RestoraError, match="raw_output"):
        read_image(tmp_path / "a.png", raw_output="log")


# --- writing -------------------------------------------------------------------------------------


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _failing_encoder(*args, **kwargs):
    fp = args[0]
    fp.write(b"half an image")
    raise RuntimeError("encoder blew up")


@pytest.mark.parametrize("ext", [".png", ".jpg", ".tif"])
def test_failed_write_leaves_nothing(tmp_path, photo, monkeypatch, ext):
    for name in ("_encode_pillow", "_encode_tiff", "_encode_png16"):
        monkeypatch.setattr(write_module, name, _failing_encoder)
    with pytest.raises(OutputError, match="encoder blew up"):
        write_image(tmp_path / f"out{ext}", photo)
    assert not (tmp_path / f"out{ext}").exists()
    assert _leftovers(tmp_path) == []


def test_failed_write_keeps_existing_target(tmp_path, photo, monkeypatch):
    target = tmp_path / "out.png"
    write_image(target, photo)
    before = target.read_bytes()
    monkeypatch.setattr(write_module, "_encode_pillow", _failing_encoder)
    with pytest.raises(OutputError):
        write_image(target, Image.from_array(np.zeros((24, 32, 3), np.uint8)))
    assert target.read_bytes() == before and _leftovers(tmp_path) == []


def test_temporary_file_is_hidden_beside_the_target(tmp_path, photo, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((os.path.dirname(src), os.path.basename(src)))
        return real_replace(src, dst)

    monkeypatch.setattr(write_module.os, "replace", spy)
    write_image(tmp_path / "out.png", photo)
    ((folder, name),) = seen
    assert folder == str(tmp_path) and name.startswith(".") and name.endswith(".tmp")
    assert (tmp_path / "out.png").exists() and _leftovers(tmp_path) == []


def test_new_file_gets_normal_permissions(tmp_path, photo):
    write_image(tmp_path / "out.png", photo)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o666 & ~umask


def test_unwritable_folder(tmp_path, photo, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(OutputError, match="Permission denied"):
        write_image(tmp_path / "out.png", photo)


@pytest.mark.parametrize(
    "name,match",
    [
        ("missing/out.png", "does not exist"),
        ("out.tga", "cannot write '.tga'"),
        ("out", "no extension"),
        ("out.cr2", "camera RAW"),
    ],
)
def test_refused_outputs(tmp_path, photo, name, match):
    with pytest.raises(OutputError, match=match):
        write_image(tmp_path / name, photo)


def test_refused_options(tmp_path, photo):
    with pytest.raises(OutputError, match="bit depth"):
        write_image(tmp_path / "a.png", photo, bit_depth=12)
    with pytest.raises(OutputError, match="quality"):
        write_image(tmp_path / "a.jpg", photo, jpeg_quality=0)
    with pytest.raises(OutputError, match="subsampling"):
        write_image(tmp_path / "a.jpg", photo, subsampling="4:1:1")


def test_parent_is_a_file(tmp_path, photo):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError):
        write_image(tmp_path / "file" / "out.png", photo)
