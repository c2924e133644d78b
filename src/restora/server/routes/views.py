"""A done job's views for the browser: noise map, residual, 8-bit previews of the input and the result."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from restora.server.routes.common import error, finished_job, image_response

router = APIRouter(tags=["views"])
DONE_ERRORS = {**error(404, "unknown job"), **error(409, "not done")}


def view(request: Request, job_id: str, which: str) -> FileResponse:
    return FileResponse(finished_job(request, job_id).view_path(which), media_type="image/png")


@router.get(
    "/api/jobs/{job_id}/noise-map",
    response_class=FileResponse,
    summary="Heat map of the upload's estimated noise level per pixel",
    responses={
        **image_response("PNG, inferno colours from σ 0 (black) to the job's noise_map_scale (yellow)"),
        **DONE_ERRORS,
    },
)
def job_noise_map(request: Request, job_id: str):
    return view(request, job_id, "noise-map")


@router.get(
    "/api/jobs/{job_id}/residual",
    response_class=FileResponse,
    summary="What the restoration removed, amplified for viewing",
    responses={**image_response("PNG of 0.5 + 4 · (input − result): mid grey where nothing changed"), **DONE_ERRORS},
)
def job_residual(request: Request, job_id: str):
    return view(request, job_id, "residual")


@router.get(
    "/api/jobs/{job_id}/preview",
    response_class=FileResponse,
    summary="8-bit PNG of the input or the result at full size, for browsers",
    responses={**image_response("PNG"), **DONE_ERRORS},
)
def job_preview(request: Request, job_id: str, which: Literal["input", "result"] = "result"):
    return view(request, job_id, which)
