"""Speed and peak memory of the methods: MP/s of the whole restore call per method, runtime, thread count and size.

Protocol (docs/conventions.md): the timed call is the whole :func:`restora.engine.run_restore` (read and write
excluded) with the engine's default tile, on a square ``size``² input: the clean photo ``--image`` resized
(bicubic) to that size, plus Gaussian noise σ=25 (seed 0), as a float array on [0, 1] — or, with no image,
smooth random texture. Peers are told σ=25; our models (``--blind``) get ``sigma="auto"`` (estimation
included, as users run them). One warm-up call on a 256² crop loads the method and starts its thread pools;
then, per size, the median of ``repeats`` timed calls is reported (fewer when ``budget`` seconds of timed
calls have passed: at least two at sizes below 4096², one at 4096² and above; each row says how many).

Each (method, runtime, thread count) runs in **its own process**, its sizes in increasing order:
``python -m restora.eval.speed --method NAME --sizes 512,1024,2048 --threads 1 [--runtime torch|onnx|auto]
[--repeats 3] [--budget S] [--blind] [--image PATH] [--device cpu]`` prints one JSON line per size.
Peak RSS per size is the process's high-water mark (``VmHWM``), reset before each size through
``/proc/self/clear_refs`` where Linux allows it (else the mark since the start, which with increasing sizes
is the same figure); ``base_rss_mb`` is the resident memory after the warm-up (interpreter, libraries, weights).

Threads: every runtime is limited to the thread count (PyTorch, ONNX Runtime through PyTorch's count,
OpenCV, OpenMP/BLAS, and BM3D's own pool). ``other_cpu`` is the share of the machine's cores that
something else used while the timed calls ran (other processes, and time the hypervisor took): near 0 on a
quiet machine; above that, MP/s counts waiting and *MP per CPU-s* (the method's own CPU time) is the
figure to read.

:func:`run_speed` plans the runs for ``restora bench`` (which methods depend on threads and runtimes, the
4096² rule, BM3D only at 512²); the tables and ``restora bench --speed-only`` are in
:mod:`restora.eval.speed_report`.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from restora.engine import run_restore
from restora.engine.restore import get_method
from restora.eval.datasets import read_rgb8
from restora.eval.peers import method_version, register_ffdnet
from restora.eval.report import machine_info
from datetime import UTC

WARMUP_SIZE = 256
SPEED_SIGMA = 25.0
# Sizes at and above this are measured only for methods faster than FAST_MP_PER_S at the size below, and
# only at the largest thread count of the run (a 4096² call takes minutes for the slower methods).
LARGE_SIZE = 4096
FAST_MP_PER_S = 0.2
# BM3D runs at ~0.01 MP/s on one core: 1024² alone would take minutes per run, so it is timed at 512² only.
ONLY_SIZES = {"bm3d": (512,)}
# Slow methods whose speed rows are cached (CACHE_FILE under the bench's --cache folder), and reused only
# when measured on a quiet machine (other work below QUIET_OTHER_CPU of the cores).
CACHED_SPEED = ("bm3d",)
QUIET_OTHER_CPU = 0.25
CACHE_FILE = "speed-rows.json"
# Methods whose speed does not depend on the thread count (timed at the smallest one only).
SINGLE_THREADED = ("identity",)
RUNTIMES = ("auto", "torch", "onnx")


def speed_input(size: int, image_path: str | None):
    import cv2
    import numpy as np

    rng = np.random.default_rng(0)
    if image_path:
        clean = cv2.resize(read_rgb8(image_path), (size, size), interpolation=cv2.INTER_CUBIC).astype(np.float64)
    else:
        clean = cv2.resize(
            rng.uniform(0, 255, (size // 16 + 2, size // 16 + 2, 3)), (size, size), interpolation=cv2.INTER_CUBIC
        )
    return (clean + rng.normal(0.0, SPEED_SIGMA, clean.shape)) / 255.0


def set_threads(threads: int) -> None:
    """Limit every runtime the methods use to ``threads`` threads (call before heavy imports)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    try:  # BM3D's library runs its own thread pool, on all cores unless its profile says otherwise
        import bm3d.profiles

        bm3d.profiles.BM3DProfile.num_threads = threads
    except ImportError:
        pass


# ---------------------------------------------------------------------------------------------------
# In the measuring process


