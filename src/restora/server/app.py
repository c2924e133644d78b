"""The FastAPI app: HTTP API under ``/api``, health check, and the web page (static files).

Errors are JSON ``{"detail": "<one line>"}``: 404 unknown or expired job, 409 job not done yet,
413 upload over the size limit, 422 bad form, unreadable image or over the pixel limit,
503 queue full (with Retry-After).
"""

from __future__ import annotations

import functools
import shutil
import uuid
import zipfile
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.background import BackgroundTask

from restora import __version__
from restora.errors import ModelError, RestoraError
from restora.server.config import ServerConfig
from restora.server.jobs import Job, JobManager, QueueFull, public_message
from restora.server.schemas import ErrorBody, Health, JobCreated, JobOptions, JobStatus, ModelInfo, ResultFormat
from restora.server.upload import FILE_FIELD, BadUpload, UploadTooLarge, receive_upload
from restora.engine.catalogue import available_methods, default_method
from restora.engine.detect import detector_name
from restora.engine.neural import describes_degradations
from restora.io import read_image
from restora.tasks import TASKS

STATIC_DIR = Path(str(files("restora.server") / "static"))
MAX_ZIP_JOBS = 1000
MEDIA_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".tif": "image/tiff", ".webp": "image/webp",
               ".heic": "image/heic", ".bmp": "image/bmp"}
# The page loads nothing from elsewhere (no CDN): the policy makes the browser enforce it.
PAGE_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _error(status: int, description: str) -> dict:
    return {status: {"model": ErrorBody, "description": description}}


def _image_response(description: str, media_types=("image/png",)) -> dict:
    return {200: {"description": description, "content": {t: {"schema": {"type": "string", "format": "binary"}}
                                                          for t in media_types}}}


UPLOAD_REQUEST_BODY = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object",
        "required": [FILE_FIELD],
        "properties": {
            FILE_FIELD: {"type": "string", "format": "binary",
                         "description": "the image: PNG, JPEG, TIFF, WebP, HEIC or camera RAW"},
            **JobOptions.model_json_schema()["properties"],
        },
    }}},
}


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = str(err["loc"][0]) if err["loc"] else "form"  # the form is flat: the field's name
    return f"{where}: {err['msg']}"


def task_models(task: str) -> tuple[set[str], str]:
    """(the registered models that can run ``task``, the one that runs when none is asked for).

    ``auto``: the all-in-one models, which detect the degradations (restora.engine.detect); the job then runs
    the model the detection chooses. Raises :class:`RestoraError` when no model can run the task."""
    if task != "auto":
        return {spec.name for spec in available_methods(task)}, default_method(task)
    known = {spec.name for spec in available_methods() if describes_degradations(spec)}
    if not known:
        raise ModelError("no model is available for task 'auto' (it needs an all-in-one model)")
    return known, detector_name()


