"""``restora batch``: the local engine, and the Ray engine on a local 2-worker instance (skipped without ray)."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from PIL import Image as PILImage

import restora.batch.cli  # noqa: F401  (registers `batch`)
from restora.batch.ray_engine import MANIFEST_NAME, Manifest

pytestmark = [pytest.mark.ray, pytest.mark.slow]


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


def test_local_engine_restores_the_tree_and_reports_the_corrupt_file(tmp_path, invoke_cli):
    names = make_tree(tmp_path / "in")
    result = invoke_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "-r", "--model", "identity", "--threads", "1")
    assert result.exit_code == 1, result.stdout + result.stderr
    assert all((tmp_path / "out" / n).is_file() for n in names)
    assert "broken.png: " in result.stderr
    assert "5 done, 0 skipped, 1 failed" in result.stdout


def test_threads_size_the_same_pools_in_the_local_engine_as_in_a_ray_worker(tmp_path, invoke_cli):
    import cv2
    import torch

    make_tree(tmp_path / "in")
    before = torch.get_num_threads(), cv2.getNumThreads()
    try:
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        result = invoke_cli(
            "batch", tmp_path / "in" / "a.png", "-o", tmp_path / "a.png", "--model", "identity", "--threads", "2"
        )
        assert result.exit_code == 0, result.stdout + result.stderr
        # What RestoreWorker sets in each actor (restora.batch.ray_engine.limit_threads): PyTorch's and OpenCV's pools.
        assert (torch.get_num_threads(), cv2.getNumThreads()) == (2, 2)
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def ray_batch_benchmark():
    """benchmarks/ray_batch.py as a module."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "ray_batch.py"
    spec = importlib.util.spec_from_file_location("ray_batch_bench", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_benchmark_tells_ray_processes_apart():
    """benchmarks/ray_batch.py accounts CPU time per role: a worker is not the raylet though its command line
    names it, and a worker that turns into the restoring actor counts as one."""
    bench = ray_batch_benchmark()
    worker = "/v/bin/python /v/ray/_private/workers/default_worker.py --raylet-name=/tmp/ray/s/sockets/raylet --node-ip-address=1"
    assert bench.role_of(11, 7, worker) == "idle Ray workers"
    assert (
        bench.role_of(11, 7, "/v/ray/core/src/ray/raylet/raylet --raylet_socket_name=/tmp/ray/s/sockets/raylet")
        == "raylet"
    )
    assert bench.role_of(11, 7, "ray::MapWorker(MapBatches(RestoreWorker)).submit") == bench.WORKER_ROLE
    assert bench.role_of(11, 7, "ray::_StatsActor") == "Ray Data helper actors"
    assert bench.role_of(11, 7, "ray::DashboardAgent") == "agents"
    assert bench.role_of(7, 7, "python -c restora") == "driver"
    assert bench.role_of(11, 7, "") is None  # an exiting process: keeps the role it had


def test_benchmark_megapixels_come_from_pixel_counts_for_small_images():
    """At 64² the batch summary prints 0.0 MP: the benchmark counts the pixels itself, so the rates and the
    Ray / local ratios stay defined."""
    bench = ray_batch_benchmark()
    each = 64 * 64 / 1e6
    done, seconds, megapixels = bench.batch_summary(
        "6 done, 0 skipped, 0 failed in 1.3 s (0.0 MP, 0.02 MP/s restoring)\n", each
    )
    assert (done, seconds) == (6, 1.3) and megapixels == pytest.approx(6 * 64 * 64 / 1e6)
    assert bench.batch_summary("no summary here", each) is None
    row = {
        "files": 6,
        "megapixels": megapixels,
        "steady_mp_s": 0.02,
        "batch_mp_s": round(megapixels / seconds, 4),
        "wall_mp_s": round(megapixels / 4.0, 4),
        "wall_s": 4.0,
        "first_output_s": 2.0,
        "worker_idle": None,
        "cpu_seconds": {"driver": 1.0},
    }
    table = bench.markdown(
        [{**row, "engine": "local", "threads": 1}, {**row, "engine": "ray", "threads": 1}], None, 6, 64, "fast", 1
    )
    assert "| ray | 1 | 0.020 |" in table and "100%, 100%" in table


def test_ray_options_need_the_ray_engine(tmp_path, invoke_cli):
    make_tree(tmp_path / "in")
    result = invoke_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--workers", "2", "--model", "identity")
    assert result.exit_code == 2 and "--engine ray" in result.stderr


def test_missing_ray_is_a_usage_error_naming_the_extra(tmp_path, monkeypatch, invoke_cli):
    make_tree(tmp_path / "in")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    result = invoke_cli("batch", tmp_path / "in", "-o", tmp_path / "out", "--engine", "ray", "--model", "identity")
    assert result.exit_code == 2 and "restora[ray]" in result.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_manifest_keeps_done_records_and_round_trips(tmp_path):
    from pathlib import Path

    from restora.batch.jobs import Job, JobResult

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


def test_a_result_travels_and_is_kept_whole(tmp_path):
    """A Ray worker sends JobResult.to_record back and the driver rebuilds the result from it, so the console
    says what the local engine says; the manifest keeps the same σ, reliability and --task auto detection."""
    from pathlib import Path

    from restora.batch.jobs import Job, JobResult

    out = tmp_path / "out"
    out.mkdir()
    job = Job(Path("/in/a.png"), out / "a.png", "a.png")
    detection = {
        "detector": "tiny",
        "probabilities": {"lowlight": 0.9, "dehaze": 0.1},
        "strengths": {"lowlight": 0.61, "dehaze": 0.02},
        "detected": ["lowlight"],
        "task": "lowlight",
        "model": "tiny",
        "seconds": 0.01,
        "extra": {},
    }
    result = JobResult(
        job,
        model="tiny",
        megapixels=0.25,
        restore_seconds=0.5,
        seconds=0.75,
        sigma=np.array([3.0, 4.5, 6.25], np.float32),
        reliability={"gain_db": 1.5},
        detection=detection,
    )
    back = JobResult.from_record(job, json.loads(json.dumps(result.to_record())))
    assert np.array_equal(back.sigma, result.sigma) and back.sigma.dtype == result.sigma.dtype
    assert {**vars(back), "sigma": None} == {**vars(result), "sigma": None}
    failed = JobResult.from_record(job, json.loads(json.dumps(JobResult(job, error="truncated file").to_record())))
    assert failed.error == "truncated file" and not failed.ok and failed.sigma is None and failed.detection is None

    m = Manifest(out / MANIFEST_NAME)
    m.record(back)
    m.save()
    entry = json.loads((out / MANIFEST_NAME).read_text())["files"]["a.png"]
    assert entry["detection"] == detection and entry["reliability"] == {"gain_db": 1.5}
    assert entry["sigma"] == [3.0, 4.5, 6.25] and entry["status"] == "done" and entry["model"] == "tiny"


def test_manifest_waits_longer_between_costly_saves(tmp_path, monkeypatch):
    from pathlib import Path

    import restora.batch.ray_engine as batch_ray
    from restora.batch.jobs import Job, JobResult

    out = tmp_path / "out"
    out.mkdir()
    m = Manifest(out / MANIFEST_NAME)
    m.record(JobResult(Job(Path("/in/a.png"), out / "a.png", "a.png"), model="identity", megapixels=1.0, seconds=1.0))
    clock = iter([100.0, 103.0])  # the save takes 3 s (a manifest of a huge batch)
    monkeypatch.setattr(batch_ray.time, "perf_counter", lambda: next(clock))
    m.save()
    monkeypatch.undo()
    m.record(JobResult(Job(Path("/in/b.png"), out / "b.png", "b.png"), model="identity", megapixels=1.0, seconds=1.0))
    m._saved -= 3 * batch_ray.MANIFEST_SAVE_SECONDS  # longer ago than the usual interval ...
    m.save(force=False)  # ... but not 20 × the 3 s the last save took
    assert set(json.loads((out / MANIFEST_NAME).read_text())["files"]) == {"a.png"}
    m._saved -= batch_ray.MANIFEST_SAVE_COST_FACTOR * 3
    m.save(force=False)
    assert set(json.loads((out / MANIFEST_NAME).read_text())["files"]) == {"a.png", "b.png"}


def test_an_unreachable_cluster_is_a_usage_error(tmp_path, invoke_cli):
    pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'restora[ray]')")
    make_tree(tmp_path / "in")
    result = invoke_cli(
        "batch",
        tmp_path / "in",
        "-o",
        tmp_path / "out",
        "--engine",
        "ray",
        "--address",
        "127.0.0.1:1",
        "--model",
        "identity",
    )
    assert result.exit_code == 2 and "cannot reach the Ray cluster" in result.stderr


