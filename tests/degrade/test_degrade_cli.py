"""``restora degrade``: ``--list`` needs no photo (docs/models.md shows it so); usage errors exit 2."""

from __future__ import annotations

import numpy as np
from PIL import Image as PILImage

from restora.degrade import PIPELINES


def test_list_needs_no_photo(invoke_cli):
    r = invoke_cli("degrade", "--list")
    assert r.exit_code == 0, r.stderr
    names = [line.split()[0] for line in r.stdout.splitlines() if line.strip()]
    assert names == sorted(PIPELINES)


def test_no_photo_and_unknown_pipeline_are_usage_errors(tmp_path, invoke_cli):
    r = invoke_cli("degrade")
    assert r.exit_code == 2 and "--list" in r.stderr
    photo = tmp_path / "clean.png"
    PILImage.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(photo)
    r = invoke_cli("degrade", photo, "-p", "no-such-pipeline", "-o", tmp_path / "out")
    assert r.exit_code == 2 and "unknown degradation pipeline" in r.stderr
    assert not (tmp_path / "out").exists()


def test_writes_seeded_samples_into_a_new_folder(tmp_path, invoke_cli):
    photo = tmp_path / "clean.png"
    PILImage.fromarray(np.full((24, 24, 3), 128, np.uint8)).save(photo)
    out = tmp_path / "a" / "b"
    r = invoke_cli("degrade", photo, "-p", "gaussian", "-o", out, "-n", "2", "--seed", "3")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["clean-gaussian-00.png", "clean-gaussian-01.png"]
