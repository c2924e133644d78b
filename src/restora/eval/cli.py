"""``restora bench``: side-by-side quality, speed and memory of our models and classical/neural peers."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from restora.cli import app
from datetime import UTC
from restora.tasks import RESTORE_TASKS


def _numbers(text: str, what: str, kind=float) -> list:
    from restora.errors import RestoraError

    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise RestoraError(f"{what} must be comma-separated numbers, not '{text}'") from None
    if not values or any(v <= 0 for v in values):
        raise RestoraError(f"{what} must be positive numbers, not '{text}'")
    return values


DENOISE_SETS = "CBSD68,Kodak24,McMaster"
DENOISE_METHODS = "ours,bm3d,nlm,ffdnet,identity"
BENCH_TASKS = (*RESTORE_TASKS, "auto", "noise-type", "classify", "classify-reliability", "repair", "repair-auto")


@app.command()
def bench(
    task: str = typer.Option(
        "denoise",
        "--task",
        help="denoise, deblur, derain, dehaze, lowlight, auto (detection) or noise-type (noise-kind detection).",
    ),
    data: Path = typer.Option(None, "--data", help="Image sets folder (default: RESTORA_DATA or ../shared/data)."),
    sets: str = typer.Option(
        None,
        help="Sets: test/<NAME> (synthetic degradation) or pairs (real/<NAME>, test/Levin, "
        "test/Rain100H). Default per task: denoise CBSD68,Kodak24,McMaster; deblur "
        "Levin,Kodak24; derain Rain100H; dehaze, lowlight, auto Kodak24,McMaster.",
    ),
    sigmas: str = typer.Option("15,25,50", help="Noise levels (0–255 scale) for synthetic sets (denoise)."),
    degradations: str = typer.Option(
        None,
        help="--task classify: degradations to apply (default all: gaussian-15,"
        "gaussian-25,gaussian-50,camera,salt-pepper-5/10/20,periodic,"
        "jpeg-10/20/30,blur,lowlight).",
    ),
    noise: str = typer.Option(
        "gaussian",
        help="Synthetic noise (denoise): gaussian (at --sigmas) or a degradation "
        "pipeline, e.g. salt-pepper-20, periodic (restora degrade --help).",
    ),
    methods: str = typer.Option(
        None,
        help="ours (every registered model for the task), ours:NAME, a .safetensors path, a classical method, "
        "identity. Default: denoise ours,bm3d,nlm,ffdnet,identity; deblur ours,deconv-blind,rl-oracle,"
        "wiener-oracle,identity; derain ours,median,guided,identity; dehaze ours,dcp,identity; lowlight "
        "ours,gamma,clahe,retinex,identity; auto ours (all-in-one models).",
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
    speed_only: bool = typer.Option(
        False,
        "--speed-only",
        help="Only the speed and memory table (denoise methods; no image sets needed). See docs/benchmark.md.",
    ),
    speed_threads: str = typer.Option(
        None, "--speed-threads", help="Thread counts to time, e.g. 1,2 (default: --threads)."
    ),
    runtimes: str = typer.Option(
        "auto", help="Runtimes our networks are timed in: auto, torch, onnx or a list (torch,onnx)."
    ),
    speed_budget: float = typer.Option(
        None,
        "--speed-budget",
        help="Seconds of timed runs per size after which fewer than --repeats are taken (≥ 2; 1 at 4096²).",
    ),
    speed_time_limit: float = typer.Option(
        None,
        "--speed-time-limit",
        help="Seconds for the whole speed table: a run "
        "still going then is stopped, later ones are listed as not measured.",
    ),
    memory: str = typer.Option(
        None,
        "--memory",
        help="Only peak memory: `restora TASK` on synthetic photos of these "
        "sizes in MP (e.g. 24,100), --methods: the model (one).",
    ),
) -> None:
    """Benchmark restoration methods on standard sets: PSNR, SSIM, detail, speed and memory, with crops.

    --task deblur|derain|dehaze|lowlight scores those tasks' models beside classical peers; --task auto scores the
    detection of the all-in-one models (accuracy, confusion matrix). See docs/benchmark.md.
    """
    from restora.errors import RestoraError

    try:
        if task not in BENCH_TASKS:
            raise RestoraError(f"--task must be one of {', '.join(BENCH_TASKS)}, not '{task}'")
        scores = cache if use_cache else None
        speed_opts = dict(
            speed_threads=speed_threads, runtimes=runtimes, budget=speed_budget, time_limit=speed_time_limit
        )
        # The options a denoising bench and another task's share, by name (then those of their speed tables).
        quality = dict(out=out, limit=limit, device=device, threads=threads, cache=scores, crops=crops)
        quality.update(speed=speed, sizes=sizes, repeats=repeats)
        if memory:
            _bench_memory(_numbers(memory, "--memory"), methods, task, out)
        elif speed_only:
            if task != "denoise":
                raise RestoraError("--speed-only times denoising methods: leave out --task")
            _bench_speed_only(
                data,
                methods or DENOISE_METHODS,
                out,
                device,
                threads,
                sizes,
                repeats,
                scores,
                **speed_opts,
            )
        elif task == "classify":
            _bench_classify(data, degradations, methods, limit, device, threads, out, scores)
        elif task == "noise-type":
            _bench_noise_type(data, limit, out)
        elif task == "classify-reliability":
            _bench_classify_reliability(data, limit, out)
        elif task == "repair":
            from restora.eval.repair_bench import bench_repair

            bench_repair(_data_folder(data), sets, methods, limit, threads, out, _log)
        elif task == "repair-auto":  # does --task auto send old-photo damage to repair (restora.eval.repair_bench)
            from restora.eval.repair_bench import bench_repair_auto

            bench_repair_auto(_data_folder(data), sets, limit, threads, out, _log)
        elif task == "denoise":
            _bench(
                data,
                sets or DENOISE_SETS,
                sigmas,
                methods or DENOISE_METHODS,
                oracle=oracle,
                noise=noise,
                **quality,
                **speed_opts,
            )
        else:
            _bench_task(task, data, sets, methods, **quality)
    except RestoraError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _bench_memory(megapixels: list[float], methods: str | None, task: str, out: Path) -> None:
    import json

    from restora.errors import RestoraError
    from restora.eval.memory import bench_memory, markdown

    models = [m for m in (methods or "").split(",") if m]
    if len(models) > 1:
        raise RestoraError("--memory measures one model: give at most one in --methods")
    try:
        rows = bench_memory(megapixels, models[0] if models else None, task=task)
    except RuntimeError as exc:
        raise RestoraError(str(exc)) from None
    out.mkdir(parents=True, exist_ok=True)
    (out / "memory.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / "memory.md").write_text(markdown(rows) + "\n")
    typer.echo(markdown(rows))


def _log(message: str) -> None:
    typer.echo(message, err=True)


def _check_limit(limit: int | None) -> None:
    from restora.errors import RestoraError

    if limit is not None and limit <= 0:
        raise RestoraError("--limit must be a positive number of images")


def _set_threads(threads: int | None) -> int:
    """--threads (default: all cores), set for every runtime before the methods start their thread pools."""
    from restora.eval.speed import set_threads

    threads = threads or os.cpu_count() or 1
    set_threads(threads)
    return threads


def _limit_option(limit: int | None) -> list[str]:
    return ["--limit", str(limit)] if limit is not None else []


def _run_options(limit, device, threads, speed, sizes, repeats, cache) -> list[str]:
    """The options of a quality bench's recorded command after its sets and methods, in the order they are given."""
    args = _limit_option(limit) + ["--device", device, "--threads", str(threads)]
    args += ["--sizes", sizes, "--repeats", str(repeats)] if speed else ["--no-speed"]
    return args + (["--cache", str(cache)] if cache is not None else ["--no-cache-scores"])


