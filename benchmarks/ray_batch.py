"""Ray batch engine against the in-process one, and a kill-and-restart check.

    python benchmarks/ray_batch.py [--files 24] [--size 1024] [--model fast|PATH] [--workers 1,2] [--rounds 1]
        [--no-kill] [--out r.json] [--md r.md]

Makes ``files`` noisy ``size``² PNGs (smooth texture + Gaussian σ=25) in a temporary folder and restores them
with ``restora batch`` as a user would (a fresh process per run, ``--runtime torch``, ``--model`` the small CPU
config ``fast`` with random weights unless a file is given; ``--no-reliability`` where the command has it, so
both engines do the restore alone):

1. **Throughput** at the same thread count, runs interleaved (local, ray, local, ray, ... per N and round):
   ``--engine local --threads N`` (one process, N threads) against ``--engine ray --workers N --threads 1``
   (N actors of one thread each), for each N of ``--workers``. Figures per run:

   - *steady*: megapixels written after the first output ÷ time from the first to the last output (file
     modification times: no start-up in it) — what a long batch sustains;
   - *batch*: the summary line's MP ÷ its seconds (from the first job dispatched: Ray's actor start and
     model loading included); *wall*: the whole command (interpreter, Ray start-up and shutdown too);
   - *first output*: seconds from the command's start to its first output (the fixed start-up cost);
   - *worker idle*: share of the steady window in which the restoring thread(s) had nothing to do — neither
     running nor waiting for a core (``/proc/PID/task/*/schedstat``): the engine's own dispatch gaps,
     whatever the machine's load;
   - CPU seconds of every process of the run by role (driver, restoring workers, Ray's helper actors,
     idle Ray workers, raylet, gcs_server, agents: dashboard, runtime-env and autoscaler processes), over
     the whole run and over the steady window.

2. **Kill and restart**: a Ray run with the largest N is SIGKILLed (its whole process group: driver and the
   local Ray instance) once half the outputs exist, then run again. Reported: outputs lost (an input without
   output at the end), outputs written twice (an output present at the kill whose inode or mtime changed
   afterwards, or more writes in the second run than outputs missing at the kill), temporary files left,
   and the manifest's counts.
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import typer

SUMMARY = re.compile(r"(\d+) done, (\d+) skipped, (\d+) failed in ([\d.]+) s \(")
WORKER_ROLE = "workers (restoring)"


def make_inputs(folder: Path, files: int, size: int) -> None:
    import numpy as np
    from PIL import Image

    from restora.eval.speed import speed_input

    folder.mkdir(parents=True)
    base = speed_input(size, None)
    for i in range(files):
        pixels = np.roll(base, 7 * i, axis=1)  # different files, same content statistics
        Image.fromarray(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)).save(folder / f"img{i:04d}.png")


def fast_model(folder: Path) -> str:
    sys.path.insert(0, str(Path(__file__).parent))
    from onnx_speed import fast_model_file

    return str(fast_model_file(folder))


def restora(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", "from restora.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def common_options() -> list[str]:
    """Options both engines get: only the restore (no per-photo reliability prediction), where it exists."""
    help_text = subprocess.run(
        [sys.executable, "-c", "from restora.cli import main; main()", "batch", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    return ["--runtime", "torch"] + (["--no-reliability"] if "--no-reliability" in help_text else [])


def outputs(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.png")} if folder.exists() else {}


def role_of(pid: int, leader: int, cmdline: str) -> str | None:
    """What a process of a run is, from its command line (None: not known yet, e.g. an empty one)."""
    if pid == leader:
        return "driver"
    if not cmdline:
        return None
    title = cmdline.split()[0]
    if title.startswith("ray::IDLE"):
        return "idle Ray workers"
    if title.startswith("ray::MapWorker") or "RestoreWorker" in title:
        return WORKER_ROLE
    if title.startswith(("ray::DashboardAgent", "ray::RuntimeEnvAgent")):
        return "agents"
    if title.startswith("ray::"):
        return "Ray Data helper actors"  # _StatsActor, ActorLocationTracker, _AutoscalingCoordinatorActor
    for marker, role in (
        ("/raylet/raylet", "raylet"),
        ("/gcs/gcs_server", "gcs_server"),
        ("default_worker.py", "idle Ray workers"),  # a worker before it takes its title
        ("dashboard", "agents"),
        ("monitor.py", "agents"),
        ("log_monitor", "agents"),
    ):
        if marker in cmdline:
            return role
    return "other"


class SessionMonitor:
    """Samples the processes of a run (started with start_new_session) four times a second.

    Per process: cumulative CPU seconds and its role (re-read each time: a Ray worker changes its title when
    it becomes an actor); for the restoring processes also each thread's schedstat (ns running, ns waiting
    for a core). ``timeline`` holds (time, {role: CPU s}, {pid: {tid: (run, wait)}}).
    """

    def __init__(self, sid: int):
        self.sid, self.cpu, self.roles, self.timeline = sid, {}, {}, []
        self.tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        sched = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                pid = int(entry.name)
                # Same sid (field 6 of stat) as the workers, or a child of one of their processes (raylet's workers).
                if int(fields[3]) != self.sid and int(fields[1]) not in self.roles and pid not in self.roles:
                    continue
                self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self.tick
                role = role_of(pid, self.sid, (entry / "cmdline").read_text().replace("\0", " ").strip())
                self.roles[pid] = role or self.roles.get(pid) or "other"
                if self.roles[pid] in (WORKER_ROLE, "driver"):
                    threads = {}
                    for task in (entry / "task").iterdir():
                        run, wait, _ = (task / "schedstat").read_text().split()
                        threads[task.name] = (int(run), int(wait))
                    sched[pid] = threads
            except (OSError, ValueError, IndexError):
                continue
        totals: dict[str, float] = {}
        for pid, seconds in self.cpu.items():
            totals[self.roles[pid]] = totals.get(self.roles[pid], 0.0) + seconds
        self.timeline.append((time.time(), totals, sched))

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def totals(self) -> dict[str, float]:
        return {k: round(v, 1) for k, v in sorted(self.timeline[-1][1].items())} if self.timeline else {}

    def _at(self, t: float):
        return min(self.timeline, key=lambda e: abs(e[0] - t))

    def window(self, t0: float, t1: float, engine: str) -> tuple[dict[str, float], float | None]:
        """CPU seconds by role between t0 and t1, and the restoring threads' idle share then.

        With several workers the idle share is taken until the first of them ran out of files (after that,
        the others finishing their last file is the batch's tail, not the engine's dispatch)."""
        a, b = self._at(t0), self._at(t1)
        cpu = {k: round(v - a[1].get(k, 0.0), 1) for k, v in sorted(b[1].items()) if v - a[1].get(k, 0.0) >= 0.05}
        restoring = [
            pid
            for pid in b[2]
            if self.roles.get(pid) == (WORKER_ROLE if engine == "ray" else "driver") and a[2].get(pid)
        ]
        # The thread that ran most in the window is the one restoring (the others are pools and I/O threads).
        busiest = {
            pid: max(b[2][pid], key=lambda t: b[2][pid][t][0] - a[2][pid].get(t, (0, 0))[0]) for pid in restoring
        }
        inside = [e for e in self.timeline if a[0] <= e[0] <= b[0]]
        end = b
        for pid, tid in busiest.items():  # the last sample at which this worker's thread still ran
            last = max(
                (e for e in inside if e[2].get(pid, {}).get(tid, (0, 0))[0] > a[2][pid].get(tid, (0, 0))[0]),
                key=lambda e: e[0],
                default=b,
            )
            end = min(end, last, key=lambda e: e[0])
        span = end[0] - a[0]
        idle = []
        for pid, tid in busiest.items():
            if span <= 0 or pid not in end[2] or tid not in end[2][pid]:
                continue
            run = (end[2][pid][tid][0] - a[2][pid].get(tid, (0, 0))[0]) / 1e9
            wait = (end[2][pid][tid][1] - a[2][pid].get(tid, (0, 0))[1]) / 1e9
            idle.append(max(0.0, span - run - wait) / span)
        return cpu, (round(statistics.mean(idle), 4) if idle else None)


def batch_summary(stdout: str, megapixels_each: float) -> tuple[int, float, float] | None:
    """(files done, seconds, megapixels) from ``restora batch``'s summary line; None when it has none.

    The megapixels are the files done × each file's pixel count: the summary prints them to one decimal, which
    is 0.0 for a batch of small images."""
    match = SUMMARY.search(stdout)
    if not match:
        return None
    done = int(match.group(1))
    return done, float(match.group(4)), done * megapixels_each


def throughput_run(
    inputs: Path, out: Path, model: str, engine: str, n: int, megapixels_each: float, timeout: float, options: list[str]
) -> dict:
    args = ["batch", str(inputs), "-o", str(out), "--model", model, "--engine", engine, *options]
    args += ["--threads", str(n)] if engine == "local" else ["--workers", str(n), "--threads", "1"]
    start_wall, start = time.time(), time.perf_counter()
    proc = restora(args, start_new_session=True)
    monitor = SessionMonitor(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        monitor.stop()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {
            "engine": engine,
            "threads": n,
            "timed_out_s": timeout,
            "outputs": len(outputs(out)),
            "load_average": round(os.getloadavg()[0], 1),
        }
    wall = time.perf_counter() - start
    monitor.stop()
    summary = batch_summary(stdout, megapixels_each)
    if proc.returncode != 0 or summary is None:
        print(f"{engine} run failed ({proc.returncode}):\n{stdout[-2000:]}\n{stderr[-3000:]}", file=sys.stderr)
        return {
            "engine": engine,
            "threads": n,
            "error": f"exit {proc.returncode}: {(stderr.strip().splitlines() or [''])[-1][:200]}",
        }
    done, seconds, mp = summary
    times = sorted(p.stat().st_mtime for p in out.glob("*.png"))
    steady = (len(times) - 1) * megapixels_each / (times[-1] - times[0])
    steady_cpu, idle = monitor.window(times[0], times[-1], engine)
    return {
        "engine": engine,
        "threads": n,
        "files": done,
        "megapixels": mp,
        "steady_mp_s": round(steady, 4),
        "batch_mp_s": round(mp / seconds, 4),
        "wall_mp_s": round(mp / wall, 4),
        "wall_s": round(wall, 1),
        "first_output_s": round(times[0] - start_wall, 1),
        "steady_s": round(times[-1] - times[0], 1),
        "worker_idle": idle,
        "cpu_seconds": monitor.totals(),
        "steady_cpu_seconds": steady_cpu,
        "load_average": round(os.getloadavg()[0], 1),
    }


def kill_and_restart(
    inputs: Path, out: Path, model: str, workers: int, files: int, options: list[str], timeout: float
) -> dict:
    args = [
        "batch",
        str(inputs),
        "-o",
        str(out),
        "--model",
        model,
        "--engine",
        "ray",
        "--workers",
        str(workers),
        "--threads",
        "1",
        *options,
    ]
    proc = restora(args, start_new_session=True)
    started = time.monotonic()
    while len(outputs(out)) < files // 2:
        if time.monotonic() - started > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            raise SystemExit(f"the run to kill wrote fewer than {files // 2} outputs in {timeout:.0f} s")
        if proc.poll() is not None:
            raise SystemExit(f"the run ended before it could be killed:\n{proc.stderr.read()[-3000:]}")
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(3)  # let Ray's reaper stop the local instance's workers
    at_kill = outputs(out)
    leftovers_at_kill = len(list(out.glob(".*.tmp")))
    second = restora(args, start_new_session=True)
    try:
        stdout, _ = second.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(second.pid, signal.SIGKILL)
        raise SystemExit(f"the restarted run did not end in {timeout:.0f} s") from None
    match = SUMMARY.search(stdout)
    final = outputs(out)
    expected = {f"img{i:04d}.png" for i in range(files)}
    rewritten = [name for name, stamp in at_kill.items() if final.get(name) != stamp]
    written_again = int(match.group(1)) if match else -1
    manifest = json.loads((out / "restora-manifest.json").read_text())
    return {
        "workers": workers,
        "files": files,
        "outputs_at_kill": len(at_kill),
        "temp_files_at_kill": leftovers_at_kill,
        "restart_exit_code": second.returncode,
        "restart_done": written_again,
        "restart_skipped": int(match.group(2)) if match else -1,
        "lost": len(expected - set(final)),
        "unexpected": len(set(final) - expected),
        "duplicated": len(rewritten) + max(0, written_again - (files - len(at_kill))),
        "temp_files_after": len(list(out.glob(".*.tmp"))),
        "manifest_counts": manifest["counts"],
    }


def _median_row(rows: list[dict]) -> dict:
    """One row per (engine, threads): the run with the median steady throughput."""
    ok = sorted((r for r in rows if "steady_mp_s" in r), key=lambda r: r["steady_mp_s"])
    return ok[len(ok) // 2] if ok else rows[0]


def markdown(rows: list[dict], kill: dict | None, files: int, size: int, model: str, rounds: int) -> str:
    lines = [
        f"{files} files of {size}², model {model}, `--runtime torch`; rounds: {rounds} (median run shown when more)",
        "",
        "| engine | threads | steady MP/s | batch MP/s | wall MP/s | wall s | first output s | worker idle "
        "| Ray / local (steady, wall) | CPU s by process (whole run) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["threads"], r["engine"]), []).append(r)
    for (threads, engine), group in sorted(groups.items()):
        row = _median_row(group)
        if "error" in row:
            lines.append(f"| {engine} | {threads} | failed: {row['error']} | | | | | | | |")
            continue
        if "timed_out_s" in row:
            lines.append(
                f"| {engine} | {threads} | stopped after {row['timed_out_s']:.0f} s with {row['outputs']} "
                "outputs | | | | | | | |"
            )
            continue
        local = groups.get((threads, "local"))
        local = _median_row(local) if local else None
        ratio = ""
        if engine == "ray" and local and "steady_mp_s" in local:
            ratio = f"{row['steady_mp_s'] / local['steady_mp_s']:.0%}, {row['wall_mp_s'] / local['wall_mp_s']:.0%}"
        idle = "—" if row["worker_idle"] is None else f"{100 * row['worker_idle']:.1f}%"
        lines.append(
            f"| {engine} | {threads} | {row['steady_mp_s']:.3f} | {row['batch_mp_s']:.3f} | "
            f"{row['wall_mp_s']:.3f} | {row['wall_s']} | {row['first_output_s']} | {idle} | {ratio} | "
            f"{', '.join(f'{k} {v:g}' for k, v in row['cpu_seconds'].items())} |"
        )
    if kill and "error" in kill:
        lines += ["", f"Kill and restart ({kill['workers']} workers): failed: {kill['error']}"]
    elif kill:
        lines += [
            "",
            f"Kill and restart ({kill['workers']} workers): killed at {kill['outputs_at_kill']}/{kill['files']} "
            f"outputs ({kill['temp_files_at_kill']} temporary files); restart exit {kill['restart_exit_code']}, "
            f"{kill['restart_done']} done, {kill['restart_skipped']} skipped; **lost {kill['lost']}, duplicated "
            f"{kill['duplicated']}**, temporary files left {kill['temp_files_after']}; manifest "
            f"{kill['manifest_counts']}",
        ]
    return "\n".join(lines) + "\n"


comparison = typer.Typer(add_completion=False)


@comparison.command()
def compare(
    files: int = typer.Option(24),
    size: int = typer.Option(1024),
    model: str = typer.Option("fast"),
    workers: str = typer.Option("1,2", help="comma-separated thread counts (workers for Ray)"),
    rounds: int = typer.Option(1, help="interleaved local/ray pairs per thread count"),
    no_kill: bool = typer.Option(False, "--no-kill", help="skip the kill-and-restart check"),
    timeout: float = typer.Option(600, help="seconds before a run is stopped and reported so"),
    out: Path | None = typer.Option(None, help="write every figure as JSON here"),
    md: Path | None = typer.Option(None, help="write the table as markdown here"),
) -> None:
    counts = [int(n) for n in workers.split(",")]
    options = common_options()
    with tempfile.TemporaryDirectory(prefix="restora-ray-bench-") as tmp:
        tmp = Path(tmp)
        make_inputs(tmp / "in", files, size)
        model_path = fast_model(tmp) if model == "fast" else model
        megapixels_each = size * size / 1e6
        rows = []
        for n in counts:
            for r in range(rounds):
                for engine in ("local", "ray"):
                    row = throughput_run(
                        tmp / "in",
                        tmp / f"out-{engine}-{n}-{r}",
                        model_path,
                        engine,
                        n,
                        megapixels_each,
                        timeout,
                        options,
                    )
                    row["round"] = r
                    rows.append(row)
                    print(json.dumps(row), flush=True)
        kill = None
        if not no_kill:
            try:
                kill = kill_and_restart(tmp / "in", tmp / "out-kill", model_path, max(counts), files, options, timeout)
            except SystemExit as exc:  # keep the throughput figures
                kill = {"workers": max(counts), "error": str(exc)[-500:]}
            print(json.dumps(kill), flush=True)

    table = markdown(rows, kill, files, size, model, rounds)
    print("\n" + table)
    if out:
        out.write_text(
            json.dumps(
                {"files": files, "size": size, "model": model, "options": options, "throughput": rows, "kill": kill},
                indent=1,
            )
            + "\n"
        )
    if md:
        md.write_text(table)


def main(argv: list[str] | None = None) -> None:
    """Run as a command; with ``argv`` (tests), in process: errors raise instead of exiting."""
    comparison(argv, prog_name="python benchmarks/ray_batch.py", standalone_mode=argv is None)


if __name__ == "__main__":
    main()
