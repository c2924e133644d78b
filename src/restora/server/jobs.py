"""Jobs run off the request path: a fixed pool of worker threads fed by a bounded queue.

Each job owns one folder inside the server's temporary folder; everything about it (upload, result,
views) is written there and the folder is removed when the job expires or the server stops.
A full queue refuses new jobs (the API answers 503 with Retry-After) instead of growing without bound.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from restora import __version__
from restora.errors import RestoraError
from restora.server.config import ServerConfig
from restora.server.schemas import JobOptions, JobStatus
from restora.engine import run_restore
from restora.explain.core import analyse_restoration, full_noise_map
from restora.explain.features import TooSmallToAnalyse
from restora.explain.reliability import predict
from restora.io import read_image, write_image
from restora.engine.inpaint import read_mask
from restora.server.views import noise_map_view, residual_rgb, save_png_view, to_uint8

log = logging.getLogger("restora.server")

# Share of the progress bar given to the restoration itself; the rest is writing the result and views.
RESTORE_PROGRESS = 0.9
# Where each format's result is written: the upload's format, or the one asked for with ?format=.
FORMAT_EXTENSIONS = {
    "PNG": ".png",
    "JPEG": ".jpg",
    "TIFF": ".tif",
    "WEBP": ".webp",
    "HEIF": ".heic",
    "BMP": ".bmp",
    "RAW": ".tif",
}
QUERY_FORMATS = {"png": "PNG", "jpeg": "JPEG", "tiff": "TIFF", "webp": "WEBP"}
VIEW_FILES = {
    "input": "preview-input.png",
    "result": "preview-result.png",
    "noise-map": "noise-map.png",
    "residual": "residual.png",
}
RESULT_PIXELS = "result.npy"  # float32 restored pixels, to write other formats at full precision


class QueueFull(Exception):
    """No room for another job now; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int):
        super().__init__("the job queue is full")
        self.retry_after = retry_after


class Stopping(Exception):
    """Raised inside a running job when the server shuts down."""


@dataclass
class Job:
    id: str
    folder: Path
    input_path: Path
    filename: str
    options: JobOptions  # validated, with ``model`` resolved to a registered name
    width: int
    height: int
    format: str | None
    bit_depth: int
    status: str = "queued"
    progress: float = 0.0
    error: str | None = None
    sigma: list[float] | None = None
    seconds: float | None = None
    reliability: dict | None = None  # restora.explain.Reliability.to_dict() of a denoising job
    detection: dict | None = None  # task auto: restora.engine.detect.Detection.as_dict()
    noise_map_scale: float | None = None  # σ at the top of the noise-map view's colours, once done
    mask_path: Path | None = None  # task repair: the uploaded mask (white = fill); None: the detector finds it
    model: str | None = None  # the model that ran, once done (task auto: the one the detection chose)
    result_path: Path | None = None
    finished_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)  # guards lazily made files

    @property
    def result_format(self) -> str:
        """The format the result keeps by default: the upload's (camera RAW becomes 16-bit TIFF)."""
        return "TIFF" if self.format == "RAW" else (self.format if self.format in FORMAT_EXTENSIONS else "PNG")

    def view_path(self, which: str) -> Path:
        return self.folder / VIEW_FILES[which]

    def status_body(self) -> JobStatus:
        return JobStatus(
            id=self.id,
            status=self.status,
            progress=round(self.progress, 4),
            error=self.error,
            filename=self.filename,
            task=self.options.task,
            model=self.model or self.options.model or "",
            strength=self.options.strength,
            sigma=self.sigma,
            seconds=self.seconds,
            width=self.width,
            height=self.height,
            format=self.format,
            bit_depth=self.bit_depth,
            reliability=self.reliability,
            detection=self.detection,
            noise_map_scale=self.noise_map_scale,
        )


def public_message(exc: BaseException, input_path: Path, filename: str) -> str:
    """The error as one line for the client: the server's own paths become the upload's name."""
    text = " ".join(str(exc).split())
    return text.replace(str(input_path), filename).replace(str(input_path.parent) + os.sep, "")


def software_note(model: str) -> str:
    return f"Restora {__version__} ({model})"


