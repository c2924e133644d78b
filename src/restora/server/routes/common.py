"""What the routers share: the app's job manager and config, finding jobs, error bodies for the OpenAPI schema."""

from __future__ import annotations

from pathlib import Path

import anyio
from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse

from restora.server.config import ServerConfig
from restora.server.jobs import Job, JobManager, QueueFull
from restora.server.schemas import ErrorBody

MEDIA_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".tif": "image/tiff",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".bmp": "image/bmp",
}


def error(status: int, description: str) -> dict:
    return {status: {"model": ErrorBody, "description": description}}


def image_response(description: str, media_types=("image/png",)) -> dict:
    return {
        200: {
            "description": description,
            "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in media_types},
        }
    }


def job_manager(request: Request) -> JobManager:
    return request.app.state.jobs


def server_config(request: Request) -> ServerConfig:
    return request.app.state.config


def decode_slots(request: Request) -> anyio.CapacityLimiter:
    """Uploads are decoded (to check them) at most ``workers`` at a time: a burst stays bounded in memory, and
    waiting requests hold no thread. One limiter per app, made on first use, inside the event loop."""
    state = request.app.state
    if getattr(state, "decode_slots", None) is None:
        state.decode_slots = anyio.CapacityLimiter(server_config(request).workers)
    return state.decode_slots


def find_job(request: Request, job_id: str) -> Job:
    job = job_manager(request).get(job_id)
    if job is None:
        raise HTTPException(404, "no such job (unknown id, or its files have expired)")
    return job


def finished_job(request: Request, job_id: str) -> Job:
    job = find_job(request, job_id)
    if job.status == "failed":
        raise HTTPException(409, f"the job failed: {job.error}")
    if job.status != "done":
        raise HTTPException(409, f"the job is {job.status}; poll GET /api/jobs/{job_id} until it is done")
    return job


def download_name(job: Job, path: Path) -> str:
    return f"{Path(job.filename).stem}-restored{path.suffix}"


def queue_full_response(exc: QueueFull) -> JSONResponse:
    return JSONResponse(
        {"detail": "the server is busy: the job queue is full, try again shortly"},
        status_code=503,
        headers={"Retry-After": str(exc.retry_after)},
    )
