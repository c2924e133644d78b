"""Restoring many files: the one implementation of input expansion, output mapping, skipping and reporting.

Three separable steps, so other engines (``restora batch --engine ray``) reuse the first and last:

1. :func:`plan_jobs` turns the command line's INPUT... and ``-o`` into :class:`Job` s (source → output),
   checking everything that can be checked before any pixel is touched: no output may be an input,
   escape the output folder or be claimed twice; the output folder must be writable; existing outputs
   are set aside as skipped unless ``overwrite``.
2. :func:`run_job` restores one file (read → restore → atomic write) and never raises for a bad file:
   it returns a :class:`JobResult` whose ``error`` is the one-line reason.
3. :class:`ConsoleReporter` shows progress and per-file lines and prints the :class:`BatchSummary`.

Output naming (see docs/conventions.md): one file input may go to a file path (format from its extension) or
into an existing folder; several inputs or a folder input go into a folder that mirrors the input tree
relative to the inputs' common root, keeping names and extensions, except inputs whose format cannot be
written back (camera RAW) which become 16-bit ``.tif``. Choices where docs/conventions.md is silent: a glob's
matches are a collection (folder mode even when one file matches); an ``-o`` without an extension is a
folder (it could not name a format); hidden files and anything inside the output folder are never
inputs; an input naming nothing is a failed file, unless nothing at all is found (usage error).

Side outputs (``--noise-map``, ``--residual``; :mod:`restora.explain`): with one input they name a file; with
several they are a name pattern holding ``{stem}`` (the output's name without extension), resolved beside each
output (``'{stem}.noise.png'``, or ``'maps/{stem}.npy'`` in a subfolder of it) and never outside the output
folder. They are checked like outputs (never an input, never claimed twice), written before the output (so an
existing output means a complete photo), skipped with it, and an existing one is replaced only with
``overwrite`` (else the whole command stops before any work).
"""

from __future__ import annotations

import glob
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from restora.errors import ModelError, RestoraError
from restora import __version__
from restora.batch.options import RestoreOptions
from restora.engine import run_restore
from restora.engine.catalogue import get_spec
from restora.engine.detect import Detection
from restora.engine.methods import MethodSpec
from restora.explain.outputs import EXACT_EXTENSIONS, explain_outputs
from restora.explain.reliability import Reliability
from restora.io import (
    RAW_EXTENSIONS,
    SUPPORTED_READ_EXTENSIONS,
    SUPPORTED_WRITE_EXTENSIONS,
    Image,
    read_image,
    write_image,
)

# Files and folders starting with a dot are skipped when walking folders (hidden files, temporary files
# of atomic writes in progress).
HIDDEN_PREFIX = "."


class UsageError(RestoraError):
    """The command line asks for something that cannot be done as a whole (exit status 2)."""

    exit_code = 2


def model_spec(model: str) -> MethodSpec:
    """The catalogue's entry for a ``--model`` value; an unknown name is a usage error (exit 2), a real file that
    is not a valid model is not (its ModelError stands)."""
    try:
        return get_spec(model)
    except ModelError as exc:
        if Path(model).exists():
            raise
        raise UsageError(str(exc)) from None


def resolve_model(task: str, model: str | None, device: str, runtime: str = "auto", self_ensemble: bool = False) -> str:
    """The model to run, checked and loaded once before any file is touched (and, with ``self_ensemble``,
    checked to support it)."""
    from restora.engine.catalogue import available_methods, default_method
    from restora.engine.restore import get_method

    if task == "auto":  # the model named (or the default one) must be an all-in-one model: it detects
        from restora.engine.detect import detector_name

        try:
            name = detector_name(model)
        except ModelError as exc:
            if model is None or Path(model).exists():
                raise
            raise UsageError(str(exc)) from None
    elif model is None:
        if not available_methods(task):
            raise ModelError(f"no model is available for task '{task}' yet")
        name = default_method(task)
    else:
        spec = model_spec(model)
        if task not in spec.tasks:
            raise UsageError(f"model '{spec.name}' does not {task} (it does: {', '.join(spec.tasks)})")
        name = model
    # Load now (the engine caches it), so a bad model file or a missing GPU is one error, not one per file.
    method = get_method(str(name), device, runtime)
    if self_ensemble and not method.supports_self_ensemble:
        raise UsageError(f"--self-ensemble needs one of our networks; '{method.name}' does not support it")
    return name


