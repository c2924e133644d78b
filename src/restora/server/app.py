"""The FastAPI app: HTTP API under ``/api``, health check, and the web page (static files).

The endpoints are the routers of :mod:`restora.server.routes`. Errors are JSON ``{"detail": "<one line>"}``:
404 unknown or expired job, 409 job not done yet, 413 upload over the size limit, 422 bad form, unreadable
image or mask, mask of another size, over the pixel limit, 503 queue full (with Retry-After).
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from restora import __version__
from restora.engine.catalogue import available_methods
from restora.server.config import ServerConfig
from restora.server.jobs import JobManager
from restora.server.routes import ROUTERS
from restora.server.routes.models import task_models
from restora.server.routes.page import STATIC_DIR

__all__ = ["STATIC_DIR", "create_app", "task_models"]


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
        title="Restora",
        version=__version__,
        lifespan=lifespan,
        description="Restore degraded photos. Upload an image as a job, poll it, fetch the result. See docs/api.md.",
        docs_url="/docs",
        redoc_url="/redoc",
        static_url="/static-docs",
    )
    app.state.jobs = jobs
    app.state.config = config
    app.state.decode_slots = None  # made on first use, inside the event loop (routes.common.decode_slots)
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"])
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
