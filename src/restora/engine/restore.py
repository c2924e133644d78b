"""``restora.restore``: run any registered method on a photo of any size, tile by tile."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from restora.engine.ensemble import dihedral_mean
from restora.engine.methods import Method, TileContext
from restora.engine.noise import estimate_sigma, measure_noise
from restora.engine.tiling import process_tiled
from restora.errors import ModelError, RestoraError
from restora.io.image import Image
from restora.engine.catalogue import default_method, get_spec, load_method
from restora.tasks import TASKS
from restora.engine.detect import Detection, detect, detector_name
from restora.engine.neural import takes_whole_image_context
from restora.engine.repair import DEFAULT_INPAINTER, repair_pixels
from restora.engine.noise_type import classify_noise, method_for
from restora.engine.onnx import load_onnx_method, pick_runtime
from restora.io import read_image

OVERLAP = 32
REAL_NOISE_MODES = ("auto", "on", "off")
# Pixel-shuffle down-sampling (Zhou et al., AAAI 2020) for correlated real noise: the image is split into the
# stride² sub-images of every stride-th pixel, each denoised alone, then interleaved back. A sub-image's noise
# is nearly white (correlation at lag ``stride``), which is what a denoiser trained on white noise expects.
# `auto` uses it when the measured neighbour correlation reaches PD_MIN_CORRELATION (white Gaussian noise
# reads ≤ 0.1, camera JPEGs 0.5–0.8) and the stride test does not read the noise as white
# (`restora.engine.noise.stride_ratio`), with the stride at which the correlation falls below PD_WHITE.
PD_MIN_CORRELATION = 0.35
PD_WHITE = 0.2
PD_MAX_STRIDE = 2


@dataclass
class RestoreResult:
    image: Image
    model: str
    sigma: np.ndarray | None  # per channel, 0–255 scale: estimated or given, before strength
    strength: float
    seconds: float
    task: str = "denoise"  # the task done (for task="auto": the detected one)
    detection: Detection | None = None  # task="auto": what was detected and which model was chosen
    pd_stride: int = 1  # pixel-shuffle stride used for real (correlated) noise; 1: plain
    noise_type: dict | None = None  # default denoising (and auto): the noise kind found (engine/noise_type.py)

    @property
    def megapixels_per_second(self) -> float:
        return self.image.megapixels / max(self.seconds, 1e-9)


@lru_cache(maxsize=8)
def get_method(name: str, device: str = "auto", runtime: str = "auto"):
    """A loaded method, cached so a batch, a server or a preload check loads each model once.

    ``runtime``: ``"torch"``, ``"onnx"`` (onnxruntime on the CPU, for our networks) or ``"auto"``: ONNX
    Runtime where it was measured faster for this model on the CPU, else PyTorch (see engine/onnx.py).
    """
    spec = get_spec(name)
    if takes_whole_image_context(spec):
        # All-in-one models need their whole-image embedding passed to every tile, style networks their shared
        # normalisation, which the exported graph (image in, image out) cannot take: they run in PyTorch.
        if runtime == "onnx":
            raise ModelError(f"'{spec.name}' takes whole-image context: it runs with --runtime torch or auto only")
        return load_method(name, device)
    if pick_runtime(spec, device, runtime) == "onnx":
        try:
            return load_onnx_method(spec)
        except ModelError:
            if runtime == "onnx":
                raise
            # auto: a network that cannot be exported still runs in PyTorch
    return load_method(name, device)


def _as_image(image) -> Image:
    if isinstance(image, Image):
        return image
    if isinstance(image, (str, Path)):
        return read_image(Path(image))
    return Image.from_array(np.asarray(image))


def _sigma_value(sigma, pixels: np.ndarray) -> np.ndarray:
    if isinstance(sigma, str):
        if sigma != "auto":
            try:
                sigma = float(sigma)
            except ValueError:
                raise RestoraError(f"sigma must be 'auto' or a number, not '{sigma}'") from None
        else:
            return estimate_sigma(pixels)
    s = np.asarray(sigma, dtype=np.float32)
    if s.ndim == 0:
        s = np.full(3, float(s), np.float32)
    if np.any(s < 0) or not np.all(np.isfinite(s)):
        raise RestoraError("sigma must be a finite number ≥ 0 (0–255 scale)")
    return s


def pd_stride_for(pixels: np.ndarray, mode: str = "auto") -> int:
    """Pixel-shuffle stride for denoising: 1 (plain) for white noise or ``mode="off"``, else from the measured
    noise correlation (``on``: at least 2)."""
    if mode not in REAL_NOISE_MODES:
        raise RestoraError(f"real-noise mode must be one of {', '.join(REAL_NOISE_MODES)}, not '{mode}'")
    if mode == "off" or min(pixels.shape[:2]) < 64:
        return 1
    profile = measure_noise(pixels)
    # White by the stride test: low-σ white noise on texture can read a high neighbour correlation.
    if mode == "auto" and (profile.white or profile.neighbour_correlation < PD_MIN_CORRELATION):
        return 1
    return int(np.clip(profile.decorrelating_stride(PD_WHITE), 2, PD_MAX_STRIDE))


def pixel_shuffle_apply(x: np.ndarray, stride: int, denoise) -> np.ndarray:
    """Apply ``denoise`` ((h, w, C) -> (h, w, C)) to each of the stride² sub-images of x and interleave back.

    >>> x = np.arange(2 * 6 * 5, dtype=np.float32).reshape(6, 5, 2)
    >>> bool(np.array_equal(pixel_shuffle_apply(x, 2, lambda s: s), x))
    True
    """
    y = np.empty_like(x)
    for i in range(stride):
        for j in range(stride):
            y[i::stride, j::stride] = denoise(np.ascontiguousarray(x[i::stride, j::stride]))
    return y


def run_restore(
    image,
    task: str = "denoise",
    model=None,
    sigma="auto",
    strength: float = 1.0,
    tile: int | None = None,
    device: str = "auto",
    on_tile=None,
    runtime: str = "auto",
    self_ensemble: bool = False,
    in_place: bool = False,
    real_noise: str = "auto",
    mask: np.ndarray | None = None,
) -> RestoreResult:
    """Restore and report what was done (model, σ, timing; for ``task="auto"`` the detection). See :func:`restore`.

    ``model`` may also be a :class:`restora.engine.methods.Method` instance (benchmark peers built per image,
    e.g. deconvolution given the true kernel). ``in_place``: the result overwrites the input Image's pixels
    (rows are written back once no later tile reads them), so a big photo needs one float copy, not two.
    ``real_noise``: denoising only, ``auto`` | ``on`` | ``off``: pixel-shuffle down-sampling for correlated
    (real camera) noise, see :func:`pd_stride_for`.
    ``mask``: task ``repair`` only, (H, W) bool, True = fill; without it the damage detector finds the damage.
    """
    if task not in TASKS:
        raise RestoraError(f"unknown task '{task}' (one of {', '.join(TASKS)})")
    if not 0.0 <= float(strength) <= 1.0:
        raise RestoraError("strength must be between 0 and 1")
    img = _as_image(image)
    detection = small = detector_method = None
    if task == "auto":
        detector = detector_name(None if model is None else str(model))
        detector_method = get_method(detector, device, runtime)
    start = time.perf_counter()
    if detector_method is not None:  # task auto
        small = detector_method.context_input(img.pixels)
        detection = detect(detector_method, small, detector, img.pixels)
        task, model = detection.task, detection.model
    if task == "repair":  # old-photo damage: a mask and a fill, not a restoration network run in tiles
        return _repaired(img, mask, None if detection is not None else model, start, detection)
    noise_type, routed = None, False
    if (task == "denoise" and model is None) or detection is not None:
        # Impulses and periodic patterns need their own methods, whatever the denoiser or the detector says.
        found = classify_noise(img.pixels)
        noise_type = found.as_dict()
        # auto: salt-and-pepper whatever else was detected (its signature is unmistakable); a periodic pattern
        # only where noise was (a smooth scene's own sinusoids must not turn a dark photo into a notch job).
        special = method_for(found.kind)
        if special is not None and (detection is None or found.kind == "salt-pepper" or task == "denoise"):
            task, model, routed = "denoise", special, True
            if detection is not None:
                detection.task, detection.model = task, model
        if detection is not None:
            detection.extra["noise_type"] = noise_type
    loading = time.perf_counter()
    method = model if isinstance(model, Method) else get_method(str(model or default_method(task)), device, runtime)
    start += time.perf_counter() - loading  # loading a model (once per process) is not restoring
    if self_ensemble and not method.supports_self_ensemble:
        raise RestoraError(f"--self-ensemble needs one of our networks; '{method.name}' does not support it")
    x = img.pixels
    # Pixel-shuffle is for correlated noise under a white-noise denoiser, not for impulses or periodic patterns.
    stride = pd_stride_for(x, real_noise) if task == "denoise" and not routed else 1
    # With PD the σ hint is estimated per sub-image (as the network was trained: `estimate_sigma` of white noise).
    s = _sigma_value(sigma, x) if (method.uses_sigma or sigma != "auto") and stride == 1 else None
    s_run = None if s is None else s * float(strength)
    tile_size = method.default_tile if tile is None else int(tile)
    if tile_size <= 0 or method.whole_image:
        tile_size = max(img.height, img.width)
    tile_size = max(tile_size, 2 * OVERLAP + method.size_multiple)
    # Whole-image context (haze, light level, degradation type): computed once, handed to every tile.
    prepared = None
    if method.wants_context:
        prepared = method.prepare(small if small is not None and method is detector_method else method.context_input(x))
    shape = (img.height, img.width)

    def run_window(window, region, s_run=s_run):
        sw = s_run
        if s_run is not None and s_run.ndim == 3:
            sw = s_run[region]
        if prepared is None:
            process = method.process
        else:
            context = TileContext(prepared, region, shape)

            def process(w, s):
                return method.process(w, s, context)

        return dihedral_mean(process, window, sw) if self_ensemble else process(window, sw)

    blend = not method.uses_sigma and strength < 1.0
    overlap = min(OVERLAP, tile_size // 4)
    if stride == 1:

        def finish(rows: np.ndarray, where: slice) -> np.ndarray:
            # Per block of finished rows: the input rows are still intact here, also when restoring in place.
            if blend:
                rows *= np.float32(strength)
                rows += np.float32(1.0 - strength) * x[where]
            return np.clip(rows, 0.0, 1.0, out=rows)

        writable = x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable
        y = process_tiled(
            x,
            run_window,
            tile_size,
            overlap,
            method.halo,
            method.size_multiple,
            on_tile,
            out=x if in_place and writable else None,
            finish=finish,
        )
    else:  # pixel-shuffle: the sub-images are restored apart, then interleaved into a new array
        hints = []

        def denoise_sub(sub):
            sub_s = _sigma_value(sigma, sub) if method.uses_sigma or sigma != "auto" else None
            hints.append(sub_s)
            sub_run = None if sub_s is None else sub_s * float(strength)
            return process_tiled(
                sub,
                lambda w, r: run_window(w, r, sub_run),
                tile_size,
                overlap,
                method.halo,
                method.size_multiple,
                on_tile,
            )

        y = pixel_shuffle_apply(x, stride, denoise_sub)
        s = None if hints[0] is None else np.mean(hints, axis=0).astype(np.float32)
        if blend:
            y = strength * y + (1.0 - strength) * x
        np.clip(y, 0.0, 1.0, out=y)
    seconds = time.perf_counter() - start
    return RestoreResult(
        img.with_pixels(y),
        method.name,
        s,
        float(strength),
        seconds,
        task,
        detection,
        pd_stride=stride,
        noise_type=noise_type,
    )


def _repaired(img: Image, mask: np.ndarray | None, model, start: float, detection: Detection | None) -> RestoreResult:
    """Task ``repair`` (asked for, or chosen by auto): see :mod:`restora.engine.repair`."""
    name = None if model is None else str(model)
    pixels, _ = repair_pixels(img.pixels, mask, name)
    return RestoreResult(
        img.with_pixels(pixels), name or DEFAULT_INPAINTER, None, 1.0, time.perf_counter() - start, "repair", detection
    )


def restore(
    image,
    task: str = "denoise",
    model: str | None = None,
    sigma="auto",
    strength: float = 1.0,
    tile: int | None = None,
    device: str = "auto",
    runtime: str = "auto",
    self_ensemble: bool = False,
    real_noise: str = "auto",
):
    """Restore a photo.

    ``image``: a :class:`restora.io.Image`, a path, or an array (uint8/uint16/float (H, W[, C])).
    ``task``: ``denoise``, ``deblur``, ``derain``, ``dehaze``, ``lowlight``, ``repair`` (old-photo damage found by
    the damage detector, then filled: :mod:`restora.engine.repair`), or ``auto``: detect the degradations with the
    all-in-one model (and old-photo damage with the damage detector) and apply the right model (see
    :mod:`restora.engine.detect`).
    ``model``: a registered name (``restora models``) or a ``.safetensors`` path; default per task (for
    ``auto``: the all-in-one model that detects). Denoising with the default model (and ``auto`` when it finds
    noise) first tells the noise kind (:mod:`restora.engine.noise_type`): salt-and-pepper specks go to the
    switching median, periodic patterns to the notch filter.
    ``sigma``: ``"auto"`` (estimated per channel) or the noise level on the 0–255 scale.
    ``strength``: 0–1; scales the noise level given to models that take one, else blends with the input.
    ``tile``: tile size in pixels (memory is bounded by it); 0 processes the whole image at once.
    ``runtime``: ``"auto"`` (ONNX Runtime where measured faster on the CPU), ``"torch"`` or ``"onnx"``.
    ``self_ensemble``: average the network's results over the 8 flips and quarter turns of each tile
    (:mod:`restora.engine.ensemble`): a little more quality at 8× the time; our networks only.
    ``real_noise``: ``auto`` (pixel-shuffle denoising where the noise is spatially correlated, as in camera
    photos), ``on`` or ``off``.
    Returns the same kind as given: an Image for an Image or path, a float32 (H, W, 3) array otherwise.
    """
    result = run_restore(
        image,
        task,
        model,
        sigma,
        strength,
        tile,
        device,
        runtime=runtime,
        self_ensemble=self_ensemble,
        real_noise=real_noise,
    )
    return result.image if isinstance(image, (Image, str, Path)) else result.image.pixels