@dataclass(frozen=True)
class Job:
    """One file to restore. ``name`` is the input as shown to the user; ``bit_depth`` None keeps the source's."""

    source: Path
    output: Path
    name: str
    bit_depth: int | None = None


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)  # output exists and overwrite is off
    missing: list[str] = field(default_factory=list)  # inputs that name nothing (reported as failed)
    output_root: Path | None = None  # the output folder, or None when -o is a single file


@dataclass
class JobResult:
    job: Job
    error: str | None = None  # one-line reason when the file failed
    model: str | None = None
    megapixels: float = 0.0
    restore_seconds: float = 0.0  # the restore call only (read and write excluded)
    seconds: float = 0.0  # read + restore + write
    sigma: np.ndarray | None = None  # per channel, 0–255 scale, when it was estimated
    reliability: dict | None = None  # restora.explain.Reliability.to_dict(), when asked for
    detection: dict | None = None  # --task auto: restora.engine.detect.Detection.as_dict()
    notes: list[str] = field(default_factory=list)  # one line each: what the user should know (dropped frames, ...)
    pd_stride: int = 1  # pixel-shuffle stride used for real noise (1: plain denoising)
    kept_input: bool = False  # --keep-if-worse: the input was written unchanged

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_record(self) -> dict:
        """Everything the file's result reports, as plain JSON values (the job aside): what a Ray worker sends
        back and what the manifest keeps, so every engine reports the same. Inverse: :meth:`from_record`."""
        return {
            "error": self.error,
            "model": self.model,
            "megapixels": float(self.megapixels),
            "restore_seconds": float(self.restore_seconds),
            "seconds": float(self.seconds),
            "sigma": None if self.sigma is None else [float(s) for s in np.ravel(self.sigma)],
            "reliability": self.reliability,
            "detection": self.detection,
            "notes": list(self.notes),
            "pd_stride": int(self.pd_stride),
            "kept_input": bool(self.kept_input),
        }

    @classmethod
    def from_record(cls, job: Job, record: dict) -> JobResult:
        sigma = record.get("sigma")
        return cls(
            job,
            error=record.get("error"),
            model=record.get("model"),
            megapixels=float(record.get("megapixels", 0.0)),
            restore_seconds=float(record.get("restore_seconds", 0.0)),
            seconds=float(record.get("seconds", 0.0)),
            sigma=None if sigma is None else np.asarray(sigma, np.float32),
            reliability=record.get("reliability"),
            detection=record.get("detection"),
            notes=[str(n) for n in record.get("notes") or ()],
            pd_stride=int(record.get("pd_stride", 1)),
            kept_input=bool(record.get("kept_input", False)),
        )


@dataclass
class BatchSummary:
    done: int
    skipped: int
    failed: int
    seconds: float  # wall time of the whole batch
    megapixels: float  # restored
    restore_seconds: float

    @property
    def megapixels_per_second(self) -> float:
        """Speed of the restore calls alone (docs/conventions.md: read and write excluded)."""
        return self.megapixels / self.restore_seconds if self.restore_seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """0 when every file was done or skipped, 1 when some failed."""
        return 1 if self.failed else 0


def summarize(results: Iterable[JobResult], skipped: int, missing: int, seconds: float) -> BatchSummary:
    results = list(results)
    done = [r for r in results if r.ok]
    return BatchSummary(
        done=len(done),
        skipped=skipped,
        failed=len(results) - len(done) + missing,
        seconds=seconds,
        megapixels=sum(r.megapixels for r in done),
        restore_seconds=sum(r.restore_seconds for r in done),
    )


