"""Speed and memory of one method at one image size, measured in a fresh process.

``python -m restora.eval.speed --method NAME --size 1024 [--threads N] [--repeats 3] [--device cpu]
[--image PATH]`` prints one JSON line. The input is a square ``size``² image: the clean photo ``--image``
resized (bicubic) to that size, plus Gaussian noise σ=25 (seed 0), as a float array on [0, 1] — or, with
no image, smooth random texture. The timed call is the whole :func:`restora.engine.run_restore` (read
and write excluded) with the engine's default tile; peers are told σ=25, our models (``--blind``) get
``sigma="auto"`` (estimation included, as users run them). One warm-up call on a 256² crop loads the
method and starts its thread pools; then the median of ``repeats`` timed calls is reported.

Peak RSS is ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` at the end, the process's high-water mark,
so each (method, size) runs in its own process and methods cannot pollute each other; ``base_rss_mb``
is the mark after the warm-up (interpreter, libraries and weights).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

WARMUP_SIZE = 256
SPEED_SIGMA = 25.0


def speed_input(size: int, image_path: str | None):
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    if image_path:
        from restora.eval.datasets import read_rgb8

        clean = cv2.resize(read_rgb8(image_path), (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    else:
        clean = cv2.resize(rng.uniform(0, 255, (size // 16 + 2, size // 16 + 2, 3)), (size, size), interpolation=cv2.INTER_CUBIC)
    return (clean + rng.normal(0.0, SPEED_SIGMA, clean.shape)) / 255.0


def set_threads(threads: int) -> None:
    """Limit every runtime the methods use to ``threads`` threads (call before heavy imports)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def measure(method: str, size: int, threads: int, repeats: int, device: str, image_path: str | None,
            blind: bool = False) -> dict:
    set_threads(threads)
    from restora.engine import run_restore
    from restora.engine.restore import get_method
    from restora.eval.peers import register_ffdnet

    if method == "ffdnet":
        register_ffdnet()
    loaded = get_method(method, device)  # the engine's cached instance, runtime chosen as for users
    sigma = "auto" if blind else SPEED_SIGMA
    x = speed_input(size, image_path)
    run_restore(x[:WARMUP_SIZE, :WARMUP_SIZE], model=method, sigma=sigma, device=device)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds, cpu_seconds = [], []
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        run_restore(x, model=method, sigma=sigma, device=device)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    median = statistics.median(seconds)
    cpu_median = statistics.median(cpu_seconds)
    return {
        "method": method,
        "size": size,
        "megapixels": size * size / 1e6,
        "seconds": median,
        "mp_per_s": size * size / 1e6 / median,
        "runs": seconds,
        # CPU time of all the process's threads: on a busy shared machine wall time includes waiting for a
        # core, CPU time does not (with one thread, MP per CPU-second is the unloaded speed).
        "cpu_seconds": cpu_median,
        "mp_per_cpu_s": size * size / 1e6 / max(cpu_median, 1e-9),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "base_rss_mb": base_rss,
        "runtime": _runtime_version(loaded.runtime),
        "threads": threads,
        "device": str(getattr(loaded, "device", "cpu")),
        "tile": loaded.default_tile,
        "sigma": sigma,
        "load_average": os.getloadavg()[0],  # other work on the machine slows these figures down
    }


def _runtime_version(runtime: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    package = {"onnx": "onnxruntime"}.get(runtime, runtime)
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return runtime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image", default=None)
    parser.add_argument("--blind", action="store_true", help="run with sigma='auto' (our blind models)")
    args = parser.parse_args(argv)
    result = measure(args.method, args.size, args.threads, args.repeats, args.device, args.image, args.blind)
    sys.stdout.write(json.dumps(result) + "\n")




# Sizes above this are measured only for methods faster than FAST_MP_PER_S at the sizes below it.
LARGE_SIZE = 4096
FAST_MP_PER_S = 0.2
# BM3D runs at ~0.01 MP/s on one core: 1024² alone would take minutes per run, so it is timed at 512² only.
ONLY_SIZES = {"bm3d": (512,)}


def run_speed(methods, sizes: list[int], threads: int, repeats: int, device: str, image_path: str | None,
              log=print, timeout: float = 1800.0) -> list[dict]:
    """Measure each method at each size in its own subprocess; failures are recorded, not raised."""
    import subprocess

    results = []
    for method in methods:
        plan = sorted(sizes)
        if method.engine_name in ONLY_SIZES:
            plan = [s for s in plan if s in ONLY_SIZES[method.engine_name]] or plan[:1]
        last_speed = None
        for size in plan:
            if size >= LARGE_SIZE and (last_speed is None or last_speed <= FAST_MP_PER_S):
                log(f"speed {method.label} {size}²: skipped (slower than {FAST_MP_PER_S} MP/s)")
                continue
            cmd = [sys.executable, "-m", "restora.eval.speed", "--method", method.engine_name, "--size", str(size),
                   "--threads", str(threads), "--repeats", str(repeats), "--device", device]
            if image_path:
                cmd += ["--image", str(image_path)]
            if method.blind:
                cmd.append("--blind")
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                results.append({"method": method.label, "size": size, "error": f"timed out after {timeout:.0f} s"})
                log(f"speed {method.label} {size}²: timed out")
                break
            if proc.returncode != 0:
                reason = (proc.stderr.strip().splitlines() or ["failed"])[-1]
                results.append({"method": method.label, "size": size, "error": reason})
                log(f"speed {method.label} {size}²: failed ({reason})")
                break
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            row["method"] = method.label
            results.append(row)
            last_speed = row["mp_per_s"]
            log(f"speed {method.label} {size}²: {row['mp_per_s']:.3f} MP/s, peak RSS {row['peak_rss_mb']:.0f} MB")
    return results


if __name__ == "__main__":
    main()