# ---------------------------------------------------------------------------------------------------
# Ray (one local instance for the module: starting Ray takes seconds)

ray = pytest.importorskip(
    "ray", reason="the ray extra is not installed (pip install 'restora[ray]'): Ray batch tests skipped"
)


@pytest.fixture(scope="module")
def local_ray():
    from restora.batch.ray_engine import _init_ray
    from restora.errors import RestoraError

    try:
        _init_ray(ray, None)
    except RestoraError:  # a local node can time out starting on a busy machine: one more try
        _init_ray(ray, None)
    yield
    ray.shutdown()


def test_ray_two_workers_corrupt_file_manifest_and_rerun(tmp_path, local_ray, invoke_cli):
    names = make_tree(tmp_path / "in")
    out = tmp_path / "out"
    first = invoke_cli(
        "batch", tmp_path / "in", "-o", out, "-r", "--engine", "ray", "--workers", "2", "--model", "identity"
    )
    assert first.exit_code == 1, first.stdout + first.stderr
    assert all((out / n).is_file() for n in names)  # mirrored tree, formats kept
    assert not (out / "sub" / "broken.png").exists()
    assert "sub/broken.png: " in first.stderr.replace(os.sep, "/")
    assert "5 done, 0 skipped, 1 failed" in first.stdout
    assert "Ray: 2 workers" in first.stdout

    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert {k: v["status"] for k, v in manifest["files"].items()} == {
        **{n: "done" for n in names},
        "sub/broken.png": "failed",
    }
    assert manifest["files"]["sub/broken.png"]["reason"]
    assert manifest["counts"] == {"done": 5, "failed": 1, "skipped": 0}
    # Outputs are the identity's: same pixels as the inputs (lossless formats).
    assert np.array_equal(
        np.asarray(PILImage.open(out / "sub/c.png")), np.asarray(PILImage.open(tmp_path / "in/sub/c.png"))
    )

    # As after a kill: one output missing and a half-written temporary file beside it.
    stamps = {n: (out / n).stat().st_mtime_ns for n in names}
    (out / "a.png").unlink()
    (out / ".a.png.k1ll3d.tmp").write_bytes(b"partial")
    second = invoke_cli(
        "batch", tmp_path / "in", "-o", out, "-r", "--engine", "ray", "--workers", "2", "--model", "identity"
    )
    assert second.exit_code == 1  # the corrupt file fails again
    assert "1 done, 4 skipped, 1 failed" in second.stdout
    assert (out / "a.png").is_file() and not (out / ".a.png.k1ll3d.tmp").exists()
    assert all((out / n).stat().st_mtime_ns == stamps[n] for n in names if n != "a.png")  # skipped, untouched
    manifest = json.loads((out / MANIFEST_NAME).read_text())
    assert manifest["counts"] == {"done": 5, "failed": 1, "skipped": 0}  # done records of the first run kept


