"""Benchmark image sets, laid out as in ``shared/data/MANIFEST.md``.

* **Synthetic** sets: ``<data>/test/<NAME>/*`` clean images. Noise of each σ is added here, the same
  for every method. Protocol (the one behind the reference figures in MANIFEST.md): for each (set, σ)
  one generator ``numpy.random.default_rng(seed)`` (seed 0); the images are visited in sorted file-name
  order and each takes one draw ``rng.normal(0.0, σ, size=(H, W, 3))`` in float64 on the 0–255 scale,
  added to the 8-bit clean image *without clipping*. So the k-th image's noise depends only on σ and
  on the shapes of the images before it, and ``--limit N`` sees exactly the first N noisy images of
  a full run. The noisy float array (divided by 255) is what every method receives.
* **Other synthetic noise** (``noise``: a degradation pipeline name, e.g. ``salt-pepper-20``, ``periodic``): one
  generator ``numpy.random.default_rng(seed)`` per (set, pipeline), the pipeline applied to each clean image
  (on [0, 1]) in sorted order; the result, on the 0–255 scale, is the input.
* **Real** sets: ``<data>/real/<NAME>/noisy/X`` with ``<data>/real/<NAME>/clean/X`` (e.g. PolyU50);
  the 8-bit noisy photo is the input and the clean one the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restora.errors import BadInputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
NOISE_SEED = 0


@dataclass(frozen=True)
class BenchSet:
    name: str
    kind: str  # "synthetic" (clean images, noise added) or "real" (noisy/clean pairs)
    clean: tuple[Path, ...]
    noisy: tuple[Path, ...] = ()  # real sets only, same order as ``clean``


@dataclass
class Sample:
    """One benchmark input: ``noisy`` float64 (H, W, 3) on the 0–255 scale (unclipped), ``clean`` uint8."""

    name: str
    clean: np.ndarray
    noisy: np.ndarray
    sigma: float | None  # true σ for synthetic noise, None for real noise

    @property
    def input(self) -> np.ndarray:
        """What the method is given (0–255 scale)."""
        return self.noisy


def read_rgb8(path: Path) -> np.ndarray:
    """An 8-bit image file as uint8 RGB (H, W, 3); greyscale is repeated over the three channels."""
    from PIL import Image as PILImage

    try:
        with PILImage.open(path) as im:
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            a = np.asarray(im)
    except (OSError, ValueError) as exc:
        raise BadInputError(f"{path}: cannot read image ({exc})") from None
    if a.dtype != np.uint8:
        raise BadInputError(f"{path}: benchmark images must be 8-bit, found {a.dtype}")
    return np.repeat(a[:, :, None], 3, axis=2) if a.ndim == 2 else a


def _images(folder: Path) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))


def find_set(data: Path, name: str) -> BenchSet:
    """Locate set ``name`` under ``data/test`` (synthetic) or ``data/real`` (pairs)."""
    real = data / "real" / name
    if (real / "noisy").is_dir() and (real / "clean").is_dir():
        noisy = _images(real / "noisy")
        names = [p.name for p in noisy]
        clean = tuple(real / "clean" / n for n in names)
        missing = [p.name for p in clean if not p.is_file()]
        if missing:
            raise BadInputError(f"set {name}: no clean image for {missing[0]} (and {len(missing) - 1} more)")
        return BenchSet(name, "real", clean, noisy)
    synthetic = data / "test" / name
    if synthetic.is_dir():
        clean = _images(synthetic)
        if clean:
            return BenchSet(name, "synthetic", clean)
    raise BadInputError(f"set '{name}' not found: expected {synthetic}/*.png or {real}/noisy + clean")


def samples(
    bench_set: BenchSet, sigma: float | None, limit: int | None = None, noise: str = "gaussian"
) -> Iterator[Sample]:
    """The set's inputs in sorted order; synthetic noise (Gaussian of ``sigma``, or the degradation pipeline
    ``noise``) follows the module's seeding protocol."""
    n = len(bench_set.clean) if limit is None else min(limit, len(bench_set.clean))
    if bench_set.kind == "real":
        for i in range(n):
            clean = read_rgb8(bench_set.clean[i])
            noisy = read_rgb8(bench_set.noisy[i])
            if noisy.shape != clean.shape:
                raise BadInputError(f"{bench_set.noisy[i]}: size differs from its clean image")
            yield Sample(bench_set.noisy[i].name, clean, noisy.astype(np.float64), None)
        return
    rng = np.random.default_rng(NOISE_SEED)
    if noise != "gaussian":
        from restora.degrade import get_pipeline

        pipeline = get_pipeline(noise)
        for i in range(n):
            clean = read_rgb8(bench_set.clean[i])
            degraded = pipeline(clean.astype(np.float32) / 255.0, rng).astype(np.float64) * 255.0
            yield Sample(bench_set.clean[i].name, clean, degraded, None)
        return
    if sigma is None:
        raise ValueError("synthetic sets need a noise level")
    for i in range(n):
        clean = read_rgb8(bench_set.clean[i])
        noise = rng.normal(0.0, float(sigma), size=clean.shape)
        yield Sample(bench_set.clean[i].name, clean, clean.astype(np.float64) + noise, float(sigma))
