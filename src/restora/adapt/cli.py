"""``restora adapt PHOTOS... -o my-camera.safetensors``: fine-tune the denoiser on your own noisy photos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from restora.cli import app


ADAPT_HELP = (
    "Adapt the denoiser to PHOTOS without clean references, then use it: restora denoise --model MODEL.safetensors."
    "\n\nSelf-supervised (recorrupted-to-recorrupted with the photos' own noise); part of the photos is held out, "
    "and new weights are kept only if, on those photos, they beat the base model at both ends of the estimated "
    "noise level and remove no more image structure than it does; otherwise the base is written unchanged. The "
    "weights stay close to the base model. The model card records the number of photos, the minutes and the base model."
)


@app.command(help=ADAPT_HELP)
def adapt(
    photos: Annotated[list[Path], typer.Argument(metavar="PHOTOS...", show_default=False,
                                                 help="Noisy photos from one camera (no clean versions needed).")],
    output: Annotated[Path, typer.Option("--output", "-o", metavar="MODEL.safetensors", show_default=False,
                                         help="Where to write the adapted model.")],
    minutes: Annotated[float, typer.Option(min=0.0, help="Time budget (wall clock) for the fine-tuning.")] = 10.0,
    base: Annotated[str | None, typer.Option("--from", metavar="MODEL",
                                             help="Model to start from: registered name or .safetensors (default: the shipped denoiser).")] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Also stop after this many steps.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run (its state is saved beside the output).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (default: all cores).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for crops and noise samples.")] = 0,
) -> None:
    """``restora adapt``: see ADAPT_HELP."""
    from restora.batch import UsageError

    if output.exists() and not overwrite and not resume:
        raise UsageError(f"{output} exists; add --overwrite to replace it")
    if minutes <= 0 and steps is None:
        raise UsageError("--minutes must be more than 0")
    resolved = {p.resolve() for p in photos if p.exists()}
    if output.exists() and output.resolve() in resolved:
        raise UsageError(f"{output}: would overwrite an input")
    import torch

    from restora.adapt.trainer import AdaptConfig
    from restora.adapt.trainer import adapt as run_adapt

    if threads:
        torch.set_num_threads(threads)
    cfg = AdaptConfig(minutes=minutes, steps=steps, seed=seed)
    result = run_adapt(photos, output, base=base, cfg=cfg, resume=resume, progress=True)
    verdict = (f"held-out loss {result.base_loss:.3e} → {result.best_loss:.3e} (best at step {result.best_step})"
               if result.improved else "no weights passed the held-out criterion: wrote the base weights unchanged")
    typer.echo(f"wrote {output}: {len(photos)} photos, {result.steps} steps in {result.seconds / 60:.1f} min; {verdict}")
    typer.echo(f"use it with: restora denoise PHOTO -o OUT --model {output}")
