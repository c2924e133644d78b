"""Typed experiment configuration: one YAML file under ``configs/`` reproduces a training run."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from restora.losses import LossWeights
from restora.degrade import PIPELINES
from restora.errors import RestoraError
from restora.losses.style import StyleLossWeights
from restora.tasks import RESTORE_TASKS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MixtureItem(_Strict):
    """One component of a task mixture: patches of ``task`` degraded by ``pipeline``, drawn with ``weight``."""

    task: Literal[RESTORE_TASKS]  # type: ignore[valid-type]  # one of the restore tasks
    pipeline: str  # name in restora.degrade.PIPELINES
    weight: float = Field(1.0, gt=0)


class TrainSet(_Strict):
    """One training collection of a multi-set run: its folder, its share of the patches and its held-out slice."""

    dir: str  # relative to RESTORA_DATA, or absolute
    weight: float = Field(1.0, gt=0)  # share of the patches drawn from this set (normalised over the sets)
    val_count: int = Field(16, ge=1)  # held out: the last `val_count` files in sorted order, never sampled

    @property
    def name(self) -> str:
        """The set's folder name: its validation column is ``val_<name>``."""
        return Path(self.dir).name


class AugmentConfig(_Strict):
    """Augmentations that widen the training domain (each off at 0; see :mod:`restora.train.augment`).

    Clean-side, before degrading: anti-aliased down-scaling (finer, denser textures, as in sharp camera photos),
    saturation/contrast/hue jitter and channel order. Noisy-side, after degrading: clipping at 0 and full scale
    (as a sensor clips near black and white) and 8- or 16-bit quantisation (as a stored file is)."""

    downscale_prob: float = Field(0.0, ge=0, le=1)
    downscale_max: float = Field(2.0, ge=1)  # factor drawn log-uniformly in [1, max] (capped by the image size)
    colour_prob: float = Field(0.0, ge=0, le=1)
    saturation: tuple[float, float] = (0.6, 1.4)
    contrast: tuple[float, float] = (0.75, 1.25)
    hue_degrees: float = Field(20.0, ge=0, le=180)
    channel_shuffle_prob: float = Field(0.0, ge=0, le=1)
    clip_prob: float = Field(0.0, ge=0, le=1)
    quantize8_prob: float = Field(0.0, ge=0, le=1)
    quantize16_prob: float = Field(0.0, ge=0, le=1)

    @property
    def active(self) -> bool:
        return any(getattr(self, f) > 0 for f in type(self).model_fields if f.endswith("_prob"))


