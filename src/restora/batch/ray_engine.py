"""The Ray engine of ``restora batch`` (:mod:`restora.batch.cli`; the other engine, ``local``, runs in the process).

Both engines share :mod:`restora.batch.jobs`: planning (input expansion, mirroring, skip/overwrite, refusal to
overwrite inputs or escape the output folder), :func:`~restora.batch.jobs.run_job` (read → restore → atomic
write, never raising for a bad file) and the console reporting. The Ray engine adds:

- a Ray Data pipeline: the planned jobs (paths only) → ``map_batches`` over a fixed pool of actors, each
  loading the model once (:class:`RestoreWorker`; one GPU each where the cluster has GPUs, else ``threads``
  CPUs each) and running ``run_job`` per file → results streamed back to this process. Pixels never pass
  through Ray's object store: every worker reads its input and writes its output itself, so inputs and
  outputs must be reachable by the same paths on every node (shared file system);
- a manifest, ``restora-manifest.json`` in the output folder: every output's status (``done``, ``failed``
  with the reason, or ``skipped`` when it existed before), saved atomically every few seconds and at the end;
- resumption: outputs are written atomically, so an output that exists is complete and a re-run (without
  ``--overwrite``) does only what is missing; temporary files left by a killed run are removed first.

Exit status as ``restora denoise``: 0 all done (skips included), 1 some files failed, 2 usage error.
"""

from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import asdict
from datetime import datetime, UTC
from pathlib import Path

MANIFEST_NAME = "restora-manifest.json"
MANIFEST_SAVE_SECONDS = 2.0  # how often the manifest is rewritten while results arrive, at least
# A save rewrites the whole file (~0.6 CPU-s for 100 000 files): wait this many times its cost before the next,
# so saving never takes more than ~5% of the driver, however large the batch.
MANIFEST_SAVE_COST_FACTOR = 20
MAX_BLOCKS = 20_000  # one file per Ray Data block (balanced dispatch) up to this many files
RAY_HINT = "pip install 'restora[ray]'"


# ---------------------------------------------------------------------------------------------------
# Manifest


class Manifest:
    """Status of every output of the batches run into one folder: ``{"files": {output: record}}``.

    Keys are output paths relative to the manifest's folder. A record has ``status`` (``done``, ``failed``,
    ``skipped``), ``source`` and, for failures, ``reason``; done files also ``model``, ``megapixels`` and
    ``seconds``, and what the console reports per file where there is one: ``sigma`` (estimated, per channel,
    0–255 scale), ``reliability`` and, for ``--task auto``, ``detection`` (detected types, probabilities,
    strengths, the task and model run). Records of earlier runs are kept; a re-run updates the files it touches.
    """

    def __init__(self, path: Path, engine: str = "ray"):
        self.path = Path(path)
        self.engine = engine
        self.files: dict[str, dict] = {}
        self.missing: list[str] = []
        self.options: dict = {}
        try:
            data = json.loads(self.path.read_text())
            self.files = dict(data.get("files", {}))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError):
            self.files = {}  # unreadable: start over (the outputs themselves say what is done)
        self._saved = time.monotonic()
        self._interval = MANIFEST_SAVE_SECONDS

    def key(self, output: Path) -> str:
        try:
            return Path(output).relative_to(self.path.parent).as_posix()
        except ValueError:
            return str(output)

    def record(self, result) -> None:
        job = result.job
        entry = {"source": str(job.source)}
        if result.ok:
            record = result.to_record()  # the worker's report (JobResult.to_record), rounded for reading
            entry.update(
                status="done",
                model=record["model"],
                megapixels=round(record["megapixels"], 4),
                seconds=round(record["seconds"], 3),
            )
            if record["sigma"] is not None:
                entry["sigma"] = [round(s, 2) for s in record["sigma"]]
            entry.update({k: record[k] for k in ("reliability", "detection") if record[k] is not None})
        else:
            entry.update(status="failed", reason=result.error)
        self.files[self.key(job.output)] = entry

    def record_skipped(self, job) -> None:
        key = self.key(job.output)
        if self.files.get(key, {}).get("status") != "done":  # done by an earlier run: keep its record
            self.files[key] = {"source": str(job.source), "status": "skipped", "reason": "output existed"}

    def counts(self) -> dict[str, int]:
        counts = {"done": 0, "failed": 0, "skipped": 0}
        for entry in self.files.values():
            counts[entry["status"]] = counts.get(entry["status"], 0) + 1
        return counts

    def save(self, force: bool = True) -> None:
        """Write atomically; without ``force`` only when the last write is old enough (a few seconds, more
        for a manifest so large that writing it is costly)."""
        if not force and time.monotonic() - self._saved < self._interval:
            return
        started = time.perf_counter()
        data = {
            "version": 1,
            "engine": self.engine,
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
            "options": self.options,
            "counts": self.counts(),
            "missing_inputs": self.missing,
            "files": dict(sorted(self.files.items())),
        }
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        os.replace(tmp, self.path)
        self._saved = time.monotonic()
        self._interval = max(MANIFEST_SAVE_SECONDS, MANIFEST_SAVE_COST_FACTOR * (time.perf_counter() - started))


