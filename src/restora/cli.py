"""The ``restora`` command line. Each area adds its commands to :data:`app` from its own module."""

from __future__ import annotations

import importlib
import sys

import typer
from typer.core import TyperGroup

from restora.errors import RestoraError

INTERRUPTED = 130  # exit status after Ctrl+C


def report_error(exc: BaseException) -> int:
    """Print an expected error as ``restora: error: <message>`` on stderr; return the exit status.

    RestoraError subclasses may set ``exit_code`` (2 for usage errors); an OSError (disk full, permission
    denied, ...) is expected too. Anything else is a bug and keeps its traceback.
    """
    if isinstance(exc, OSError) and not isinstance(exc, RestoraError):
        where = f": {exc.filename}" if exc.filename else ""
        message = f"{exc.strerror or exc}{where}"
    else:
        message = " ".join(str(exc).split()) or exc.__class__.__name__
    print(f"restora: error: {message}", file=sys.stderr)
    return int(getattr(exc, "exit_code", 1))


class RestoraGroup(TyperGroup):
    """Runs a command; user-facing errors become one line on stderr and an exit status, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (RestoraError, OSError) as exc:
            raise typer.Exit(report_error(exc)) from None
        except KeyboardInterrupt:  # Ctrl+C: 128 + SIGINT, as shells expect (click would say "Aborted!", exit 1)
            raise typer.Exit(INTERRUPTED) from None


# Plain (click) help rather than rich's panels: at 80 columns rich squeezed option text into a narrow column
# and showed flags as <bool>; click's layout keeps the options' text readable at any width.
app = typer.Typer(
    cls=RestoraGroup,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="Restora: restore degraded photographs.",
)


def _print_version(value: bool) -> None:
    if value:
        from restora import __version__

        print(f"restora {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print Restora's version and exit."
    ),
) -> None:
    """Restora: restore degraded photographs."""


# Modules that register commands on `app` when imported. Their imports of the rest of restora (torch, the
# engine, the trainer) stay inside the commands, so `restora --help` and a usage error answer at once.
COMMAND_MODULES = (
    "restora.commands",  # denoise/deblur/derain/dehaze/lowlight, models, info
    "restora.style_cli",  # stylize
    "restora.inpaint_cli",  # inpaint
    "restora.batch.cli",  # batch (--engine local|ray)
    "restora.eval.cli",  # bench
    "restora.train.cli",  # train, export
    "restora.degrade.cli",  # degrade
    "restora.server.cli",  # serve
    "restora.explain.cli",  # explain
    "restora.adapt.cli",  # adapt
    "restora.audit.cli",  # audit
)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not (exc.name and name.startswith(exc.name)):  # a real missing dependency, not an unbuilt area
                raise


def main() -> None:
    try:
        _register_commands()
        app()
    except (RestoraError, OSError) as exc:  # raised outside a command (while registering them)
        sys.exit(report_error(exc))
    except KeyboardInterrupt:
        print("restora: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