def _load_registry() -> None:
    available_methods()


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """The whole server. Workers start with the app's lifespan and all files go when it ends."""
    config = config or ServerConfig()
    jobs = JobManager(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Import the readers and register the models now, not inside the first uploads' requests.
        await anyio.to_thread.run_sync(_load_registry)
        jobs.start()
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(jobs.close)

    # /docs (Swagger UI) and /redoc with their scripts and styles served from the fastapi-offline package, not a CDN.
    app = FastAPIOffline(
        title="Restora", version=__version__, lifespan=lifespan,
        description="Restore degraded photos. Upload an image as a job, poll it, fetch the result. See docs/api.md.",
        docs_url="/docs", redoc_url="/redoc", static_url="/static-docs",
    )
    app.state.jobs = jobs
    app.state.config = config
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"])

    @functools.cache
    def decode_slots() -> anyio.CapacityLimiter:
        """Uploads are decoded (to check them) at most ``workers`` at a time: a burst stays bounded in
        memory, and waiting requests hold no thread. Made on first use, inside the event loop."""
        return anyio.CapacityLimiter(config.workers)

    def find_job(job_id: str) -> Job:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job (unknown id, or its files have expired)")
        return job

    def finished_job(job_id: str) -> Job:
        job = find_job(job_id)
        if job.status == "failed":
            raise HTTPException(409, f"the job failed: {job.error}")
        if job.status != "done":
            raise HTTPException(409, f"the job is {job.status}; poll GET /api/jobs/{job_id} until it is done")
        return job

    def download_name(job: Job, path: Path) -> str:
        return f"{Path(job.filename).stem}-restored{path.suffix}"

    def queue_full_response(exc: QueueFull) -> JSONResponse:
        return JSONResponse({"detail": "the server is busy: the job queue is full, try again shortly"},
                            status_code=503, headers={"Retry-After": str(exc.retry_after)})

    # -- API ---------------------------------------------------------------------------------------
    @app.post(
        "/api/jobs", response_model=JobCreated, tags=["jobs"], openapi_extra={"requestBody": UPLOAD_REQUEST_BODY},
        summary="Upload an image and start restoring it",
        responses={**_error(413, "upload over the size limit"), **_error(422, "bad form or unreadable image"),
                   **_error(503, "queue full; see Retry-After")},
    )
    async def create_job(request: Request):
        if not jobs.has_room():  # before reading a possibly large body
            return queue_full_response(QueueFull(config.retry_after_seconds))
        job_id, folder = jobs.new_folder()
        try:
            try:
                upload = await receive_upload(request, folder, config.max_upload_bytes)
            except UploadTooLarge:
                limit_mb = config.max_upload_bytes / 1e6
                raise HTTPException(413, f"the upload is larger than the {limit_mb:g} MB limit") from None
            except BadUpload as exc:
                raise HTTPException(422, str(exc)) from None
            try:
                # Browsers send untouched inputs as empty strings: they mean "default".
                options = JobOptions(**{k: v for k, v in upload.fields.items() if v.strip() != ""})
            except ValidationError as exc:
                raise HTTPException(422, _one_line(exc)) from None
            try:
                known, default = task_models(options.task)
                model = options.model or default
            except RestoraError as exc:
                raise HTTPException(422, str(exc)) from None
            if model not in known:  # registered names only: a client never names a file on the server
                raise HTTPException(422, f"unknown model '{model}' for task '{options.task}' "
                                         f"(known: {', '.join(sorted(known)) or 'none'})")
            try:
                async with decode_slots():
                    image = await anyio.to_thread.run_sync(
                        lambda: read_image(upload.path, max_pixels=config.max_pixels))
            except RestoraError as exc:
                raise HTTPException(422, public_message(exc, upload.path, upload.filename)) from None
            job = Job(id=job_id, folder=folder, input_path=upload.path, filename=upload.filename,
                      options=options.model_copy(update={"model": model}), width=image.width,
                      height=image.height, format=image.format, bit_depth=image.bit_depth)
            del image
            jobs.submit(job)
        except QueueFull as exc:
            shutil.rmtree(folder, ignore_errors=True)
            return queue_full_response(exc)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return JobCreated(id=job_id)

    @app.get("/api/jobs/zip", tags=["jobs"], summary="Download several results as one zip",
             response_class=FileResponse,
             responses={**_image_response("zip of the results in their default formats", ("application/zip",)),
                        **_error(404, "unknown job"), **_error(409, "a job is not done")})
    def download_zip(ids: Annotated[str, Query(description="comma-separated job ids")]):
        wanted = [i for i in (s.strip() for s in ids.split(",")) if i]
        if not wanted or len(wanted) > MAX_ZIP_JOBS:
            raise HTTPException(422, f"give between 1 and {MAX_ZIP_JOBS} job ids")
        chosen = [finished_job(i) for i in dict.fromkeys(wanted)]
        (jobs.root / "zips").mkdir(exist_ok=True)
        path = jobs.root / "zips" / f"{uuid.uuid4().hex}.zip"
        used: set[str] = set()
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:  # images are compressed
            for job in chosen:
                name = download_name(job, job.result_path)
                stem, suffix, n = Path(name).stem, Path(name).suffix, 1
                while name.lower() in used:
                    n += 1
                    name = f"{stem} ({n}){suffix}"
                used.add(name.lower())
                archive.write(job.result_path, name)
        return FileResponse(path, media_type="application/zip", filename="restora-results.zip",
                            background=BackgroundTask(path.unlink, missing_ok=True))

    @app.get("/api/jobs/{job_id}", response_model=JobStatus, tags=["jobs"], summary="A job's status",
             responses=_error(404, "unknown job"))
    def job_status(job_id: str):
        return find_job(job_id).status_body()

    @app.get("/api/jobs/{job_id}/result", tags=["jobs"], summary="The restored image", response_class=FileResponse,
             responses={**_image_response("in the upload's format and bit depth, or the one asked for",
                                          tuple(sorted(set(MEDIA_TYPES.values())))),
                        **_error(404, "unknown job"), **_error(409, "not done")})
    def job_result(job_id: str, format: Annotated[ResultFormat | None, Query(
            description="convert to this format; default: the upload's")] = None):
        job = finished_job(job_id)
        try:
            path = job.result_path if format is None else jobs.result_as(job, format)
        except RestoraError as exc:
            raise HTTPException(422, public_message(exc, job.input_path, job.filename)) from None
        return FileResponse(path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"),
                            filename=download_name(job, path))

    def view(job_id: str, which: str) -> FileResponse:
        return FileResponse(finished_job(job_id).view_path(which), media_type="image/png")

    @app.get("/api/jobs/{job_id}/noise-map", tags=["views"], response_class=FileResponse,
             summary="Heat map of the upload's estimated noise level per pixel",
             responses={**_image_response("PNG, inferno colours from σ 0 (black) to σ 50 and above (yellow)"),
                        **_error(404, "unknown job"), **_error(409, "not done")})
    def job_noise_map(job_id: str):
        return view(job_id, "noise-map")

    @app.get("/api/jobs/{job_id}/residual", tags=["views"], response_class=FileResponse,
             summary="What the restoration removed, amplified for viewing",
             responses={**_image_response("PNG of 0.5 + 4 · (input − result): mid grey where nothing changed"),
                        **_error(404, "unknown job"), **_error(409, "not done")})
    def job_residual(job_id: str):
        return view(job_id, "residual")

    @app.get("/api/jobs/{job_id}/preview", tags=["views"], response_class=FileResponse,
             summary="8-bit PNG of the input or the result at full size, for browsers",
             responses={**_image_response("PNG"), **_error(404, "unknown job"), **_error(409, "not done")})
    def job_preview(job_id: str, which: Literal["input", "result"] = "result"):
        return view(job_id, which)

    @app.get("/api/models", response_model=list[ModelInfo], tags=["models"], summary="Models the server can run")
    def models():
        defaults: dict[str, list[str]] = {}
        detectors: set[str] = set()
        for task in TASKS:
            try:
                known, default = task_models(task)
            except RestoraError:
                continue
            defaults.setdefault(default, []).append(task)
            if task == "auto":
                detectors = known
        # An all-in-one model also runs task auto: it detects what degrades the upload.
        return [ModelInfo(name=s.name, tasks=list(dict.fromkeys([*s.tasks, *(["auto"] if s.name in detectors else [])])),
                          description=s.description, kind=s.kind, default_for=defaults.get(s.name, []))
                for s in available_methods()]

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness and queue state")
    def healthz():
        queued, running = jobs.counts()
        return Health(status="ok", version=__version__, workers=config.workers, queue_size=config.queue_size,
                      queued=queued, running=running, max_upload_bytes=config.max_upload_bytes,
                      max_pixels=config.max_pixels)

    # -- web page ----------------------------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_SECURITY_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