def _recorded(command: str, **first) -> dict:
    """The first keys of a results.json: the command that repeats the run, then ``first``, when and where it ran."""
    from datetime import datetime

    from restora.eval.report import machine_info

    return {
        "command": command,
        **first,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
    }


def _method_rows(chosen) -> list[dict]:
    return [{"label": m.label, "engine": m.engine_name, "kind": m.kind} for m in chosen]


def _write_figures(out: Path, entries: list[dict], speed_rows: list[dict], crop_panels: dict) -> None:
    """The quality-vs-speed plot and the crops of a quality bench (after results.json and .md), and what was written."""
    from restora.eval.report import plot_quality_vs_speed, write_crops

    if speed_rows and entries and plot_quality_vs_speed(out / "quality_vs_speed.png", entries, speed_rows):
        _log(f"wrote {out / 'quality_vs_speed.png'}")
    if entries:
        write_crops(out / "crops", crop_panels, entries)
    _log(f"wrote {out / 'results.json'}, {out / 'results.md'}" + (f", {out / 'crops'}/" if entries else ""))


def _data_folder(data: Path | None) -> Path:
    """--data, else RESTORA_DATA / ../shared/data; a one-line error when it is not a folder."""
    from restora.errors import RestoraError
    from restora.settings import data_dir

    data = Path(data) if data is not None else data_dir()
    if not data.is_dir():
        raise RestoraError(f"data folder not found: {data}")
    return data


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


