"""``restora train CONFIG`` and ``restora export RUN -o FILE``."""

from __future__ import annotations

from pathlib import Path

import typer

from restora.cli import app


@app.command()
def train(
    config: Path = typer.Argument(..., help="Experiment config (YAML) under configs/."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Run folder (default ~/.cache/restora/runs/NAME)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run folder's checkpoint."),
    init_from: Path | None = typer.Option(None, "--init-from", help="Start from these weights (.safetensors), e.g. a shipped model."),
    max_steps: int | None = typer.Option(None, "--max-steps", help="Stop after this many steps (the schedule still spans the config's steps)."),
    threads: int | None = typer.Option(None, "--threads", help="CPU threads (default: the config's)."),
    device: str = typer.Option("auto", "--device"),
) -> None:
    """Train a model from a config; checkpoints resume bit-exactly."""
    from restora.train.run import run_training

    run_training(config, run_dir, resume, init_from, max_steps, threads, device)


@app.command()
def export(
    run: Path = typer.Argument(..., help="Run folder (or a run name under ~/.cache/restora/runs)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .safetensors file."),
) -> None:
    """Write a run's EMA weights with architecture, config and model card to one .safetensors file."""
    from restora.settings import get_settings
    from restora.train.trainer import export_run

    if not run.exists() and (get_settings().runs_dir / run).exists():
        run = get_settings().runs_dir / run
    card = export_run(run, output)
    typer.echo(f"wrote {output}: {card['steps']} steps, {card['cpu_hours']} CPU-hours, validation {card['validation']['last']} dB")
