"""The options of a restore over many files: on the command line (declared once, :class:`RestoreArguments`,
for every restore command and ``restora batch``) and as the plain values each file's restore gets
(:class:`RestoreOptions`).

Light on purpose (typer only): the commands import it when ``restora --help`` runs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields
from enum import Enum
from typing import TYPE_CHECKING, Annotated, get_type_hints

import typer

if TYPE_CHECKING:
    from restora.batch.jobs import Plan


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Runtime(str, Enum):
    auto = "auto"
    torch = "torch"
    onnx = "onnx"


def _check_sigma(value: str) -> str:
    if value == "auto":
        return value
    try:
        number = float(value)
    except ValueError:
        raise typer.BadParameter(f"'{value}' is neither 'auto' nor a number") from None
    if not 0 <= number <= 255:  # also refuses NaN
        raise typer.BadParameter("σ is on the 0–255 scale")
    return value


def _check_choice(value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise typer.BadParameter(f"must be one of {', '.join(choices)}")
    return value


def _check_bit_depth(value: int | None) -> int | None:
    if value not in (None, 8, 16):
        raise typer.BadParameter("must be 8 or 16")
    return value


def _check_subsampling(value: str) -> str:
    from restora.io.write import SUBSAMPLINGS

    if value not in SUBSAMPLINGS:
        raise typer.BadParameter(f"must be one of {', '.join(SUBSAMPLINGS)}")
    return value


# The options of every restore command (restora.commands), `restora batch` and the other commands that restore files.
InputsArgument = Annotated[
    list[str],
    typer.Argument(metavar="INPUT", show_default=False, help="Image files, folders or globs ('photos/**/*.jpg')."),
]
OutputOption = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        metavar="OUTPUT",
        show_default=False,
        help="Output file (one input) or folder (mirrors the input tree).",
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option("--model", "-m", metavar="NAME|PATH", help="Registered model (restora models) or .safetensors file."),
]
SigmaOption = Annotated[
    str,
    typer.Option(
        metavar="auto|N", callback=_check_sigma, help="Noise level on the 0–255 scale, or 'auto' to estimate it."
    ),
]
StrengthOption = Annotated[
    float, typer.Option(min=0.0, max=1.0, metavar="0–1", help="0–1: how much of the effect to apply.")
]
TileOption = Annotated[
    int | None, typer.Option(min=0, metavar="N", help="Tile size in pixels (bounds memory); 0: whole image.")
]
DeviceOption = Annotated[Device, typer.Option(help="Where to run neural models.")]
RuntimeOption = Annotated[
    Runtime,
    typer.Option(
        help="Neural models' runtime: PyTorch, ONNX Runtime (CPU; the onnx extra) or auto: ONNX where measured faster."
    ),
]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace existing outputs (default: skip them).")]
RecursiveOption = Annotated[bool, typer.Option("--recursive", "-r", help="Descend into subfolders of folder inputs.")]
BitDepthOption = Annotated[
    int | None,
    typer.Option(metavar="8|16", callback=_check_bit_depth, help="Bits per channel of outputs (default: the input's)."),
]
SelfEnsembleOption = Annotated[
    bool,
    typer.Option(
        "--self-ensemble",
        help="Average each tile's result over its 8 flips and quarter turns: a little more quality "
        "(+0.09 dB on CBSD68 with restora-denoise) at 8× the time. Our networks only.",
    ),
]
JpegQualityOption = Annotated[int, typer.Option(min=1, max=100, metavar="1–100", help="Quality of JPEG outputs.")]
SubsamplingOption = Annotated[
    str,
    typer.Option(metavar="4:4:4|4:2:2|4:2:0", callback=_check_subsampling, help="Chroma subsampling of JPEG outputs."),
]
RealNoiseOption = Annotated[
    str,
    typer.Option(
        "--real-noise",
        metavar="auto|on|off",
        callback=lambda v: _check_choice(v, ("auto", "on", "off")),
        help="Denoising: pixel-shuffle down-sampling for spatially correlated noise (camera photos): auto uses it where "
        "the measured noise is correlated, on always, off never.",
    ),
]
KeepIfWorseOption = Annotated[
    bool,
    typer.Option(
        "--keep-if-worse",
        help="Denoising: where the predicted gain is below zero, the confidence low or the photo out "
        "of range, write the input unchanged instead of the output.",
    ),
]
AdaptOption = Annotated[
    bool,
    typer.Option(
        "--adapt",
        help="Denoising: adapt the denoiser to each camera of the batch first (EXIF make, model and ISO "
        "band; self-supervised, as restora adapt), kept where its held-out checks pass and cached per "
        "camera, so the next batch from that camera starts at once.",
    ),
]
AdaptMinutesOption = Annotated[
    float, typer.Option("--adapt-minutes", min=0.1, metavar="MINUTES", help="--adapt: time budget per new camera.")
]
# restora.explain per photo (docs/explain.md).
NoiseMapOption = Annotated[
    str | None,
    typer.Option(
        "--noise-map",
        metavar="PATH|PATTERN",
        help="Also write the input's per-pixel noise level σ (0–255): .npy/.tif hold the values, other image types a "
        "heat map (σ 0–50). Several inputs: a name pattern with {stem}, written beside each output, e.g. "
        "'{stem}.noise.png'.",
    ),
]
ResidualOption = Annotated[
    str | None,
    typer.Option(
        "--residual",
        metavar="PATH|PATTERN",
        help="Also write input − output: .npy/.tif exact, other image types mid-grey + 4× the difference. "
        "Several inputs: a {stem} pattern, as for --noise-map.",
    ),
]
ReliabilityOption = Annotated[
    bool,
    typer.Option(
        "--reliability/--no-reliability",
        help="Denoising: print each photo's predicted quality gain with its confidence, and a warning when the photo "
        "is unlike what the model was trained on.",
    ),
]


@dataclass(frozen=True)
class RestoreOptions:
    """What to do to every file of a batch (all plain values, so a job can be sent to another process)."""

    task: str
    model: str
    sigma: str | float = "auto"
    strength: float = 1.0
    tile: int | None = None
    device: str = "auto"
    bit_depth: int | None = None  # None: the source's (16 for RAW inputs)
    jpeg_quality: int = 95
    subsampling: str = "4:4:4"  # JPEG chroma subsampling
    runtime: str = "auto"  # torch, onnx or auto (see restora.engine.onnx)
    self_ensemble: bool = False  # average over the 8 flips/quarter turns of each tile (restora.engine.ensemble)
    noise_map: str | None = None  # side output: an absolute path (one input) or a {stem} pattern, see side_output_path
    residual: str | None = None
    reliability: bool = False  # predict each denoised photo's quality gain (restora.explain); denoise only
    real_noise: str = "auto"  # denoise: pixel-shuffle for correlated (camera) noise: auto, on, off
    keep_if_worse: bool = False  # denoise: write the input unchanged where reliability says the output may be worse


# ---------------------------------------------------------------------------------------------------
# The command line


@dataclass(frozen=True)
class RestoreArguments:
    """What the user asked of every restore command and ``restora batch``: the inputs, the output and the
    options they all take. A command gets them as one value (:func:`takes_restore_arguments`)."""

    inputs: InputsArgument
    output: OutputOption
    model: ModelOption = None
    sigma: SigmaOption = "auto"
    strength: StrengthOption = 1.0
    tile: TileOption = None
    device: DeviceOption = Device.auto
    runtime: RuntimeOption = Runtime.auto
    self_ensemble: SelfEnsembleOption = False
    overwrite: OverwriteOption = False
    recursive: RecursiveOption = False
    bit_depth: BitDepthOption = None
    jpeg_quality: JpegQualityOption = 95
    subsampling: SubsamplingOption = "4:4:4"
    noise_map: NoiseMapOption = None
    residual: ResidualOption = None
    reliability: ReliabilityOption = True

    def side_outputs(self) -> dict[str, str | None]:
        """``--noise-map``/``--residual`` as :func:`restora.batch.jobs.plan_jobs` checks them."""
        from restora.batch.jobs import side_options

        return side_options(self.noise_map, self.residual)

    def plan(self) -> Plan:
        """The jobs for these inputs and output (:func:`restora.batch.jobs.plan_jobs`)."""
        from restora.batch.jobs import plan_jobs

        return plan_jobs(
            self.inputs,
            self.output,
            recursive=self.recursive,
            overwrite=self.overwrite,
            side_outputs=self.side_outputs(),
        )

    def restore_options(self, task: str, model: str, **more) -> RestoreOptions:
        """The values every file's restore gets, with ``model`` resolved; ``more``: the options a command adds
        (``real_noise``, ``keep_if_worse``)."""
        sides = self.side_outputs()
        return RestoreOptions(
            task=task,
            model=model,
            sigma=self.sigma,
            strength=self.strength,
            tile=self.tile,
            device=self.device.value,
            bit_depth=self.bit_depth,
            jpeg_quality=self.jpeg_quality,
            subsampling=self.subsampling,
            runtime=self.runtime.value,
            self_ensemble=self.self_ensemble,
            noise_map=sides["--noise-map"],
            residual=sides["--residual"],
            reliability=self.reliability,
            **more,
        )


def takes_restore_arguments(command: Callable) -> Callable:
    """A typer command taking every :class:`RestoreArguments` option from one parameter ``arguments``.

    The command line shows INPUT... and ``-o`` first, then the command's own parameters declared before
    ``arguments``, then the shared options, then its parameters declared after."""
    shared = get_type_hints(RestoreArguments, include_extras=True)
    params = [
        inspect.Parameter(
            f.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=shared[f.name],
            default=inspect.Parameter.empty if f.default is MISSING else f.default,
        )
        for f in fields(RestoreArguments)
    ]
    required = [p for p in params if p.default is inspect.Parameter.empty]
    optional = [p for p in params if p.default is not inspect.Parameter.empty]
    own = list(inspect.signature(command, eval_str=True).parameters.values())
    at = [p.name for p in own].index("arguments")
    names = [p.name for p in params]

    @functools.wraps(command)
    def wrapper(**values):
        arguments = RestoreArguments(**{name: values.pop(name) for name in names})
        return command(arguments=arguments, **values)

    wrapper.__signature__ = inspect.Signature([*required, *own[:at], *optional, *own[at + 1 :]])
    wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
    return wrapper