def detection_lines(stdout: str) -> dict[str, str]:
    """File name → the '  detected: ...' line the console printed under it, and '' → the summary's count."""
    lines, found, name = stdout.splitlines(), {}, None
    for line in lines:
        if " → " in line:
            name = line.split(" → ")[0]
        elif line.startswith("  detected: "):
            found[name] = line
        elif line.startswith("detected: "):
            found[""] = line
    return found


def test_ray_reports_task_auto_detections_as_the_local_engine_does(
    tmp_path, monkeypatch, local_ray, invoke_cli, tiny_allinone
):
    names = make_tree(tmp_path / "in")
    monkeypatch.chdir(tmp_path)  # files are shown as in/NAME
    model = tiny_allinone("lowlight")  # detects low light in any image and restores it itself
    common = ("--task", "auto", "--model", model, "-r")
    local = invoke_cli("batch", "in", "-o", "local", *common)
    on_ray = invoke_cli("batch", "in", "-o", "ray", *common, "--engine", "ray", "--workers", "2")
    assert local.exit_code == on_ray.exit_code == 1, local.stdout + on_ray.stdout + on_ray.stderr  # broken.png

    expected = detection_lines(local.stdout.replace(os.sep, "/"))
    assert set(expected) == {"", *(f"in/{n}" for n in names)} and expected[""] == "detected: lowlight 5"
    assert "restored by tiny-allinone-lowlight (lowlight)" in expected["in/a.png"]
    assert (
        detection_lines(on_ray.stdout.replace(os.sep, "/")) == expected
    )  # same types, probabilities, strengths, model, counts

    manifest = json.loads((tmp_path / "ray" / MANIFEST_NAME).read_text())["files"]
    for name in names:
        d = manifest[name]["detection"]
        assert d["task"] == "lowlight" and d["detected"][0] == "lowlight" and d["model"] == str(model)
        assert manifest[name]["model"] == "tiny-allinone-lowlight"
        assert set(d["strengths"]) == set(d["probabilities"]) and all(0 <= v <= 1 for v in d["strengths"].values())
    assert "detection" not in manifest["sub/broken.png"]
