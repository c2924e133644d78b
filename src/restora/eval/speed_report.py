"""The speed and memory table of ``restora bench``: Markdown tables of the rows :mod:`restora.eval.speed`
measures, and ``restora bench --speed-only`` (measure, then write results.json and results.md).
"""

from __future__ import annotations

import time
from datetime import UTC
from pathlib import Path

from restora.errors import RestoraError
from restora.eval.peers import check_methods, parse_methods
from restora.eval.report import machine_info, write_json
from restora.eval.speed import FAST_MP_PER_S, LARGE_SIZE, RUNTIMES, format_share, run_speed
from restora.settings import data_dir


def _runtime_cell(row: dict) -> str:
    return row.get("runtime", row.get("runtime_asked", ""))


def pivot_table(rows: list[dict]) -> list[str]:
    """RESULTS-ready: one row per method and runtime; MP/s per size and thread count; peak RSS per size."""
    ok = [r for r in rows if "error" not in r]
    if not ok:
        return []
    sizes = sorted({r["size"] for r in ok})
    threads = sorted({r["threads"] for r in ok})
    groups: dict[tuple, dict] = {}
    for r in ok:
        groups.setdefault((r["method"], _runtime_cell(r)), {})[(r["size"], r["threads"])] = r
    header = ["method", "runtime"] + [f"{s}² MP/s ({'/'.join(map(str, threads))} thr)" for s in sizes]
    header += [f"peak RSS {s}² (MB)" for s in sizes]
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * (2 * len(sizes))]
    for (method, runtime), cells in groups.items():
        speed_cells, rss_cells = [], []
        for s in sizes:
            speeds = [f"{cells[(s, t)]['mp_per_s']:.3g}" if (s, t) in cells else "—" for t in threads]
            speed_cells.append(" / ".join(speeds) if any(v != "—" for v in speeds) else "—")
            rss = [cells[(s, t)]["peak_rss_mb"] for t in threads if (s, t) in cells]
            rss_cells.append(f"{max(rss):.0f}" if rss else "—")
        lines.append(f"| {method} | {runtime} | " + " | ".join(speed_cells + rss_cells) + " |")
    return lines


def long_table(rows: list[dict]) -> list[str]:
    """Every measurement: runs, CPU time, memory, tile and how busy the machine was."""
    lines = [
        "| method | runtime | threads | size | MP/s | s / image | runs | MP per CPU-s | peak RSS (MB) | "
        "after warm-up (MB) | tile | other CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(
                f"| {r['method']} | {_runtime_cell(r)} | {r['threads']} | {r['size']}² | — | {r['error']} | | | | | | |"
            )
            continue
        cached = " (cached)" if r.get("cached") else ""
        lines.append(
            f"| {r['method']} | {_runtime_cell(r)} | {r['threads']} | {r['size']}² | {r['mp_per_s']:.3g}"
            f"{cached} | {r['seconds']:.2f} | {len(r['runs'])} | {r['mp_per_cpu_s']:.3g} | "
            f"{r['peak_rss_mb']:.0f} | {r['base_rss_mb']:.0f} | {r['tile'] or 'whole'} | "
            f"{format_share(r.get('other_cpu'))} |"
        )
    return lines


def speed_markdown(payload: dict) -> str:
    m = payload["machine"]
    lines = [
        "# Restora speed and memory",
        "",
        f"Command: `{payload['command']}`  ",
        f"Date: {payload['date']}  ",
        f"Machine: {m['cpu']}, {m['cores']} cores; torch {m['torch']}, numpy {m['numpy']}, OpenCV {m['opencv']}.  ",
        f"Input: {payload['input']}.",
        "",
        "MP/s of the whole `run_restore` call (read and write excluded), median of up to "
        f"{payload['repeats']} runs after a warm-up"
        + (f" (fewer once {payload['budget']:g} s of runs were timed at a size)" if payload.get("budget") else "")
        + "; our models blind (σ estimated, included), peers told σ = 25. Each method, runtime and thread count "
        "in its own process; peak RSS = that process's high-water mark at the size (interpreter, libraries and "
        f"weights included). BM3D at 512² only; {LARGE_SIZE}² only for methods faster than {FAST_MP_PER_S} MP/s, "
        "at the largest thread count. *other CPU*: share of the machine's cores used by other work while the "
        "runs were timed (0% = quiet machine).",
        "",
    ]
    if payload.get("unavailable"):
        lines += ["Unavailable: " + "; ".join(f"{k}: {v}" for k, v in payload["unavailable"].items()), ""]
    lines += pivot_table(payload["speed"]) + ["", "All measurements:", ""] + long_table(payload["speed"]) + [""]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------
# restora bench --speed-only


def bench_speed(
    methods: str,
    out: Path,
    sizes: list[int],
    threads: list[int],
    repeats: int,
    runtimes: list[str],
    device: str,
    data: Path | None,
    cache_dir: Path | None,
    budget: float | None,
    time_limit: float | None,
    command: str,
    log=print,
) -> dict:
    """The speed table alone (no data needed): results.json and results.md in ``out``; returns the payload."""
    from datetime import datetime

    bad = [r for r in runtimes if r not in RUNTIMES]
    if bad:
        raise RestoraError(f"--runtimes: unknown runtime '{bad[0]}' (one of {', '.join(RUNTIMES)})")
    chosen, unavailable = parse_methods(methods)
    check_methods(chosen, unavailable, log)
    image = _speed_photo(data)
    out.mkdir(parents=True, exist_ok=True)
    deadline = None if time_limit is None else time.monotonic() + time_limit
    rows = run_speed(
        chosen,
        sizes,
        threads,
        repeats,
        device,
        str(image) if image else None,
        log,
        runtimes=runtimes,
        budget=budget,
        cache_dir=cache_dir,
        deadline=deadline,
    )
    payload = {
        "command": command,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "input": (
            f"{image.name} of {image.parent.name} resized, plus Gaussian noise σ = 25 (seed 0)"
            if image
            else "smooth random texture plus Gaussian noise σ = 25 (seed 0)"
        ),
        "threads": threads,
        "runtimes": runtimes,
        "repeats": repeats,
        "budget": budget,
        "methods": [{"label": m.label, "engine": m.engine_name, "kind": m.kind} for m in chosen],
        "unavailable": unavailable,
        "speed": rows,
        "speed_repeats": repeats,
        "speed_sizes": sizes,
    }
    write_json(out / "results.json", payload)
    (out / "results.md").write_text(speed_markdown(payload))
    log(f"wrote {out / 'results.json'}, {out / 'results.md'}")
    return payload


def _speed_photo(data: Path | None) -> Path | None:
    """The first CBSD68 photo when the data folder has it (as the full benchmark uses), else None (texture)."""
    folder = Path(data) if data is not None else data_dir(required=False)
    photos = sorted((folder / "test" / "CBSD68").glob("*.png")) if folder is not None and folder.is_dir() else []
    return photos[0] if photos else None
