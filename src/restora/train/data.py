"""Training pairs: random patches of clean images, degraded on the fly, plus the σ hint.

Every batch is a pure function of ``(seed, step)``, so a resumed run sees exactly the batches an
uninterrupted one would (bit-exact resume). ``data.batch`` is the global batch of one optimizer step: with
N processes (DistributedDataParallel) rank r trains on the r-th of N equal slices of it, so N processes
together see exactly the patches one process would, and a run can resume with another N.
The σ hint given to models with a noise-level input is what :func:`restora.engine.estimate_sigma`
reads on the added noise alone: the same quantity the estimator reports on a real noisy photo at
inference (for correlated noise it sees less than the marginal σ), so training and use agree.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image as PILImage

from restora.degrade import get_pipeline
from restora.engine.noise import estimate_sigma
from restora.errors import RestoraError
from restora.settings import data_dir
from restora.train.config import DataConfig

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
    exclude = None
    if cfg.exclude_list:
        exclude = {line.strip() for line in resolve_path(cfg.exclude_list).read_text().splitlines() if line.strip()}
    files = list_images(resolve_folder(cfg.train_dir), exclude)
    if len(files) <= cfg.val_count:
        raise RestoraError(f"{cfg.train_dir}: {len(files)} images, need more than val_count={cfg.val_count}")
    return files[: len(files) - cfg.val_count], files[len(files) - cfg.val_count :]


def resolve_path(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else data_dir() / p


def noise_hint(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    return estimate_sigma(noisy - clean, max_patches=HINT_PATCHES)


class PatchSampler:
    """Batches of (noisy, clean, σ hint) tensors, drawn deterministically from ``(seed, step)``.

    Rank ``rank`` of ``world_size`` gets its slice of the step's global batch of ``cfg.batch`` patches. Every
    rank draws the whole global batch's random numbers in one stream (a patch's degradation consumes a
    variable number of them, so there is no skipping ahead) but computes the σ hint only for its own patches.
    """

    def __init__(self, cfg: DataConfig, files: list[Path], seed: int, rank: int = 0, world_size: int = 1):
        if cfg.batch % world_size:
            raise RestoraError(f"batch {cfg.batch} does not split evenly over {world_size} processes")
        self.cfg, self.seed, self.rank, self.world_size = cfg, seed, rank, world_size
        self.images = [load_rgb(f) for f in files]
        self.pipeline = get_pipeline(cfg.pipeline)
        small = [f.name for f, im in zip(files, self.images) if min(im.shape[:2]) < cfg.patch]
        if small:
            raise RestoraError(f"images smaller than the patch size {cfg.patch}: {', '.join(small[:3])}")

    def patch(self, rng: np.random.Generator) -> np.ndarray:
        im = self.images[rng.integers(len(self.images))]
        p = self.cfg.patch
        y, x = rng.integers(im.shape[0] - p + 1), rng.integers(im.shape[1] - p + 1)
        crop = im[y : y + p, x : x + p]
        crop = np.rot90(crop, k=int(rng.integers(4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        return np.ascontiguousarray(crop, dtype=np.float32) / 255.0

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # The trailing 0 keeps the stream of runs made before multi-process training (it was the rank).
        rng = np.random.default_rng([self.seed, step, 0])
        per_rank = self.cfg.batch // self.world_size
        mine = range(self.rank * per_rank, (self.rank + 1) * per_rank)
        noisy, clean, hint = [], [], []
        for i in range(self.cfg.batch):
            c = self.patch(rng)
            n = self.pipeline(c, rng).astype(np.float32)
            jitter = np.exp(rng.normal(0.0, self.cfg.sigma_jitter))
            if i in mine:  # noise_hint draws no numbers from rng, so skipping it keeps the stream
                noisy.append(n), clean.append(c), hint.append(noise_hint(n, c) * jitter)
        to = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
        sig = torch.from_numpy(np.stack(hint).astype(np.float32) / 255.0)[:, :, None, None]
        n_t = to(noisy)
        return n_t, to(clean), sig.expand_as(n_t).contiguous()


def validation_set(cfg: DataConfig, files: list[Path], seed: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Fixed (noisy, clean, σ hint) centre crops with Gaussian noise of ``val_sigma``; hint estimated
    from the noisy image as at inference (blind)."""
    rng = np.random.default_rng([seed, 10**9])
    out = []
    for f in files:
        im = load_rgb(f).astype(np.float32) / 255.0
        h, w = im.shape[:2]
        c = min(cfg.val_crop, h, w)
        y, x = (h - c) // 2, (w - c) // 2
        clean = im[y : y + c, x : x + c]
        noisy = clean + rng.normal(0, cfg.val_sigma / 255.0, clean.shape).astype(np.float32)
        s = estimate_sigma(noisy) / 255.0
        to = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None]  # noqa: E731
        out.append((to(noisy), to(clean), torch.from_numpy(s.astype(np.float32))[None, :, None, None].expand(1, 3, c, c).contiguous()))
    return out
