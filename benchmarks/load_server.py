"""Load test for ``restora serve``: many uploads at once on loopback; none may be lost.

Starts the server as a child process on a free 127.0.0.1 port (never anywhere else), sends ``--count``
uploads at the same moment from as many threads, then follows every accepted job to its end.
Reports: how each upload was answered (200 accepted, 503 queue full, anything else or no answer =
lost), how accepted jobs ended (done / failed / unfinished at the deadline), answer latency, and the
server's peak resident memory (VmHWM from /proc, Linux). Bounded: at most 200 uploads and
``--timeout`` seconds in all; the server and its temporary folder are removed at the end.

    python benchmarks/load_server.py                      # 50 uploads, 1 worker, queue 16
    python benchmarks/load_server.py --queue 64 --json out/load.json
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import typer
from PIL import Image as PILImage

HOST = "127.0.0.1"  # loopback only, by design
MAX_COUNT = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def noisy_png(size: int, seed: int) -> bytes:
    """A shaded scene plus Gaussian noise σ=25, PNG-encoded."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    scene = np.stack([40 + 160 * x / size, 60 + 140 * y / size, 120 + 60 * np.sin(x / 13) * np.cos(y / 17)], axis=2)
    pixels = np.clip(np.rint(scene + rng.normal(0, 25, scene.shape)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of a live process in MB (VmHWM), or None where /proc is missing."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_server(workers: int, queue: int, work_dir: Path, port: int, log) -> subprocess.Popen:
    command = [
        sys.executable,
        "-c",
        "from restora.cli import main; main()",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--queue",
        str(queue),
        "--work-dir",
        str(work_dir),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    # The log goes to a file, not a pipe: an unread pipe would fill up and stall the server.
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)


def wait_healthy(base: str, server: subprocess.Popen, log, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise SystemExit(f"the server exited early:\n{log.read().decode(errors='replace')[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become healthy in time")


def run(count: int, size: int, model: str, workers: int, queue: int, timeout: float) -> dict:
    count = min(count, MAX_COUNT)
    deadline = time.monotonic() + timeout
    port = free_port()
    base = f"http://{HOST}:{port}"
    images = [noisy_png(size, seed) for seed in range(min(count, 8))]
    with tempfile.TemporaryDirectory(prefix="restora-load-") as work, tempfile.TemporaryFile() as log:
        server = start_server(workers, queue, Path(work), port, log)
        try:
            wait_healthy(base, server, log, deadline)
            answers: list[dict] = [{} for _ in range(count)]
            barrier = threading.Barrier(count)

            def upload(i: int) -> None:
                fields = {"task": "denoise"} | ({"model": model} if model else {})
                with httpx.Client(timeout=max(1.0, deadline - time.monotonic())) as client:
                    barrier.wait()
                    start = time.perf_counter()
                    try:
                        r = client.post(
                            f"{base}/api/jobs",
                            data=fields,
                            files={"file": (f"load-{i}.png", images[i % len(images)], "image/png")},
                        )
                        answers[i] = {
                            "code": r.status_code,
                            "seconds": time.perf_counter() - start,
                            "id": r.json().get("id") if r.status_code == 200 else None,
                            "retry_after": r.headers.get("retry-after"),
                        }
                    except httpx.HTTPError as exc:
                        answers[i] = {"code": None, "error": type(exc).__name__, "seconds": time.perf_counter() - start}

            started = time.perf_counter()
            threads = [threading.Thread(target=upload, args=(i,)) for i in range(count)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
            answered_s = time.perf_counter() - started

            # Follow every accepted job to its end.
            states: dict[str, str] = {a["id"]: "queued" for a in answers if a.get("id")}
            with httpx.Client(timeout=5) as client:
                while time.monotonic() < deadline and any(s in ("queued", "running") for s in states.values()):
                    for job_id, s in states.items():
                        if s in ("queued", "running"):
                            r = client.get(f"{base}/api/jobs/{job_id}")
                            states[job_id] = r.json()["status"] if r.status_code == 200 else f"http {r.status_code}"
                    time.sleep(0.2)
                results_ok = sum(
                    client.get(f"{base}/api/jobs/{j}/result").status_code == 200
                    for j, s in states.items()
                    if s == "done"
                )
            all_done_s = time.perf_counter() - started
            peak = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        leftovers = list(Path(work).iterdir())

    codes = [a.get("code") for a in answers]
    latencies = sorted(a["seconds"] for a in answers if "seconds" in a)
    ended = list(states.values())
    report = {
        "uploads": count,
        "image": f"{size}x{size} PNG, sigma 25",
        "model": model or "default",
        "workers": workers,
        "queue": queue,
        "accepted_200": codes.count(200),
        "busy_503": codes.count(503),
        "lost": sum(c not in (200, 503) for c in codes),
        "retry_after_present": all(a.get("retry_after") for a in answers if a.get("code") == 503),
        "jobs_done": ended.count("done"),
        "jobs_failed": ended.count("failed"),
        "jobs_unfinished": sum(s not in ("done", "failed") for s in ended),
        "results_fetched": results_ok,
        "answer_seconds_median": round(float(np.median(latencies)), 3) if latencies else None,
        "answer_seconds_max": round(latencies[-1], 3) if latencies else None,
        "all_answered_seconds": round(answered_s, 2),
        "all_jobs_ended_seconds": round(all_done_s, 2),
        "server_peak_rss_mb": round(peak, 1) if peak is not None else None,
        "server_files_left_after_stop": len(leftovers),
    }
    return report


load_test = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


@load_test.command()
def load(
    count: int = typer.Option(50, help=f"uploads sent at once (at most {MAX_COUNT})"),
    size: int = typer.Option(256, help="image side in pixels"),
    model: str = typer.Option("nlm", help="model name ('' for the server's default)"),
    workers: int = typer.Option(1),
    queue: int = typer.Option(16),
    timeout: float = typer.Option(300.0, help="seconds for the whole run"),
    json_out: Path | None = typer.Option(None, "--json", help="also write the report here"),
) -> None:
    report = run(count, size, model, workers, queue, timeout)
    for key, value in report.items():
        print(f"{key:32s} {value}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2) + "\n")
    ok = report["lost"] == 0 and report["jobs_unfinished"] == 0 and report["jobs_failed"] == 0
    raise typer.Exit(0 if ok else 1)


def main(argv: list[str] | None = None) -> None:
    """Run as a command; with ``argv`` (tests), in process: errors raise instead of exiting."""
    load_test(argv, prog_name="python benchmarks/load_server.py", standalone_mode=argv is None)


if __name__ == "__main__":
    main()
