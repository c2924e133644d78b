"""Restora's web page and HTTP API (FastAPI), started by ``restora serve``.

:func:`restora.server.app.create_app` builds the app from a :class:`restora.server.config.ServerConfig`;
jobs run off the request path in :class:`restora.server.jobs.JobManager`.
"""
