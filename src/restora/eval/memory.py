"""Peak memory of restoring one big photo end to end, as a user runs it: ``restora denoise FILE -o OUT``.

Protocol: a synthetic photo of the asked size (3:2, a smooth colour gradient plus Gaussian grain σ=12 on the
0–255 scale, seed 0; JPEG quality 90, or any extension :mod:`restora.io` writes) is made in a temporary
folder; then each measurement is **its own process** running the real command line, whose own high-water
mark of resident memory (``ru_maxrss`` from ``wait4``: start-up, reading, restoring, the reliability analysis
and writing included) and wall time are reported.
``photo_mb`` is the photo's size as float32 RGB, the unit the engine works in, and ``ratio`` the peak over it.

``restora bench --memory 24,100 [--methods MODEL]`` runs :func:`bench_memory` (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

GRAIN_SIGMA = 12.0
ASPECT = 1.5  # width / height, as most cameras
CLI = "import sys; from restora.cli import main; sys.argv[0] = 'restora'; main()"  # the installed command


def synthetic_photo(path: Path, megapixels: float, seed: int = 0) -> tuple[int, int]:
    """Write a ``megapixels`` photo (3:2) to ``path``; returns (height, width)."""
    from restora.io import Image, write_image

    height = max(1, round(np.sqrt(megapixels * 1e6 / ASPECT)))
    width = max(1, round(height * ASPECT))
    rng = np.random.default_rng(seed)
    pixels = np.empty((height, width, 3), np.float32)
    across = np.linspace(0.0, 1.0, width, dtype=np.float32)
    for top in range(0, height, 256):  # strips: the maker itself stays near one float copy
        rows = slice(top, min(height, top + 256))
        down = np.linspace(0.0, 1.0, height, dtype=np.float32)[rows, None]
        for c in range(3):
            grain = rng.normal(0.0, GRAIN_SIGMA / 255.0, (rows.stop - top, width)).astype(np.float32)
            pixels[rows, :, c] = 0.2 + 0.6 * (across[None, :] * (0.3 + 0.2 * c) + down * 0.4) + grain
    np.clip(pixels, 0.0, 1.0, out=pixels)
    write_image(path, Image(pixels=pixels))
    return height, width


def measure(args: list[str]) -> dict:
    """Run ``restora ARGS`` as a fresh process; its own peak RSS (MB, from ``wait4``) and wall time."""
    with tempfile.TemporaryFile("w+") as log:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-c", CLI, *args], stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            log.seek(0)
            tail = log.read().strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"restora {' '.join(args)} failed ({child.returncode}): {tail[0]}")
    return {"peak_rss_mb": usage.ru_maxrss / 1024, "seconds": seconds}  # ru_maxrss: kilobytes on Linux


def bench_memory(
    megapixels: list[float],
    model: str | None = None,
    fmt: str = ".jpg",
    task: str = "denoise",
    folder: Path | None = None,
) -> list[dict]:
    """One row per size: peak RSS of ``restora TASK photo -o out [--model MODEL]`` on a synthetic photo."""
    rows = []
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        for mp in megapixels:
            photo = Path(tmp) / f"photo-{mp:g}mp{fmt}"
            height, width = synthetic_photo(photo, mp)
            args = [task, str(photo), "-o", str(Path(tmp) / f"out{fmt}")] + (["--model", model] if model else [])
            result = measure(args)
            photo_mb = height * width * 3 * 4 / 2**20
            rows.append(
                {
                    "megapixels": round(height * width / 1e6, 2),
                    "height": height,
                    "width": width,
                    "format": fmt,
                    "model": model or "default",
                    "task": task,
                    "peak_rss_mb": round(result["peak_rss_mb"], 1),
                    "seconds": round(result["seconds"], 1),
                    "photo_mb": round(photo_mb, 1),
                    "ratio": round(result["peak_rss_mb"] / photo_mb, 2),
                }
            )
            photo.unlink()
    return rows


def markdown(rows: list[dict]) -> str:
    lines = [
        "| photo | format | model | peak RSS | photo as float32 | peak / photo | time |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['width']}×{r['height']} ({r['megapixels']:g} MP) | {r['format']} | {r['model']} | "
            f"{r['peak_rss_mb'] / 1024:.2f} GB | {r['photo_mb'] / 1024:.2f} GB | {r['ratio']:.2f}× | {r['seconds']:.0f} s |"
        )
    return "\n".join(lines)


memory_bench = typer.Typer(add_completion=False, help=(__doc__ or "").splitlines()[0])


@memory_bench.command()
def measure_photos(
    megapixels: Annotated[str, typer.Option(help="sizes, e.g. 24,100")] = "24",
    model: Annotated[str | None, typer.Option()] = None,
    format: Annotated[str, typer.Option()] = ".jpg",
) -> None:
    """Peak memory of `restora denoise` on synthetic photos of the given sizes, as a Markdown table."""
    rows = bench_memory([float(v) for v in megapixels.split(",")], model, format)
    print(markdown(rows))


def main(argv: list[str] | None = None) -> None:
    memory_bench(argv, prog_name="python -m restora.eval.memory")


if __name__ == "__main__":
    main()
