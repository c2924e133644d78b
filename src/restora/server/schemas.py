"""Request options and response bodies of the HTTP API; the OpenAPI schema is generated from these."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from restora.tasks import TASKS

Task = Literal[TASKS]  # type: ignore[valid-type]
ResultFormat = Literal["png", "jpeg", "tiff", "webp"]
JobState = Literal["queued", "running", "done", "failed"]


class JobOptions(BaseModel):
    """The form fields sent beside the image in ``POST /api/jobs`` (all optional)."""

    model_config = ConfigDict(extra="forbid")

    task: Task = Field(
        "denoise",
        description="what to restore; 'auto': detect it (with an all-in-one model, and old-"
        "photo damage with the damage detector); 'repair': fill an old "
        "photo's damage (the uploaded mask, or the one the detector finds)",
    )
    model: str | None = Field(None, description="a name from GET /api/models; default: the task's default model")
    sigma: Literal["auto"] | Annotated[float, Field(ge=0, le=255)] = Field(
        "auto", description="noise level on the 0–255 scale, or 'auto' to estimate it"
    )
    strength: float = Field(1.0, ge=0, le=1, description="0–1: scales the noise level given to the model")

    @field_validator("sigma", mode="before")
    @classmethod
    def _auto_or_level(cls, value):
        """One clear message for every bad σ (a union would report one error per member)."""
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            level = float(value)
        except (TypeError, ValueError):
            level = float("nan")
        if not 0 <= level <= 255:
            raise ValueError("must be 'auto' or a number from 0 to 255")
        return level


class JobCreated(BaseModel):
    id: str


class Reliability(BaseModel):
    """How far to trust a denoising result (restora.explain; docs/explain.md)."""

    gain_db: float = Field(description="predicted PSNR gain of the result over the upload (dB)")
    low_db: float = Field(description="lower end of the 80% interval of the gain")
    high_db: float = Field(description="upper end of the 80% interval of the gain")
    confidence: Literal["high", "medium", "low"]
    out_of_range: bool = Field(description="the upload is unlike what the model was trained on (see flags)")
    flags: dict[str, str] = Field(description="out-of-range checks that fired, each with its one-line reason")
    calibrated_for: str = Field(description="the model the predictor was fitted for; for another, indicative only")
    model: str = Field(description="the model that restored the upload")
    reason: str = Field("", description="why the confidence is what it is (one line)")


class Detection(BaseModel):
    """What task 'auto' found in the upload and what it did about it (docs/tasks.md)."""

    detected: list[str] = Field(description="degradations judged present, as task names, most probable first")
    probabilities: dict[str, float] = Field(description="task → probability that the upload has its degradation")
    strengths: dict[str, float] = Field(
        description="task → estimated strength, 0 (none) to 1 (the strongest trained on)"
    )
    task: str = Field(
        description="the task that was run: the most probable degradation's, or 'repair' when the "
        "damaged share reached the share threshold"
    )
    model: str = Field(description="the model that restored the upload")
    detector: str = Field(description="the all-in-one model that described it")
    damaged_share: float | None = Field(
        None,
        description="share (0–1) of the pixels the damage detector found "
        "damaged on the downscaled upload; null without it",
    )
    repair_share_threshold: float | None = Field(None, description="the share at or above which the upload is repaired")


class JobStatus(BaseModel):
    """A job's state. Clients ignore fields they do not know: more may be added."""

    id: str
    status: JobState
    progress: float = Field(ge=0, le=1)
    error: str | None = Field(None, description="why the job failed (one line), when it did")
    filename: str = Field(description="the uploaded file's name, for display only")
    task: str = Field(description="the task asked for ('auto': see detection for the task run)")
    model: str = Field(description="the model that runs (or ran) the job")
    strength: float
    sigma: list[float] | None = Field(None, description="noise σ per channel (0–255 scale) used: estimated or given")
    seconds: float | None = Field(None, description="restoration time, reading and writing excluded")
    width: int
    height: int
    format: str | None = Field(None, description="the upload's image format, which the result keeps by default")
    bit_depth: int
    reliability: Reliability | None = Field(
        None,
        description="predicted quality gain and out-of-range warnings of a done denoising job; null otherwise "
        "and for uploads too small to analyse (under 16 × 16 px)",
    )
    detection: Detection | None = Field(
        None, description="task 'auto', once done: the degradations detected and the model chosen; null otherwise"
    )
    noise_map_scale: float | None = Field(
        None,
        description="once done: σ (0–255 scale) at the top of the noise-map view's colours (the photo's own "
        "scale: 1.2 × the map's 99.5th percentile, at least 2)",
    )


class ModelInfo(BaseModel):
    name: str
    tasks: list[str] = Field(description="tasks it runs; all-in-one models also 'auto' (they detect the degradations)")
    description: str
    kind: str = Field(description="'ours', 'classical' or 'baseline'")
    default_for: list[str] = Field(description="tasks this model runs when no model is asked for")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    workers: int
    queue_size: int
    queued: int
    running: int
    max_upload_bytes: int = Field(description="larger uploads are refused with 413")
    max_pixels: int = Field(description="larger images are refused with 422")


class ErrorBody(BaseModel):
    detail: str
