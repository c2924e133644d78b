"""``restora degrade IMAGE --pipeline NAME -o DIR``: write degraded samples to see what training sees."""

from __future__ import annotations

from pathlib import Path

import typer

from restora.cli import app


@app.command()
def degrade(
    image: Path | None = typer.Argument(None, show_default=False, help="A clean photo (not needed with --list)."),
    pipeline: str = typer.Option("practical", "--pipeline", "-p", help="Pipeline name (see --list)."),
    output: Path = typer.Option(Path("degraded"), "-o", "--output", help="Output folder."),
    count: int = typer.Option(4, "--count", "-n", min=1, max=100, help="Samples to write."),
    seed: int = typer.Option(0, "--seed"),
    list_pipelines: bool = typer.Option(False, "--list", help="List the pipelines and exit."),
) -> None:
    """Write COUNT seeded degraded versions of IMAGE, with the σ the estimator reads on each."""
    import numpy as np

    from restora.degrade import PIPELINES, get_pipeline
    from restora.engine.noise import estimate_sigma
    from restora.io import read_image, write_image

    if list_pipelines:
        for name in sorted(PIPELINES):
            doc = (PIPELINES[name].__doc__ or "").strip().splitlines()
            typer.echo(f"{name:12s} {repr(get_pipeline(name))[:100] if not doc else doc[0]}")
        return
    from restora.batch.jobs import UsageError
    from restora.errors import RestoraError

    if image is None:
        raise UsageError("give a clean photo to degrade (or --list to see the pipelines)")
    try:
        op = get_pipeline(pipeline)
    except RestoraError as exc:  # an unknown name
        raise UsageError(str(exc)) from None
    clean = read_image(image)
    output.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        out = clean.with_pixels(np.clip(op(clean.pixels, rng), 0, 1))
        out.bit_depth = 8
        path = output / f"{image.stem}-{pipeline}-{i:02d}.png"
        write_image(path, out)
        sigma = estimate_sigma(out.pixels)
        typer.echo(f"{path}: estimated σ {' '.join(f'{s:.1f}' for s in sigma)}")
