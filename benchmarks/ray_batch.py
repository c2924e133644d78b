"""Ray batch engine against the in-process one, and a kill-and-restart check.

    python benchmarks/ray_batch.py [--files 40] [--size 384] [--model fast|PATH] [--workers 1 2] [--out r.json]

Makes ``files`` noisy ``size``² PNGs (smooth texture + Gaussian σ=25) in a temporary folder and restores them
with ``restora batch`` as a user would (a fresh process per run, ``--model`` the small CPU config ``fast``
with random weights unless a file is given):

1. **Throughput** at the same thread count: ``--engine local --threads N`` (one process, N threads) against
   ``--engine ray --workers N --threads 1`` (N actors of one thread), for each N of ``--workers``. Three
   figures per run: *steady* = megapixels written after the first output ÷ time from the first to the last
   output (file modification times: no start-up in it), *batch* = the summary line's MP ÷ its seconds (from
   the first job dispatched: includes Ray's actor start and model loading), *wall* = the whole command
   (interpreter, Ray start-up and shutdown too); and the CPU seconds every process of the run used, by role
   (driver, Ray workers, raylet, gcs_server, other Ray agents), to see where an engine's overhead goes.
2. **Kill and restart**: a Ray run with the largest N is SIGKILLed (its whole process group: driver and the
   local Ray instance) once half the outputs exist, then run again. Reported: outputs lost (an input without
   output at the end), outputs written twice (an output present at the kill whose inode or mtime changed
   afterwards, or more writes in the second run than outputs missing at the kill), temporary files left,
   and the manifest's counts.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SUMMARY = re.compile(r"(\d+) done, (\d+) skipped, (\d+) failed in ([\d.]+) s \(([\d.]+) MP")


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
    from onnx_speed import _fast_model_file

    return str(_fast_model_file(folder))


def restora(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", "from restora.cli import main; main()", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kwargs)


def outputs(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.glob("*.png")} if folder.exists() else {}


class SessionCPU:
    """CPU seconds used by every process of a session (a run started with start_new_session) and their
    children, by role.

    Samples /proc twice a second, keeping each process's last cumulative utime + stime; roles from the
    command line: the driver (the session leader), Ray workers (``ray::...`` titles: actors and idle
    workers), ``raylet``, ``gcs_server`` and other (Ray's Python agents, log monitor)."""

    def __init__(self, sid: int):
        import threading

        self.sid, self.cpu, self.roles = sid, {}, {}
        self.tick = os.sysconf("SC_CLK_TCK")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _role(self, pid: int, cmdline: str) -> str:
        if pid == self.sid:
            return "driver"
        for marker, role in (("ray::", "ray workers"), ("raylet", "raylet"), ("gcs_server", "gcs_server")):
            if marker in cmdline:
                return role
        return "other"

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    stat = (entry / "stat").read_text()
                    fields = stat[stat.rindex(")") + 2 :].split()
                    # In the session (field 6 of stat), or a child of a process of it (raylet's workers).
                    if int(fields[3]) != self.sid and int(fields[1]) not in self.roles:
                        continue
                    pid = int(entry.name)
                    self.cpu[pid] = (int(fields[11]) + int(fields[12])) / self.tick
                    if pid not in self.roles:
                        self.roles[pid] = self._role(pid, (entry / "cmdline").read_text().replace("\0", " "))
                except (OSError, ValueError, IndexError):
                    continue

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        totals: dict[str, float] = {}
        for pid, seconds in self.cpu.items():
            totals[self.roles[pid]] = round(totals.get(self.roles[pid], 0.0) + seconds, 1)
        return totals


def throughput_run(inputs: Path, out: Path, model: str, engine: str, n: int, megapixels_each: float,
                   timeout: float) -> dict:
    args = ["batch", str(inputs), "-o", str(out), "--model", model, "--engine", engine, "--runtime", "torch"]
    args += ["--threads", str(n)] if engine == "local" else ["--workers", str(n), "--threads", "1"]
    start = time.perf_counter()
    proc = restora(args, start_new_session=True)
    cpu = SessionCPU(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        cpu.stop()
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"engine": engine, "threads": n, "timed_out_s": timeout, "outputs": len(outputs(out)),
                "load_average": round(os.getloadavg()[0], 1)}
    wall = time.perf_counter() - start
    cpu_seconds = cpu.stop()
    match = SUMMARY.search(stdout)
    if proc.returncode != 0 or not match:
        raise SystemExit(f"{engine} run failed ({proc.returncode}):\n{stdout[-2000:]}\n{stderr[-3000:]}")
    done, seconds, mp = int(match.group(1)), float(match.group(4)), float(match.group(5))
    times = sorted(p.stat().st_mtime for p in out.glob("*.png"))
    steady = (len(times) - 1) * megapixels_each / (times[-1] - times[0])
    return {"engine": engine, "threads": n, "files": done, "megapixels": mp, "steady_mp_s": round(steady, 4),
            "batch_mp_s": round(mp / seconds, 4), "wall_mp_s": round(mp / wall, 4), "wall_s": round(wall, 1),
            "cpu_seconds": cpu_seconds, "load_average": round(os.getloadavg()[0], 1)}


def kill_and_restart(inputs: Path, out: Path, model: str, workers: int, files: int) -> dict:
    args = ["batch", str(inputs), "-o", str(out), "--model", model, "--engine", "ray", "--workers", str(workers),
            "--threads", "1", "--runtime", "torch"]
    proc = restora(args, start_new_session=True)
    while len(outputs(out)) < files // 2:
        if proc.poll() is not None:
            raise SystemExit(f"the run ended before it could be killed:\n{proc.stderr.read()[-3000:]}")
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(5)  # let Ray's reaper stop the local instance's workers
    at_kill = outputs(out)
    leftovers_at_kill = len(list(out.glob(".*.tmp")))
    second = restora(args)
    stdout, stderr = second.communicate()
    match = SUMMARY.search(stdout)
    final = outputs(out)
    expected = {f"img{i:04d}.png" for i in range(files)}
    rewritten = [name for name, stamp in at_kill.items() if final.get(name) != stamp]
    written_again = int(match.group(1)) if match else -1
    manifest = json.loads((out / "restora-manifest.json").read_text())
    return {
        "workers": workers, "files": files, "outputs_at_kill": len(at_kill), "temp_files_at_kill": leftovers_at_kill,
        "restart_exit_code": second.returncode, "restart_done": written_again,
        "restart_skipped": int(match.group(2)) if match else -1,
        "lost": len(expected - set(final)), "unexpected": len(set(final) - expected),
        "duplicated": len(rewritten) + max(0, written_again - (files - len(at_kill))),
        "temp_files_after": len(list(out.glob(".*.tmp"))),
        "manifest_counts": manifest["counts"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--size", type=int, default=384)
    parser.add_argument("--model", default="fast")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-kill", action="store_true", help="skip the kill-and-restart check")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a run is stopped and reported so")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="restora-ray-bench-") as tmp:
        tmp = Path(tmp)
        make_inputs(tmp / "in", args.files, args.size)
        model = fast_model(tmp) if args.model == "fast" else args.model
        megapixels_each = args.size * args.size / 1e6
        rows = []
        for n in args.workers:
            for engine in ("local", "ray"):
                row = throughput_run(tmp / "in", tmp / f"out-{engine}-{n}", model, engine, n, megapixels_each,
                                     args.timeout)
                rows.append(row)
                print(json.dumps(row), flush=True)
        kill = None
        if not args.no_kill:
            kill = kill_and_restart(tmp / "in", tmp / "out-kill", model, max(args.workers), args.files)
            print(json.dumps(kill), flush=True)

    print(f"\n{args.files} files of {args.size}², model {args.model}\n")
    print("| engine | threads | steady MP/s | batch MP/s | wall MP/s (whole command) | wall s | Ray / local (steady, batch) | CPU s by process | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        if "timed_out_s" in row:
            print(f"| {row['engine']} | {row['threads']} | stopped after {row['timed_out_s']:.0f} s with "
                  f"{row['outputs']} outputs | | | | | | {row['load_average']} |")
            continue
        local = next(r for r in rows if r["engine"] == "local" and r["threads"] == row["threads"])
        ratio = "" if row["engine"] == "local" or "timed_out_s" in local else \
            f"{row['steady_mp_s'] / local['steady_mp_s']:.0%}, {row['batch_mp_s'] / local['batch_mp_s']:.0%}"
        print(f"| {row['engine']} | {row['threads']} | {row['steady_mp_s']:.3f} | {row['batch_mp_s']:.3f} | "
              f"{row['wall_mp_s']:.3f} | {row['wall_s']} | {ratio} | "
              f"{', '.join(f'{k} {v:g}' for k, v in sorted(row['cpu_seconds'].items()))} | {row['load_average']} |")
    if kill:
        print(f"\nkilled at {kill['outputs_at_kill']}/{kill['files']} outputs ({kill['temp_files_at_kill']} temporary files); "
              f"restart: exit {kill['restart_exit_code']}, {kill['restart_done']} done, {kill['restart_skipped']} skipped; "
              f"lost {kill['lost']}, duplicated {kill['duplicated']}, temporary files left {kill['temp_files_after']}; "
              f"manifest {kill['manifest_counts']}")
    if args.out:
        args.out.write_text(json.dumps({"throughput": rows, "kill": kill}, indent=1) + "\n")


if __name__ == "__main__":
    main()