def _command_line(
    data, sets, sigmas, methods, out, limit, device, threads, speed, sizes, repeats, cache, oracle, crops
) -> str:
    """The full command, every option spelled out, so the run can be repeated exactly."""
    import shlex

    args = [
        "restora",
        "bench",
        "--data",
        str(data),
        "--sets",
        sets,
        "--sigmas",
        sigmas,
        "--methods",
        methods,
        "--out",
        str(out),
        *_run_options(limit, device, threads, speed, sizes, repeats, cache),
        "--oracle",
        oracle,
    ]
    return shlex.join(args + ["--crops", str(crops)])


def _speed_options(threads: int, speed_threads, runtimes, budget, time_limit) -> tuple[list[int], list[str], list[str]]:
    """--speed-threads and --runtimes as lists, and the options as they go into the recorded command."""
    thread_list = _numbers(speed_threads, "--speed-threads", int) if speed_threads else [threads]
    runtime_list = [r.strip() for r in runtimes.split(",") if r.strip()] or ["auto"]
    args = ["--speed-threads", ",".join(map(str, thread_list)), "--runtimes", ",".join(runtime_list)]
    args += ["--speed-budget", f"{budget:g}"] if budget is not None else []
    args += ["--speed-time-limit", f"{time_limit:g}"] if time_limit is not None else []
    return thread_list, runtime_list, args


def _bench_speed_only(
    data,
    methods,
    out,
    device,
    threads,
    sizes,
    repeats,
    cache,
    speed_threads=None,
    runtimes="auto",
    budget=None,
    time_limit=None,
):
    """``restora bench --speed-only``: the speed and memory table alone (restora.eval.speed_report.bench_speed)."""
    import shlex

    from restora.eval.speed_report import bench_speed

    threads = threads or os.cpu_count() or 1
    thread_list, runtime_list, speed_args = _speed_options(threads, speed_threads, runtimes, budget, time_limit)
    args = [
        "restora",
        "bench",
        "--speed-only",
        *(["--data", str(data)] if data is not None else []),
        "--methods",
        methods,
        "--out",
        str(out),
        "--device",
        device,
        "--sizes",
        sizes,
        "--repeats",
        str(repeats),
        *speed_args,
    ]
    args += ["--cache", str(cache)] if cache is not None else ["--no-cache-scores"]
    bench_speed(
        methods,
        out,
        _numbers(sizes, "--sizes", int),
        thread_list,
        repeats,
        runtime_list,
        "cpu" if device == "auto" else device,
        data,
        cache,
        budget,
        time_limit,
        shlex.join(args),
        _log,
    )


def _bench(
    data,
    sets,
    sigmas,
    methods,
    out,
    limit,
    device,
    threads,
    speed,
    sizes,
    repeats,
    cache,
    oracle,
    crops,
    speed_threads=None,
    runtimes="auto",
    budget=None,
    time_limit=None,
    noise="gaussian",
):
    import shlex
    import time

    threads = _set_threads(threads)
    from restora.eval.datasets import NOISE_SEED, find_set
    from restora.eval.peers import ORACLE_GRID, check_methods, parse_methods
    from restora.eval.report import write_json, write_markdown
    from restora.eval.runner import QualityRun, run_quality
    from restora.eval.speed import run_speed
    from restora.explain.bench import calibration_lines, entry_calibration, reliability_row

    _check_limit(limit)
    data = _data_folder(data)
    bench_sets = [find_set(data, name.strip()) for name in sets.split(",") if name.strip()]
    sigma_list = _numbers(sigmas, "--sigmas")
    size_list = _numbers(sizes, "--sizes", int) if speed else []
    chosen, unavailable = parse_methods(methods)
    oracle_for = _oracle_methods(oracle, chosen)
    check_methods(chosen, unavailable, _log)
    log = _log
    out.mkdir(parents=True, exist_ok=True)
    if noise != "gaussian":
        from restora.degrade import get_pipeline

        get_pipeline(noise)  # a one-line error for an unknown name
    run = QualityRun(
        bench_sets,
        sigma_list,
        chosen,
        limit,
        device,
        cache,
        oracle_for,
        crops,
        log,
        noise=noise,
        image_reliability=reliability_row,
        entry_reliability=entry_calibration,
    )
    entries = run_quality(run)
    speed_rows = []
    if speed:
        first_image = bench_sets[0].clean[0]
        thread_list, runtime_list, _ = _speed_options(threads, speed_threads, runtimes, budget, time_limit)
        deadline = None if time_limit is None else time.monotonic() + time_limit
        speed_rows = run_speed(
            chosen,
            size_list,
            thread_list,
            repeats,
            "cpu" if device == "auto" else device,
            str(first_image),
            log,
            runtimes=runtime_list,
            budget=budget,
            cache_dir=cache,
            deadline=deadline,
        )
    command = (
        _command_line(
            data, sets, sigmas, methods, out, limit, device, threads, speed, sizes, repeats, cache, oracle, crops
        )
        + ("" if noise == "gaussian" else f" --noise {noise}")
        + (
            ""
            if not speed
            else " " + shlex.join(_speed_options(threads, speed_threads, runtimes, budget, time_limit)[2])
        )
    )
    payload = {
        **_recorded(command),
        "threads": threads,
        "device": device,
        "protocol": {
            "noise": f"numpy.random.default_rng({NOISE_SEED}) per (set, σ); one rng.normal(0, σ, (H, W, 3)) draw per "
            "image in sorted file order; 0–255 scale, float, not clipped before the method",
            "scoring": "output clipped and rounded to 8 bits; RGB, no border crop, mean over images",
            "oracle_grid": list(ORACLE_GRID),
            "synthetic_noise": noise
            if noise == "gaussian"
            else f"degradation pipeline '{noise}', "
            f"numpy.random.default_rng({NOISE_SEED}) per set, images in sorted order",
            "limit": limit,
        },
        "methods": _method_rows(chosen),
        "unavailable": unavailable,
        "quality": entries,
        "speed": speed_rows,
        "speed_repeats": repeats,
        "speed_sizes": size_list,
    }
    write_json(out / "results.json", payload)
    write_markdown(out / "results.md", payload, calibration_lines(entries))
    _write_figures(out, entries, speed_rows, run.crop_panels)


