"""``restora inpaint IN... -o OUT [--mask MASK] [--save-mask PATH]``: repair old photos' damage, with the restore
commands' file handling (formats, EXIF and ICC kept, folders mirrored, atomic writes, one line per failed file)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from restora.cli import app
from restora.batch.options import (
    BitDepthOption,
    InputsArgument,
    JpegQualityOption,
    OutputOption,
    OverwriteOption,
    RecursiveOption,
    SubsamplingOption,
    TileOption,
)


class FillMethod(str, Enum):
    fast = "fast"
    resshift = "resshift"
    telea = "telea"
    ns = "ns"


@dataclass(frozen=True)
class RepairOptions:
    mask: str | None = None  # a mask file (one input) or a folder of masks matched by name; None: detect
    save_mask: str | None = None  # absolute path or {stem} pattern (batch.side_output_pattern)
    method: str = "fast"
    steps: int | None = None
    seed: int = 0
    threshold: float | None = None
    grow: int = 1
    tile: int | None = None
    bit_depth: int | None = None
    jpeg_quality: int = 95
    subsampling: str = "4:4:4"


def repair_job(job, options: RepairOptions):
    """Read, find or read the mask, fill, write atomically (and the mask with ``save_mask``); a bad file gives a
    result with ``error``, never raises (except KeyboardInterrupt)."""
    from restora.batch.jobs import JobResult, failed_result, side_output_path, write_output
    from restora.engine.inpaint import detect_damage, find_mask, inpaint, read_mask
    from restora.errors import RestoraError
    from restora.io import Image, read_image, write_image

    start = time.perf_counter()
    try:
        image = read_image(job.source)
        notes = list(image.info.get("warnings", ()))
        began = time.perf_counter()
        if options.mask is None:
            mask = detect_damage(image.pixels, threshold=options.threshold, grow=options.grow, tile=options.tile)
            notes.append(f"found damage on {100 * mask.mean():.2f} % of the photo")
        else:
            where = Path(options.mask)
            mask = read_mask(find_mask(where, job.source) if where.is_dir() else where, image.pixels.shape[:2])
        filled = inpaint(image.pixels, mask, options.method, options.steps, options.seed, options.tile)
        seconds = time.perf_counter() - began
        model = {"fast": "restora-inpaint", "resshift": "restora-inpaint-resshift"}.get(options.method, options.method)
        write_output(job, image.with_pixels(filled), options, model)
        if options.save_mask:
            path = side_output_path(job.output, options.save_mask)
            path.parent.mkdir(parents=True, exist_ok=True)
            white = Image.from_array(mask.astype("uint8") * 255)
            write_image(path, white)
    except (RestoraError, OSError, MemoryError, ValueError) as exc:
        return failed_result(job, exc, start)
    except Exception as exc:  # a bug: this file fails with its one line, the batch goes on
        return failed_result(job, exc, start, bug=True)
    return JobResult(
        job,
        model=model,
        megapixels=image.megapixels,
        restore_seconds=seconds,
        seconds=time.perf_counter() - start,
        notes=notes,
    )


MaskOption = Annotated[
    str | None,
    typer.Option(
        "--mask",
        metavar="MASK",
        help="Mask image (white = fill), or a folder of masks matched by name (a.jpg → "
        "a.png, a_mask.png). Default: find the damage.",
    ),
]
SaveMaskOption = Annotated[
    str | None,
    typer.Option(
        "--save-mask",
        metavar="PATH|PATTERN",
        help="Also write the mask used (white = filled). Several inputs: a "
        "pattern with {stem}, written beside each output, e.g. '{stem}.mask.png'.",
    ),
]
MethodOption = Annotated[
    FillMethod,
    typer.Option(
        "--method",
        help="fast: restora-inpaint (one pass); resshift: restora-inpaint-resshift (large holes, --steps "
        "passes); telea, ns: OpenCV's inpainting.",
    ),
]


@app.command("inpaint")
def inpaint_command(
    inputs: InputsArgument,
    output: OutputOption,
    mask: MaskOption = None,
    save_mask: SaveMaskOption = None,
    method: MethodOption = FillMethod.fast,
    steps: Annotated[int | None, typer.Option(min=1, help="resshift: sampling steps (default: all 4).")] = None,
    seed: Annotated[int, typer.Option(help="resshift: the seed of its sampling noise.")] = 0,
    threshold: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Damage detection: probability above "
            "which a pixel is damaged (default: the "
            "detector's, chosen on validation).",
        ),
    ] = None,
    grow: Annotated[int, typer.Option(min=0, max=16, help="Damage detection: grow the found mask by N px.")] = 1,
    tile: TileOption = None,
    overwrite: OverwriteOption = False,
    recursive: RecursiveOption = False,
    bit_depth: BitDepthOption = None,
    jpeg_quality: JpegQualityOption = 95,
    subsampling: SubsamplingOption = "4:4:4",
) -> None:
    """Repair old photos: find scratches, dust, blotches, creases and torn corners (or take --mask) and fill them.
    Pixels outside the mask are kept exactly (lossless outputs).

    One file in: -o is a file (format from its extension) or a folder. Several inputs or a folder: -o is a folder
    mirroring the input tree. Existing outputs are skipped unless --overwrite; inputs are never written over.
    Exit status: 0 all done, 1 some files failed, 2 usage error.
    """
    from restora.batch.jobs import ConsoleReporter, UsageError, plan_jobs, side_output_pattern
    from restora.engine.inpaint import DETECTOR, INPAINTERS, load_repair_model

    if mask is not None and not Path(mask).exists():
        raise UsageError(f"--mask: '{mask}' does not exist")
    if mask is not None and Path(mask).is_file() and len(inputs) > 1:
        raise UsageError("--mask: one mask file for several inputs; give a folder of masks matched by name")
    if steps is not None and method is not FillMethod.resshift:
        raise UsageError("--steps is for --method resshift")
    # Load now, so a missing model is one error, not one per file.
    if mask is None:
        load_repair_model(DETECTOR, "damagenet")
    if method.value in INPAINTERS:
        model = load_repair_model(
            INPAINTERS[method.value], "resshift" if method is FillMethod.resshift else "inpaintnet"
        )
        if steps is not None and steps > model.module.steps:
            raise UsageError(f"--steps must be 1 to {model.module.steps}")
    pattern = side_output_pattern(save_mask)
    plan = plan_jobs(
        inputs,
        output,
        recursive=recursive,
        overwrite=overwrite,
        side_outputs={"--save-mask": pattern} if pattern else None,
    )
    options = RepairOptions(
        mask=None if mask is None else str(Path(mask).resolve()),
        save_mask=pattern,
        method=method.value,
        steps=steps,
        seed=seed,
        threshold=threshold,
        grow=grow,
        tile=tile,
        bit_depth=bit_depth,
        jpeg_quality=jpeg_quality,
        subsampling=subsampling,
    )
    reporter = ConsoleReporter()
    reporter.start(plan)
    try:
        for job in plan.jobs:
            reporter.job_started(job)
            reporter.job_finished(repair_job(job, options))
    except KeyboardInterrupt:
        reporter.interrupted(len(plan.jobs))
        raise
    raise typer.Exit(reporter.finish().exit_code)
