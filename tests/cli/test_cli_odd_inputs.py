"""Odd inputs from a user's first hour: tiny photos, a bug in one file's work, outputs named like files."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from .conftest import write_image_file


def test_a_tiny_photo_is_restored_with_a_reason_instead_of_reliability_and_the_batch_goes_on(cli, tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "mix").mkdir()
    PILImage.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "mix" / "a_tiny.png")
    write_image_file(tmp_path / "mix" / "b_photo.jpg", size=(40, 40))
    run = cli("denoise", "mix", "-o", "out", "--model", "nlm")  # reliability is on by default
    assert run.code == 0, run
    assert (tmp_path / "out" / "a_tiny.png").is_file() and (tmp_path / "out" / "b_photo.jpg").is_file()
    assert "note: reliability not predicted: the photo is too small to analyse (8 × 8 px" in run.out
    assert run.out.count("reliability: predicted gain") == 1
    assert "2 done, 0 skipped, 0 failed" in run.out and run.err == ""


def test_a_bug_in_one_files_work_fails_that_file_alone(cli, tmp_path, monkeypatch):
    import restora.batch.jobs as batch  # where run_job finds run_restore

    real = batch.run_restore

    def buggy(image, *args, **kwargs):
        if image.width == 8:
            raise ZeroDivisionError("Weights sum to zero, can't be normalized")
        return real(image, *args, **kwargs)

    monkeypatch.setattr(batch, "run_restore", buggy)
    write_image_file(tmp_path / "in" / "a.png", size=(8, 8))
    write_image_file(tmp_path / "in" / "b.png", size=(20, 20))
    run = cli("denoise", "in", "-o", "out", "--model", "identity")
    assert run.code == 1, run
    assert run.err.strip() == (
        "in/a.png: internal error (ZeroDivisionError: Weights sum to zero, can't be normalized); please report it"
    )
    assert (tmp_path / "out" / "b.png").is_file() and not (tmp_path / "out" / "a.png").exists()
    assert "1 done, 0 skipped, 1 failed" in run.out


def test_an_output_named_like_a_file_with_two_inputs_is_a_usage_error(cli, tmp_path):
    write_image_file(tmp_path / "a.png")
    write_image_file(tmp_path / "b.png", seed=1)
    run = cli("denoise", "a.png", "b.png", "-o", "out/one.png", "--model", "identity")
    assert run.code == 2, run
    assert "names an image file, but there are 2 inputs: -o must be a folder" in run.err
    assert not (tmp_path / "out" / "one.png").exists()
    assert cli("denoise", "a.png", "b.png", "-o", "out/one.png/", "--model", "identity").code == 0  # asked for
    assert (tmp_path / "out" / "one.png" / "b.png").is_file()


def test_info_names_the_files_own_colour_mode_and_says_when_it_is_too_small_for_sigma(cli, tmp_path):
    rng = np.random.default_rng(0)
    PILImage.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).convert("CMYK").save(tmp_path / "c.jpg")
    PILImage.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / "tiny.png")
    run = cli("info", "c.jpg", "tiny.png")
    assert run.code == 0, run
    cmyk, tiny = run.out.split("\n\n")
    assert "8 bits per channel, CMYK (restored as RGB)" in cmyk and "(estimated std)" in cmyk
    assert "too small to estimate (8 × 8 px" in tiny and "(estimated)" not in tiny


def test_version_and_help_readable_at_80_columns(cli, monkeypatch):
    from restora import __version__

    run = cli("--version")
    assert run.code == 0 and run.out.strip() == f"restora {__version__}"
    monkeypatch.setenv("COLUMNS", "80")
    run = cli("denoise", "--help")
    assert run.code == 0, run
    lines = run.out.splitlines()
    assert max(len(line) for line in lines) <= 80 and "<bool>" not in run.out
    # An option's text gets most of the width (rich's table had left it about 17 columns).
    assert any("--self-ensemble" in line and "Average each tile's result over its 8 flips" in line for line in lines)
    assert "--version" in cli("--help").out


def test_gif_is_written_where_asked_and_in_folders_and_dropped_frames_are_said(cli, tmp_path):
    rng = np.random.default_rng(0)
    frames = [PILImage.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)) for _ in range(3)]
    frames[0].save(tmp_path / "still.gif")
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    run = cli("denoise", "still.gif", "-o", "out.gif", "--model", "identity")
    assert run.code == 0, run
    written = PILImage.open(tmp_path / "out.gif")
    assert (written.format, written.mode, written.size) == ("GIF", "P", (40, 30))
    source = np.asarray(PILImage.open(tmp_path / "still.gif").convert("RGB"))
    np.testing.assert_array_equal(np.asarray(written.convert("RGB")), source)  # ≤ 256 colours: kept exactly
    (tmp_path / "photo.tga").write_bytes((tmp_path / "still.gif").read_bytes())  # a GIF under a name we can't write
    run = cli("denoise", "anim.gif", "still.gif", "photo.tga", "-o", "folder", "--model", "identity")
    assert run.code == 0, run
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == ["anim.gif", "photo.tif", "still.gif"]
    assert "note: animated GIF: only the first of its 3 frames is read and restored" in run.out
    assert "note: written as TIFF (photo.tif): Restora cannot write '.tga' files" in run.out
    assert run.out.count("note:") == 2


def test_a_png_with_an_oversize_text_chunk_is_restored_and_the_left_out_chunk_is_said(cli, tmp_path):
    import struct
    import zlib

    write_image_file(tmp_path / "plain.png")
    data = (tmp_path / "plain.png").read_bytes()
    text = b"Comment\x00\x00" + zlib.compress(b"a" * 60_000_000, 9)  # unpacks to 60 MB
    bomb = struct.pack(">I", len(text)) + b"zTXt" + text + struct.pack(">I", zlib.crc32(b"zTXt" + text))
    (tmp_path / "text.png").write_bytes(data[:33] + bomb + data[33:])
    run = cli("denoise", "text.png", "-o", "out.png", "--model", "identity")
    assert run.code == 0, run
    assert "note: left out the PNG text chunk 'Comment'" in run.out and (tmp_path / "out.png").is_file()
