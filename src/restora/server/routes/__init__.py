"""The server's endpoints as FastAPI routers, one module per group; :func:`restora.server.app.create_app`
includes them. Each handler reaches the app's :class:`~restora.server.jobs.JobManager` and
:class:`~restora.server.config.ServerConfig` through the request (``request.app.state``)."""

from __future__ import annotations

from fastapi import APIRouter

from restora.server.routes import jobs, models, page, views

ROUTERS: tuple[APIRouter, ...] = (jobs.router, views.router, models.router, page.router)

__all__ = ["ROUTERS"]