class DataConfig(_Strict):
    train_dir: str = "train/CBSD432"  # relative to RESTORA_DATA, or absolute
    val_count: int = 16  # held out: the last `val_count` files of train_dir in sorted order
    # Several collections sampled by weight (replaces train_dir/val_count): each holds out its own slice, and
    # validation scores each slice as its own column (val_<set name>); val_psnr is their mean.
    sets: list[TrainSet] | None = None
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    # Real noisy/clean pairs for validation (a folder with noisy/ and clean/, matched by file name; e.g. real/CC52):
    # centre crops of val_crop, σ hint from the estimator (blind), logged as val_psnr_real.
    val_real: str | None = None
    # Centre crop of each validation image; 0: whole photos, as the engine restores them (models with whole-image
    # context, e.g. the all-in-one's low light, can fail on large flat regions that 256² crops do not show).
    val_crop: int = Field(default=256, ge=0)
    val_sigma: float = 25.0  # validation: Gaussian noise of this σ, model told σ by the estimator (blind)
    exclude_list: str | None = None  # file of names to leave out (e.g. Rain100H's TRAIN_EXCLUDE.txt)
    patch: int = 128
    batch: int = 8
    pipeline: str = "denoise-mix"  # name in restora.degrade.PIPELINES
    sigma_jitter: float = 0.1  # log-normal jitter of the σ hint, so the model tolerates estimator error
    # Typed task mixture (replaces `pipeline`): each patch draws its component from the (seed, step) stream
    # and carries its task label; validation reports PSNR per task.
    mixture: list[MixtureItem] | None = None
    # Validation degradation for a single-pipeline run: this pipeline, seeded per validation image
    # (None: Gaussian noise of val_sigma, the denoisers' validation).
    val_pipeline: str | None = None
    # Models with describe(): its input is the training patch shrunk by a factor drawn log-uniformly from
    # this range once per step (whole images reach describe() shrunk to a long side of 256 px).
    describe_shrink: tuple[float, float] | None = None
    gray_prob: float = Field(default=0.0, ge=0, le=1)  # share of patches made greyscale before degrading (e.g. Levin)
    # Extra validation sets, e.g. [camera] for realistic noise: each a pipeline of restora.degrade applied to the
    # same held-out crops, fixed for the run (seeded by seed, pipeline name and image), logged as its own
    # column val_psnr_<name> and never mixed into val_psnr (see TrainConfig.select).
    val_extra: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self):
        if self.mixture is not None and not self.mixture:
            raise ValueError("mixture needs at least one component")
        if len(set(self.val_extra)) != len(self.val_extra):
            raise ValueError("val_extra names a pipeline twice")
        if self.val_extra:
            unknown = [n for n in self.val_extra if n not in PIPELINES]
            if unknown:
                raise ValueError(f"val_extra: unknown pipeline {unknown[0]!r} (known: {', '.join(sorted(PIPELINES))})")
        if self.sets is not None:
            names = [t.name for t in self.sets]
            if not names:
                raise ValueError("sets needs at least one training set")
            if len(set(names)) != len(names):
                raise ValueError("sets names a folder twice")
            if self.mixture:
                raise ValueError("sets and mixture cannot be combined yet: validation columns would collide")
        if self.describe_shrink is not None and not 1.0 <= self.describe_shrink[0] <= self.describe_shrink[1]:
            raise ValueError("describe_shrink must be (lo, hi) with 1 <= lo <= hi")
        return self

    @property
    def tasks(self) -> list[str]:
        """The mixture's tasks in order of first appearance (empty without a mixture)."""
        return list(dict.fromkeys(m.task for m in self.mixture)) if self.mixture else []

    @property
    def per_group(self) -> bool:
        """Validation logs a column per group: per task of a mixture, or per set of ``sets``."""
        return bool(self.mixture or self.sets)

    @property
    def set_names(self) -> list[str]:
        """The training sets' names in config order (empty for a single train_dir)."""
        return [t.name for t in self.sets] if self.sets else []

    @property
    def extra_names(self) -> list[str]:
        """The extra validation figures' names: each ``val_extra`` pipeline, then ``real`` with ``val_real``."""
        return [*self.val_extra, *(["real"] if self.val_real else [])]


class ModelConfig(_Strict):
    arch: str = "nafnet"
    args: dict = Field(default_factory=dict)  # the architecture's constructor arguments


class OptimConfig(_Strict):
    lr: float = 1e-3
    min_lr: float = 1e-6
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.9)
    warmup_steps: int = 500
    grad_clip: float = 0.5
    ema_decay: float = 0.999
    cpu_bf16: bool = False  # bfloat16 autocast on the CPU too (≈1.7× faster convs on AVX-512 BF16 CPUs)


class DistillConfig(_Strict):
    """GDD-style distillation: match the teacher's output and, through a small generator fed with the
    student's noise-perturbed bottleneck features, the teacher's bottleneck features."""

    teacher: str  # model name or .safetensors path
    output_weight: float = 1.0
    feature_weight: float = 0.1
    feature_noise: float = 0.1  # std of Gaussian noise injected into student features (relative to their std)


class StyleConfig(_Strict):
    """A style-transfer run (fast neural style): the network learns to paint ``data.train_dir``'s photos in
    the style of one image, with the perceptual losses of :mod:`restora.losses.style`. Training crops come
    from ``data`` (``patch``, ``batch``; no degradation); validation is the same loss on the held-out
    photos' centre crops (``data.val_count``, ``data.val_crop``)."""

    image: str = "style/mosaic.jpg"  # relative to RESTORA_DATA, or absolute
    side: int = Field(256, ge=32)  # the style image is resized to this long side for its Gram matrices
    loss: StyleLossWeights = Field(default_factory=StyleLossWeights)


class RepairConfig(_Strict):
    """An old-photo repair run (:mod:`restora.train.repair`): ``role`` detect (damage mask), inpaint (one-pass
    fill) or resshift (residual-shifting fill); crops of ``data`` aged and damaged by ``holes`` (mixed, thin or
    large damage of :mod:`restora.degrade.damage`, or balanced: thin or large per crop); the fill mask grown by up to
    ``grow`` px. ``hole_weight`` pixel: the fill loss is the mean over the batch's masked pixels (large holes
    dominate it); crop: the mean of each crop's own mean, so a thin scratch counts as much as a blotch."""

    role: Literal["detect", "inpaint", "resshift"]
    holes: Literal["mixed", "thin", "large", "balanced"] = "mixed"
    grow: int = Field(2, ge=0)
    hole_weight: Literal["pixel", "crop"] = "pixel"
    positive_weight: float = Field(3.0, gt=0)  # detector: weight of damaged pixels in the cross-entropy


