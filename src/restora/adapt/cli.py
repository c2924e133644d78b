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
    photos: Annotated[
        list[str],
        typer.Argument(
            metavar="PHOTOS...",
            show_default=False,
            help="Noisy photos from one camera (no clean versions needed): files, folders or globs.",
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="MODEL.safetensors", show_default=False, help="Where to write the adapted model."
        ),
    ],
    minutes: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Time budget (wall clock) for the fine-tuning; 0: no time "
            "limit (stop at --steps or when the held-out loss stops improving).",
        ),
    ] = 10.0,
    base: Annotated[
        str | None,
        typer.Option(
            "--from",
            metavar="MODEL",
            help="Model to start from: registered name or .safetensors (default: the shipped denoiser).",
        ),
    ] = None,
    steps: Annotated[int | None, typer.Option(min=1, help="Also stop after this many steps.")] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run (its state is saved beside the output).")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")] = False,
    recursive: Annotated[bool, typer.Option("--recursive", "-r", help="Also take photos from subfolders.")] = False,
    threads: Annotated[int | None, typer.Option(min=1, help="CPU threads (default: all cores).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for crops and noise samples.")] = 0,
) -> None:
    """``restora adapt``: see ADAPT_HELP."""
    from restora.batch.jobs import UsageError, expand_inputs, model_spec

    # Checked as `restora denoise` checks its command line: each is a usage error (exit 2), found before any work.
    if output.suffix != ".safetensors":
        raise UsageError(f"{output}: the adapted model is a .safetensors file; give -o a name ending in .safetensors")
    if output.is_dir():
        raise UsageError(f"{output} is a folder; give -o a file name ending in .safetensors")
    if output.exists() and not overwrite and not resume:
        raise UsageError(f"{output} exists; add --overwrite to replace it")
    found = expand_inputs(photos, recursive)
    if found.missing:
        raise UsageError(f"{found.missing[0]}: no such file")
    if not found.sources:
        hint = " (add --recursive to look in subfolders)" if found.folders and not recursive else ""
        raise UsageError(f"no photos found in {', '.join(photos)}{hint}")
    paths = [s.path for s in found.sources]
    if output.exists() and output.resolve() in {p.resolve() for p in paths}:
        raise UsageError(f"{output}: would overwrite an input")
    if base is not None:
        model_spec(base)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the folder of {output} ({exc.strerror or exc})") from None
    import torch

    from restora.adapt.trainer import AdaptConfig
    from restora.adapt.trainer import adapt as run_adapt

    if threads:
        torch.set_num_threads(threads)
    cfg = AdaptConfig(minutes=minutes, steps=steps, seed=seed)
    result = run_adapt(paths, output, base=base, cfg=cfg, resume=resume, progress=True)
    verdict = (
        f"held-out loss {result.base_loss:.3e} → {result.best_loss:.3e} (best at step {result.best_step})"
        if result.improved
        else "no weights passed the held-out criterion: wrote the base weights unchanged"
    )
    typer.echo(
        f"wrote {output}: {len(paths)} photo{'s' if len(paths) != 1 else ''}, {result.steps} steps in {result.seconds / 60:.1f} min; {verdict}"
    )
    typer.echo(f"use it with: restora denoise PHOTO -o OUT --model {output}")