class MachineLoad:
    """Share of the machine's cores used by anything but this process between start() and stop()."""

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK")
        self.cores = os.cpu_count() or 1

    @staticmethod
    def _busy() -> float | None:
        try:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]) - idle  # user nice system irq softirq steal (guest time is inside user)

    def start(self) -> None:
        self._busy0, self._cpu0, self._t0 = self._busy(), time.process_time(), time.perf_counter()

    def stop(self) -> float | None:
        busy = self._busy()
        if busy is None or self._busy0 is None:
            return None
        wall = time.perf_counter() - self._t0
        other = (busy - self._busy0) / self.tick - (time.process_time() - self._cpu0)
        return round(min(1.0, max(0.0, other / (wall * self.cores))), 3) if wall > 0 else None


def _reset_peak_rss() -> bool:
    """Reset the process's peak RSS mark (Linux ≥ 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _peak_rss_mb() -> float:
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def runtime_label(engine_name: str, runtime: str) -> str:
    """What runs the method, with its version: "torch 2.13.0+cpu", "onnxruntime 1.32.0", "OpenCV 5.0.0", ..."""
    from importlib.metadata import PackageNotFoundError, version

    if engine_name == "nlm":
        import cv2

        return f"OpenCV {cv2.__version__}"
    package = {"onnx": "onnxruntime"}.get(runtime, "bm3d" if engine_name == "bm3d" else runtime)
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return runtime


def measure_sizes(
    method: str,
    sizes: list[int],
    threads: int,
    repeats: int = 3,
    device: str = "cpu",
    image_path: str | None = None,
    blind: bool = False,
    runtime: str = "auto",
    budget: float | None = None,
    emit=None,
) -> list[dict]:
    """Time ``method`` at each size (increasing) in this process; one row per size (see the module doc).

    Sizes ≥ LARGE_SIZE are skipped unless the size before ran faster than FAST_MP_PER_S. ``emit`` is
    called with each row as soon as it is measured.
    """
    set_threads(threads)
    import gc

    if method == "ffdnet":
        register_ffdnet()
    loaded = get_method(method, device, runtime)  # the engine's cached instance: the one run_restore uses
    sigma = "auto" if blind else SPEED_SIGMA
    run_restore(speed_input(WARMUP_SIZE, image_path), model=method, sigma=sigma, device=device, runtime=runtime)
    gc.collect()
    base_rss = _status_mb("VmRSS") or _peak_rss_mb()  # resident after the warm-up: libraries, weights, pools
    load, whole = MachineLoad(), MachineLoad()
    whole.start()
    rows, last_speed = [], None
    for size in sorted(sizes):
        if size >= LARGE_SIZE and (last_speed is None or last_speed <= FAST_MP_PER_S):
            continue
        x = speed_input(size, image_path)
        gc.collect()
        reset = _reset_peak_rss()
        seconds, cpu_seconds = [], []
        min_runs = 1 if size >= LARGE_SIZE else min(2, repeats)
        load.start()
        while len(seconds) < repeats:
            start, cpu_start = time.perf_counter(), time.process_time()
            run_restore(x, model=method, sigma=sigma, device=device, runtime=runtime)
            seconds.append(time.perf_counter() - start)
            cpu_seconds.append(time.process_time() - cpu_start)
            if budget is not None and len(seconds) >= min_runs and sum(seconds) >= budget:
                break
        other = (
            load.stop() if sum(seconds) >= 1.0 else whole.stop()
        )  # ticks are 10 ms: short runs read the process's life
        median, cpu_median = statistics.median(seconds), statistics.median(cpu_seconds)
        megapixels = size * size / 1e6
        last_speed = megapixels / median
        row = {
            "method": method,
            "size": size,
            "megapixels": megapixels,
            "seconds": median,
            "mp_per_s": last_speed,
            "runs": seconds,
            # CPU time of all the process's threads: on a busy machine wall time includes waiting for a core,
            # CPU time does not (with one thread, MP per CPU-second is the unloaded speed).
            "cpu_seconds": cpu_median,
            "mp_per_cpu_s": megapixels / max(cpu_median, 1e-9),
            "peak_rss_mb": _peak_rss_mb(),
            "peak_rss_reset": reset,
            "base_rss_mb": base_rss,
            "runtime": runtime_label(method, loaded.runtime),
            "runtime_asked": runtime,
            "threads": threads,
            "device": str(getattr(loaded, "device", "cpu")),
            "tile": loaded.default_tile,
            "sigma": sigma,
            "other_cpu": other,
            "load_average": os.getloadavg()[0],  # 1-minute average: lags behind (see other_cpu)
        }
        rows.append(row)
        if emit is not None:
            emit(row)
        del x
    return rows


def _sizes_arg(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


measuring_process = typer.Typer(add_completion=False, help=(__doc__ or "").splitlines()[0])


@measuring_process.command()
def measure(
    method: Annotated[str, typer.Option(help="engine name of the method")],
    sizes: Annotated[str, typer.Option("--sizes", "--size", help="comma-separated, e.g. 512,1024")],
    threads: Annotated[int, typer.Option()] = os.cpu_count() or 1,
    repeats: Annotated[int, typer.Option()] = 3,
    budget: Annotated[float | None, typer.Option(help="seconds of timed calls per size (see above)")] = None,
    runtime: Annotated[str, typer.Option(help="|".join(RUNTIMES))] = "auto",
    device: Annotated[str, typer.Option()] = "cpu",
    image: Annotated[str | None, typer.Option()] = None,
    blind: Annotated[bool, typer.Option("--blind", help="run with sigma='auto' (our blind models)")] = False,
) -> None:
    """Time one method at the given sizes; one JSON row per size on stdout."""
    if runtime not in RUNTIMES:
        raise typer.BadParameter(f"one of {', '.join(RUNTIMES)}", param_hint="--runtime")

    def emit(row: dict) -> None:
        sys.stdout.write(json.dumps(row) + "\n")
        sys.stdout.flush()

    measure_sizes(method, _sizes_arg(sizes), threads, repeats, device, image, blind, runtime, budget, emit)


def main(argv: list[str] | None = None) -> None:
    measuring_process(argv, prog_name="python -m restora.eval.speed")


# ---------------------------------------------------------------------------------------------------
# Planning the runs (restora bench)


def thread_counts(method, threads: list[int]) -> list[int]:
    """The thread counts a method is timed at: all of them, or the smallest where threads do not matter."""
    return [min(threads)] if method.engine_name in SINGLE_THREADED else sorted(set(threads))


def runtime_choices(method, runtimes: list[str]) -> list[str]:
    """Runtimes to time a method in: the asked ones for our networks, the method's own for the others."""
    return list(dict.fromkeys(runtimes)) if method.kind == "ours" else ["auto"]


