"""``restora train CONFIG [--nproc N]``, ``restora validate CONFIG MODEL...`` and
``restora export RUN_OR_MODEL -o FILE [--onnx]``."""

from __future__ import annotations

from pathlib import Path

import typer

from restora.cli import app


@app.command()
def train(
    config: Path = typer.Argument(..., help="Experiment config (YAML) under configs/."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Run folder (default ~/.cache/restora/runs/NAME)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run folder's checkpoint."),
    init_from: Path | None = typer.Option(
        None,
        "--init-from",
        help="Start from these weights (.safetensors or a model name), e.g. a "
        "shipped model; recorded in the run and the card ('continues').",
    ),
    max_steps: int | None = typer.Option(
        None, "--max-steps", help="Stop after this many steps (the schedule still spans the config's steps)."
    ),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads (default: the config's)."),
    device: str = typer.Option("auto", "--device"),
    minutes: float | None = typer.Option(
        None,
        "--minutes",
        min=0,
        help="Stop after this much wall-clock time: the step under way then is validated and checkpointed as the last.",
    ),
    nproc: int = typer.Option(
        1,
        "--nproc",
        min=1,
        help="Processes on this machine (DistributedDataParallel via torchrun; "
        "one per GPU, or CPU processes sharing --threads).",
    ),
) -> None:
    """Train a model from a config; checkpoints resume bit-exactly, also with another --nproc.

    Several machines: torchrun --nnodes M --nproc_per_node N --rdzv-endpoint HOST:PORT -m restora.train CONFIG.
    """
    from restora.train.run import launch, run_training

    if nproc > 1:
        argv = [str(config), "--device", device]
        for flag, value in (
            ("--run-dir", run_dir),
            ("--init-from", init_from),
            ("--max-steps", max_steps),
            ("--threads", threads),
            ("--minutes", minutes),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if resume:
            argv.append("--resume")
        raise typer.Exit(launch(nproc, argv))
    run_training(config, run_dir, resume, init_from, max_steps, threads, device, minutes)


@app.command()
def validate(
    config: Path = typer.Argument(
        ..., help="Experiment config (YAML): its validation crops, degradations, seed and select."
    ),
    models: list[str] = typer.Argument(..., help="Networks to compare: registered names or .safetensors paths."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads (default: the config's)."),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Score networks on a training config's validation, as its run logs it, and print the figure that chooses
    between them (the config's select). This is how a candidate is judged against the shipped weights; test sets
    never choose."""
    import torch

    from restora.errors import RestoraError
    from restora.train.config import TrainConfig
    from restora.train.validation import validate_models

    cfg = TrainConfig.from_yaml(config)
    torch.set_num_threads(threads or cfg.threads)
    if cfg.style is not None:  # a style run's validation is its perceptual loss
        from restora.train.style import validate_style_models

        results, chosen = validate_style_models(cfg, models, device), "val_loss, lower is better"
    elif cfg.repair is not None:  # a repair run's validation: the detector's F1, or PSNR inside the holes
        from restora.train.repair import selecting_figure, validate_repair_models

        results, chosen = validate_repair_models(cfg, models, device), selecting_figure(cfg.repair.role)
    elif cfg.denoiserep is not None:
        raise RestoraError(f"{config}: a denoiserep run validates itself (its log.csv), not with restora validate")
    else:
        results, chosen = validate_models(cfg, models, device), cfg.select or "val_psnr"
    columns = [k for k in results[0] if k.startswith("val_")]
    typer.echo("\t".join(["model", *columns, f"selected ({chosen})"]))
    for r in results:
        typer.echo("\t".join([r["model"], *(f"{r[c]:.4f}" for c in columns), f"{r['selected']:.4f}"]))


@app.command()
def export(
    run: Path = typer.Argument(
        ...,
        metavar="RUN_OR_MODEL",
        help="Run folder (or a run name under ~/.cache/restora/runs); with --onnx also a .safetensors model or a registered model name.",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Output .safetensors file (.onnx with --onnx)."),
    onnx: bool = typer.Option(
        False, "--onnx", help="Write an ONNX graph (dynamic height and width) checked against PyTorch."
    ),
    pick: str | None = typer.Option(
        None,
        "--pick",
        help="Weights of the 'last' checkpoint or the 'best' validation (by the "
        "config's select; best.pt). Default: best where the config sets select.",
    ),
) -> None:
    """Write a run's EMA weights with architecture, config and model card to one .safetensors file, or with
    --onnx a run's or model's ONNX graph for onnxruntime (model card in its metadata)."""
    from restora.errors import RestoraError
    from restora.settings import get_settings
    from restora.train.card import export_run

    if not run.exists() and (get_settings().runs_dir / run).exists():
        run = get_settings().runs_dir / run
    if not onnx:
        if run.is_file():
            raise RestoraError(f"{run} is already a model file (add --onnx to convert it to ONNX)")
        card = export_run(run, output, pick=pick)
        wall = f" ({card['wall_hours']} h wall)" if "wall_hours" in card else ""
        chosen = card.get("selected")
        unit = "" if "stylize" in card["tasks"] or (chosen or {}).get("by") == "val_f1" else " dB"
        figure = (
            f"best {chosen['by']} {chosen['value']}{unit} (step {chosen['step']} of {chosen['of_steps']})"
            if chosen
            else f"validation {card['validation']['last']}{unit}"
        )
        typer.echo(f"wrote {output}: {card['steps']} steps, {card['cpu_hours']} CPU-hours{wall}, {figure}")
        return
    _export_onnx(run, output, pick)


def _export_onnx(source: Path, output: Path, pick: str | None = None) -> None:
    import os
    import tempfile

    from restora.batch.jobs import UsageError
    from restora.engine.onnx import OPSET, TOLERANCE, export_model_file
    from restora.engine.catalogue import get_spec
    from restora.train.card import export_run

    if output.suffix.lower() != ".onnx":
        raise UsageError(f"name the ONNX output with the .onnx extension, not '{output.name}'")
    with tempfile.TemporaryDirectory(prefix="restora-export-") as tmp:
        if source.is_dir():  # a run: its EMA weights and card, exactly as `restora export RUN` writes them
            model_file = Path(tmp) / f"{output.stem}.safetensors"
            export_run(source, model_file, name=output.stem, pick=pick)
        else:
            spec = get_spec(str(source))
            if spec.path is None:
                raise UsageError(f"'{spec.name}' is not a network: only our models export to ONNX")
            model_file = spec.path
        graph, worst = export_model_file(model_file)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = output.with_name(f".{output.name}.tmp")
    tmp_out.write_bytes(graph)
    os.replace(tmp_out, output)
    typer.echo(
        f"wrote {output}: opset {OPSET}, dynamic height and width; max |ONNX − PyTorch| = {worst:.1e} "
        f"on random odd-size inputs (limit {TOLERANCE:g})"
    )
