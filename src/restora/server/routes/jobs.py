"""The job endpoints: upload an image (and, for task ``repair``, optionally its mask) as a job, poll it, fetch
the result or several results as one zip."""

from __future__ import annotations

import shutil
import uuid
import zipfile
from pathlib import Path
from typing import Annotated

import anyio
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from restora.errors import RestoraError
from restora.io import read_image
from restora.server.jobs import Job, QueueFull, public_message
from restora.server.routes.common import (
    MEDIA_TYPES,
    decode_slots,
    download_name,
    error,
    find_job,
    finished_job,
    image_response,
    job_manager,
    queue_full_response,
    server_config,
)
from restora.server.routes.models import task_models
from restora.server.schemas import JobCreated, JobOptions, JobStatus, ResultFormat
from restora.server.upload import FILE_FIELD, MASK_FIELD, BadUpload, Upload, UploadTooLarge, receive_upload

MAX_ZIP_JOBS = 1000

UPLOAD_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": [FILE_FIELD],
                "properties": {
                    FILE_FIELD: {
                        "type": "string",
                        "format": "binary",
                        "description": "the image: PNG, JPEG, TIFF, WebP, HEIC or camera RAW",
                    },
                    MASK_FIELD: {
                        "type": "string",
                        "format": "binary",
                        "description": "task 'repair' only, optional: where to fill, white = fill, any readable "
                        "image of the photo's size (without it the damage detector finds the "
                        "damage); the same size limits as the image",
                    },
                    **JobOptions.model_json_schema()["properties"],
                },
            }
        }
    },
}

router = APIRouter(tags=["jobs"])


def _one_line(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = str(err["loc"][0]) if err["loc"] else "form"  # the form is flat: the field's name
    return f"{where}: {err['msg']}"


async def _check_mask(request: Request, upload: Upload, options: JobOptions, width: int, height: int) -> None:
    """A mask goes with task ``repair`` only, must be a readable image under the pixel limit and the photo's size."""
    if upload.mask is None:
        return
    if options.task != "repair":
        raise HTTPException(422, f"a mask is for task 'repair', not '{options.task}'")
    config = server_config(request)
    try:
        async with decode_slots(request):
            mask = await anyio.to_thread.run_sync(lambda: read_image(upload.mask.path, max_pixels=config.max_pixels))
    except RestoraError as exc:
        raise HTTPException(422, "mask: " + public_message(exc, upload.mask.path, upload.mask.filename)) from None
    if (mask.width, mask.height) != (width, height):
        raise HTTPException(
            422,
            f"the mask is {mask.width} × {mask.height} px, the photo {width} × {height}: they must be the same size",
        )


@router.post(
    "/api/jobs",
    response_model=JobCreated,
    openapi_extra={"requestBody": UPLOAD_REQUEST_BODY},
    summary="Upload an image and start restoring it",
    responses={
        **error(413, "upload over the size limit"),
        **error(422, "bad form, unreadable image or mask"),
        **error(503, "queue full; see Retry-After"),
    },
)
async def create_job(request: Request):
    jobs, config = job_manager(request), server_config(request)
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
            raise HTTPException(
                422, f"unknown model '{model}' for task '{options.task}' (known: {', '.join(sorted(known)) or 'none'})"
            )
        try:
            async with decode_slots(request):
                image = await anyio.to_thread.run_sync(lambda: read_image(upload.path, max_pixels=config.max_pixels))
        except RestoraError as exc:
            raise HTTPException(422, public_message(exc, upload.path, upload.filename)) from None
        await _check_mask(request, upload, options, image.width, image.height)
        job = Job(
            id=job_id,
            folder=folder,
            input_path=upload.path,
            filename=upload.filename,
            options=options.model_copy(update={"model": model}),
            width=image.width,
            height=image.height,
            format=image.format,
            bit_depth=image.bit_depth,
            mask_path=None if upload.mask is None else upload.mask.path,
        )
        del image
        jobs.submit(job)
    except QueueFull as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return queue_full_response(exc)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return JobCreated(id=job_id)


@router.get(
    "/api/jobs/zip",
    summary="Download several results as one zip",
    response_class=FileResponse,
    responses={
        **image_response("zip of the results in their default formats", ("application/zip",)),
        **error(404, "unknown job"),
        **error(409, "a job is not done"),
    },
)
def download_zip(request: Request, ids: Annotated[str, Query(description="comma-separated job ids")]):
    wanted = [i for i in (s.strip() for s in ids.split(",")) if i]
    if not wanted or len(wanted) > MAX_ZIP_JOBS:
        raise HTTPException(422, f"give between 1 and {MAX_ZIP_JOBS} job ids")
    chosen = [finished_job(request, i) for i in dict.fromkeys(wanted)]
    root = job_manager(request).root
    (root / "zips").mkdir(exist_ok=True)
    path = root / "zips" / f"{uuid.uuid4().hex}.zip"
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
    return FileResponse(
        path,
        media_type="application/zip",
        filename="restora-results.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get(
    "/api/jobs/{job_id}", response_model=JobStatus, summary="A job's status", responses=error(404, "unknown job")
)
def job_status(request: Request, job_id: str):
    return find_job(request, job_id).status_body()


@router.get(
    "/api/jobs/{job_id}/result",
    summary="The restored image",
    response_class=FileResponse,
    responses={
        **image_response(
            "in the upload's format and bit depth, or the one asked for", tuple(sorted(set(MEDIA_TYPES.values())))
        ),
        **error(404, "unknown job"),
        **error(409, "not done"),
    },
)
def job_result(
    request: Request,
    job_id: str,
    format: Annotated[ResultFormat | None, Query(description="convert to this format; default: the upload's")] = None,
):
    job = finished_job(request, job_id)
    try:
        path = job.result_path if format is None else job_manager(request).result_as(job, format)
    except RestoraError as exc:
        raise HTTPException(422, public_message(exc, job.input_path, job.filename)) from None
    return FileResponse(
        path, media_type=MEDIA_TYPES.get(path.suffix, "application/octet-stream"), filename=download_name(job, path)
    )