class JobManager:
    """Owns the temporary folder, the queue, the workers and the janitor that expires old jobs."""

    def __init__(self, config: ServerConfig):
        self.config = config
        parent = config.work_dir
        if parent is not None:
            Path(parent).mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="restora-serve-", dir=parent))
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[Job] = queue.Queue(maxsize=config.queue_size)
        self._running = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        for n in range(self.config.workers):
            self._threads.append(threading.Thread(target=self._work, name=f"restora-worker-{n}", daemon=True))
        self._threads.append(threading.Thread(target=self._janitor, name="restora-janitor", daemon=True))
        for t in self._threads:
            t.start()

    def close(self) -> None:
        """Stop the workers (a running job stops at its next tile) and remove every file."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        self._threads.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- jobs ------------------------------------------------------------------------------------
    def new_folder(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        folder = self.root / job_id
        folder.mkdir()
        return job_id, folder

    def has_room(self) -> bool:
        return not self._queue.full()

    def submit(self, job: Job) -> None:
        """Queue a job, or raise :class:`QueueFull` (the caller removes its folder)."""
        with self._lock:
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise QueueFull(self.config.retry_after_seconds) from None
            self._jobs[job.id] = job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def counts(self) -> tuple[int, int]:
        """(queued, running)."""
        return self._queue.qsize(), self._running

    def sweep(self, now: float | None = None) -> int:
        """Delete finished jobs older than ``keep_seconds`` with their files; returns how many."""
        now = time.time() if now is None else now
        with self._lock:
            expired = [
                j
                for j in self._jobs.values()
                if j.finished_at is not None and now - j.finished_at >= self.config.keep_seconds
            ]
            for job in expired:
                del self._jobs[job.id]
        for job in expired:
            shutil.rmtree(job.folder, ignore_errors=True)
        return len(expired)

    # -- threads ---------------------------------------------------------------------------------
    def _janitor(self) -> None:
        interval = min(60.0, max(0.5, self.config.keep_seconds / 4))
        while not self._stop.wait(interval):
            self.sweep()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                job = self._queue.get(timeout=0.1)  # wakes often enough to stop promptly
            except queue.Empty:
                continue
            with self._lock:
                self._running += 1
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running -= 1
                job.finished_at = time.time()

    def _run(self, job: Job) -> None:
        job.status = "running"
        try:
            self._restore(job)
        except Stopping:
            job.status, job.error = "failed", "the server stopped before the job finished"
        except RestoraError as exc:
            job.status, job.error = "failed", public_message(exc, job.input_path, job.filename)
        except MemoryError:
            job.status, job.error = "failed", "not enough memory for this image"
        except Exception:
            log.exception("job %s failed", job.id)
            job.status, job.error = "failed", "internal error (the server log has the details)"
        else:
            job.status, job.progress = "done", 1.0

    def _restore(self, job: Job) -> None:
        def on_tile(done: int, total: int) -> None:
            if self._stop.is_set():
                raise Stopping()
            job.progress = RESTORE_PROGRESS * done / total

        image = read_image(job.input_path, max_pixels=self.config.max_pixels)
        opts = job.options
        mask = None if job.mask_path is None else read_mask(job.mask_path, (image.height, image.width))
        result = run_restore(
            image,
            opts.task,
            opts.model,
            opts.sigma,
            opts.strength,
            device=self.config.device,
            on_tile=on_tile,
            mask=mask,
        )
        restored = result.image
        if result.sigma is not None:
            job.sigma = [round(float(s), 3) for s in np.ravel(result.sigma)]
        job.seconds = round(result.seconds, 4)
        path = job.folder / ("result" + FORMAT_EXTENSIONS[job.result_format])
        write_image(path, restored, software=software_note(result.model))
        np.save(job.folder / RESULT_PIXELS, restored.pixels)
        save_png_view(job.view_path("input"), to_uint8(image.pixels))
        save_png_view(job.view_path("result"), to_uint8(restored.pixels))
        save_png_view(job.view_path("residual"), residual_rgb(image.pixels, restored.pixels))
        job.model = result.model
        if result.detection is not None:
            found = result.detection.as_dict()
            for key in ("damaged_share", "repair_share_threshold"):  # the status gives the damage reading flat
                found[key] = found["extra"].get(key)
            job.detection = found
        analysis = None
        if result.task == "denoise":  # the reliability predictor is fitted for denoising (task auto: if detected)
            try:
                analysis = analyse_restoration(image.pixels, restored.pixels, result.sigma)
            except TooSmallToAnalyse:
                pass  # restored all the same; no reliability (JobStatus.reliability is null)
            else:
                job.reliability = predict(analysis, result.model).to_dict()
        view, job.noise_map_scale = noise_map_view(image.pixels, full_noise_map(image.pixels, analysis))
        save_png_view(job.view_path("noise-map"), view)
        job.result_path = path

    def result_as(self, job: Job, fmt: str) -> Path:
        """The result in another format (``QUERY_FORMATS`` key), written once from the full-precision pixels."""
        target = QUERY_FORMATS[fmt]
        if target == job.result_format and job.result_path is not None:
            return job.result_path
        path = job.folder / f"result-{fmt}{FORMAT_EXTENSIONS[target]}"
        with job.lock:
            if not path.exists():
                # The upload's metadata (EXIF, ICC, alpha, bit depth) with the restored pixels.
                source = read_image(job.input_path, max_pixels=self.config.max_pixels)
                restored = source.with_pixels(np.load(job.folder / RESULT_PIXELS))
                write_image(path, restored, software=software_note(job.model or job.options.model or ""))
        return path