# ---------------------------------------------------------------------------------------------------
# 1. Planning


def _extensions(names: Iterable[str]) -> frozenset[str]:
    return frozenset(n.lower() if n.startswith(".") else f".{n.lower()}" for n in names)


def _io_extensions() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    return _extensions(SUPPORTED_READ_EXTENSIONS), _extensions(SUPPORTED_WRITE_EXTENSIONS), _extensions(RAW_EXTENSIONS)


def _absolute(path: str | Path) -> Path:
    """Absolute and normalised (``..`` folded) without following symlinks, so the tree keeps its shape."""
    return Path(os.path.abspath(os.path.expanduser(str(path))))


@dataclass(frozen=True)
class _Source:
    path: Path  # absolute
    base: Path  # the folder the file is mirrored relative to
    name: str  # as shown to the user


def _walk_folder(
    folder: Path, shown: str, recursive: bool, readable: frozenset[str], prune: Path | None
) -> list[_Source]:
    found = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        # Never descend into hidden folders or into the output folder (it would restore its own outputs).
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(HIDDEN_PREFIX) and (prune is None or root_path / d != prune)
        )
        for f in sorted(files):
            if f.startswith(HIDDEN_PREFIX) or Path(f).suffix.lower() not in readable:
                continue
            path = root_path / f
            found.append(_Source(path, folder, os.path.join(shown, os.path.relpath(path, folder))))
        if not recursive:
            break
    return found


@dataclass
class Expansion:
    sources: list[_Source]
    missing: list[str]  # inputs that name nothing
    folders: bool  # a folder was given (directly or by a glob)
    globs: bool  # a glob was given: its matches are a collection, so -o is a folder


def expand_inputs(inputs: Sequence[str], recursive: bool = False, prune: Path | None = None) -> Expansion:
    """Files named by INPUT... (files, folders, globs), without duplicates, in a stable order.

    Explicit files are taken whatever their extension (a wrong format then fails with its reason);
    folders and globs contribute only files with a readable extension. ``prune`` (the output folder)
    is never descended into.
    """
    readable, _, _ = _io_extensions()
    found = Expansion([], [], False, False)
    for arg in inputs:
        path = _absolute(arg)
        if path.is_dir():
            found.folders = True
            found.sources += _walk_folder(path, arg, recursive, readable, prune)
        elif path.exists():
            found.sources.append(_Source(path, path.parent, arg))
        elif glob.has_magic(arg):  # a quoted glob, or one the shell left alone because nothing matched
            found.globs = True
            matches = sorted(glob.glob(os.path.expanduser(arg), recursive=True))
            if not matches:
                found.missing.append(arg)
            for m in matches:
                mp = _absolute(m)
                if prune is not None and _is_within(mp, prune):
                    continue  # earlier outputs matched by a broad glob ('**/*.png') are not inputs
                if mp.is_dir():
                    found.folders = True
                    found.sources += _walk_folder(mp, m, recursive, readable, prune)
                elif mp.suffix.lower() in readable and not mp.name.startswith(HIDDEN_PREFIX):
                    found.sources.append(_Source(mp, mp.parent, m))
        else:
            found.missing.append(arg)
    seen: set[Path] = set()
    unique = []
    for s in found.sources:
        key = s.path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(s)
    found.sources = unique
    return found


