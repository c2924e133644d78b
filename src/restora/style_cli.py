"""``restora stylize IN... -o OUT --style mosaic [--strength 0..1]``: the restore commands' file handling
(formats, EXIF and ICC kept, folders mirrored, atomic writes, one line per failed file) for a creative look."""

from __future__ import annotations

from typing import Annotated

import typer

from restora.cli import app
from restora.batch.options import (
    BitDepthOption,
    Device,
    DeviceOption,
    InputsArgument,
    JpegQualityOption,
    OutputOption,
    OverwriteOption,
    RecursiveOption,
    SubsamplingOption,
    TileOption,
)

StyleOption = Annotated[
    str,
    typer.Option(
        "--style", "-s", metavar="NAME|PATH", help="A shipped style (mosaic) or a style network's .safetensors file."
    ),
]
StyleStrengthOption = Annotated[
    float, typer.Option(min=0.0, max=1.0, help="0–1: the share of the styled photo in a blend with the original.")
]


@app.command("stylize")
def stylize_command(
    inputs: InputsArgument,
    output: OutputOption,
    style: StyleOption = "mosaic",
    strength: StyleStrengthOption = 1.0,
    tile: TileOption = None,
    device: DeviceOption = Device.auto,
    overwrite: OverwriteOption = False,
    recursive: RecursiveOption = False,
    bit_depth: BitDepthOption = None,
    jpeg_quality: JpegQualityOption = 95,
    subsampling: SubsamplingOption = "4:4:4",
) -> None:
    """Repaint photos in a learned style (fast neural style), seamlessly at any size.

    One file in: -o is a file (format from its extension) or a folder. Several inputs or a folder: -o is a folder
    mirroring the input tree. Existing outputs are skipped unless --overwrite; inputs are never written over.
    Exit status: 0 all done, 1 some files failed, 2 usage error.
    """
    from restora.batch.jobs import ConsoleReporter, UsageError, plan_jobs, run_local
    from restora.batch.options import RestoreOptions
    from restora.engine.restore import get_method
    from restora.engine.stylize import style_model
    from restora.errors import ModelError

    try:
        name = style_model(style)
    except ModelError as exc:
        raise UsageError(str(exc)) from None
    get_method(name, device.value, "torch")  # loaded once, before any file is touched
    plan = plan_jobs(inputs, output, recursive=recursive, overwrite=overwrite)
    options = RestoreOptions(
        task="stylize",
        model=name,
        strength=strength,
        tile=tile,
        device=device.value,
        bit_depth=bit_depth,
        jpeg_quality=jpeg_quality,
        subsampling=subsampling,
        runtime="torch",
    )
    raise typer.Exit(run_local(plan, options, ConsoleReporter()).exit_code)