def selectable(data: DataConfig, style: bool = False) -> list[str]:
    """The validation figures a run can select its checkpoint by (a style run: its validation loss)."""
    if style:
        return ["val_loss"]
    return ["val_psnr", *(f"val_psnr_{n}" for n in data.extra_names), "mean"]


def selection_figure(select: str | None, figures: dict) -> float | None:
    """The figure named by ``select`` (None: ``val_psnr``) from one validation's figures (``val_psnr`` and
    ``val_psnr_<name>`` columns); ``mean``: the mean of those. None where the figures are missing."""
    if select == "mean":
        values = [v for k, v in figures.items() if (k == "val_psnr" or k.startswith("val_psnr_")) and v is not None]
        return sum(values) / len(values) if values else None
    return figures.get(select or "val_psnr")


class DenoiseRepConfig(_Strict):
    """Denoising layers inside the classifier (:mod:`restora.train.denoiserep`), trained label-free: crops of
    ``data``'s training photos made classify-like (short side ``size`` × U(1, 1.3), a random ``size``² crop, JPEG
    ``jpeg``) are the clean view; the noisy view adds Gaussian noise of σ drawn from ``sigma`` (0–255), except a
    ``clean_share`` of crops that stay clean. The frozen classifier's features of the clean view after every block
    are the target of the adapted classifier's on the noisy view (mean squared error, each block's scaled by its
    clean features' variance, times ``feature_weight``), plus ``kl_weight`` × the KL divergence of its logits.
    Validation: the held-out photos at σ ``val_sigmas`` (and clean): agreement of the top-1 ImageNet class with
    the frozen classifier's on the clean photo."""

    size: int = Field(224, ge=32)
    jpeg: int = Field(75, ge=1, le=100)
    sigma: tuple[float, float] = (10.0, 55.0)
    clean_share: float = Field(0.2, ge=0, le=1)
    feature_weight: float = Field(1.0, ge=0)
    kl_weight: float = Field(1.0, ge=0)
    val_sigmas: tuple[float, ...] = (25.0, 50.0)


class TrainConfig(_Strict):
    name: str
    seed: int = 0
    steps: int = 100_000
    threads: int = 2
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    loss: LossWeights = Field(default_factory=LossWeights)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    distill: DistillConfig | None = None
    style: StyleConfig | None = None  # set: a style-transfer run (restora.train.style), not a restoration one
    repair: RepairConfig | None = None  # set: an old-photo repair run (restora.train.repair)
    denoiserep: DenoiseRepConfig | None = None  # set: the classifier's denoising layers (restora.train.denoiserep)
    log_every: int = 50
    val_every: int = 1000
    ckpt_every: int = 500
    card: dict = Field(default_factory=dict)  # extra model-card fields (summary, tasks, data terms)
    # Warm start: weights to begin from (.safetensors path or model name; `restora train --init-from` sets it).
    # Their card is recorded in the run, and the exported card says `continues` with total steps/CPU-hours.
    init_from: str | None = None
    # The validation figure that picks the best checkpoint (best.pt) and, when set, the exported one:
    # None (default): best = highest val_psnr and `restora export` writes the last checkpoint;
    # "val_psnr", "val_psnr_<name>" (a data.val_extra pipeline), or "mean" (of val_psnr and the extra figures):
    # `restora export` writes the best checkpoint by that figure.
    select: str | None = None

    @model_validator(mode="after")
    def _check_select(self):
        if self.denoiserep:
            allowed = ["val_agreement"]
        elif self.repair:
            allowed = ["val_f1", "val_psnr_hole"]
        else:
            allowed = selectable(self.data, self.style is not None)
        if self.select is not None and self.select not in allowed:
            raise ValueError(f"select must be one of {', '.join(allowed)}, not {self.select!r}")
        return self

    @classmethod
    def from_yaml(cls, path: Path) -> TrainConfig:
        try:
            raw = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise RestoraError(f"{path}: cannot read config ({exc.__class__.__name__})") from None
        try:
            return cls.model_validate(raw)
        except Exception as exc:
            first = str(exc).splitlines()
            raise RestoraError(f"{path}: invalid config: {' '.join(first[:3])}") from None
