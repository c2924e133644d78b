"""The runs behind benchmarks/RESULTS.md's peer rows (peers only; our models are added when trained).

    python benchmarks/run_peers.py           # every run, in order
    python benchmarks/run_peers.py --list    # the ``restora bench`` command lines, without running them

Scores are cached in benchmarks/cache, so a re-run recomputes only what changed. BM3D costs ~15-20
CPU-minutes per 68 CBSD68 images and ~25 per 50 PolyU50 pairs at one thread. Each run is a ``restora bench``
process started from the repository root with OMP_NUM_THREADS=1; the first that fails stops the rest.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]

# (what it measures, the options of `restora bench`)
PEER_RUNS = (
    (
        "synthetic Gaussian noise, σ=25, CBSD68, with speed and memory",
        [
            "--sets",
            "CBSD68",
            "--sigmas",
            "25",
            "--methods",
            "bm3d,ffdnet,nlm,identity",
            "--threads",
            "1",
            "--out",
            "benchmarks/results/cbsd68-s25",
        ],
    ),
    (
        "real noise, PolyU50: peers at our estimated σ, and at the oracle σ",
        [
            "--sets",
            "PolyU50",
            "--methods",
            "identity,nlm,ffdnet",
            "--oracle",
            "nlm,ffdnet",
            "--no-speed",
            "--threads",
            "1",
            "--out",
            "benchmarks/results/polyu50",
        ],
    ),
    (
        "BM3D at the estimated σ on PolyU50 (~25 CPU-s per pair; its oracle grid would be six more passes, left out)",
        [
            "--sets",
            "PolyU50",
            "--methods",
            "identity,nlm,ffdnet,bm3d",
            "--oracle",
            "none",
            "--no-speed",
            "--threads",
            "1",
            "--out",
            "benchmarks/results/polyu50-bm3d",
        ],
    ),
)


def bench_command(options: list[str]) -> list[str]:
    return [sys.executable, "-c", "from restora.cli import main; main()", "bench", *options]


peers = typer.Typer(add_completion=False)


@peers.command()
def run(list_only: bool = typer.Option(False, "--list", help="print the restora bench command lines and stop")) -> None:
    """Run every peer benchmark of RESULTS.md in turn."""
    for what, options in PEER_RUNS:
        print(f"# {what}\nrestora bench {shlex.join(options)}", flush=True)
        if list_only:
            continue
        code = subprocess.run(bench_command(options), cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode
        if code != 0:
            print(f"restora bench failed (exit {code}): the later runs are not started", file=sys.stderr)
            raise typer.Exit(code)


def main(argv: list[str] | None = None) -> int | None:
    """Run as a command; with ``argv`` (tests), in process: errors raise instead of exiting, a failed run's exit
    code is returned."""
    return peers(argv, prog_name="python benchmarks/run_peers.py", standalone_mode=argv is None)


if __name__ == "__main__":
    main()
