"""Fixtures for the server tests: an app with its own temporary folder per test."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from restora.server.app import create_app
from restora.server.config import ServerConfig


@pytest.fixture
def make_client(tmp_path):
    """Factory: a TestClient for an app with these ServerConfig fields; workers run unless lifespan=False."""
    opened = []

    def make(lifespan: bool = True, **fields) -> TestClient:
        fields.setdefault("work_dir", tmp_path / "server")
        app = create_app(ServerConfig(**fields))
        client = TestClient(app)
        if lifespan:
            client.__enter__()
        opened.append((client, lifespan))
        return client

    yield make
    for client, lifespan in opened:
        if lifespan:
            client.__exit__(None, None, None)
        else:
            client.app.state.jobs.close()


@pytest.fixture
def client(make_client):
    return make_client()
