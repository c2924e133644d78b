"""The ``restora`` command line. Each area adds its commands to :data:`app` from its own module."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Restora: restore degraded photographs.")

# Modules that register commands on `app` when imported; heavy imports stay inside the commands.
COMMAND_MODULES = (
    "restora.commands",        # denoise/deblur/derain/dehaze/lowlight, models, info
    "restora.eval.cli",        # bench
    "restora.train.cli",       # train, export
    "restora.degrade.cli",     # degrade
    "restora.server.cli",      # serve
)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not an area that is not built yet
                raise


def main() -> None:
    _register_commands()
    app()