def remove_partial_writes(jobs) -> int:
    """Delete temporary files a killed run left beside the outputs it was writing; returns how many.

    :func:`restora.io.write_image` writes ``.<name>.<random>.tmp`` beside the target and renames it when
    complete, so such a file is never a finished output.
    """
    removed = 0
    for job in jobs:
        pattern = os.path.join(glob.escape(str(job.output.parent)), f".{glob.escape(job.output.name)}.*.tmp")
        for leftover in glob.glob(pattern):
            try:
                os.unlink(leftover)
                removed += 1
            except OSError:
                pass
    return removed


# ---------------------------------------------------------------------------------------------------
# Ray


def _import_ray():
    from restora.batch.jobs import UsageError

    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise UsageError(f"--engine ray needs Ray: {RAY_HINT}") from None
    return ray


class RestoreWorker:
    """Ray Data callable class: one per actor; loads the model once, then restores one file per call."""

    def __init__(self, options, threads: int):
        from restora.engine.restore import get_method

        limit_threads(threads)
        self.options = options
        get_method(options.model, options.device, options.runtime)  # the engine caches it for run_job

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        from restora.batch.jobs import Job, run_job

        out = {"index": [], "record": []}
        for index, source, output, name, bit_depth in zip(
            batch["index"], batch["source"], batch["output"], batch["name"], batch["bit_depth"]
        ):
            job = Job(Path(str(source)), Path(str(output)), str(name), int(bit_depth) or None)
            out["index"].append(int(index))
            # The whole result as JobResult.to_record (detection, reliability, σ ...): the driver rebuilds it.
            out["record"].append(json.dumps(run_job(job, self.options).to_record()))
        return {k: np.asarray(v) for k, v in out.items()}


def limit_threads(threads: int) -> None:
    """The thread pools a restore uses, sized alike in a Ray worker and in the local engine (--threads):
    PyTorch's (ONNX Runtime sessions take the same count) and OpenCV's."""
    import cv2
    import torch

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)


