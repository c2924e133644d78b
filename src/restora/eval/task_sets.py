"""Benchmark inputs of ``restora bench --task deblur|derain|dehaze|lowlight|auto``.

A set is found under ``<data>/test/<NAME>`` (layout of ``shared/data/MANIFEST.md``) and is either

* **pairs** on disk: ``test/Levin`` (``blurred/imI_kernelK_img.png`` with ``sharp/imI.png`` and kernel ``kK`` of
  ``kernels/levin09.npz``; greyscale, repeated over RGB) for deblurring, or a folder with ``rainy/`` and ``clean/``
  of the same names (``test/Rain100H``) for deraining; or
* **synthetic**: the clean images of any other ``test/<NAME>`` (Kodak24, McMaster, …), degraded here by the
  task's generator below, seeded like the denoising benchmark: one ``numpy.random.default_rng(TASK_SEED)`` (0)
  per (set, task), images visited in sorted file order, each taking its draws in turn, so ``--limit N`` sees
  exactly the first N inputs of a full run. The degraded image is clipped and rounded to 8 bits (a stored
  photo) before any method sees it.

Generators (operators of :mod:`restora.degrade`, with their documented parameter ranges):

* ``deblur`` — camera shake: a :class:`~restora.degrade.MotionBlur` kernel (random trajectory, 7–31 px),
  convolved, then Gaussian noise σ = 2.55 (1%, the usual non-blind deblurring protocol) from the same generator.
  The kernel is kept for the peers that are given it.
* ``derain`` — the ``rain`` training pipeline (streak layers, accumulation veil, sometimes JPEG).
* ``dehaze`` — :class:`~restora.degrade.Haze` (smooth random transmission 0.2–0.95, airlight 0.7–1), no noise.
* ``lowlight`` — :class:`~restora.degrade.LowLight` then :class:`~restora.degrade.Underexpose` (1–4 stops of
  sensor noise, 1–4.3 stops darker, γ 1–1.5): the ``lowlight-dark`` pipeline without its occasional JPEG.
* ``auto`` — a mixed set of single degradations: per image a 256² crop at a seeded position, then each of the
  five types in turn (:data:`AUTO_DEGRADATIONS`, clearly visible strengths), labelled with its task.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restora.errors import BadInputError
from restora.degrade import (
    Clip,
    Compose,
    DefocusBlur,
    GaussianNoise,
    Haze,
    LowLight,
    MotionBlur,
    OneOf,
    Rain,
    Underexpose,
    get_pipeline,
)
from restora.degrade.blur import convolve
from restora.eval.datasets import IMAGE_SUFFIXES, read_rgb8

TASK_SEED = 0
BLUR_NOISE_SIGMA = 2.55
AUTO_CROP = 256
LEVIN_NAME = re.compile(r"im(\d+)_kernel(\d+)_img")
DEFAULT_SETS = {
    "deblur": "Levin,Kodak24",
    "derain": "Rain100H",
    "dehaze": "Kodak24,McMaster",
    "lowlight": "Kodak24,McMaster",
    "auto": "Kodak24,McMaster",
}


@dataclass
class TaskSample:
    """One input: ``degraded`` float64 (H, W, 3) on the 0–255 scale (8-bit values), ``clean`` uint8."""

    name: str
    clean: np.ndarray
    degraded: np.ndarray
    kernel: np.ndarray | None = None  # the true convolution kernel (deblurring), when known
    label: str | None = None  # the auto set: the task of the degradation applied

    @property
    def input(self) -> np.ndarray:
        return self.degraded


@dataclass(frozen=True)
class TaskSet:
    name: str
    task: str
    kind: str  # "pairs" (degraded images on disk) or "synthetic" (degraded here)
    clean: tuple[Path, ...]
    degraded: tuple[Path, ...] = ()
    kernels: tuple[np.ndarray, ...] = ()  # pairs with known kernels (Levin): one per image

    @property
    def has_kernels(self) -> bool:
        return (self.kind == "synthetic" and self.task == "deblur") or bool(self.kernels)


def _images(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))


def levin_kernels(data: Path) -> dict[str, np.ndarray]:
    """The eight Levin kernels as *convolution* kernels (blurred = sharp ∗ k), normalised to sum 1.

    ``levin09.npz`` stores them in correlation orientation: the blurred images match ``cv2.filter2D(sharp, kK)``
    (up to a shift of a few pixels), so the convolution kernel is kK flipped in both axes.
    """
    path = data / "kernels" / "levin09.npz"
    if not path.is_file():
        raise BadInputError(f"Levin kernels not found: {path}")
    with np.load(path) as f:
        return {name: np.ascontiguousarray((f[name] / f[name].sum())[::-1, ::-1], dtype=np.float32) for name in f.files}


def find_task_set(data: Path, task: str, name: str) -> TaskSet:
    """Locate set ``name`` for ``task`` under ``data/test`` (pairs or clean images, see the module doc)."""
    root = data / "test" / name
    if task == "deblur" and (root / "blurred").is_dir():
        kernels = levin_kernels(data)
        blurred = _images(root / "blurred")
        clean, ks = [], []
        for path in blurred:
            match = LEVIN_NAME.fullmatch(path.stem)
            if match is None:
                raise BadInputError(f"{path}: expected a name like im1_kernel2_img.png (Levin's layout)")
            clean.append(root / "sharp" / f"im{match[1]}.png")
            ks.append(kernels[f"k{match[2]}"])
        missing = [p for p in clean if not p.is_file()]
        if missing:
            raise BadInputError(f"set {name}: no sharp image {missing[0]}")
        return TaskSet(name, task, "pairs", tuple(clean), blurred, tuple(ks))
    if task == "derain" and (root / "rainy").is_dir() and (root / "clean").is_dir():
        rainy = _images(root / "rainy")
        clean = tuple(root / "clean" / p.name for p in rainy)
        missing = [p for p in clean if not p.is_file()]
        if missing:
            raise BadInputError(f"set {name}: no clean image for {missing[0].name}")
        return TaskSet(name, task, "pairs", clean, rainy)
    if root.is_dir():
        clean = _images(root)
        if clean:
            return TaskSet(name, task, "synthetic", clean)
    raise BadInputError(
        f"set '{name}' not found for --task {task}: expected {root}/*.png"
        + (" or blurred/ + sharp/" if task == "deblur" else " or rainy/ + clean/" if task == "derain" else "")
    )


def auto_degradations() -> dict:
    """Task → the degradation of that type in the auto set (each clearly visible; single type per image)."""
    return {
        "denoise": Compose([GaussianNoise(sigma=(10.0, 50.0)), Clip()]),
        "deblur": Compose([OneOf([MotionBlur(size=(9, 31)), DefocusBlur(radius=(2.0, 6.0))]), Clip()]),
        "derain": Compose([Rain(), Clip()]),
        "dehaze": Compose([Haze(), Clip()]),
        "lowlight": Compose([LowLight(), Underexpose(), Clip()]),
    }


AUTO_DEGRADATIONS = (
    "denoise: Gaussian noise σ 10–50; deblur: camera shake 9–31 px or defocus disk r 2–6 px; "
    "derain: Rain(); dehaze: Haze(); lowlight: LowLight() + Underexpose()"
)


def _stored(image: np.ndarray) -> np.ndarray:
    """A float image on [0, 1] as a stored 8-bit photo, on the 0–255 scale (float64)."""
    return np.clip(np.rint(np.asarray(image, np.float64) * 255.0), 0, 255)


def _generator(task: str):
    """The synthetic degradation of ``task``: (clean float32 [0, 1], rng) → (degraded [0, 1], kernel | None)."""
    if task == "deblur":
        blur = MotionBlur()

        def deblur(x, rng):
            k = blur.kernel(rng)
            y = convolve(x, k) + rng.normal(0.0, BLUR_NOISE_SIGMA / 255.0, x.shape)
            return y, k

        return deblur
    op = {"derain": get_pipeline("rain"), "dehaze": Haze(), "lowlight": Compose([LowLight(), Underexpose()])}[task]
    return lambda x, rng: (op(x, rng), None)


def task_samples(task_set: TaskSet, limit: int | None = None) -> Iterator[TaskSample]:
    """The set's inputs in sorted order (auto set: five per image), following the module's seeding protocol."""
    n = len(task_set.clean) if limit is None else min(limit, len(task_set.clean))
    if task_set.kind == "pairs":
        for i in range(n):
            clean, degraded = read_rgb8(task_set.clean[i]), read_rgb8(task_set.degraded[i])
            if clean.shape != degraded.shape:
                raise BadInputError(f"{task_set.degraded[i]}: size differs from its clean image")
            kernel = task_set.kernels[i] if task_set.kernels else None
            yield TaskSample(task_set.degraded[i].name, clean, degraded.astype(np.float64), kernel)
        return
    rng = np.random.default_rng(TASK_SEED)
    if task_set.task == "auto":
        ops = auto_degradations()
        for i in range(n):
            clean = read_rgb8(task_set.clean[i])
            h, w = clean.shape[:2]
            c = min(AUTO_CROP, h, w)
            y0, x0 = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            crop = np.ascontiguousarray(clean[y0 : y0 + c, x0 : x0 + c])
            for task, op in ops.items():
                degraded = op(crop.astype(np.float32) / 255.0, rng)
                yield TaskSample(f"{task_set.clean[i].stem}-{task}", crop, _stored(degraded), label=task)
        return
    generate = _generator(task_set.task)
    for i in range(n):
        clean = read_rgb8(task_set.clean[i])
        degraded, kernel = generate(clean.astype(np.float32) / 255.0, rng)
        yield TaskSample(task_set.clean[i].name, clean, _stored(degraded), kernel)