def _ensure_writable_folder(folder: Path) -> None:
    """Create ``folder`` (and parents) and prove a file can be created in it, or raise UsageError."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"output folder '{folder}' is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=HIDDEN_PREFIX + "restora-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"output folder '{folder}' is not writable ({exc.strerror or exc})") from None


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


STEM = "{stem}"


def side_output_pattern(value: str | None) -> str | None:
    """A ``--noise-map``/``--residual`` value as RestoreOptions holds it: a ``{stem}`` pattern as is (resolved
    beside each output), a plain path made absolute (so workers elsewhere write the same file)."""
    if value is None:
        return None
    return value if STEM in value else str(_absolute(value))


def side_options(noise_map: str | None, residual: str | None) -> dict[str, str | None]:
    """``--noise-map``/``--residual`` as :func:`plan_jobs` checks them (option → :func:`side_output_pattern`)."""
    return {"--noise-map": side_output_pattern(noise_map), "--residual": side_output_pattern(residual)}


def side_output_path(output: Path, pattern: str) -> Path:
    """Where a side output of the photo written to ``output`` goes (see :func:`side_output_pattern`)."""
    if STEM in pattern:
        return _absolute(Path(output).parent / pattern.replace(STEM, Path(output).stem))
    return _absolute(pattern)


def _side_extensions() -> frozenset[str]:
    return _io_extensions()[1] | _extensions(EXACT_EXTENSIONS)


def _folder_output_name(source: Path, writable: frozenset[str], raw: frozenset[str]) -> tuple[str, int | None]:
    """Name and bit depth in folder mode: the input's, except formats we cannot write → 16-bit TIFF."""
    suffix = source.suffix.lower()
    if suffix in raw:
        return source.stem + ".tif", 16
    if suffix in writable:
        return source.name, None
    return source.stem + ".tif", None


def plan_jobs(
    inputs: Sequence[str],
    output: str | Path,
    *,
    recursive: bool = False,
    overwrite: bool = False,
    side_outputs: dict[str, str | None] | None = None,
) -> Plan:
    """Map INPUT... to output paths and check the whole batch before anything is written.

    Raises :class:`UsageError` (nothing found, output not writable, an output that is an input, escapes
    the output folder or is claimed by two inputs). Creates the output folder. ``side_outputs``: option
    name → its :func:`side_output_pattern` (None: not asked), checked the same way (module docstring).
    """
    _, writable, raw = _io_extensions()
    if not inputs:
        raise UsageError("no inputs given")
    output_str = str(output)
    out = _absolute(output)
    found = expand_inputs(inputs, recursive, prune=out)
    sources = found.sources
    if not sources:
        what = ", ".join(inputs)
        hint = " (add --recursive to look in subfolders)" if found.folders and not recursive else ""
        raise UsageError(f"no input images found in {what}{hint}")

    single_file = len(sources) == 1 and not (found.folders or found.globs or found.missing)
    # A name without an extension can't say the output format, so it is a folder too.
    into_folder = out.is_dir() or output_str.endswith((os.sep, "/")) or not out.suffix
    plan = Plan(missing=found.missing)
    pairs: list[tuple[_Source, Path, int | None]] = []
    if single_file and not into_folder:
        if out.suffix.lower() not in writable:
            kinds = " ".join(sorted(writable))
            raise UsageError(
                f"cannot write '{out.suffix}' files: name the output with one of {kinds} "
                "(or end it with / for a folder)"
            )
        _ensure_writable_folder(out.parent)
        pairs.append((sources[0], out, None))
    else:
        if out.exists() and not out.is_dir():
            raise UsageError(f"'{output}' is a file: with several inputs or a folder, -o must be a folder")
        readable, _, _ = _io_extensions()
        if not out.exists() and not output_str.endswith((os.sep, "/")) and out.suffix.lower() in readable | writable:
            what = f"{len(sources)} inputs" if len(sources) > 1 else "a folder or glob input"
            raise UsageError(
                f"-o '{output}' names an image file, but there are {what}: -o must be a folder "
                f"(end it with / to make a folder of that name)"
            )
        _ensure_writable_folder(out)
        plan.output_root = out
        root = Path(os.path.commonpath([s.base for s in sources]))
        for s in sources:
            name, bit_depth = _folder_output_name(s.path, writable, raw)
            rel = s.path.parent.relative_to(root)  # root is an ancestor of every source's base
            pairs.append((s, out / rel / name, bit_depth))

    sides = {option: pattern for option, pattern in (side_outputs or {}).items() if pattern}
    side_extensions = _side_extensions() if sides else frozenset()
    for option, pattern in sides.items():
        if STEM not in pattern and len(pairs) > 1:
            raise UsageError(
                f"{option} names one file but there are {len(pairs)} inputs: give a name pattern with "
                f"{STEM}, e.g. '{STEM}{Path(pattern).suffix or '.png'}' (written beside each output)"
            )
        if STEM not in pattern:
            _ensure_writable_folder(Path(pattern).parent)
    inputs_resolved = {s.path.resolve() for s in sources}
    input_ids = {_file_id(s.path) for s in sources}
    claimed: dict[Path, str] = {}
    out_root_resolved = out.resolve() if plan.output_root is not None else None
    side_root = out_root_resolved or out.parent.resolve()  # a pattern stays inside the output folder
    for s, target, bit_depth in pairs:
        resolved = target.resolve()
        if resolved in inputs_resolved or (target.exists() and _file_id(target) in input_ids):
            raise UsageError(f"refusing to write over the input '{_shown(target)}': choose another output")
        if out_root_resolved is not None and not _is_within(resolved, out_root_resolved):
            raise UsageError(
                f"output path '{_shown(target)}' escapes the output folder '{output}' (through a symlink?)"
            )
        if resolved in claimed:
            raise UsageError(f"'{claimed[resolved]}' and '{s.name}' would both be written to '{_shown(target)}'")
        claimed[resolved] = s.name
        job = Job(source=s.path, output=target, name=s.name, bit_depth=bit_depth)
        skipped = target.exists() and not overwrite
        for option, pattern in sides.items():
            _check_side_output(
                side_output_path(target, pattern),
                option,
                pattern,
                s.name,
                side_extensions,
                inputs_resolved,
                input_ids,
                claimed,
                side_root,
                replace=overwrite or skipped,
            )
        if skipped:
            plan.skipped.append(job)
        else:
            plan.jobs.append(job)
    return plan


