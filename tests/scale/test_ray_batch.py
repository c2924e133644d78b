"""``restora batch``: the local engine, and the Ray engine on a local 2-worker instance (skipped without ray)."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

import restora.batch_ray  # noqa: F401  (registers `batch`)
from restora.batch_ray import MANIFEST_NAME, Manifest
from restora.cli import app


def make_tree(root):
    """Five small photos in a two-level tree plus one corrupt file."""
    rng = np.random.default_rng(0)
    names = ["a.png", "b.jpg", "sub/c.png", "sub/d.tif", "sub/deeper/e.png"]
    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(rng.integers(0, 256, (24 + 2 * i, 40, 3), dtype=np.uint8)).save(path)
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG but not really")
    return names


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"command raised {result.exception!r}\n{result.stdout}\n{result.stderr}") from result.exception
    return result


def test_local_engine_restores_the_tree_and_reports_the_corrupt_file(tmp_path):
    names = make_tree(tmp_path / "in")
    result = run("batch", tmp_path / "in", "-o", tmp_path / "out", "-r", "--model", "identity", "--threads", "1")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert all((tmp_path / "out" / n).is_file() for n in names)
    assert "broken.png: " in result.stderr
    assert "5 done, 0 skipped, 1 failed" in result.stdout


def test_ray_options_need_the_ray_engine(tmp_path):
    make_tree(tmp_path / "in")
    result = run("batch", tmp_path / "in", "-o", tmp_path / "out", "--workers", "2", "--model", "identity")
    assert result.exit_code == 2 and "--engine ray" in result.stderr


def test_missing_ray_is_a_usage_error_naming_the_extra(tmp_path, monkeypatch):
    make_tree(tmp_path / "in")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    result = run("batch", tmp_path / "in", "-o", tmp_path / "out", "--engine", "ray", "--model", "identity")
    assert result.exit_code == 2 and "restora[ray]" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_manifest_keeps_done_records_and_round_trips(tmp_path):
    from pathlib import Path

    from restora.batch import Job, JobResult

    out = tmp_path / "out"
    out.mkdir()
    job = Job(Path("/in/a.png"), out / "a.png", "a.png")
    bad = Job(Path("/in/b.png"), out / "sub" / "b.png", "b.png")
    m = Manifest(out / MANIFEST_NAME)
    m.record(JobResult(job, model="identity", megapixels=0.5, seconds=1.0))
    m.record(JobResult(bad, error="truncated file"))
    m.save()
    again = Manifest(out / MANIFEST_NAME)
    again.record_skipped(job)  # done before: stays done
    assert again.files["a.png"]["status"] == "done"
    assert again.files["sub/b.png"] == {"source": "/in/b.png", "status": "failed", "reason": "truncated file"}
    assert again.counts() == {"done": 1, "failed": 1, "skipped": 0}
    (out / MANIFEST_NAME).write_text("{ not json")
    assert Manifest(out / MANIFEST_NAME).files == {}


def test_an_unreachable_cluster_is_a_usage_error(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'restora[ray]')")
    make_tree(tmp_path / "in")
    result = run("batch", tmp_path / "in", "-o", tmp_path / "out", "--engine", "ray", "--address", "127.0.0.1:1",
                 "--model", "identity")
    assert result.exit_code == 2 and "cannot reach the Ray cluster" in result.stderr


# ---------------------------------------------------------------------------------------------------
# Ray (one local instance for the module: starting Ray takes seconds)

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'restora[ray]'): Ray batch tests skipped")


@pytest.fixture(scope="module")
def local_ray():
    from restora.batch_ray import _init_ray
    from restora.errors import RestoraError

    try:
        _init_ray(ray, None)
    except RestoraError:  # a local node can time out starting on a busy machine: one more try
        _init_ray(ray, None)
    yield
    ray.shutdown()


def test_ray_two_workers_corrupt_file_manifest_and_rerun(tmp_path, local_ray):
    names = make_tree(tmp_path / "in")
    out = tmp_path / "out"
    first = run("batch", tmp_path / "in", "-o", out, "-r", "--engine", "ray", "--workers", "2", "--model", "identity")
    assert first.exit_code == 1, first.stdout + first.stderr
    assert all((out / n).is_file() for n in names)  # mirrored tree, formats kept
    assert not (out / "sub" / "broken.png").exists()
    assert "sub/broken.png: " in first.stderr.replace(os.sep, "/")
    assert "5 done, 0 skipped, 1 failed" in first.stdout
    assert "Ray: 2 workers" in first.stdout

    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert {k: v["status"] for k, v in manifest["files"].items()} == {**{n: "done" for n in names}, "sub/broken.png": "failed"}
    assert manifest["files"]["sub/broken.png"]["reason"]
    assert manifest["counts"] == {"done": 5, "failed": 1, "skipped": 0}
    # Outputs are the identity's: same pixels as the inputs (lossless formats).
    assert np.array_equal(np.asarray(PILImage.open(out / "sub/c.png")), np.asarray(PILImage.open(tmp_path / "in/sub/c.png")))

    # As after a kill: one output missing and a half-written temporary file beside it.
    stamps = {n: (out / n).stat().st_mtime_ns for n in names}
    (out / "a.png").unlink()
    (out / ".a.png.k1ll3d.tmp").write_bytes(b"partial")
    second = run("batch", tmp_path / "in", "-o", out, "-r", "--engine", "ray", "--workers", "2", "--model", "identity")
    assert second.exit_code == 1  # the corrupt file fails again
    assert "1 done, 4 skipped, 1 failed" in second.stdout
    assert (out / "a.png").is_file() and not (out / ".a.png.k1ll3d.tmp").exists()
    assert all((out / n).stat().st_mtime_ns == stamps[n] for n in names if n != "a.png")  # skipped, untouched
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["counts"] == {"done": 5, "failed": 1, "skipped": 0}  # done records of the first run kept
