"""Adapted denoisers kept per camera, for ``restora denoise --adapt``.

Photos are grouped by camera: EXIF make and model, and the ISO band (ISO rounded to the nearest power of two
times 100 on a log scale: 2,500–4,800 is "ISO 3200"), since a sensor's noise changes with gain far more than
between bodies of one model. The first batch from a camera runs :func:`restora.adapt.trainer.adapt` on its
own photos (within a time budget) and keeps the weights only where its held-out checks pass; otherwise the
base weights are written, and either way the file is cached under the user cache,
``~/.cache/restora/adapted/<camera>-<ISO>-<base sha256[:12]>.safetensors`` (``RESTORA_CACHE`` moves the
root), so the next batch from that camera starts at once. The base model's digest is in the name: a new
shipped denoiser never reuses weights adapted from an old one. Photos without EXIF make and model are not
adapted (nothing says they come from one camera).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from restora.adapt.trainer import AdaptConfig, _file_digest, adapt, load_base
from restora.errors import RestoraError
from restora.io import probe
from restora.models.modelfile import read_metadata
from restora.settings import get_settings


@dataclass(frozen=True)
class Camera:
    make: str
    model: str
    iso_band: int | None  # None: the photos do not say

    @property
    def label(self) -> str:
        name = self.model if self.model.lower().startswith(self.make.lower()) else f"{self.make} {self.model}"
        return name + (f" ISO {self.iso_band}" if self.iso_band else " (ISO unknown)")

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", self.label).strip("-").lower()


def iso_band(iso: float | None) -> int | None:
    """ISO → its band: 100 · 2^round(log2(ISO / 100)).

    >>> [iso_band(v) for v in (100, 160, 3200, 4000, 5000, None)]
    [100, 200, 3200, 3200, 6400, None]
    """
    if not iso or iso <= 0:
        return None
    return int(100 * 2 ** round(math.log2(iso / 100)))


def camera_of(facts: dict) -> Camera | None:
    """The camera of a photo from its header facts (:func:`restora.io.probe`); None without make and model."""
    make, model = str(facts.get("camera_make") or "").strip(), str(facts.get("camera_model") or "").strip()
    if not make or not model:
        return None
    return Camera(make, model, iso_band(facts.get("iso")))


def group_by_camera(paths: list[Path]) -> dict[Camera | None, list[Path]]:
    """Photos by camera, in the order given (unreadable headers join the None group: their error comes later)."""
    groups: dict[Camera | None, list[Path]] = {}
    for p in paths:
        try:
            cam = camera_of(probe(p))
        except RestoraError:
            cam = None
        groups.setdefault(cam, []).append(p)
    return groups


def cache_root() -> Path:
    return get_settings().cache_dir / "adapted"


def cached_path(camera: Camera, base_path: Path, root: Path | None = None) -> Path:
    return (root or cache_root()) / f"{camera.slug}-{_file_digest(base_path)[:12]}.safetensors"


@dataclass(frozen=True)
class CameraModel:
    camera: Camera
    path: Path  # the model file to denoise this camera's photos with
    status: str  # "cached", "adapted" or "base kept"

    def describe(self, photos: int) -> str:
        what = {
            "cached": "adapted weights from the cache",
            "adapted": "newly adapted weights (cached)",
            "base kept": "the base model: adapted weights did not pass the held-out checks",
        }[self.status]
        return f"{self.camera.label}: {photos} photo(s), {what} ({self.path.name})"


def improved(path: Path) -> bool:
    return bool(read_metadata(path)["card"].get("adaptation", {}).get("improved"))


def model_for_camera(
    camera: Camera,
    photos: list[Path],
    base: str | None = None,
    minutes: float = 3.0,
    root: Path | None = None,
    cfg: AdaptConfig | None = None,
) -> CameraModel:
    """The cached adaptation for ``camera``, or a new one made from ``photos`` within ``minutes`` and cached.
    Where the cached or new weights did not improve on the base, the base model file itself is returned."""
    _, _, base_path = load_base(base)
    path = cached_path(camera, base_path, root)
    if path.is_file():
        return CameraModel(camera, path if improved(path) else base_path, "cached" if improved(path) else "base kept")
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = cfg or AdaptConfig()
    cfg.minutes = minutes
    result = adapt(photos, path, base, cfg, progress=False)
    return CameraModel(camera, path if result.improved else base_path, "adapted" if result.improved else "base kept")
