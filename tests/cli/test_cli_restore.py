"""`restora denoise` (and the other restore verbs): files, folders, globs, skipping, safety, exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import JpegImagePlugin

from restora import __version__

from .conftest import write_image_file

SOFTWARE_TAG = 0x0131


def pixels(path: Path) -> np.ndarray:
    return np.asarray(PILImage.open(path))


def software(path: Path) -> str | None:
    return PILImage.open(path).getexif().get(SOFTWARE_TAG)


def test_single_file_to_file_keeps_size_and_marks_provenance(cli, tmp_path):
    write_image_file(tmp_path / "photo.png")
    run = cli("denoise", "photo.png", "-o", "out/clean.png", "--model", "identity")
    assert run.code == 0, run
    out = tmp_path / "out" / "clean.png"
    assert pixels(out).shape == (32, 48, 3)
    np.testing.assert_array_equal(pixels(out), pixels(tmp_path / "photo.png"))  # identity model
    assert software(out) == f"Restora {__version__} (identity)"
    assert "1 done, 0 skipped, 0 failed" in run.out


def test_single_file_into_existing_folder_keeps_its_name_and_format_follows_extension(cli, tmp_path):
    write_image_file(tmp_path / "photo.png")
    (tmp_path / "out").mkdir()
    assert cli("denoise", "photo.png", "-o", "out", "--model", "identity").code == 0
    assert (tmp_path / "out" / "photo.png").is_file()
    assert cli("denoise", "photo.png", "-o", "restored", "--model", "identity").code == 0  # no extension: a folder
    assert (tmp_path / "restored" / "photo.png").is_file()
    assert cli("denoise", "photo.png", "-o", "photo.jpg", "--model", "identity").code == 0
    assert PILImage.open(tmp_path / "photo.jpg").format == "JPEG"


def test_estimated_sigma_is_printed_per_channel_and_noise_goes_down(cli, tmp_path):
    write_image_file(tmp_path / "photo.png", size=(64, 64))
    run = cli("denoise", "photo.png", "-o", "clean.png", "--model", "nlm")
    assert run.code == 0, run
    line = next(line for line in run.out.splitlines() if "σ≈" in line)
    assert all(f"{c}" in line.split("σ≈")[1] for c in "RGB")
    rough = lambda a: np.abs(np.diff(a.astype(np.float32), axis=1)).mean()  # noqa: E731
    assert rough(pixels(tmp_path / "clean.png")) < 0.5 * rough(pixels(tmp_path / "photo.png"))


def test_folder_is_mirrored_only_with_recursive(cli, tmp_path):
    write_image_file(tmp_path / "in" / "a.png")
    write_image_file(tmp_path / "in" / "sub" / "b.jpg", seed=1)
    write_image_file(tmp_path / "in" / "sub" / "deeper" / "c.tif", seed=2)
    (tmp_path / "in" / "notes.txt").write_text("not an image")

    run = cli("denoise", "in", "-o", "flat", "--model", "identity")
    assert run.code == 0, run
    assert sorted(
        p.relative_to(tmp_path / "flat").as_posix() for p in (tmp_path / "flat").rglob("*") if p.is_file()
    ) == ["a.png"]

    run = cli("denoise", "in", "-o", "tree", "--model", "identity", "--recursive")
    assert run.code == 0, run
    found = sorted(p.relative_to(tmp_path / "tree").as_posix() for p in (tmp_path / "tree").rglob("*") if p.is_file())
    assert found == ["a.png", "sub/b.jpg", "sub/deeper/c.tif"]
    assert PILImage.open(tmp_path / "tree" / "sub" / "b.jpg").format == "JPEG"
    assert PILImage.open(tmp_path / "tree" / "sub" / "deeper" / "c.tif").format == "TIFF"


def test_quoted_globs_are_expanded_and_mirrored_from_their_common_root(cli, tmp_path):
    write_image_file(tmp_path / "shoot" / "day1" / "a.png")
    write_image_file(tmp_path / "shoot" / "day2" / "b.png", seed=1)
    write_image_file(tmp_path / "shoot" / "day2" / "c.jpg", seed=2)
    run = cli("denoise", "shoot/*/*.png", "-o", "out", "--model", "identity")
    assert run.code == 0, run
    found = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert found == ["day1/a.png", "day2/b.png"]
    run = cli("denoise", "shoot/**/*.jpg", "-o", "jpegs", "--model", "identity")
    assert run.code == 0, run
    assert [p.name for p in (tmp_path / "jpegs").rglob("*.jpg")] == ["c.jpg"]


def test_existing_outputs_are_skipped_unless_overwrite(cli, tmp_path):
    write_image_file(tmp_path / "in" / "a.png")
    write_image_file(tmp_path / "in" / "b.png", seed=1)
    assert cli("denoise", "in", "-o", "out", "--model", "identity").code == 0
    marker = np.zeros((4, 4, 3), np.uint8)
    PILImage.fromarray(marker).save(tmp_path / "out" / "a.png")

    run = cli("denoise", "in", "-o", "out", "--model", "identity")
    assert run.code == 0, run
    assert "0 done, 2 skipped, 0 failed" in run.out
    assert "in/a.png: skipped" in run.out
    assert pixels(tmp_path / "out" / "a.png").shape == (4, 4, 3)  # untouched

    run = cli("denoise", "in", "-o", "out", "--model", "identity", "--overwrite")
    assert run.code == 0, run
    assert "2 done, 0 skipped" in run.out
    assert pixels(tmp_path / "out" / "a.png").shape == (32, 48, 3)


@pytest.mark.parametrize("target", ["photo.png", "./photo.png", "link.png", "hard.png", "."])
def test_an_input_is_never_written_over(cli, tmp_path, target):
    src = write_image_file(tmp_path / "photo.png")
    (tmp_path / "link.png").symlink_to(src)
    os.link(src, tmp_path / "hard.png")
    before = src.read_bytes()
    inputs = ["photo.png"] if target != "." else ["photo.png", "link.png"]
    run = cli("denoise", *inputs, "-o", target, "--model", "identity", "--overwrite")
    assert run.code == 2, run
    assert "refusing to write over the input" in run.err
    assert src.read_bytes() == before


def test_a_corrupt_file_in_a_batch_of_ten_fails_alone_in_one_line(cli, tmp_path):
    for i in range(9):
        write_image_file(tmp_path / "in" / f"good{i}.png", seed=i)
    good = (tmp_path / "in" / "good0.png").read_bytes()
    (tmp_path / "in" / "broken.png").write_bytes(good[: len(good) // 2])  # truncated PNG

    run = cli("denoise", "in", "-o", "out", "--model", "identity")
    assert run.code == 1, run
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"good{i}.png" for i in range(9)]
    err_lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(err_lines) == 1 and err_lines[0].startswith("in/broken.png: "), run
    assert "Traceback" not in run.err
    assert "9 done, 0 skipped, 1 failed" in run.out


def test_empty_wrong_format_and_missing_inputs_are_reported_per_file(cli, tmp_path):
    write_image_file(tmp_path / "good.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not a PNG")
    (tmp_path / "notes.txt").write_text("hello")
    run = cli(
        "denoise", "good.png", "empty.png", "text.png", "notes.txt", "gone.png", "-o", "out", "--model", "identity"
    )
    assert run.code == 1, run
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]
    lines = {line.split(":")[0]: line for line in run.err.splitlines() if line.strip()}
    assert set(lines) == {"empty.png", "text.png", "notes.txt", "gone.png"}, run
    assert "no such file" in lines["gone.png"]
    assert all(len(line.split(": ", 1)[1]) > 3 for line in lines.values())
    assert "1 done, 0 skipped, 4 failed" in run.out


def test_no_inputs_is_a_usage_error(cli, tmp_path):
    (tmp_path / "empty_folder").mkdir()
    for args in (["gone.png"], ["empty_folder"], ["nothing/*.png"]):
        run = cli("denoise", *args, "-o", "out", "--model", "identity")
        assert run.code == 2, run
        assert run.err.startswith("restora: error: no input images found")
    assert cli("denoise", "-o", "out").code == 2  # typer's own usage error: INPUT missing


def test_unwritable_output_folder_is_a_usage_error(cli, tmp_path):
    write_image_file(tmp_path / "in" / "a.png")
    (tmp_path / "plain_file").write_text("x")
    run = cli("denoise", "in", "-o", "plain_file/out", "--model", "identity")
    assert run.code == 2, run
    assert "not writable" in run.err
    run = cli("denoise", "in", "-o", "plain_file", "--model", "identity")
    assert run.code == 2, run
    assert "-o must be a folder" in run.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_a_usage_error(cli, tmp_path):
    write_image_file(tmp_path / "in" / "a.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        run = cli("denoise", "in", "-o", "locked", "--model", "identity")
    finally:
        locked.chmod(0o700)
    assert run.code == 2, run
    assert "not writable" in run.err


def test_output_paths_escaping_the_output_folder_are_refused(cli, tmp_path):
    write_image_file(tmp_path / "in" / "sub" / "a.png")
    write_image_file(tmp_path / "in" / "b.png", seed=1)
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "out" / "sub").symlink_to(tmp_path / "elsewhere")
    run = cli("denoise", "in", "-o", "out", "--model", "identity", "--recursive")
    assert run.code == 2, run
    assert "escapes the output folder" in run.err
    assert list((tmp_path / "elsewhere").iterdir()) == [] and not (tmp_path / "out" / "b.png").exists()


def test_output_folder_inside_the_input_tree_is_not_read_back(cli, tmp_path):
    write_image_file(tmp_path / "in" / "a.png")
    for _ in range(2):
        run = cli("denoise", "in", "-o", "in/restored", "--model", "identity", "--recursive")
        assert run.code == 0, run
    found = sorted(p.relative_to(tmp_path / "in").as_posix() for p in (tmp_path / "in").rglob("*") if p.is_file())
    assert found == ["a.png", "restored/a.png"]
    for _ in range(2):  # a broad glob does not pick up earlier outputs either
        run = cli("denoise", "**/*.png", "-o", "globbed", "--model", "identity")
        assert run.code == 0, run
    assert sorted(p.relative_to(tmp_path / "globbed").as_posix() for p in (tmp_path / "globbed").rglob("*.png")) == [
        "a.png",
        "restored/a.png",
    ]


def test_bad_options_are_usage_errors(cli, tmp_path):
    write_image_file(tmp_path / "a.png")
    for bad in (
        ["--sigma", "loud"],
        ["--sigma", "-3"],
        ["--strength", "1.5"],
        ["--bit-depth", "12"],
        ["--jpeg-quality", "0"],
        ["--subsampling", "4:1:1"],
        ["--device", "tpu"],
        ["--model", "no-such-model"],
    ):
        run = cli("denoise", "a.png", "-o", "b.png", *bad)
        assert run.code == 2, (bad, run)
        assert not (tmp_path / "b.png").exists()
    run = cli("denoise", "a.png", "-o", "b.xyz", "--model", "identity")
    assert run.code == 2 and "cannot write '.xyz'" in run.err, run


@pytest.mark.parametrize("task", ["deblur", "derain", "dehaze", "lowlight"])
def test_tasks_without_a_model_say_so_in_one_line(cli, tmp_path, task, monkeypatch):
    from restora.engine import catalogue

    catalogue.available_methods()  # everything registered, then the task's methods taken away
    monkeypatch.setattr("restora.engine.catalogue.register_shipped_models", lambda folder: None)
    for name in [n for n, spec in catalogue.METHODS.items() if task in spec.tasks]:
        monkeypatch.delitem(catalogue.METHODS, name)
    write_image_file(tmp_path / "a.png")
    run = cli(task, "a.png", "-o", "b.png")
    assert run.code == 1, run
    assert run.err.strip() == f"restora: error: no model is available for task '{task}' yet"


def test_a_model_for_another_task_is_refused(cli, tmp_path):
    write_image_file(tmp_path / "a.png")
    run = cli("deblur", "a.png", "-o", "b.png", "--model", "nlm")
    assert run.code == 2 and "does not deblur" in run.err, run


def test_bit_depth_jpeg_quality_and_subsampling_reach_the_writer(cli, tmp_path):
    write_image_file(tmp_path / "a.png")
    assert cli("denoise", "a.png", "-o", "a16.png", "--model", "identity", "--bit-depth", "16").code == 0
    assert (tmp_path / "a16.png").read_bytes()[24] == 16  # PNG IHDR bit depth (Pillow would read it as 8-bit)
    assert cli("denoise", "a.png", "-o", "q95.jpg", "--model", "identity").code == 0
    assert cli("denoise", "a.png", "-o", "q30.jpg", "--model", "identity", "--jpeg-quality", "30").code == 0
    assert (tmp_path / "q30.jpg").stat().st_size < (tmp_path / "q95.jpg").stat().st_size
    assert cli("denoise", "a.png", "-o", "s420.jpg", "--model", "identity", "--subsampling", "4:2:0").code == 0
    assert JpegImagePlugin.get_sampling(PILImage.open(tmp_path / "q95.jpg")) == 0  # 4:4:4 by default
    assert JpegImagePlugin.get_sampling(PILImage.open(tmp_path / "s420.jpg")) == 2


def test_self_ensemble_option_runs_our_networks_and_refuses_others(cli, tmp_path):
    write_image_file(tmp_path / "photo.png")
    run = cli("denoise", "photo.png", "-o", "out.png", "--model", "restora-denoise-fast", "--self-ensemble")
    assert run.code == 0, run
    assert pixels(tmp_path / "out.png").shape == (32, 48, 3)
    run = cli("denoise", "photo.png", "-o", "nlm.png", "--model", "nlm", "--self-ensemble")
    assert run.code == 2, run
    assert run.err.strip().splitlines() == [
        "restora: error: --self-ensemble needs one of our networks; 'nlm' does not support it"
    ]
    assert not (tmp_path / "nlm.png").exists()