def plan_runs(methods, sizes: list[int], threads: list[int], runtimes: list[str]) -> list[tuple]:
    """(method, runtime, threads, sizes) per measuring process, in the order they run."""
    plan = []
    for method in methods:
        counts = thread_counts(method, threads)
        for runtime in runtime_choices(method, runtimes):
            for t in counts:
                chosen = sorted(sizes)
                if method.engine_name in ONLY_SIZES:
                    chosen = [s for s in chosen if s in ONLY_SIZES[method.engine_name]] or chosen[:1]
                if t != max(counts):  # large sizes only at the largest thread count
                    chosen = [s for s in chosen if s < LARGE_SIZE]
                if chosen:
                    plan.append((method, runtime, t, chosen))
    return plan


class SpeedCache:
    """Speed rows of slow methods measured on a quiet machine, keyed by what could change them."""

    def __init__(self, folder: Path | None):
        self.path = None if folder is None else Path(folder) / CACHE_FILE
        self.rows: dict = {}
        if self.path is not None and self.path.is_file():
            try:
                self.rows = json.loads(self.path.read_text())
            except ValueError:
                self.rows = {}

    @staticmethod
    def key(engine_name: str, runtime: str, threads: int, size: int, repeats: int) -> str:
        machine = machine_info()
        text = json.dumps(
            [
                method_version(engine_name),
                runtime,
                threads,
                size,
                repeats,
                machine["cpu"],
                machine["cores"],
                machine["numpy"],
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def get(self, key: str) -> dict | None:
        row = self.rows.get(key)
        if row is None or row.get("other_cpu") is None or row["other_cpu"] >= QUIET_OTHER_CPU:
            return None
        return row

    def put(self, key: str, row: dict) -> None:
        if self.path is None or row.get("other_cpu") is None or row["other_cpu"] >= QUIET_OTHER_CPU:
            return
        from datetime import datetime

        self.rows[key] = {**row, "measured": datetime.now(UTC).isoformat(timespec="seconds")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.rows, indent=1, sort_keys=True))
        tmp.replace(self.path)


def _run_process(cmd: list[str], timeout: float) -> tuple[list[dict], str | None]:
    """Rows a measuring process printed and why it stopped early (None when it ended well)."""
    import subprocess

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        reason = None if proc.returncode == 0 else ((stderr.strip().splitlines() or ["failed"])[-1])
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, _ = proc.communicate()
        reason = f"timed out after {timeout:.0f} s"
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return rows, reason


def run_speed(
    methods,
    sizes: list[int],
    threads,
    repeats: int,
    device: str,
    image_path: str | None,
    log=print,
    timeout: float = 1800.0,
    runtimes=("auto",),
    budget: float | None = None,
    cache_dir: Path | None = None,
    deadline: float | None = None,
) -> list[dict]:
    """Measure every method (one process per method, runtime and thread count); failures are rows with ``error``.

    ``threads``: one count or a list. ``runtimes``: for our networks (others run in their own). ``deadline``
    (``time.monotonic()`` value): a process still running then is stopped (the sizes it finished are kept)
    and runs that would start later are recorded as not measured.
    """
    thread_list = [threads] if isinstance(threads, int) else list(threads)
    for method in (m for m in methods if m.self_ensemble):
        log(f"speed {method.label}: not timed (the self-ensemble is 8 runs of {method.engine_name})")
    methods = [m for m in methods if not m.self_ensemble]
    cache = SpeedCache(cache_dir)
    results = []
    for method, runtime, t, chosen in plan_runs(methods, sizes, thread_list, list(runtimes)):
        tag = f"{method.label}" + ("" if runtime == "auto" else f" [{runtime}]") + f" {t} thread{'s' if t > 1 else ''}"
        base = {"method": method.label, "runtime_asked": runtime, "threads": t}
        keys = {}
        if method.engine_name in CACHED_SPEED and cache.path is not None:
            keys = {s: cache.key(method.engine_name, runtime, t, s, repeats) for s in chosen}
            hits = {s: cache.get(k) for s, k in keys.items()}
            for s in [s for s, row in hits.items() if row is not None]:
                results.append({**hits[s], "method": method.label, "cached": True})
                log(f"speed {tag} {s}²: {hits[s]['mp_per_s']:.3g} MP/s (cached, measured {hits[s]['measured']})")
            chosen = [s for s in chosen if hits[s] is None]
            if not chosen:
                continue
        if deadline is not None and time.monotonic() > deadline:
            results += [{**base, "size": s, "error": "not measured (out of time)"} for s in chosen]
            log(f"speed {tag}: not measured (out of time)")
            continue
        cmd = [
            sys.executable,
            "-m",
            "restora.eval.speed",
            "--method",
            method.engine_name,
            "--sizes",
            ",".join(map(str, chosen)),
            "--threads",
            str(t),
            "--repeats",
            str(repeats),
            "--device",
            device,
            "--runtime",
            runtime,
        ]
        if budget is not None:
            cmd += ["--budget", str(budget)]
        if image_path:
            cmd += ["--image", str(image_path)]
        if method.blind:
            cmd.append("--blind")
        limit = timeout if deadline is None else max(1.0, min(timeout, deadline - time.monotonic()))  # a hard end
        rows, reason = _run_process(cmd, limit)
        for row in rows:
            row["method"] = method.label
            results.append(row)
            if row["size"] in keys:
                cache.put(keys[row["size"]], row)
            log(
                f"speed {tag} {row['size']}²: {row['mp_per_s']:.3g} MP/s ({len(row['runs'])} runs), "
                f"peak RSS {row['peak_rss_mb']:.0f} MB, other CPU {format_share(row.get('other_cpu'))}"
            )
        done = {row["size"] for row in rows}
        missing = [s for s in chosen if s not in done]
        if reason is not None and missing:
            results.append({**base, "size": missing[0], "error": reason})
            log(f"speed {tag} {missing[0]}²: {reason}")
        elif missing:
            log(f"speed {tag} {', '.join(f'{s}²' for s in missing)}: skipped (slower than {FAST_MP_PER_S} MP/s)")
    return results


def format_share(value) -> str:
    """A share of the machine (``other_cpu``) as a percentage, "—" when unknown."""
    return "—" if value is None else f"{100 * value:.0f}%"


if __name__ == "__main__":
    main()
