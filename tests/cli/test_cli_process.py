"""The installed ``restora`` program as a process: errors without tracebacks, atomic writes on failure."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from .conftest import write_image_file

FILE_SIZE_LIMIT = 64_000  # bytes: small outputs fit, the big one fails part-way through its write


def restora(*args, cwd: Path, preexec_fn=None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("restora")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from restora.cli import main; main()"]
    env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="200")
    return subprocess.run(
        command + [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=preexec_fn,
    )


@pytest.mark.slow
def test_errors_are_one_line_with_usage_status_and_no_traceback(tmp_path):
    proc = restora("denoise", "gone.png", "-o", "out.png", cwd=tmp_path)
    assert proc.returncode == 2, proc
    assert proc.stderr.strip() == "restora: error: no input images found in gone.png"
    (tmp_path / "bad.safetensors").write_bytes(b"not a model")
    proc = restora("derain", "gone.png", "-o", "out.png", "--model", "bad.safetensors", cwd=tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip().startswith("restora: error: "), proc
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_write_failing_midway_leaves_no_partial_file_and_the_batch_goes_on(tmp_path):
    """A file-size limit (like a full disk) makes the big output's write fail after part of it is written."""
    write_image_file(tmp_path / "in" / "a_small.png")
    rng = np.random.default_rng(0)
    PILImage.fromarray(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)).save(tmp_path / "in" / "b_big.png")
    write_image_file(tmp_path / "in" / "c_small.png", seed=1)
    assert (tmp_path / "in" / "b_big.png").stat().st_size > FILE_SIZE_LIMIT

    def limit_file_size():  # Python ignores SIGXFSZ, so an oversized write fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))

    proc = restora("denoise", "in", "-o", "out", "--model", "identity", cwd=tmp_path, preexec_fn=limit_file_size)
    assert proc.returncode == 1, proc
    assert sorted(os.listdir(tmp_path / "out")) == ["a_small.png", "c_small.png"]  # no partial or temporary file
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("in/b_big.png: "), proc
    assert "2 done, 0 skipped, 1 failed" in proc.stdout


@pytest.mark.slow
def test_expected_errors_become_one_line_with_their_exit_status(capsys):
    from restora.batch.jobs import UsageError
    from restora.cli import report_error
    from restora.errors import BadInputError

    assert report_error(PermissionError(13, "Permission denied", "/photos/a.jpg")) == 1
    assert report_error(BadInputError("a.jpg: empty file (0 bytes)")) == 1
    assert report_error(UsageError("no input images found in x")) == 2
    assert capsys.readouterr().err.splitlines() == [
        "restora: error: Permission denied: /photos/a.jpg",
        "restora: error: a.jpg: empty file (0 bytes)",
        "restora: error: no input images found in x",
    ]
