"""``restora serve``: the web page and HTTP API on one port."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from restora.cli import app


@app.command()
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on; other machines can connect only if you change it.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Images restored at the same time.")] = 1,
    queue: Annotated[int, typer.Option(min=1, max=10_000, help="Jobs that may wait for a worker; more get 503.")] = 16,
    max_upload_mb: Annotated[
        float, typer.Option(min=0.001, help="Largest upload in MB (10^6 bytes); more gets 413.")
    ] = 100.0,
    keep_minutes: Annotated[
        float, typer.Option(min=0.01, help="Finished jobs and their files are deleted after this.")
    ] = 60.0,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(help="Allow this web origin to call the API (repeatable); CORS is off without it."),
    ] = None,
    work_dir: Annotated[
        Path | None, typer.Option(help="Where the server's temporary folder goes (default: the system's).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Serve the web page and the HTTP API (open http://HOST:PORT in a browser)."""
    import uvicorn

    from restora.server.app import create_app
    from restora.server.config import ServerConfig

    config = ServerConfig(
        workers=workers,
        queue_size=queue,
        max_upload_bytes=int(max_upload_mb * 1e6),
        keep_seconds=keep_minutes * 60.0,
        cors_origins=tuple(cors_origin or ()),
        work_dir=work_dir,
        device=device,
    )
    typer.echo(f"Restora: http://{host}:{port}  (Ctrl+C stops it; files live in a temporary folder until then)")
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
