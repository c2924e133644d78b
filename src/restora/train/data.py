"""Training pairs: random patches of clean images, degraded on the fly, plus the σ hint.

Every batch is a pure function of ``(seed, step)``, so a resumed run sees exactly the batches an
uninterrupted one would (bit-exact resume). ``data.batch`` is the global batch of one optimizer step: with
N processes (DistributedDataParallel) rank r trains on the r-th of N equal slices of it, so N processes
together see exactly the patches one process would, and a run can resume with another N.
The σ hint given to models with a noise-level input is what :func:`restora.engine.estimate_sigma`
reads on the added noise alone: the same quantity the estimator reports on a real noisy photo at
inference (for correlated noise it sees less than the marginal σ), so training and use agree.

With a task mixture (``data.mixture``) each patch first draws its component (task, pipeline) by weight,
then is degraded by that pipeline; the batch carries the task labels (indices into
:data:`restora.tasks.RESTORE_TASKS`) and each patch's input PSNR (the severity target). Configs without a
mixture draw exactly the numbers they drew before, so their batches are unchanged.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from restora.degrade import get_pipeline
from restora.degrade.base import Clip, Quantize
from restora.engine.noise import estimate_sigma
from restora.errors import RestoraError
from restora.settings import data_dir
from restora.eval.metrics import input_psnr
from restora.train.augment import jitter_colour, log_uniform, rescaled_crop, shuffle_channels
from restora.tasks import RESTORE_TASKS
from restora.train.config import DataConfig
from restora.models.allinone import shrink

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
HINT_PATCHES = 1500  # patches per channel for the training-time σ hint (speed over precision)


def resolve_folder(path: str) -> Path:
    p = Path(path)
    if not p.is_absolute():
        p = data_dir() / p
    if not p.is_dir():
        raise RestoraError(f"training folder not found: {p}")
    return p


def list_images(folder: Path, exclude: set[str] | None = None) -> list[Path]:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
    return [f for f in files if not exclude or f.name not in exclude and f.stem not in exclude]


def load_rgb(path: Path) -> np.ndarray:
    with PILImage.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def split_train_val(cfg: DataConfig) -> tuple[list[Path], list[Path]]:
    """(training files, held-out validation files): of ``train_dir``, or of every set of ``sets`` in order,
    each holding out its last ``val_count`` files in sorted order."""
    exclude = None
    if cfg.exclude_list:
        exclude = {line.strip() for line in resolve_path(cfg.exclude_list).read_text().splitlines() if line.strip()}
    folders = [(s.dir, s.val_count) for s in cfg.sets] if cfg.sets else [(cfg.train_dir, cfg.val_count)]
    train, val = [], []
    for folder, count in folders:
        files = list_images(resolve_folder(folder), exclude)
        if len(files) <= count:
            raise RestoraError(f"{folder}: {len(files)} images, need more than val_count={count}")
        train += files[: len(files) - count]
        val += files[len(files) - count :]
    return train, val


def set_of(cfg: DataConfig, files: list[Path]) -> list[int]:
    """The index in ``cfg.sets`` of each file's set (files of a multi-set run)."""
    folders = [resolve_folder(s.dir).resolve() for s in cfg.sets]
    return [folders.index(f.parent.resolve()) for f in files]


def sampling_probabilities(cfg: DataConfig, files: list[Path]) -> np.ndarray | None:
    """Each file's chance of being drawn: its set's normalised weight shared equally by the set's files
    (None for a single ``train_dir``: files are drawn uniformly)."""
    if not cfg.sets:
        return None
    member = np.array(set_of(cfg, files))
    weights = np.array([s.weight for s in cfg.sets], float)
    present = np.unique(member)
    weights = weights / weights[present].sum()
    counts = np.bincount(member, minlength=len(cfg.sets))
    return weights[member] / counts[member]


