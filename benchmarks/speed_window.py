"""Every speed measurement of RESULTS.md (methods, ONNX Runtime, Ray batch) in one run, for a QUIET machine.

    python benchmarks/speed_window.py            # the real measurement (~12 min); records ~/.cache/restora/onnx_speed.json
    python benchmarks/speed_window.py --quick    # tiny sizes, one repeat: checks every step works (numbers
                                                 # meaningless; writes under /tmp, records nothing)

Training paused and no other jobs: at most ``--total`` seconds (720). Results: ``benchmarks/results/speed-<date>/``
(json + md), the summary printed. Steps (in this order; times for the real run on the 2-core machine):

0. quietness check: CPU used by other processes over 5 s (warns above 10%; every figure also carries "other
   CPU", the share of the cores other work used while it was measured).
1. Ray batch against the in-process engine at 1 and 2 threads, and kill half-way + restart
   (benchmarks/ray_batch.py: 24 files of 1024², model ``fast``) — ~3 min.
2. ONNX Runtime against PyTorch for the ``fast`` config at 1 and 2 threads, 1024² and 2048², interleaved
   (benchmarks/onnx_speed.py) — ~1.5 min.
3. Speed and peak memory per method (``restora bench --speed-only``): restora-denoise in PyTorch and ONNX
   Runtime, NLM, BM3D (512² only; cached in benchmarks/cache once measured quietly, so later windows skip it),
   identity, FFDNet — in this order; 512², 1024², 2048² (4096² for methods above 0.2 MP/s, at 2 threads); 1 and
   2 threads; median of 3 runs (2 once 20 s of runs are timed at a size, 1 at 4096²) — ~8 min. It gets the time
   left of the window minus the last step's and stops there: what it could not measure is listed as such (on a
   first window that may be FFDNet's last rows).
4. this machine's onnx_speed.json (what ``--runtime auto`` reads) from steps 2 and 3 (restora-denoise's
   1024²/2048² rows), and summary.md.

Every step runs in its own process with OMP_NUM_THREADS=1 (each sets its own thread counts); a step that fails
is reported with the end of its log and the window goes on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = Path(__file__).resolve().parent
BENCH_METHODS = "restora-denoise,nlm,bm3d,identity,ffdnet"
SPEED_TABLE_HEADER = "| method | runtime | "
FINAL_STEP_SECONDS = 15  # kept back from the speed table for step 4
QUIET_SHARE = 0.10  # other processes' share of the cores above which the machine is not quiet


@dataclass(frozen=True)
class Sizes:
    """What each step measures: the real window or the quick check."""

    ray: tuple[str, ...]
    onnx: tuple[str, ...]
    bench: tuple[str, ...]
    record: tuple[str, ...]
    total: float


def window_sizes(quick: bool, out: Path, total: float | None) -> Sizes:
    if quick:  # the shared machine is busy: a quick run is slow, and not timed
        return Sizes(
            ("--files", "6", "--size", "192", "--timeout", "300"),
            ("--sizes", "128", "--repeats", "1"),
            ("--sizes", "64,128", "--repeats", "1", "--cache", str(out / "cache")),
            ("--sizes", "128"),
            1500 if total is None else total,
        )
    return Sizes(
        ("--files", "24", "--size", "1024", "--timeout", "150"),
        ("--sizes", "1024,2048", "--repeats", "3"),
        ("--sizes", "512,1024,2048,4096", "--repeats", "3", "--speed-budget", "20", "--cache", "benchmarks/cache"),
        ("--sizes", "1024,2048", "--record"),
        720 if total is None else total,
    )


def ray_command(sizes: Sizes, out: Path) -> list[str]:
    return [
        sys.executable,
        str(BENCHMARKS / "ray_batch.py"),
        *sizes.ray,
        "--workers",
        "1,2",
        "--out",
        str(out / "ray_batch.json"),
        "--md",
        str(out / "ray_batch.md"),
    ]


def onnx_command(sizes: Sizes, out: Path) -> list[str]:
    return [
        sys.executable,
        str(BENCHMARKS / "onnx_speed.py"),
        "--model",
        "fast",
        "--threads",
        "1,2",
        *sizes.onnx,
        "--out",
        str(out / "onnx_fast.json"),
    ]


def bench_command(sizes: Sizes, out: Path, seconds_left: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from restora.cli import main; main()",
        "bench",
        "--speed-only",
        "--methods",
        BENCH_METHODS,
        "--runtimes",
        "torch,onnx",
        "--speed-threads",
        "1,2",
        *sizes.bench,
        "--speed-time-limit",
        str(seconds_left),
        "--out",
        str(out / "bench"),
    ]


def record_command(sizes: Sizes, out: Path) -> list[str] | None:
    """onnx_speed.py on the rows of steps 2 and 3 (None when neither left any)."""
    sources = []
    if (out / "bench" / "results.json").is_file():
        sources += ["--from-bench", str(out / "bench" / "results.json")]
    if (out / "onnx_fast.json").is_file():
        sources += ["--include", str(out / "onnx_fast.json")]
    if not sources:
        return None
    return [
        sys.executable,
        str(BENCHMARKS / "onnx_speed.py"),
        *sources,
        *sizes.record,
        "--out",
        str(out / "onnx_speed.json"),
    ]


def run_step(name: str, command: list[str], log: Path) -> bool:
    """Run one step from the repository root, its output into ``log``; False (and the log's end shown) on failure."""
    with log.open("w") as f:
        code = subprocess.run(
            command, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}
        ).returncode
    if code != 0:
        print("\n".join(log.read_text().splitlines()[-20:]))
        print(f"{name} failed (log: {log})")
    return code == 0


