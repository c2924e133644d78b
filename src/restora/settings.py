"""Process-wide settings, read once from the environment.

``RESTORA_DATA``: folder with the image sets (see ``../shared/data/MANIFEST.md``); defaults to
``../shared/data`` beside the project root (or the current directory) when it exists.
``RESTORA_MAX_PIXELS``: decompression-bomb guard, default 200 megapixels.
``RESTORA_CACHE``: this machine's cache (exported ONNX graphs, speed measurements), default ``~/.cache/restora``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal, overload

from pydantic import BaseModel
from restora.errors import RestoraError

_PROJECT_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseModel):
    data_dir: Path | None = None
    max_pixels: int = 200_000_000
    runs_dir: Path = Path.home() / ".cache" / "restora" / "runs"
    cache_dir: Path = Path.home() / ".cache" / "restora"


def _default_data_dir() -> Path | None:
    for base in (_PROJECT_ROOT, Path.cwd()):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env_data = os.environ.get("RESTORA_DATA")
    data_dir = Path(env_data) if env_data else _default_data_dir()
    kwargs: dict = {"data_dir": data_dir}
    if "RESTORA_MAX_PIXELS" in os.environ:
        kwargs["max_pixels"] = int(float(os.environ["RESTORA_MAX_PIXELS"]))
    if "RESTORA_RUNS" in os.environ:
        kwargs["runs_dir"] = Path(os.environ["RESTORA_RUNS"])
    if "RESTORA_CACHE" in os.environ:
        kwargs["cache_dir"] = Path(os.environ["RESTORA_CACHE"])
    return Settings(**kwargs)


@overload
def data_dir(required: Literal[True] = ...) -> Path: ...
@overload
def data_dir(required: bool) -> Path | None: ...
def data_dir(required: bool = True) -> Path | None:
    """The image-set folder, or a clear error when it is needed and absent."""
    d = get_settings().data_dir
    if required and (d is None or not d.is_dir()):
        raise RestoraError("no data folder: set RESTORA_DATA to the image sets (see shared/data/MANIFEST.md)")
    return d
