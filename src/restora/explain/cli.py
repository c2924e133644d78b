"""``restora explain PHOTO -o report.html``: denoise one photo and write a self-contained report of what was done."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from restora.cli import app


EXPLAIN_HELP = (
    "Denoise PHOTO and write REPORT.html: input and output with 100% crops, the noise-level map with its colour "
    "scale, the residual and its power spectrum, the detail-at-risk map, the noise model and the predicted "
    "reliability.\n\nThe file opens offline; nothing in it comes from the network."
)


@app.command(help=EXPLAIN_HELP)
def explain(
    photo: Annotated[
        Path, typer.Argument(metavar="PHOTO", show_default=False, help="The photo to denoise and explain.")
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="REPORT.html",
            show_default=False,
            help="The report: one HTML file with every image inside.",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            metavar="NAME|PATH",
            help="Registered denoiser or .safetensors file (default: the shipped one).",
        ),
    ] = None,
    sigma: Annotated[str, typer.Option(metavar="auto|N", help="Noise level on the 0–255 scale, or 'auto'.")] = "auto",
    strength: Annotated[float, typer.Option(min=0.0, max=1.0, help="0–1: how much of the effect to apply.")] = 1.0,
    tile: Annotated[int | None, typer.Option(min=0, metavar="N", help="Tile size in pixels; 0: whole image.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    restored: Annotated[
        Path | None, typer.Option("--restored", metavar="PATH", help="Also write the denoised photo here.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing report.")] = False,
) -> None:
    """``restora explain``: see EXPLAIN_HELP."""
    from restora.batch.jobs import UsageError
    from restora.batch.jobs import model_spec

    # Checked as `restora denoise` checks its command line: each is a usage error (exit 2), found before any work.
    if output.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"{output}: the report is an HTML file; give -o a name ending in .html")
    if not photo.exists():
        raise UsageError(f"no input image found in {photo}")
    if not photo.is_file():
        raise UsageError(f"{photo} is a folder: explain takes one photo")
    if output.exists() and output.resolve() == photo.resolve():
        raise UsageError(f"{output}: would overwrite the input")
    if restored is not None and restored.exists() and restored.resolve() == photo.resolve():
        raise UsageError(f"{restored}: would overwrite the input")
    if output.exists() and not overwrite:
        raise UsageError(f"{output} exists; add --overwrite to replace it")
    if sigma != "auto":
        try:
            value = float(sigma)
        except ValueError:
            raise UsageError(f"--sigma must be 'auto' or a number, not '{sigma}'") from None
        if not 0 <= value <= 255:
            raise UsageError("--sigma is on the 0–255 scale")
    if model is not None:
        model_spec(model)
    for folder in {output.parent, *([restored.parent] if restored is not None else [])}:
        try:
            folder.mkdir(parents=True, exist_ok=True)  # like `restora denoise -o new/out.png`
        except OSError as exc:
            raise UsageError(f"output folder '{folder}' cannot be created ({exc.strerror or exc})") from None

    from restora.explain.core import explain_image
    from restora.explain.report import write_report

    ex = explain_image(photo, model=model, sigma=sigma, strength=strength, tile=tile, device=device)
    write_report(output, ex)
    if restored is not None:
        from restora import __version__
        from restora.io import write_image

        write_image(restored, ex.restored, software=f"Restora {__version__} ({ex.model})")
    r = ex.reliability
    typer.echo(
        f"{photo} → {output}: model {ex.model}, σ {' '.join(f'{s:.1f}' for s in ex.analysis.sigma)}, {r.summary()}"
    )