def table_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def speed_table(results_md: str) -> str:
    """The speed and memory table of ``restora bench --speed-only``'s results.md (up to the blank line after it)."""
    lines, inside = [], False
    for line in results_md.splitlines():
        if line.startswith(SPEED_TABLE_HEADER) and line[len(SPEED_TABLE_HEADER) :][:1].isdigit():
            inside = True
        if inside:
            lines.append(line)
            if not line.strip():
                break
    return "\n".join(lines) + "\n" if lines else ""


def machine_check(path: Path) -> dict:
    """The CPU, its cores and other processes' share of them over 5 s, written to ``path`` (machine.json)."""
    from restora.eval.speed import MachineLoad

    load = MachineLoad()
    load.start()
    time.sleep(5)
    other = load.stop() or 0.0
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    top = subprocess.run(
        ["ps", "-eo", "pcpu,pid,args", "--sort=-pcpu"], capture_output=True, text=True
    ).stdout.splitlines()[:6]
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "busy_before": round(other, 3),
        "load_average": os.getloadavg(),
        "top_processes": [line[:160] for line in top],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    path.write_text(json.dumps(info, indent=1) + "\n")
    return info


def read(path: Path) -> str | None:
    return path.read_text() if path.is_file() else None


def summary(out: Path, stamp: str, quick: bool, seconds: int) -> str:
    """summary.md: the machine, then the table of each step (or where its log is)."""
    machine = json.loads((out / "machine.json").read_text())
    ray = read(out / "ray_batch.md")
    onnx = table_lines(read(out / "onnx_speed.log") or "")
    bench = speed_table(read(out / "bench" / "results.md") or "")
    return "\n".join(
        [
            f"# Speed window {stamp}",
            "",
            f"Command: `python benchmarks/speed_window.py{' --quick' if quick else ''}` (total {seconds} s). "
            "Machine: see machine.json.",
            "",
            f"{machine['cpu']}, {machine['cores']} cores; CPU busy by other processes before the start: "
            f"{100 * machine['busy_before']:.0f}%",
            "",
            "## Ray batch against the in-process engine",
            "",
            ray.rstrip("\n") if ray else "(failed: ray_batch.log)",
            "",
            "## ONNX Runtime against PyTorch",
            "",
            "\n".join(onnx) if onnx else "(failed: onnx_fast.log, onnx_speed.log)",
            "",
            "## Speed and memory per method",
            "",
            bench.rstrip("\n") if bench else "(failed: bench.log)",
            "Every measurement: bench/results.md.",
            "",
        ]
    )


window = typer.Typer(add_completion=False)


@window.command()
def measure(
    quick: bool = typer.Option(False, "--quick", help="tiny sizes, one repeat: checks every step works"),
    total: float | None = typer.Option(None, help="seconds for the whole window (default 720; --quick 1500)"),
    out: Path | None = typer.Option(
        None, help="results folder (default benchmarks/results/speed-<date>; --quick: /tmp/restora-speed-quick-<date>)"
    ),
) -> None:
    """Every speed measurement of RESULTS.md in one window: Ray batch, ONNX Runtime, the speed table."""
    stamp = time.strftime("%Y-%m-%d-%H%M")
    out = out or (
        Path(f"/tmp/restora-speed-quick-{stamp}") if quick else ROOT / "benchmarks" / "results" / f"speed-{stamp}"
    )
    sizes = window_sizes(quick, out, total)
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()

    def say(text: str) -> None:
        print(f"\n== [{time.monotonic() - start:4.0f}s] {text}", flush=True)

    say(f"0. machine and quietness ({out})")
    info = machine_check(out / "machine.json")
    print(
        f"{info['cpu']}, {info['cores']} cores; CPU busy over 5 s: {100 * info['busy_before']:.0f}%; "
        f"load average {info['load_average'][0]:.1f}"
    )
    if info["busy_before"] > QUIET_SHARE:
        print("WARNING: the machine is not quiet (other processes use the CPU); the figures will show it:")
        print("\n".join(info["top_processes"]))

    say("1. Ray batch vs in-process, kill and restart")
    run_step("ray_batch", ray_command(sizes, out), out / "ray_batch.log")
    print(read(out / "ray_batch.md") or "", end="")

    say("2. ONNX Runtime vs PyTorch, fast config")
    run_step("onnx_speed", onnx_command(sizes, out), out / "onnx_fast.log")
    print("\n".join(table_lines(read(out / "onnx_fast.log") or "")))

    left = int(sizes.total - (time.monotonic() - start) - FINAL_STEP_SECONDS)
    say(f"3. speed and memory per method (time left for it: {left}s)")
    if left > 30:
        run_step("restora bench --speed-only", bench_command(sizes, out, left), out / "bench.log")
        print(
            "\n".join(
                line
                for line in (read(out / "bench.log") or "").splitlines()
                if line.startswith("speed") or "unavailable" in line
            )
        )
    else:
        print("no time left for the speed table")

    say("4. ONNX speed record and summary")
    record = record_command(sizes, out)
    if record is not None:
        run_step("onnx_speed record", record, out / "onnx_speed.log")
    (out / "summary.md").write_text(summary(out, stamp, quick, int(time.monotonic() - start)))
    say(f"done: {out / 'summary.md'}")
    print((out / "summary.md").read_text())


def main(argv: list[str] | None = None) -> None:
    """Run as a command; with ``argv`` (tests), in process: errors raise instead of exiting."""
    window(argv, prog_name="python benchmarks/speed_window.py", standalone_mode=argv is None)


if __name__ == "__main__":
    main()