def resolve_path(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else data_dir() / p


def noise_hint(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return estimate_sigma(noisy - clean, max_patches=HINT_PATCHES)


@dataclass
class Batch:
    """One step's training tensors (this rank's slice). ``labels``/``input_psnr`` only with a mixture,
    ``describe`` only with ``data.describe_shrink``."""

    noisy: torch.Tensor
    clean: torch.Tensor
    sigma: torch.Tensor
    labels: torch.Tensor | None = None
    input_psnr: torch.Tensor | None = None
    describe: torch.Tensor | None = None

    def to(self, device) -> Batch:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Batch(*(move(getattr(self, f)) for f in ("noisy", "clean", "sigma", "labels", "input_psnr", "describe")))


class PatchSampler:
    """Batches of (noisy, clean, σ hint) tensors, drawn deterministically from ``(seed, step)``.

    Rank ``rank`` of ``world_size`` gets its slice of the step's global batch of ``cfg.batch`` patches. Every
    rank draws the whole global batch's random numbers in one stream (a patch's degradation consumes a
    variable number of them, so there is no skipping ahead) but computes the σ hint only for its own patches.
    ``hint=False`` (models without a noise-level input) skips the σ hint and returns zeros.
    """

    def __init__(
        self, cfg: DataConfig, files: list[Path], seed: int, rank: int = 0, world_size: int = 1, hint: bool = True
    ):
        if cfg.batch % world_size:
            raise RestoraError(f"batch {cfg.batch} does not split evenly over {world_size} processes")
        self.cfg, self.seed, self.rank, self.world_size, self.hint = cfg, seed, rank, world_size, hint
        self.images = [load_rgb(f) for f in files]
        self.probabilities = sampling_probabilities(cfg, files)
        self.quantize8, self.quantize16, self.clip = Quantize(8), Quantize(16), Clip()
        if cfg.mixture:
            self.components = [(RESTORE_TASKS.index(m.task), get_pipeline(m.pipeline)) for m in cfg.mixture]
            w = np.array([m.weight for m in cfg.mixture], float)
            self.weights = w / w.sum()
        else:
            self.pipeline = get_pipeline(cfg.pipeline)
        small = [f.name for f, im in zip(files, self.images) if min(im.shape[:2]) < cfg.patch]
        if small:
            raise RestoraError(f"images smaller than the patch size {cfg.patch}: {', '.join(small[:3])}")

    def patch(self, rng: np.random.Generator) -> np.ndarray:
        """A clean training patch: a random crop, turned and flipped, then the clean-side augmentations.
        A run without ``sets`` or augmentations draws exactly the numbers it always drew."""
        if self.probabilities is None:
            im = self.images[rng.integers(len(self.images))]
        else:
            im = self.images[rng.choice(len(self.images), p=self.probabilities)]
        p, aug = self.cfg.patch, self.cfg.augment
        if aug.downscale_prob and rng.random() < aug.downscale_prob:
            crop = rescaled_crop(im, p, log_uniform(rng, 1.0, aug.downscale_max), rng)
        else:
            y, x = rng.integers(im.shape[0] - p + 1), rng.integers(im.shape[1] - p + 1)
            crop = im[y : y + p, x : x + p]
        crop = np.rot90(crop, k=int(rng.integers(4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = np.ascontiguousarray(crop, dtype=np.float32) / 255.0
        if aug.colour_prob and rng.random() < aug.colour_prob:
            crop = jitter_colour(crop, rng, aug.saturation, aug.contrast, aug.hue_degrees)
        if aug.channel_shuffle_prob and rng.random() < aug.channel_shuffle_prob:
            crop = shuffle_channels(crop, rng)
        return crop

    def finish(self, noisy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The noise-side augmentations of a degraded patch: clipping at 0 and full scale as a sensor clips,
        then 8- or 16-bit quantisation as a stored file is (no numbers drawn when both are off)."""
        aug = self.cfg.augment
        if aug.clip_prob and rng.random() < aug.clip_prob:
            noisy = self.clip(noisy, rng)
        if aug.quantize8_prob and rng.random() < aug.quantize8_prob:
            noisy = self.quantize8(noisy, rng)
        elif aug.quantize16_prob and rng.random() < aug.quantize16_prob:
            noisy = self.quantize16(noisy, rng)
        return noisy

    def sample(self, step: int) -> Batch:
        # The trailing 0 keeps the stream of runs made before multi-process training (it was the rank).
        rng = np.random.default_rng([self.seed, step, 0])
        per_rank = self.cfg.batch // self.world_size
        mine = range(self.rank * per_rank, (self.rank + 1) * per_rank)
        noisy, clean, hint, labels, psnrs = [], [], [], [], []
        for i in range(self.cfg.batch):
            c = self.patch(rng)
            if self.cfg.gray_prob and rng.random() < self.cfg.gray_prob:  # no draw at gray_prob = 0
                c = np.repeat(c @ np.float32([0.299, 0.587, 0.114])[:, None], 3, axis=2)
            if self.cfg.mixture:
                label, pipeline = self.components[int(rng.choice(len(self.components), p=self.weights))]
            else:
                label, pipeline = None, self.pipeline
            n = self.finish(pipeline(c, rng).astype(np.float32), rng)
            jitter = np.exp(rng.normal(0.0, self.cfg.sigma_jitter))
            if i in mine:  # noise_hint draws no numbers from rng, so skipping it keeps the stream
                noisy.append(n), clean.append(c)
                hint.append(noise_hint(n, c) * jitter if self.hint else np.zeros(3))
                labels.append(label), psnrs.append(input_psnr(n, c))
        to = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        sig = torch.from_numpy(np.stack(hint).astype(np.float32) / 255.0)[:, :, None, None]
        n_t = to(noisy)
        batch = Batch(n_t, to(clean), sig.expand_as(n_t).contiguous())
        if self.cfg.mixture:
            batch.labels = torch.tensor(labels, dtype=torch.long)
            batch.input_psnr = torch.tensor(psnrs, dtype=torch.float32)
        if self.cfg.describe_shrink is not None:
            lo, hi = self.cfg.describe_shrink
            batch.describe = shrink(n_t, float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
        return batch

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(noisy, clean, σ hint) of :meth:`sample`."""
        b = self.sample(step)
        return b.noisy, b.clean, b.sigma


@dataclass
class ValGroup:
    """Fixed validation pairs of one kind: ``name`` is a task (mixture), or "val"."""

    name: str
    pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    label: int | None = None


def _centre_crop(path: Path, size: int) -> np.ndarray:
    """The image's centre ``size``² crop as float32 [0, 1]; the whole image for ``size`` 0."""
    im = load_rgb(path).astype(np.float32) / 255.0
    if size <= 0:
        return im
    h, w = im.shape[:2]
    c = min(size, h, w)
    y, x = (h - c) // 2, (w - c) // 2
    return np.ascontiguousarray(im[y : y + c, x : x + c])


def _val_pair(noisy: np.ndarray, clean: np.ndarray, hint: bool = True):
    """(noisy, clean, σ hint) tensors; the hint estimated from the noisy image as at inference (blind),
    zeros with ``hint=False`` (models without a noise-level input)."""
    c_h, c_w = clean.shape[:2]
    s = estimate_sigma(noisy) / 255.0 if hint else np.zeros(3)
    to = lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    return (
        to(noisy),
        to(clean),
        torch.from_numpy(s.astype(np.float32))[None, :, None, None].expand(1, 3, c_h, c_w).contiguous(),
    )


def validation_groups(cfg: DataConfig, files: list[Path], seed: int, hint: bool = True) -> list[ValGroup]:
    """The run's validation sets, fixed for the whole run (seeded by ``seed`` and the image's index):

    - a mixture: one group per task; each image degraded by one of the task's pipelines (drawn by weight);
    - ``val_pipeline``: one group, each image degraded by that pipeline;
    - otherwise one group with Gaussian noise of ``val_sigma`` (:func:`validation_set`).
    """
    if cfg.mixture:
        groups = []
        for t, task in enumerate(cfg.tasks):
            items = [m for m in cfg.mixture if m.task == task]
            pipes = [get_pipeline(m.pipeline) for m in items]
            w = np.array([m.weight for m in items], float)
            pairs = []
            for i, f in enumerate(files):
                rng = np.random.default_rng([seed, 10**9, t, i])
                clean = _centre_crop(f, cfg.val_crop)
                pipe = pipes[int(rng.choice(len(pipes), p=w / w.sum()))]
                pairs.append(_val_pair(np.clip(pipe(clean, rng), 0, 1).astype(np.float32), clean, hint))
            groups.append(ValGroup(task, pairs, RESTORE_TASKS.index(task)))
        return groups
    if cfg.sets:  # one group per set: its held-out slice with Gaussian noise of val_sigma
        member = set_of(cfg, files)
        return [
            ValGroup(
                t.name,
                validation_set(
                    cfg, [f for f, m in zip(files, member) if m == k], [seed, 10**9, zlib.crc32(t.name.encode())], hint
                ),
            )
            for k, t in enumerate(cfg.sets)
        ]
    if cfg.val_pipeline:
        return [ValGroup("val", _pipeline_pairs(cfg.val_pipeline, files, cfg.val_crop, [seed, 10**9], hint))]
    return [ValGroup("val", validation_set(cfg, files, [seed, 10**9], hint))]


def extra_validation_groups(cfg: DataConfig, files: list[Path], seed: int, hint: bool = True) -> list[ValGroup]:
    """One group per ``data.val_extra`` pipeline (e.g. ``camera``): the same held-out crops, each degraded by
    that pipeline, seeded by the run's seed, the pipeline's name and the image's index (fixed for the run and
    whatever the list's order)."""
    groups = [
        ValGroup(name, _pipeline_pairs(name, files, cfg.val_crop, [seed, 10**9 + 1, zlib.crc32(name.encode())], hint))
        for name in cfg.val_extra
    ]
    if cfg.val_real:
        groups.append(ValGroup("real", real_pairs(cfg.val_real, cfg.val_crop, hint)))
    return groups


def real_pairs(folder: str, crop: int, hint: bool = True):
    """Real noisy/clean validation pairs of ``folder`` (``noisy/`` and ``clean/`` matched by file name), centre
    crops of ``crop`` (0: whole photos), σ hint estimated from the noisy crop (blind)."""
    root = resolve_folder(folder)
    noisy_files = list_images(root / "noisy")
    if not noisy_files:
        raise RestoraError(f"{folder}: no noisy/ images for real validation")
    pairs = []
    for f in noisy_files:
        clean = root / "clean" / f.name
        if not clean.is_file():
            raise RestoraError(f"{folder}: {f.name} has no clean reference")
        pairs.append(_val_pair(_centre_crop(f, crop), _centre_crop(clean, crop), hint))
    return pairs


def _pipeline_pairs(pipeline: str, files: list[Path], crop: int, key: list[int], hint: bool):
    """Centre crops degraded by ``pipeline``, image i seeded by ``[*key, i]``."""
    pipe, pairs = get_pipeline(pipeline), []
    for i, f in enumerate(files):
        clean = _centre_crop(f, crop)
        noisy = pipe(clean, np.random.default_rng([*key, i]))
        pairs.append(_val_pair(np.clip(noisy, 0, 1).astype(np.float32), clean, hint))
    return pairs


def validation_set(
    cfg: DataConfig, files: list[Path], key: list[int], hint: bool = True
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Fixed (noisy, clean, σ hint) centre crops with Gaussian noise of ``val_sigma``, drawn from the stream
    seeded by ``key``; hint estimated from the noisy image as at inference (blind)."""
    rng = np.random.default_rng(key)
    out = []
    for f in files:
        clean = _centre_crop(f, cfg.val_crop)
        noisy = clean + rng.normal(0, cfg.val_sigma / 255.0, clean.shape).astype(np.float32)
        out.append(_val_pair(noisy, clean, hint))
    return out