def _bench_classify(data, degradations, methods, limit, device, threads, out, cache_dir=None):
    """``restora bench --task classify`` (see restora.eval.classify_bench)."""
    import shlex

    from restora.errors import RestoraError
    from restora.eval.classify_bench import (
        DEFAULT_METHODS,
        DEGRADATIONS,
        METHODS,
        plot_accuracy,
        run_classify,
        write_classify_markdown,
    )
    from restora.eval.peers import register_ffdnet
    from restora.eval.report import write_json

    threads = _set_threads(threads)
    _check_limit(limit)
    chosen = [d.strip() for d in (degradations or ",".join(DEGRADATIONS)).split(",") if d.strip()]
    unknown = [d for d in chosen if d not in DEGRADATIONS]
    if unknown:
        raise RestoraError(f"--degradations: unknown '{unknown[0]}' (one of {', '.join(DEGRADATIONS)})")
    method_list = [m.strip() for m in (methods or DEFAULT_METHODS).split(",") if m.strip()]
    if set(method_list) - set(METHODS):
        raise RestoraError(f"--methods for classify: one of {', '.join(METHODS)}")
    if "ffdnet" in method_list and (reason := register_ffdnet()):
        _log(f"ffdnet: unavailable: {reason}")
        method_list.remove("ffdnet")
    data = _data_folder(data)
    out.mkdir(parents=True, exist_ok=True)
    result = run_classify(data, chosen, method_list, limit, device, _log, cache_dir)
    args = [
        "restora",
        "bench",
        "--task",
        "classify",
        "--data",
        str(data),
        "--degradations",
        ",".join(chosen),
        "--methods",
        ",".join(method_list),
        "--out",
        str(out),
        "--device",
        device,
        "--threads",
        str(threads),
        *_limit_option(limit),
    ]
    payload = {**_recorded(shlex.join(args)), **result}
    write_json(out / "results.json", payload)
    write_classify_markdown(out / "results.md", payload)
    if plot_accuracy(out / "accuracy_vs_strength.png", payload):
        _log(f"wrote {out / 'accuracy_vs_strength.png'}")
    _log(f"wrote {out / 'results.json'}, {out / 'results.md'}")


def _bench_classify_reliability(data, limit, out, threshold=0.5, per_set=10):
    """``restora bench --task classify-reliability`` (see restora.eval.distortion_reliability)."""
    import shlex

    from restora.eval.distortion_reliability import run_distortion_reliability, write_reliability_markdown
    from restora.eval.report import write_json

    data = _data_folder(data)
    out.mkdir(parents=True, exist_ok=True)
    result = run_distortion_reliability(data, threshold, per_set, limit or 50, _log)
    args = ["restora", "bench", "--task", "classify-reliability", "--data", str(data), "--out", str(out)]
    payload = {**_recorded(shlex.join(args + _limit_option(limit))), **result}
    write_json(out / "results.json", payload)
    write_reliability_markdown(out / "results.md", payload)
    _log(f"wrote {out / 'results.json'}, {out / 'results.md'}")


