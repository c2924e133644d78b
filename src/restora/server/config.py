"""Settings of one server: pool sizes, limits, and the temporary folder all its files live in."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from restora.settings import get_settings


def _default_max_pixels() -> int:
    return get_settings().max_pixels


class ServerConfig(BaseModel):
    """What ``restora serve`` is started with (its options map one to one onto these fields).

    ``work_dir``: parent folder for the server's temporary folder (default: the system temporary
    folder). Every upload, result and view is written inside a fresh ``restora-serve-*`` folder there,
    which is removed when the server stops.
    """

    model_config = ConfigDict(frozen=True)

    workers: int = Field(1, ge=1, le=64, description="jobs restored at the same time")
    queue_size: int = Field(16, ge=1, le=10_000, description="jobs waiting for a worker before uploads get 503")
    max_upload_bytes: int = Field(100_000_000, ge=1, description="request body limit (100 MB); larger gets 413")
    max_pixels: int = Field(default_factory=_default_max_pixels, ge=1, description="larger images get 422")
    keep_seconds: float = Field(3600.0, gt=0, description="finished jobs and their files are deleted after this")
    retry_after_seconds: int = Field(5, ge=1, description="Retry-After sent with 503 when the queue is full")
    cors_origins: tuple[str, ...] = Field((), description="origins allowed by CORS; empty turns CORS off")
    work_dir: Path | None = None
    device: str = "auto"
