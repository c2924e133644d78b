"""``restora batch``: restore many files on a chosen engine — in this process (``local``) or on Ray (``ray``).

Same options as the restore commands (:class:`restora.batch.options.RestoreArguments`); the local engine is
:func:`restora.batch.jobs.run_local`, the Ray one :func:`restora.batch.ray_engine.run_ray`.
Exit status as ``restora denoise``: 0 all done (skips included), 1 some files failed, 2 usage error.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from restora.batch.options import RestoreArguments, takes_restore_arguments
from restora.cli import app
from restora.tasks import RESTORE_TASKS

BATCH_TASKS = (*RESTORE_TASKS, "auto")  # auto: detected per photo, reported per file and in the manifest


class BatchEngine(str, Enum):
    local = "local"
    ray = "ray"


@app.command("batch")
@takes_restore_arguments
def batch_command(
    engine: Annotated[
        BatchEngine,
        typer.Option(
            help="local: in this process; ray: a Ray cluster (local instance without --address; needs the ray extra)."
        ),
    ] = BatchEngine.local,
    address: Annotated[
        str | None,
        typer.Option(
            metavar="ADDR", help="Ray cluster to join ('auto' or HOST:PORT); default: start one on this machine."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            metavar="N",
            help="Ray workers, each loading the model once (default: one per GPU, else one per CPU).",
        ),
    ] = None,
    threads: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="CPU threads per worker (local engine: of this process).")
    ] = None,
    task: Annotated[
        str,
        typer.Option(
            metavar="|".join(BATCH_TASKS), help="What to restore; auto: detect it per photo (as restora restore)."
        ),
    ] = "denoise",
    arguments: RestoreArguments = None,
) -> None:
    from restora.batch.jobs import ConsoleReporter, UsageError, resolve_model, run_local
    from restora.batch.ray_engine import _import_ray, limit_threads, run_ray

    if task not in BATCH_TASKS:
        raise UsageError(f"unknown task '{task}' (one of {', '.join(BATCH_TASKS)})")
    if engine is BatchEngine.local and (address is not None or workers is not None):
        raise UsageError("--address and --workers are for --engine ray")
    if engine is BatchEngine.ray:
        _import_ray()  # a missing extra is a usage error before any work
    if threads is not None and engine is BatchEngine.local:
        limit_threads(threads)
    # The driver of a Ray run may have no GPU: it checks the model on the CPU, the workers load it where they run.
    check_device = arguments.device.value if engine is BatchEngine.local else "cpu"
    name = resolve_model(task, arguments.model, check_device, arguments.runtime.value, arguments.self_ensemble)
    plan = arguments.plan()
    options = arguments.restore_options(task, name)
    if engine is BatchEngine.local:
        summary = run_local(plan, options, ConsoleReporter())
    else:
        summary = run_ray(plan, options, ConsoleReporter(), address=address, workers=workers, threads=threads)
    raise typer.Exit(summary.exit_code)


batch_command.__doc__ = (
    "Restore many files on a chosen engine: in this process (local) or on a Ray cluster (ray).\n\n"
    "Same options and guarantees as restora denoise: the input tree is mirrored, inputs are never written over, "
    "outputs are written atomically, existing outputs are skipped unless --overwrite (so a re-run after an "
    "interruption does only what is missing), a failed file is reported and the rest go on. The ray engine also "
    "keeps restora-manifest.json (done/failed files, with reasons) in the output folder. Exit status: 0 all done, "
    "1 some files failed, 2 usage error."
)
