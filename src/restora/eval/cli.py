"""``restora bench``: side-by-side quality, speed and memory of our models and classical/neural peers."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from restora.cli import app


def _numbers(text: str, what: str, kind=float) -> list:
    from restora.errors import RestoraError

    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise RestoraError(f"{what} must be comma-separated numbers, not '{text}'") from None
    if not values or any(v <= 0 for v in values):
        raise RestoraError(f"{what} must be positive numbers, not '{text}'")
    return values


@app.command()
def bench(
    data: Path = typer.Option(None, "--data", help="Image sets folder (default: RESTORA_DATA or ../shared/data)."),
    sets: str = typer.Option("CBSD68,Kodak24,McMaster", help="Sets: test/<NAME> (synthetic noise) or real/<NAME> pairs."),
    sigmas: str = typer.Option("15,25,50", help="Noise levels (0–255 scale) for synthetic sets."),
    methods: str = typer.Option(
        "ours,bm3d,nlm,ffdnet,identity",
        help="ours (every registered model), ours:NAME, a .safetensors path, bm3d, nlm, ffdnet, identity.",
    ),
    out: Path = typer.Option(Path("bench-results"), "--out", help="Folder for results.json/.md, plot and crops."),
    limit: int = typer.Option(None, help="Only the first N images of each set (sorted order)."),
    device: str = typer.Option("auto", help="auto, cpu or cuda (neural methods)."),
    threads: int = typer.Option(None, help="CPU threads for every runtime (default: all cores)."),
    speed: bool = typer.Option(True, "--speed/--no-speed", help="Measure speed and peak memory."),
    sizes: str = typer.Option("512,1024,2048,4096", help="Square sizes for speed; 4096+ only for methods > 0.2 MP/s."),
    repeats: int = typer.Option(3, help="Timed runs per size (median reported, after a warm-up)."),
    cache: Path = typer.Option(Path("benchmarks/cache"), help="Per-image score cache for the peers."),
    use_cache: bool = typer.Option(True, "--cache-scores/--no-cache-scores", help="Reuse and store peers' scores."),
    oracle: str = typer.Option(
        "all", help="Peers also run at the oracle σ on real pairs: all, none, or a list (e.g. nlm,ffdnet)."
    ),
    crops: int = typer.Option(2, help="Images per set and σ shown as side-by-side crops."),
) -> None:
    """Benchmark denoisers on standard sets: PSNR, SSIM, detail, speed and memory, with crops."""
    from restora.errors import RestoraError

    try:
        _bench(data, sets, sigmas, methods, out, limit, device, threads, speed, sizes, repeats,
               cache if use_cache else None, oracle, crops)
    except RestoraError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _oracle_methods(oracle: str, chosen) -> frozenset[str]:
    """Labels of the peers to run at the oracle σ on real pairs."""
    from restora.errors import RestoraError

    peers = {m.label for m in chosen if m.kind == "peer"}
    if oracle == "all":
        return frozenset(peers)
    if oracle == "none":
        return frozenset()
    names = {n.strip() for n in oracle.split(",") if n.strip()}
    if not names <= peers:
        raise RestoraError(f"--oracle names {', '.join(sorted(names - peers))}, not a peer in --methods")
    return frozenset(names)


def _command_line(data, sets, sigmas, methods, out, limit, device, threads, speed, sizes, repeats, cache, oracle,
                  crops) -> str:
    """The full command, every option spelled out, so the run can be repeated exactly."""
    import shlex

    args = ["restora", "bench", "--data", str(data), "--sets", sets, "--sigmas", sigmas, "--methods", methods,
            "--out", str(out)]
    if limit is not None:
        args += ["--limit", str(limit)]
    args += ["--device", device, "--threads", str(threads)]
    args += ["--sizes", sizes, "--repeats", str(repeats)] if speed else ["--no-speed"]
    args += ["--cache", str(cache)] if cache is not None else ["--no-cache-scores"]
    args += ["--oracle", oracle]
    return shlex.join(args + ["--crops", str(crops)])


def _bench(data, sets, sigmas, methods, out, limit, device, threads, speed, sizes, repeats, cache, oracle, crops):
    from datetime import datetime, timezone

    threads = threads or os.cpu_count() or 1
    from restora.eval.speed import run_speed, set_threads

    set_threads(threads)  # before the methods start their thread pools

    from restora.errors import RestoraError
    from restora.eval.datasets import NOISE_SEED, find_set
    from restora.eval.peers import ORACLE_GRID, parse_methods
    from restora.eval.report import machine_info, plot_quality_vs_speed, write_crops, write_json, write_markdown
    from restora.eval.runner import QualityRun, run_quality
    from restora.settings import data_dir

    if limit is not None and limit <= 0:
        raise RestoraError("--limit must be a positive number of images")
    data = Path(data) if data is not None else data_dir()
    if not data.is_dir():
        raise RestoraError(f"data folder not found: {data}")
    bench_sets = [find_set(data, name.strip()) for name in sets.split(",") if name.strip()]
    sigma_list = _numbers(sigmas, "--sigmas")
    size_list = _numbers(sizes, "--sizes", int) if speed else []
    chosen, unavailable = parse_methods(methods)
    oracle_for = _oracle_methods(oracle, chosen)
    for item, reason in unavailable.items():
        typer.echo(f"{item}: unavailable: {reason}", err=True)
    if not chosen:
        raise RestoraError("no method to run (see the messages above)")

    def log(message: str) -> None:
        typer.echo(message, err=True)

    out.mkdir(parents=True, exist_ok=True)
    run = QualityRun(bench_sets, sigma_list, chosen, limit, device, cache, oracle_for, crops, log)
    entries = run_quality(run)
    speed_rows = []
    if speed:
        first_image = bench_sets[0].clean[0]
        speed_rows = run_speed(chosen, size_list, threads, repeats, "cpu" if device == "auto" else device,
                               str(first_image), log)
    payload = {
        "command": _command_line(data, sets, sigmas, methods, out, limit, device, threads, speed, sizes, repeats,
                                 cache, oracle, crops),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "threads": threads,
        "device": device,
        "protocol": {
            "noise": f"numpy.random.default_rng({NOISE_SEED}) per (set, σ); one rng.normal(0, σ, (H, W, 3)) draw per "
                     "image in sorted file order; 0–255 scale, float, not clipped before the method",
            "scoring": "output clipped and rounded to 8 bits; RGB, no border crop, mean over images",
            "oracle_grid": list(ORACLE_GRID),
            "limit": limit,
        },
        "methods": [{"label": m.label, "engine": m.engine_name, "kind": m.kind} for m in chosen],
        "unavailable": unavailable,
        "quality": entries,
        "speed": speed_rows,
        "speed_repeats": repeats,
        "speed_sizes": size_list,
    }
    write_json(out / "results.json", payload)
    write_markdown(out / "results.md", payload)
    if speed_rows and plot_quality_vs_speed(out / "quality_vs_speed.png", entries, speed_rows):
        log(f"wrote {out / 'quality_vs_speed.png'}")
    write_crops(out / "crops", run.crop_panels, entries)
    log(f"wrote {out / 'results.json'}, {out / 'results.md'}, {out / 'crops'}/")
