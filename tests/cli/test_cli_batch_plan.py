"""Planning a batch (no pixels touched): output names, RAW → 16-bit TIFF, collisions, tile progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from restora.batch.jobs import Job, UsageError, plan_jobs, run_job
from restora.batch.options import RestoreOptions

from .conftest import write_image_file


def test_raw_inputs_become_16_bit_tiff_and_other_names_are_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "IMG_0001.CR2").write_bytes(b"raw")  # planning never opens files
    write_image_file(tmp_path / "in" / "b.jpg")
    plan = plan_jobs(["in"], "out")
    by_name = {Path(j.name).name: j for j in plan.jobs}
    assert by_name["IMG_0001.CR2"].output == tmp_path / "out" / "IMG_0001.tif"
    assert by_name["IMG_0001.CR2"].bit_depth == 16
    assert by_name["b.jpg"].output == tmp_path / "out" / "b.jpg" and by_name["b.jpg"].bit_depth is None


def test_two_inputs_claiming_one_output_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.nef").write_bytes(b"raw")
    write_image_file(tmp_path / "in" / "x.tif")
    with pytest.raises(UsageError, match="would both be written"):
        plan_jobs(["in"], "out")


def test_several_folders_are_mirrored_below_their_common_parent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image_file(tmp_path / "a" / "1.png")
    write_image_file(tmp_path / "b" / "1.png")
    plan = plan_jobs(["a", "b", "a/1.png"], "out")  # a/1.png twice: done once
    assert sorted(j.output.relative_to(tmp_path / "out").as_posix() for j in plan.jobs) == ["a/1.png", "b/1.png"]


def test_hidden_files_and_folders_are_left_out_of_folder_walks(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_image_file(tmp_path / "in" / "a.png")
    write_image_file(tmp_path / "in" / ".a.png.tmp.png")
    write_image_file(tmp_path / "in" / ".cache" / "b.png")
    plan = plan_jobs(["in"], "out", recursive=True)
    assert [j.name for j in plan.jobs] == ["in/a.png"]


def test_run_job_reports_tile_progress_and_never_raises_for_a_bad_file(tmp_path):
    src = write_image_file(tmp_path / "a.png", size=(160, 160))
    options = RestoreOptions(task="denoise", model="identity", tile=80)
    ticks = []
    result = run_job(Job(src, tmp_path / "b.png", "a.png"), options, on_tile=lambda n, total: ticks.append((n, total)))
    assert result.ok, result.error
    total = ticks[-1][1]
    assert total > 1 and ticks == [(n, total) for n in range(1, total + 1)]
    assert result.megapixels == pytest.approx(160 * 160 / 1e6)

    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    failed = run_job(Job(tmp_path / "bad.png", tmp_path / "c.png", "bad.png"), options)
    assert not failed.ok and failed.error and "\n" not in failed.error
    assert not (tmp_path / "c.png").exists()


def test_sigma_is_reported_only_when_estimated(tmp_path):
    src = write_image_file(tmp_path / "a.png", size=(64, 64))
    auto = run_job(Job(src, tmp_path / "b.png", "a.png"), RestoreOptions(task="denoise", model="nlm"))
    assert auto.ok and auto.sigma is not None and auto.sigma.shape == (3,)
    assert np.all((auto.sigma > 10) & (auto.sigma < 30))  # the image has σ = 20 noise
    given = run_job(Job(src, tmp_path / "c.png", "a.png"), RestoreOptions(task="denoise", model="nlm", sigma="20"))
    assert given.ok and given.sigma is None


def test_reporter_with_progress_bars_counts_done_skipped_and_failed(tmp_path, monkeypatch, capsys):
    from restora.batch.jobs import ConsoleReporter, run_local

    monkeypatch.chdir(tmp_path)
    write_image_file(tmp_path / "in" / "a.png", size=(160, 160))
    write_image_file(tmp_path / "in" / "b.png", seed=1)
    (tmp_path / "in" / "c.png").write_bytes(b"")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.png").write_bytes(b"already there")
    plan = plan_jobs(["in"], "out")
    summary = run_local(
        plan, RestoreOptions(task="denoise", model="identity", tile=80), ConsoleReporter(progress_bars=True)
    )
    assert (summary.done, summary.skipped, summary.failed, summary.exit_code) == (1, 1, 1, 1)
    assert summary.megapixels == pytest.approx(160 * 160 / 1e6)
    captured = capsys.readouterr()
    assert "in/b.png: skipped" in captured.out and "1 done, 1 skipped, 1 failed" in captured.out
    assert "in/c.png: empty file" in captured.err
