"""``restora serve`` maps its options onto the server and binds to loopback by default."""

from __future__ import annotations

import uvicorn
from typer.testing import CliRunner

from restora.cli import _register_commands, app


def test_serve_defaults_to_loopback_and_passes_options(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda server_app, **kwargs: calls.append((server_app, kwargs)))
    _register_commands()
    result = CliRunner().invoke(
        app,
        [
            "serve",
            "--workers",
            "2",
            "--queue",
            "3",
            "--max-upload-mb",
            "5",
            "--keep-minutes",
            "2",
            "--work-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    server_app, kwargs = calls[0]
    try:
        assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8000
        config = server_app.state.config
        assert (config.workers, config.queue_size, config.max_upload_bytes, config.keep_seconds) == (
            2,
            3,
            5_000_000,
            120,
        )
        assert config.cors_origins == ()
        assert server_app.state.jobs.root.parent == tmp_path
    finally:
        server_app.state.jobs.close()


def test_serve_host_and_port(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda server_app, **kwargs: calls.append((server_app, kwargs)))
    _register_commands()
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "9123", "--work-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    server_app, kwargs = calls[0]
    server_app.state.jobs.close()
    assert (kwargs["host"], kwargs["port"]) == ("0.0.0.0", 9123)
