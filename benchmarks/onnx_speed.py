"""ONNX Runtime against PyTorch on the CPU: MP/s of the whole restore call, per model, size and thread count.

    python benchmarks/onnx_speed.py --model fast --model /tmp/snap.safetensors [--sizes 1024,2048]
        [--threads 1,2] [--repeats 3] [--record] [--out results.json]
    python benchmarks/onnx_speed.py --from-bench BENCH/results.json [--include EARLIER.json] [--sizes 1024,2048] [--record]

``--model`` takes a ``.safetensors`` file, a registered model name, or ``fast`` (the small CPU config:
``nafnet`` width 16, enc_blocks [1, 1, 2], mid 2, dec [1, 1, 1]; random weights, since speed does not depend
on them). Protocol (docs/conventions.md, as ``restora.eval.speed``): input ``size``² smooth texture plus Gaussian
noise σ=25; the timed call is :func:`restora.engine.run_restore` with ``sigma="auto"`` (estimation included,
as users run it) and the engine's default tile; one warm-up call, then ``repeats`` calls per runtime,
**interleaved** (torch, onnx, torch, onnx, ...) so both see the same machine load; the median is reported.
Each thread count runs in a fresh process (thread pools are sized at start). ``--record`` writes the
measurements to this machine's cache, ``~/.cache/restora/onnx_speed.json`` (``restora.engine.onnx.SPEED_FILE``;
replacing the entries of the models measured now), which ``--runtime auto`` reads (per thread count: the
faster runtime can differ between 1 and 2 threads, and between machines).
Entries for the same architecture and config as a model measured now are replaced too (superseded).

``--from-bench`` takes the rows of a ``restora bench --speed-only --runtimes torch,onnx`` run instead of
measuring again (same protocol, each runtime in its own process rather than interleaved: fine on a quiet
machine): for each of our models timed in both runtimes at the same size and thread count.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import typer

FAST_CONFIG = dict(width=16, enc_blocks=[1, 1, 2], mid_blocks=2, dec_blocks=[1, 1, 1])
RUNTIMES = ("torch", "onnx")


def fast_model_file(folder: Path) -> Path:
    import torch

    from restora.models.modelfile import save_model
    from restora.models.nafnet import NAFNet

    torch.manual_seed(0)
    module = NAFNet(**FAST_CONFIG)
    path = folder / "fast.safetensors"
    save_model(module, path, {"task": "denoise", "summary": "speed benchmark: fast config, random weights"})
    return path


def measure_child(model: str, sizes: list[int], threads: int, repeats: int) -> None:
    """In a fresh process: one JSON line per size with both runtimes' median MP/s."""
    from restora.eval.speed import MachineLoad, set_threads, speed_input

    set_threads(threads)
    import numpy as np

    from restora.engine import run_restore
    from restora.models.modelfile import read_metadata
    from restora.engine.catalogue import get_spec

    spec = get_spec(model)
    meta = read_metadata(spec.path)
    for size in sizes:
        image = speed_input(size, None).astype(np.float32)
        for runtime in RUNTIMES:  # warm-up: loads (and for onnx exports) the model, starts thread pools
            run_restore(image[:256, :256], model=model, runtime=runtime)
        seconds = {r: [] for r in RUNTIMES}
        load = MachineLoad()
        load.start()
        for _ in range(repeats):
            for runtime in RUNTIMES:
                seconds[runtime].append(run_restore(image, model=model, runtime=runtime).seconds)
        megapixels = size * size / 1e6
        row = {
            "arch": meta["arch"],
            "config": meta["config"],
            "size": size,
            "threads": threads,
            "tile": 512,
            "repeats": repeats,
            "load_average": round(os.getloadavg()[0], 1),
            "other_cpu": load.stop(),
        }
        for runtime in RUNTIMES:
            row[f"{runtime}_mp_s"] = round(megapixels / statistics.median(seconds[runtime]), 4)
        row["speedup"] = round(row["onnx_mp_s"] / row["torch_mp_s"], 3)
        print(json.dumps(row), flush=True)


measurement = typer.Typer(add_completion=False, help=__doc__.splitlines()[0])