def _plan_workers(ray, options, workers: int | None, threads: int | None) -> tuple[int, int, int]:
    """(workers, CPUs per worker, GPUs per worker) for the cluster Ray is connected to."""
    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
    if gpus and options.device != "cpu" and options.runtime != "onnx":
        # One model replica per GPU; the node's CPUs decode and encode for it.
        return workers or gpus, threads or max(1, cpus // gpus), 1
    threads = threads or (max(1, cpus // workers) if workers else 1)
    return workers or max(1, cpus // threads), threads, 0


def run_ray(
    plan, options, reporter, address: str | None = None, workers: int | None = None, threads: int | None = None
):
    """Run a plan's jobs on Ray (a local instance without ``address``); returns the BatchSummary."""
    from restora.batch.jobs import JobResult
    from restora.errors import RestoraError

    ray = _import_ray()
    manifest_dir = plan.output_root or (plan.jobs or plan.skipped)[0].output.parent
    manifest = Manifest(manifest_dir / MANIFEST_NAME)
    manifest.options = asdict(options)
    manifest.missing = list(plan.missing)
    for job in plan.skipped:
        manifest.record_skipped(job)
    remove_partial_writes(plan.jobs)

    started_here = not ray.is_initialized()
    if started_here:
        # A local instance gets at least the CPUs the asked-for workers need (else the pool would wait forever).
        needed = (workers or 0) * (threads or 1)
        _init_ray(ray, address, num_cpus=needed if needed > len(os.sched_getaffinity(0)) else None)
    try:
        n_workers, cpus_each, gpus_each = _plan_workers(ray, options, workers, threads)
        reporter.start(plan)
        reporter.status(f"starting {n_workers} Ray workers")
        if plan.jobs:
            dataset = _dataset(ray, plan.jobs, options, n_workers, cpus_each, gpus_each)
            done_mp, first = 0.0, time.perf_counter()
            try:
                for row in dataset.iter_rows():
                    result = JobResult.from_record(plan.jobs[int(row["index"])], json.loads(str(row["record"])))
                    reporter.job_finished(result)
                    manifest.record(result)
                    manifest.save(force=False)
                    done_mp += result.megapixels
                    reporter.status(f"{n_workers} workers, {done_mp / (time.perf_counter() - first):.2f} MP/s")
            except ray.exceptions.RayError as exc:
                reporter.finish()
                raise RestoraError(
                    f"Ray failed: {_one_line(exc)} (outputs written so far are kept; run again to do the rest)"
                ) from None
        summary = reporter.finish()
        speed = summary.megapixels / summary.seconds if summary.seconds > 0 else 0.0
        unit = f"{gpus_each} GPU" if gpus_each else f"{cpus_each} thread{'s' if cpus_each > 1 else ''}"
        reporter.out.print(
            f"Ray: {n_workers} worker{'s' if n_workers > 1 else ''} × {unit}, {speed:.2f} MP/s overall; "
            f"manifest {manifest.path}",
            markup=False,
        )
        return summary
    finally:
        manifest.save()
        if started_here:
            ray.shutdown()


def _one_line(exc: BaseException) -> str:
    """The last non-empty line of an exception's message (Ray puts the cause there), shortened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:300] if lines else exc.__class__.__name__


def _init_ray(ray, address: str | None, num_cpus: int | None = None) -> None:
    import logging

    from restora.batch.jobs import UsageError

    kwargs = dict(include_dashboard=False, logging_level=logging.WARNING, configure_logging=True, log_to_driver=False)
    if address not in (None, "auto", "local"):
        _check_reachable(address)
    if address is None:
        # A local instance: only paths and small results travel through its object store.
        kwargs.update(object_store_memory=256 * 2**20, num_cpus=num_cpus)
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:  # Ray raises bare Exception too (e.g. a local node that timed out starting)
        ray.shutdown()  # whatever half-started
        where = f"join the Ray cluster at '{address}'" if address else "start Ray on this machine"
        raise UsageError(f"cannot {where}: {_one_line(exc)}") from None
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # restora's own progress and per-file lines instead
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def _check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast on an address nothing answers at (Ray itself retries for minutes)."""
    import socket

    from restora.batch.jobs import UsageError

    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host or address, int(port or 6379)), timeout=timeout):
            pass
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or "no answer"
        raise UsageError(f"cannot reach the Ray cluster at '{address}': {reason}") from None


def _dataset(ray, jobs, options, workers: int, cpus_each: int, gpus_each: int):
    rows = [
        {"index": i, "source": str(j.source), "output": str(j.output), "name": j.name, "bit_depth": j.bit_depth or 0}
        for i, j in enumerate(jobs)
    ]
    dataset = ray.data.from_items(rows, override_num_blocks=min(len(rows), MAX_BLOCKS))
    # Ray sets OMP_NUM_THREADS to an actor's CPUs; RestoreWorker sizes torch's and OpenCV's pools too.
    return dataset.map_batches(
        RestoreWorker,
        fn_constructor_kwargs={"options": options, "threads": cpus_each},
        batch_size=1,  # one file per call: results stream back as each file is written
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=cpus_each,
        num_gpus=gpus_each,
    )
