"""``GET /api/models`` (what the server can run) and ``GET /healthz``; which models may run a task."""

from __future__ import annotations

from fastapi import APIRouter, Request

from restora import __version__
from restora.engine.catalogue import available_methods, default_method
from restora.engine.detect import detector_name
from restora.engine.neural import describes_degradations
from restora.engine.repair import DEFAULT_INPAINTER
from restora.engine.inpaint import INPAINTERS
from restora.errors import ModelError, RestoraError
from restora.server.routes.common import job_manager, server_config
from restora.server.schemas import Health, ModelInfo
from restora.tasks import TASKS

router = APIRouter()


def task_models(task: str) -> tuple[set[str], str]:
    """(the registered models that can run ``task``, the one that runs when none is asked for).

    ``auto``: the all-in-one models, which detect the degradations (restora.engine.detect); the job then runs
    the model the detection chooses. ``repair``: the inpainting networks (the damage detector finds the mask
    when none is uploaded). Raises :class:`RestoraError` when no model can run the task."""
    if task == "repair":
        known = {spec.name for spec in available_methods("repair") if spec.name in INPAINTERS.values()}
        if DEFAULT_INPAINTER not in known:
            raise ModelError(f"no model is available for task 'repair' (it needs {DEFAULT_INPAINTER})")
        return known, DEFAULT_INPAINTER
    if task != "auto":
        return {spec.name for spec in available_methods(task)}, default_method(task)
    known = {spec.name for spec in available_methods() if describes_degradations(spec)}
    if not known:
        raise ModelError("no model is available for task 'auto' (it needs an all-in-one model)")
    return known, detector_name()


@router.get("/api/models", response_model=list[ModelInfo], tags=["models"], summary="Models the server can run")
def models():
    defaults: dict[str, list[str]] = {}
    detectors: set[str] = set()
    fills: set[str] = set()
    for task in TASKS:
        try:
            known, default = task_models(task)
        except RestoraError:
            continue
        defaults.setdefault(default, []).append(task)
        if task == "auto":
            detectors = known
        elif task == "repair":
            fills = known

    def tasks_of(spec) -> list[str]:
        # An all-in-one model also runs task auto (it detects what degrades the upload); of the repair networks
        # only the inpainters are chosen for task repair (the damage detector finds the mask inside it).
        tasks = [t for t in spec.tasks if t != "repair" or spec.name in fills]
        return list(dict.fromkeys([*tasks, *(["auto"] if spec.name in detectors else [])]))

    return [
        ModelInfo(
            name=s.name, tasks=tasks_of(s), description=s.description, kind=s.kind, default_for=defaults.get(s.name, [])
        )
        for s in available_methods()
    ]


@router.get("/healthz", response_model=Health, tags=["health"], summary="Liveness and queue state")
def healthz(request: Request):
    config = server_config(request)
    queued, running = job_manager(request).counts()
    return Health(
        status="ok",
        version=__version__,
        workers=config.workers,
        queue_size=config.queue_size,
        queued=queued,
        running=running,
        max_upload_bytes=config.max_upload_bytes,
        max_pixels=config.max_pixels,
    )