def _bench_noise_type(data, limit, out):
    """``restora bench --task noise-type``: the noise-kind detector on held-out train/ images."""
    import shlex

    from restora.eval.noise_type_bench import run_noise_type
    from restora.eval.report import write_json

    data = _data_folder(data)
    out.mkdir(parents=True, exist_ok=True)
    result = run_noise_type(data, "held-out", limit, _log)
    args = ["restora", "bench", "--task", "noise-type", "--data", str(data), "--out", str(out)]
    payload = {**_recorded(shlex.join(args + _limit_option(limit))), **result}
    write_json(out / "results.json", payload)
    kinds = list(result["confusion"])
    lines = [
        f"# Noise-kind detection ({result['split']} train/ images)",
        "",
        f"`{payload['command']}`",
        "",
        f"{result['n_images']} images × {len(kinds)} kinds: accuracy {100 * result['accuracy']:.1f} %; clean photos "
        f"taken for salt-and-pepper or periodic noise: {result['clean_false_alarms']} of {result['n_images']}.",
        "",
        "| applied \\ detected | " + " | ".join(kinds) + " |",
        "|---" * (len(kinds) + 1) + "|",
    ]
    lines += [f"| {a} | " + " | ".join(str(result["confusion"][a][d]) for d in kinds) + " |" for a in kinds]
    lines += ["| clean | " + " | ".join(str(result["clean_detected"][d]) for d in kinds) + " |"]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    _log("\n".join(lines))
    _log(f"wrote {out / 'results.json'}, {out / 'results.md'}")


def _bench_task(task, data, sets, methods, out, limit, device, threads, speed, sizes, repeats, cache, crops):
    """``restora bench --task deblur|derain|dehaze|lowlight|auto`` (see restora.eval.task_bench)."""
    import shlex

    threads = _set_threads(threads)
    from restora.eval.report import write_json, write_task_markdown
    from restora.eval.peers import check_methods, parse_methods
    from restora.eval.runner import TaskRun, run_detection, run_task_quality
    from restora.eval.speed import run_speed
    from restora.eval.task_bench import DEFAULT_METHODS, PUBLISHED_RAIN100H, oracle_speed, protocol
    from restora.eval.task_sets import DEFAULT_SETS, find_task_set

    _check_limit(limit)
    sets = sets or DEFAULT_SETS[task]
    methods = methods or DEFAULT_METHODS[task]
    data = _data_folder(data)
    task_sets = [find_task_set(data, task, name.strip()) for name in sets.split(",") if name.strip()]
    size_list = _numbers(sizes, "--sizes", int) if speed and task != "auto" else []
    chosen, unavailable = parse_methods(methods, task)
    check_methods(chosen, unavailable, _log)
    log = _log
    out.mkdir(parents=True, exist_ok=True)
    run = TaskRun(task, task_sets, chosen, limit, device, cache, crops, log)
    entries, detection = ([], run_detection(run)) if task == "auto" else (run_task_quality(run), [])
    speed_rows = []
    if size_list:
        first_image = str(task_sets[0].clean[0])
        run_device = "cpu" if device == "auto" else device
        speed_rows = run_speed(
            [m for m in chosen if m.kind != "oracle"], size_list, threads, repeats, run_device, first_image, log
        )
        for m in chosen:
            if m.kind == "oracle":
                speed_rows += oracle_speed(m.engine_name, size_list, threads, repeats, first_image, log)
    args = [
        "restora",
        "bench",
        "--task",
        task,
        "--data",
        str(data),
        "--sets",
        sets,
        "--methods",
        methods,
        "--out",
        str(out),
        *_run_options(limit, device, threads, bool(size_list), sizes, repeats, cache),
        "--crops",
        str(crops),
    ]
    payload = {
        **_recorded(shlex.join(args), task=task),
        "threads": threads,
        "device": device,
        "protocol": protocol(task, limit),
        "methods": _method_rows(chosen),
        "unavailable": unavailable,
        "quality": entries,
        "detection": detection,
        "published": list(PUBLISHED_RAIN100H) if any(s.name == "Rain100H" for s in task_sets) else [],
        "speed": speed_rows,
        "speed_repeats": repeats,
        "speed_sizes": size_list,
    }
    write_json(out / "results.json", payload)
    write_task_markdown(out / "results.md", payload)
    _write_figures(out, entries, speed_rows, run.crop_panels)