def _check_side_output(
    path: Path,
    option: str,
    pattern: str,
    name: str,
    extensions: frozenset[str],
    inputs_resolved: set[Path],
    input_ids: set,
    claimed: dict[Path, str],
    root: Path,
    replace: bool,
) -> None:
    """The checks of an output, for one photo's ``--noise-map``/``--residual`` file (module docstring)."""
    if path.suffix.lower() not in extensions:
        kinds = " ".join(sorted(extensions))
        raise UsageError(f"{option}: cannot write '{path.suffix or path.name}' files: use one of {kinds}")
    resolved = path.resolve()
    if resolved in inputs_resolved or (path.exists() and _file_id(path) in input_ids):
        raise UsageError(f"{option}: refusing to write over the input '{_shown(path)}'")
    if STEM in pattern and not _is_within(resolved, root):
        raise UsageError(f"{option}: '{_shown(path)}' escapes the output folder '{_shown(root)}'")
    if resolved in claimed:
        raise UsageError(f"'{claimed[resolved]}' and {option} of '{name}' would both be written to '{_shown(path)}'")
    claimed[resolved] = f"{option} of '{name}'"
    if path.is_dir():
        raise UsageError(f"{option}: '{_shown(path)}' is a folder")
    if path.exists() and not replace:
        raise UsageError(f"{option}: '{_shown(path)}' exists; add --overwrite to replace it")


