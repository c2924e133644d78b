"""Restore commands (``denoise``, ``deblur``, ``derain``, ``dehaze``, ``lowlight`` and its alias ``enhance``,
``restore --task auto|TASK``), ``models`` and ``info``.

Heavy imports (torch, OpenCV, the engine) stay inside the command functions so ``restora --help`` is fast.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from restora.batch.options import (
    AdaptMinutesOption,
    AdaptOption,
    KeepIfWorseOption,
    RealNoiseOption,
    RestoreArguments,
    takes_restore_arguments,
)
from restora.cli import app
from restora.tasks import RESTORE_TASKS


TASK_HELP = {
    "denoise": "Remove noise (camera sensor noise, grain) from photos.",
    "deblur": "Remove blur (camera shake, defocus) from photos.",
    "derain": "Remove rain streaks from photos.",
    "dehaze": "Remove haze and fog from photos.",
    "lowlight": "Brighten photos taken in low light.",
    "auto": "Detect what degrades each photo (noise, blur, rain, haze, low light), say how strongly, and apply the "
    "right model.",
}


def _make_restore_command(task: str):
    @takes_restore_arguments
    def command(
        arguments: RestoreArguments,
        real_noise: RealNoiseOption = "auto",
        keep_if_worse: KeepIfWorseOption = False,
        adapt: AdaptOption = False,
        adapt_minutes: AdaptMinutesOption = 3.0,
    ) -> None:
        from restora.batch.jobs import ConsoleReporter, UsageError, resolve_model, run_local

        if adapt and task != "denoise":
            raise UsageError("--adapt is for denoising (restora denoise, or restore --task denoise)")
        name = resolve_model(
            task, arguments.model, arguments.device.value, arguments.runtime.value, arguments.self_ensemble
        )
        plan = arguments.plan()
        options = arguments.restore_options(task, name, real_noise=real_noise, keep_if_worse=keep_if_worse)
        reporter = ConsoleReporter()
        options_for = None
        if adapt and plan.jobs:
            from restora.batch.per_camera import per_camera_options

            options_for = per_camera_options(
                plan, options, adapt_minutes, lambda line: reporter.out.print(line, markup=False)
            )
        summary = run_local(plan, options, reporter, options_for)
        raise typer.Exit(summary.exit_code)

    command.__name__ = task
    command.__doc__ = (
        f"{TASK_HELP[task]}\n\nOne file in: -o is a file (format from its extension) or a folder. Several inputs or a "
        "folder: -o is a folder mirroring the input tree; camera RAW becomes 16-bit TIFF. Existing outputs are "
        "skipped unless --overwrite; inputs are never written over. Exit status: 0 all done, 1 some files failed, "
        "2 usage error."
    )
    return command


for _task in RESTORE_TASKS:
    app.command(_task)(_make_restore_command(_task))

# `enhance` is the common name for low-light enhancement: the same command; the task is `lowlight` everywhere.
_enhance = _make_restore_command("lowlight")
_enhance.__doc__ = "Alias of lowlight. " + _enhance.__doc__
app.command("enhance")(_enhance)


class TaskChoice(str, Enum):
    auto = "auto"
    denoise = "denoise"
    deblur = "deblur"
    derain = "derain"
    dehaze = "dehaze"
    lowlight = "lowlight"


def _make_task_command():
    """``restora restore --task auto|TASK``: the task verbs' command with the task as an option.

    Built from the task commands themselves (same parameters, so it takes every option they take)."""
    import inspect

    by_task = {t.value: _make_restore_command(t.value) for t in TaskChoice}
    inner = by_task["auto"]
    signature = inspect.signature(inner, eval_str=True)  # annotations resolved: typer reads them from here
    params = list(signature.parameters.values())
    task_param = inspect.Parameter(
        "task", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=TaskChoice.auto, annotation=TaskOption
    )

    def command(task: TaskChoice = TaskChoice.auto, **options) -> None:
        by_task[TaskChoice(task).value](**options)

    command.__signature__ = signature.replace(parameters=[*params[:2], task_param, *params[2:]])
    command.__annotations__ = {p.name: p.annotation for p in command.__signature__.parameters.values()}
    command.__name__ = "restore"
    command.__doc__ = (
        "Restore photos: --task auto (the default) detects what degrades each photo (noise, blur, rain, haze, low "
        "light) with the all-in-one model, prints the detected types with their probability and strength, and "
        "applies the right model; --task TASK does what the TASK command does.\n\n" + inner.__doc__.split("\n\n", 1)[1]
    )
    return command


TaskOption = Annotated[TaskChoice, typer.Option("--task", "-t", help="What to restore; auto: detect it per photo.")]
app.command("restore")(_make_task_command())


def _human_bytes(n: int) -> str:
    """Decimal units, as file managers show sizes: 247.8 KB."""
    if n < 1000:
        return f"{n} B"
    value, unit = n / 1000, "KB"
    for bigger in ("MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1000, bigger
    return f"{value:.1f} {unit}"


@app.command("models")
def models_command() -> None:
    """List the registered restoration methods: our models, classical methods and baselines."""
    from rich.console import Console
    from rich.table import Column, Table

    from restora.engine.catalogue import available_methods

    # A name is what users type into --model: never truncated or wrapped; the description wraps instead.
    table = Table(
        Column("name", no_wrap=True, min_width=max(len(s.name) for s in available_methods())),
        "tasks",
        "kind",
        Column("size", no_wrap=True),
        "description",
        box=None,
        pad_edge=False,
    )
    for spec in sorted(available_methods(), key=lambda s: (s.kind != "ours", s.name)):
        size = "built in" if spec.size_bytes is None else _human_bytes(spec.size_bytes)
        table.add_row(spec.name, ", ".join(spec.tasks), spec.kind, size, spec.description)
    Console(highlight=False).print(table)


# How facts of ``Image.info`` (restora.io.probe's keys) are shown by ``restora info``, in this order.
INFO_LABELS = {
    "lens": ("lens", "{}"),
    "iso": ("ISO", "{}"),
    "exposure_time": ("exposure", "{}"),
    "f_number": ("aperture", "f/{}"),
    "focal_length_mm": ("focal length", "{} mm"),
    "date_taken": ("taken", "{}"),
}
# Keys shown in their own rows (or not at all: the file name heads the block).
INFO_SHOWN_APART = {
    "file",
    "format",
    "raw_format",
    "width",
    "height",
    "megapixels",
    "bit_depth",
    "mode",
    "file_bytes",
    "colour_profile",
    "orientation",
    "camera_make",
    "camera_model",
    "warnings",
}
# Stored colour modes (Pillow's names) that are converted when read, as ``info`` names them.
STORED_MODES = {
    "1": "black and white (1 bit)",
    "P": "palette",
    "PA": "palette + alpha",
    "CMYK": "CMYK",
    "YCbCr": "YCbCr",
    "LAB": "Lab",
    "HSV": "HSV",
    "RGBX": "RGBX",
    "RGBa": "premultiplied RGBA",
    "La": "premultiplied grey + alpha",
}


def _camera(info: dict) -> str | None:
    make, model = info.get("camera_make"), info.get("camera_model")
    if make and model and str(model).lower().startswith(str(make).lower()):
        return str(model)  # "Canon" + "Canon EOS R5": say it once
    return " ".join(str(v) for v in (make, model) if v) or None


def describe_image(path: Path) -> list[tuple[str, str]]:
    """(field, value) rows shown by ``restora info``: size, bit depth, profile, EXIF camera/ISO, noise."""
    return image_facts(path)[0]


def image_facts(path: Path) -> tuple[list[tuple[str, str]], dict]:
    """``restora info``'s rows and the same facts as one JSON-ready dict (``--json``): the file's facts
    (restora.io.probe's keys), its size, and ``noise`` (:meth:`restora.engine.noise.NoiseProfile.to_dict`:
    ``sigma`` [r, g, b] is the noise's standard deviation on the 0–255 scale, beside its correlation and
    noise level function; None for a photo too small to measure)."""
    from restora.engine.noise import MIN_PATCHES, measure_noise, patch_count
    from restora.io import read_image

    image = read_image(path)
    info = image.info
    kind = str(info.get("format") or image.format)
    if info.get("raw_format"):
        kind += f" (camera RAW: {info['raw_format']})"
    channels = "grey" if image.grayscale else "RGB"
    if image.alpha is not None:
        channels += " + alpha"
    if stored := STORED_MODES.get(str(info.get("mode", ""))):  # the file's own mode, not what it is read as
        channels = f"{stored} (restored as {channels})"
    rows = [("format", kind)]
    if "file_bytes" in info:
        rows.append(("file size", _human_bytes(int(info["file_bytes"]))))
    rows += [
        ("size", f"{image.width} × {image.height} ({image.megapixels:.1f} MP)"),
        ("bit depth", f"{image.bit_depth} bits per channel, {channels}"),
        ("colour profile", str(info.get("colour_profile") or "none (sRGB assumed)")),
    ]
    if info.get("orientation", 1) != 1:
        rows.append(("orientation", f"stored turned (EXIF orientation {info['orientation']}), shown upright"))
    if camera := _camera(info):
        rows.append(("camera", camera))
    for key, (label, form) in INFO_LABELS.items():
        if info.get(key) not in (None, ""):
            rows.append((label, form.format(info[key])))
    for key, value in info.items():  # facts added to the reader later still show up
        if key not in INFO_SHOWN_APART and key not in INFO_LABELS and value not in (None, ""):
            rows.append((key.replace("_", " "), str(value)))
    rows += [("warning", line) for line in info.get("warnings", ())]
    facts = {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v)) for k, v in info.items()}
    facts.update(
        file=str(path),
        format=kind,
        width=image.width,
        height=image.height,
        bit_depth=image.bit_depth,
        channels=channels,
        noise=None,
    )
    if patch_count(image.height, image.width) < MIN_PATCHES:
        rows.append(
            ("noise σ (0–255)", f"too small to estimate ({image.width} × {image.height} px; 16 × 16 px is enough)")
        )
        return rows, facts
    profile = measure_noise(image.pixels)
    sigma = profile.sigma
    names, values = (("grey",), sigma[:1]) if image.grayscale else (("R", "G", "B"), sigma)
    rows.append(("noise σ (0–255)", "  ".join(f"{c} {s:.1f}" for c, s in zip(names, values)) + "  (estimated std)"))
    rows.append(
        (
            "noise correlation",
            f"{profile.neighbour_correlation:.2f} between neighbours, over "
            f"{profile.correlation_length:.1f} px (white noise: 0, 1 px)",
        )
    )
    rows.append(("noise vs brightness", f"σ varies {profile.signal_dependence:.1f}× across brightness"))
    facts["noise"] = profile.to_dict()
    return rows, facts


@app.command("info")
def info_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE", show_default=False, help="Images to describe.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file (one line each).")] = False,
) -> None:
    """Describe images: size, bit depth, colour profile, camera and ISO, estimated noise σ per channel."""
    from rich.console import Console

    from restora.batch.jobs import error_reason
    from restora.errors import RestoraError

    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    failed = 0
    for n, path in enumerate(files):
        try:
            rows, facts = image_facts(path)
        except (RestoraError, OSError) as exc:
            failed += 1
            err.print(f"{path}: {error_reason(exc, str(path), path.name)}", markup=False)
            continue
        if as_json:
            import json

            print(json.dumps(facts, ensure_ascii=False), flush=True)
            continue
        if n:
            out.print()
        out.print(str(path), markup=False)
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            out.print(f"  {key:<{width}}  {value}", markup=False)
    raise typer.Exit(1 if failed else 0)
