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


@pytest.fixture
def allinone(tiny_allinone, monkeypatch):
    """Factory: register a tiny all-in-one model (restora.models.allinone) that detects ``favour`` in any
    upload; returns its name. It is the only all-in-one model during the test (shipped ones are set aside,
    so the outcome does not depend on their weights); all is restored after the test."""
    from restora.engine.neural import describes_degradations, spec_from_file
    from restora.engine import catalogue

    hidden = {s.name for s in catalogue.available_methods() if describes_degradations(s)}  # loads the registry first
    for name in hidden:
        monkeypatch.delitem(catalogue.METHODS, name)
    register_shipped = catalogue.register_shipped_models  # the registry re-registers missing shipped files on use

    def register_shipped_except_hidden(folder):
        register_shipped(folder)
        for name in hidden:
            catalogue.METHODS.pop(name, None)

    monkeypatch.setattr(catalogue, "register_shipped_models", register_shipped_except_hidden)

    def register(favour: str) -> str:
        name = f"test-allinone-{favour}"
        monkeypatch.setitem(catalogue.METHODS, name, spec_from_file(tiny_allinone(favour), name))
        return name

    return register