def _file_id(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_dev, st.st_ino


# ---------------------------------------------------------------------------------------------------
# 2. One job


def error_reason(exc: BaseException, *names: str) -> str:
    """One line saying why a file failed, without the file name (``names``) the report puts in front."""
    if isinstance(exc, OSError) and not isinstance(exc, RestoraError):
        message = exc.strerror or str(exc)
    elif isinstance(exc, MemoryError):
        message = "out of memory (try a smaller --tile)"
    else:
        message = str(exc) or exc.__class__.__name__
    for name in names:
        if message.startswith(name + ": "):
            message = message[len(name) + 2 :]
    return " ".join(message.split())


def provenance(model: str) -> str:
    """EXIF Software note of every output (docs/conventions.md)."""
    return f"Restora {__version__} ({model})"


class OutputSettings(Protocol):
    """How a command writes its outputs (:class:`RestoreOptions` and the inpaint command's options)."""

    @property
    def bit_depth(self) -> int | None: ...
    @property
    def jpeg_quality(self) -> int: ...
    @property
    def subsampling(self) -> str: ...


def write_output(job: Job, image: Image, settings: OutputSettings, model: str) -> None:
    """Write a job's output atomically, its folder made, at the settings' bit depth (else the job's) and with
    the provenance note of ``model``."""
    job.output.parent.mkdir(parents=True, exist_ok=True)
    write_image(
        job.output,
        image,
        bit_depth=settings.bit_depth or job.bit_depth,
        jpeg_quality=settings.jpeg_quality,
        subsampling=settings.subsampling,
        software=provenance(model),
    )


def failed_result(job: Job, exc: BaseException, start: float, bug: bool = False) -> JobResult:
    """The result of a job that raised ``exc`` (``start``: its perf_counter at the start): the one-line reason;
    with ``bug`` (an exception no bad file explains) it says so and asks for a report."""
    reason = error_reason(exc, str(job.source), job.name, job.source.name)
    if bug:
        reason = f"internal error ({type(exc).__name__}: {reason}); please report it"
    return JobResult(job, error=reason, seconds=time.perf_counter() - start)


def run_job(job: Job, options: RestoreOptions, on_tile: Callable[[int, int], None] | None = None) -> JobResult:
    """Read, restore and atomically write one file. A bad file gives a result with ``error``, never raises
    (except KeyboardInterrupt): even a bug only fails its own file, so a batch always finishes."""
    start = time.perf_counter()
    reliability = None
    notes = _format_notes(job)
    try:
        image = read_image(job.source)
        notes += image.info.get("warnings", ())
        # Restored in place (one float copy of the photo, not two) unless a side output needs the whole input;
        # the reliability analysis reads only a centred window of it, kept aside first.
        in_place = not (options.noise_map or options.residual or options.keep_if_worse)  # kept: the input is written
        kept = _analysis_window(image.pixels) if in_place and options.reliability else image.pixels
        result = run_restore(
            image,
            options.task,
            options.model,
            options.sigma,
            options.strength,
            options.tile,
            options.device,
            on_tile=on_tile,
            runtime=options.runtime,
            self_ensemble=options.self_ensemble,
            in_place=in_place,
            real_noise=options.real_noise,
        )
        reliability = _side_outputs(job, options, kept, result, notes)
        keep = bool(
            options.keep_if_worse and reliability is not None and Reliability.from_dict(reliability).may_be_worse
        )
        written = image if keep else result.image
        del image, kept  # the input's pixels are not needed while writing
        write_output(job, written, options, result.model)
    except (RestoraError, OSError, MemoryError) as exc:
        return failed_result(job, exc, start)
    except Exception as exc:  # a bug: this file fails with its one line, the batch goes on
        return failed_result(job, exc, start, bug=True)
    estimated = result.sigma if options.sigma == "auto" else None
    return JobResult(
        job,
        model=result.model,
        megapixels=result.image.megapixels,
        restore_seconds=result.seconds,
        seconds=time.perf_counter() - start,
        sigma=estimated,
        reliability=reliability,
        detection=result.detection.as_dict() if result.detection is not None else None,
        notes=notes,
        pd_stride=result.pd_stride,
        kept_input=keep,
    )


def _analysis_window(pixels: np.ndarray) -> np.ndarray:
    """A copy of the centred window of the input that the reliability analysis reads."""
    from restora.explain.core import centre_window

    return pixels[centre_window(*pixels.shape[:2])].copy()


def _format_notes(job: Job) -> list[str]:
    """Say why a folder run writes a file in another format than its input's (RAW becomes TIFF, as documented)."""
    _, writable, raw = _io_extensions()
    source, output = job.source.suffix.lower(), job.output.suffix.lower()
    if output != source and job.output.stem == job.source.stem and source not in writable | raw:
        return [f"written as TIFF ({job.output.name}): Restora cannot write '{source or job.source.name}' files"]
    return []


def _side_outputs(job: Job, options: RestoreOptions, noisy: np.ndarray, result, notes: list[str]) -> dict | None:
    """Write the job's noise map and residual (restora.explain) and return its reliability, as asked (when it
    cannot be predicted, ``notes`` gets why). ``noisy``: the input's pixels, or (without noise map and residual)
    their :func:`_analysis_window`."""
    # the task run (--task auto: detected); --keep-if-worse needs the prediction
    want_reliability = (options.reliability or options.keep_if_worse) and result.task == "denoise"
    if not (options.noise_map or options.residual or want_reliability):
        return None
    paths = []
    for pattern in (options.noise_map, options.residual):
        path = side_output_path(job.output, pattern) if pattern else None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        paths.append(path)
    restored = result.image.pixels
    if noisy.shape != restored.shape:
        from restora.explain.core import centre_window

        restored = restored[centre_window(*restored.shape[:2])]
    r, why_not = explain_outputs(
        noisy, restored, result.sigma, result.model, *paths, reliability=want_reliability, notes=notes
    )
    if why_not:
        notes.append(f"reliability not predicted: {why_not}")
    return r.to_dict() if r is not None else None


# ---------------------------------------------------------------------------------------------------
# 3. Reporting


def format_sigma(sigma: np.ndarray) -> str:
    return "σ≈ " + " ".join(f"{c}{s:.1f}" for c, s in zip("RGB", np.ravel(sigma)))


def _shown(path: Path) -> str:
    """A path as short as it can be said: relative to the current folder when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class ConsoleReporter:
    """Progress bars on stderr (files; tiles of the current file when it has several), one line per file.

    Done and skipped files go to stdout, failures to stderr as ``FILE: reason``; the summary to stdout.
    Bars are drawn only on a terminal, so logs and pipes get the lines alone; while they are live, rich
    redirects stdout so lines land above them.
    """

    def __init__(self, progress_bars: bool | None = None):  # None: only when stderr is a terminal
        from rich.console import Console

        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.show_bars = self.err.is_terminal if progress_bars is None else progress_bars
        self._progress = None
        self._files_task = None
        self._tiles_task = None
        self._start = 0.0
        self.results: list[JobResult] = []
        self.skipped = 0
        self.missing = 0

    def start(self, plan: Plan) -> None:
        self._start = time.perf_counter()
        for job in plan.skipped:
            self.out.print(
                f"{job.name}: skipped, {_shown(job.output)} exists (--overwrite to replace it)", markup=False
            )
        self.skipped = len(plan.skipped)
        for name in plan.missing:
            self.err.print(f"{name}: no such file or folder", markup=False)
        self.missing = len(plan.missing)
        if self.show_bars and plan.jobs:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.err,
                transient=True,
            )
            self._progress.start()
            self._files_task = self._progress.add_task("files", total=len(plan.jobs))

    def job_started(self, job: Job) -> None:
        if self._progress is not None:
            self._progress.update(self._files_task, description=f"files ({job.name})")

    def status(self, text: str) -> None:
        """Show ``text`` beside the files bar (engines that run files elsewhere: speed, workers)."""
        if self._progress is not None:
            self._progress.update(self._files_task, description=f"files ({text})")

    def on_tile(self, done: int, total: int) -> None:
        if self._progress is None or total <= 1:
            return
        if self._tiles_task is None:
            self._tiles_task = self._progress.add_task("  tiles", total=total)
        self._progress.update(self._tiles_task, completed=done, total=total)

    def job_finished(self, result: JobResult) -> None:
        self.results.append(result)
        if self._progress is not None:
            if self._tiles_task is not None:
                self._progress.remove_task(self._tiles_task)
                self._tiles_task = None
            self._progress.advance(self._files_task)
        if result.ok:
            sigma = f"  {format_sigma(result.sigma)}" if result.sigma is not None else ""
            line = f"{result.job.name} → {_shown(result.job.output)}  {result.seconds:.1f} s{sigma}"
            self.out.print(line, markup=False)
            if result.pd_stride > 1:
                self.out.print(
                    f"  real noise: spatially correlated, denoised by pixel-shuffle (stride {result.pd_stride})",
                    markup=False,
                )
            if result.reliability is not None:
                r = Reliability.from_dict(result.reliability)
                self.out.print(f"  reliability: {r.summary()}", markup=False)
                if result.kept_input:
                    self.out.print(
                        "  kept the input unchanged (--keep-if-worse): the output may be worse", markup=False
                    )
                elif (warning := r.warning()) is not None:
                    self.out.print(f"  {warning}", markup=False)
            if result.detection is not None:
                d = Detection(**result.detection)
                self.out.print(f"  detected: {d.summary()}; restored by {result.model} ({d.task})", markup=False)
            for note in result.notes:
                self.out.print(f"  note: {note}", markup=False)
        else:
            self.err.print(f"{result.job.name}: {result.error}", markup=False)

    def interrupted(self, planned: int) -> None:
        """Stop the bars (which gives the terminal its cursor back) and say what is done and what is left; an
        interrupted output is never half written (atomic writes), so running the command again resumes."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        done = sum(r.ok for r in self.results)
        failed = len(self.results) - done
        failures = f", {failed} failed" if failed else ""
        self.err.print(
            f"interrupted: {done} done{failures}, {planned - len(self.results)} left — run the same "
            "command again to resume",
            markup=False,
        )

    def finish(self) -> BatchSummary:
        if self._progress is not None:
            self._progress.stop()
        summary = summarize(self.results, self.skipped, self.missing, time.perf_counter() - self._start)
        tasks = [r.detection["task"] for r in self.results if r.ok and r.detection is not None]
        if tasks:  # --task auto: how many photos went to each task
            counts = ", ".join(f"{t} {tasks.count(t)}" for t in sorted(set(tasks), key=lambda t: -tasks.count(t)))
            self.out.print(f"detected: {counts}", markup=False)
        speed = f", {summary.megapixels_per_second:.2f} MP/s restoring" if summary.done else ""
        self.out.print(
            f"{summary.done} done, {summary.skipped} skipped, {summary.failed} failed "
            f"in {summary.seconds:.1f} s ({summary.megapixels:.1f} MP{speed})",
            markup=False,
        )
        return summary


def run_local(
    plan: Plan,
    options: RestoreOptions,
    reporter: ConsoleReporter,
    options_for: Callable[[Job], RestoreOptions] | None = None,
) -> BatchSummary:
    """Run a plan's jobs one after another in this process. Ctrl+C stops it: the reporter says how far it got
    (:meth:`ConsoleReporter.interrupted`) and KeyboardInterrupt goes on up (the CLI exits 130).
    ``options_for``: each job's own options (``--adapt``: the model adapted to its camera)."""
    reporter.start(plan)
    try:
        for job in plan.jobs:
            reporter.job_started(job)
            reporter.job_finished(
                run_job(job, options if options_for is None else options_for(job), on_tile=reporter.on_tile)
            )
    except KeyboardInterrupt:
        reporter.interrupted(len(plan.jobs))
        raise
    return reporter.finish()
