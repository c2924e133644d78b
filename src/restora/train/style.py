"""Style-transfer training (a config with ``style:``): the network learns to restyle photos, with the
perceptual loss of :mod:`restora.losses.style` against one style image.

It is the restoration :class:`~restora.train.trainer.Trainer` (optimiser, schedule, EMA, checkpoints that
resume bit-exactly, CSV log, curve, export) with three things of its own: batches are plain random crops of
the training photos (:class:`ContentSampler`, a pure function of ``(seed, step)``), the step's loss is the
perceptual one, and validation is that loss on the held-out photos' centre crops (``val_loss``, with its
``val_content`` and ``val_style`` terms); the best checkpoint is the one with the lowest ``val_loss``.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image as PILImage

from restora.errors import RestoraError
from restora.losses.style import PerceptualStyleLoss
from restora.models.device import resolve_device
from restora.train.card import load_network
from restora.train.data import PatchSampler, ValGroup, _centre_crop, load_rgb, resolve_path, split_train_val
from restora.train.trainer import Trainer, learning_rate

STYLE_LOG_FIELDS = [
    "step",
    "loss",
    "content",
    "style",
    "tv",
    "lr",
    "val_loss",
    "val_content",
    "val_style",
    "seconds",
    "wall_seconds",
    "steps_per_s",
]


class ContentSampler(PatchSampler):
    """Batches of random crops (random quarter turn and flip) of the training photos, drawn from ``(seed, step)``."""

    def sample(self, step: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step, 0])
        per_rank = self.cfg.batch // self.world_size
        crops = [self.patch(rng) for _ in range(self.cfg.batch)][self.rank * per_rank : (self.rank + 1) * per_rank]
        return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).contiguous()


def load_style_image(path: str, side: int) -> torch.Tensor:
    """The style image (relative to RESTORA_DATA, or absolute) as (1, 3, h, w) in [0, 1], long side ``side``."""
    p = resolve_path(path)
    if not p.is_file():
        raise RestoraError(f"style image not found: {p}")
    im = load_rgb(p)
    h, w = im.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    im = np.asarray(PILImage.fromarray(im).resize(size, PILImage.Resampling.LANCZOS), np.float32) / 255.0
    return torch.from_numpy(im).permute(2, 0, 1)[None].contiguous()


def style_loss_of(cfg, device) -> PerceptualStyleLoss:
    """The config's perceptual loss against its style image."""
    style = load_style_image(cfg.style.image, cfg.style.side).to(device)
    return PerceptualStyleLoss(style, cfg.style.loss).to(device)


def validation_crops(cfg, val_files) -> list[torch.Tensor]:
    """The held-out photos' centre crops, (1, 3, h, w) each: what a style run validates on."""
    return [torch.from_numpy(_centre_crop(f, cfg.data.val_crop)).permute(2, 0, 1)[None] for f in val_files]


class StyleTrainer(Trainer):
    def __init__(self, cfg, run_dir, device="auto", rank: int = 0, world_size: int = 1):
        super().__init__(cfg, run_dir, device, rank, world_size)
        if cfg.distill is not None:
            raise RestoraError("a style run does not distil: remove distill from the config")
        self.style_loss = style_loss_of(cfg, self.device)

    def streams(self):
        cfg = self.cfg
        train_files, val_files = split_train_val(cfg.data)
        sampler = ContentSampler(cfg.data, train_files, cfg.seed, self.rank, self.world_size, hint=False)
        if self.rank:
            return sampler, [], []
        return sampler, [ValGroup("val", [(c, c, None) for c in validation_crops(cfg, val_files)])], []

    def log_fields(self) -> list[str]:
        return list(STYLE_LOG_FIELDS)

    def selection_value(self, figures: dict) -> float:
        return -figures["val_loss"]

    def train_step(self, content: torch.Tensor) -> dict:
        for g in self.optimizer.param_groups:
            g["lr"] = learning_rate(self.cfg, self.step)
        with self._autocast():
            total, parts = self.style_loss(self.ddp_model(content), content)
        return self.apply_update(total, parts)

    @torch.no_grad()
    def validate_groups(self, groups, extra=()) -> dict:
        """Mean weighted loss and its content and style terms of the EMA weights on the held-out crops."""
        return validate_style(self.ema, self.style_loss, [c for g in groups for c, _, _ in g.pairs], self.device)


@torch.no_grad()
def validate_style(net, loss: PerceptualStyleLoss, crops: list[torch.Tensor], device="cpu") -> dict:
    """``val_loss``, ``val_content``, ``val_style``: means over ``crops`` of ``net``'s output (clipped to [0, 1]
    as the engine writes it); ``net`` None: of the crops themselves (the input's own loss)."""
    totals, contents, styles = [], [], []
    for c in crops:
        c = c.to(device)
        out = c if net is None else net(c).clamp(0, 1)
        total, parts = loss(out, c)
        totals.append(float(total)), contents.append(parts["content"]), styles.append(parts["style"])
    return {
        "val_loss": round(float(np.mean(totals)), 5),
        "val_content": round(float(np.mean(contents)), 5),
        "val_style": round(float(np.mean(styles)), 5),
    }


def validate_style_models(cfg, sources: list[str], device: str = "auto") -> list[dict]:
    """Each style network (a registered name or a ``.safetensors`` path) on ``cfg``'s validation, as its run logs
    it: ``val_loss`` and its terms under the config's loss weights on the held-out centre crops; ``selected`` is
    ``val_loss`` (lower is better). The style counterpart of :func:`restora.train.validation.validate_models`."""
    device = resolve_device(device)
    loss = style_loss_of(cfg, device)
    crops = validation_crops(cfg, split_train_val(cfg.data)[1])
    results = []
    for source in sources:
        net = load_network(source, "model")[0].to(device).eval()
        figures = validate_style(net, loss, crops, device)
        results.append({"model": str(source), **figures, "selected": figures["val_loss"]})
    return results