def _counts(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


@measurement.command()
def measure(
    model: list[str] = typer.Option([], help="fast, a .safetensors file or a model name (repeatable)"),
    from_bench_file: Path | None = typer.Option(
        None,
        "--from-bench",
        help="rows of `restora bench --speed-only --runtimes torch,onnx` (results.json) instead of --model",
    ),
    include: list[Path] = typer.Option(
        [], help="also the models of an earlier run's --out file (to record them together; repeatable)"
    ),
    name: list[str] = typer.Option([], help="label per --model (default: its file stem; repeatable)"),
    sizes: str = typer.Option("1024,2048", help="comma-separated image sides"),
    threads: str = typer.Option("1,2", help="comma-separated thread counts"),
    repeats: int = typer.Option(3),
    record: bool = typer.Option(
        False,
        "--record",
        help="write this machine's measurements for --runtime auto (~/.cache/restora/onnx_speed.json)",
    ),
    out: Path | None = typer.Option(None, help="also write all rows as JSON here"),
    child: bool = typer.Option(False, "--child", hidden=True),
) -> None:
    size_list, thread_counts = _counts(sizes), _counts(threads)
    if child:
        measure_child(model[0], size_list, thread_counts[0], repeats)
        return
    if not (model or from_bench_file or include):
        raise typer.BadParameter("give --model (one or more), --from-bench or --include")

    models = from_bench(from_bench_file, size_list) if from_bench_file else []
    for earlier in include:
        models += json.loads(earlier.read_text())["models"]
    with tempfile.TemporaryDirectory(prefix="restora-onnx-bench-") as tmp:
        for i, asked in enumerate(model):
            path = str(fast_model_file(Path(tmp))) if asked == "fast" else asked
            label = name[i] if i < len(name) else ("fast" if asked == "fast" else Path(asked).stem)
            rows = []
            for count in thread_counts:
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    "--model",
                    path,
                    "--threads",
                    str(count),
                    "--repeats",
                    str(repeats),
                    "--sizes",
                    sizes,
                ]
                start = time.perf_counter()
                stdout = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                for line in stdout.splitlines():
                    if line.startswith("{"):
                        rows.append(json.loads(line))
                        r = rows[-1]
                        print(
                            f"{label:>14} {r['size']:>5}² {r['threads']} thr: torch {r['torch_mp_s']:.3f} MP/s, "
                            f"onnx {r['onnx_mp_s']:.3f} MP/s, ×{r['speedup']:.2f} (load {r['load_average']})",
                            flush=True,
                        )
                print(f"  ({time.perf_counter() - start:.0f} s)", flush=True)
            models.append(
                {
                    "name": label,
                    "arch": rows[0]["arch"],
                    "config": rows[0]["config"],
                    "measurements": [
                        {
                            k: r[k]
                            for k in (
                                "size",
                                "threads",
                                "tile",
                                "torch_mp_s",
                                "onnx_mp_s",
                                "speedup",
                                "load_average",
                                "other_cpu",
                            )
                        }
                        for r in rows
                    ],
                }
            )

    print("\n| model | size | threads | PyTorch MP/s | ONNX Runtime MP/s | ONNX / PyTorch | other CPU |")
    print("|---|---|---|---|---|---|---|")
    for m in models:
        for r in m["measurements"]:
            other = "—" if r.get("other_cpu") is None else f"{100 * r['other_cpu']:.0f}%"
            print(
                f"| {m['name']} | {r['size']}² | {r['threads']} | {r['torch_mp_s']:.3f} | {r['onnx_mp_s']:.3f} | "
                f"×{r['speedup']:.2f} | {other} |"
            )
    import onnxruntime
    import torch

    table = {
        "protocol": "MP/s of run_restore (sigma auto, tile 512), median of interleaved repeats after a warm-up; "
        "benchmarks/onnx_speed.py",
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "cpu": _cpu_name(),
        "models": models,
    }
    if out:
        out.write_text(json.dumps(table, indent=1) + "\n")
    if record:  # replaces the entries of the models measured now, keeps the others
        from restora.engine.onnx import SPEED_FILE
        from restora.io import write_bytes

        if SPEED_FILE.exists():
            measured = {m["name"] for m in models} | {
                (m["arch"], json.dumps(m["config"], sort_keys=True)) for m in models
            }
            kept = [
                m
                for m in json.loads(SPEED_FILE.read_text()).get("models", [])
                if m["name"] not in measured and (m["arch"], json.dumps(m["config"], sort_keys=True)) not in measured
            ]
            table["models"] = kept + models
        SPEED_FILE.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(SPEED_FILE, (json.dumps(table, indent=1) + "\n").encode())
        print(f"recorded in {SPEED_FILE}")


def from_bench(path: Path, sizes: list[int]) -> list[dict]:
    """onnx_speed.json entries from a bench speed table: our models timed in both runtimes at ``sizes``."""
    from restora.models.modelfile import read_metadata
    from restora.engine.catalogue import get_spec

    payload = json.loads(Path(path).read_text())
    engines = {m["label"]: m["engine"] for m in payload["methods"] if m["kind"] == "ours"}
    cells: dict[str, dict] = {}
    for row in payload["speed"]:
        if (
            row["method"] in engines
            and "error" not in row
            and row["size"] in sizes
            and row.get("runtime_asked") in RUNTIMES
        ):
            cells.setdefault(row["method"], {})[(row["size"], row["threads"], row["runtime_asked"])] = row
    models = []
    for label, rows in cells.items():
        measurements = []
        for size, threads, runtime in sorted(rows):
            if runtime != "torch" or (size, threads, "onnx") not in rows:
                continue
            torch_row, onnx_row = rows[(size, threads, "torch")], rows[(size, threads, "onnx")]
            measurements.append(
                {
                    "size": size,
                    "threads": threads,
                    "tile": torch_row["tile"],
                    "torch_mp_s": round(torch_row["mp_per_s"], 4),
                    "onnx_mp_s": round(onnx_row["mp_per_s"], 4),
                    "speedup": round(onnx_row["mp_per_s"] / torch_row["mp_per_s"], 3),
                    "load_average": round(torch_row["load_average"], 1),
                    "other_cpu": max(torch_row.get("other_cpu") or 0, onnx_row.get("other_cpu") or 0),
                }
            )
        if measurements:
            meta = read_metadata(get_spec(engines[label]).path)
            models.append(
                {
                    "name": label,
                    "arch": meta["arch"],
                    "config": meta["config"],
                    "source": str(path),
                    "measurements": measurements,
                }
            )
            for r in measurements:
                print(
                    f"{label:>14} {r['size']:>5}² {r['threads']} thr: torch {r['torch_mp_s']:.3f} MP/s, "
                    f"onnx {r['onnx_mp_s']:.3f} MP/s, ×{r['speedup']:.2f} (from {path})",
                    flush=True,
                )
    return models


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> None:
    """Run as a command; with ``argv`` (tests), in process: errors raise instead of exiting."""
    measurement(argv, prog_name="python benchmarks/onnx_speed.py", standalone_mode=argv is None)


if __name__ == "__main__":
    main()
