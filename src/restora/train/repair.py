"""Old-photo repair training (a config with ``repair:``): the damage detector, the one-pass inpainter and the
ResShift inpainter of :mod:`restora.models.repairnet`, on clean training photos with synthetic damage.

It is the restoration :class:`~restora.train.trainer.Trainer` (optimiser, schedule, EMA, checkpoints, CSV log,
curve, export) with its own batches, loss and validation:

- batches (:class:`DamageSampler`, a pure function of ``(seed, step)``): random crops, made grey or sepia like
  old prints and given film grain, then damaged by :class:`restora.degrade.damage.RandomDamage` (or, for
  ``holes: large``, by large blotches and torn corners), with the true mask;
- ``detect``: binary cross-entropy plus soft Dice on the mask; validation ``val_f1`` (pixel F1 at threshold 0.5);
- ``inpaint``: L1 on the filled pixels against the clean crop; ``resshift``: the same on the network's
  :math:`x_0` prediction from a draw of the chain at a random step; validation ``val_psnr_hole`` (PSNR inside the
  holes, 8-bit, of the error pooled over the group's hole pixels), the mean of the ``thin`` and ``large`` groups (ResShift sampled in its T steps, seeded).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from restora.degrade.damage import age_photo, damage_kind, dilate
from restora.errors import RestoraError
from restora.eval.metrics import hole_error, mask_f1, pooled_psnr, to_uint8
from restora.models.device import resolve_device
from restora.train.card import load_network
from restora.train.data import PatchSampler, ValGroup, _centre_crop, split_train_val
from restora.train.trainer import Trainer, learning_rate

REPAIR_LOG_FIELDS = [
    "step",
    "loss",
    "lr",
    "val_f1",
    "val_precision",
    "val_recall",
    "val_psnr_hole",
    "val_psnr_thin",
    "val_psnr_large",
    "seconds",
    "wall_seconds",
    "steps_per_s",
]


class DamageSampler(PatchSampler):
    """Batches (B, 7, p, p): damaged crop (3), mask used for filling (1), clean crop (3); from ``(seed, step)``.

    The fill mask is the true mask grown by 0–``grow`` pixels (drawn per crop), so the inpainter tolerates a
    detector's slightly wide masks; the detector is trained on the true mask (``grow`` 0)."""

    def __init__(self, cfg, files, seed, holes: str, grow: int):
        super().__init__(cfg, files, seed, hint=False)
        self.damage, self.grow = damage_kind(holes), grow

    def sample(self, step: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step, 0])
        out = []
        for _ in range(self.cfg.batch):
            clean = age_photo(self.patch(rng), rng)
            damaged, mask = self.damage.damage(clean, rng)
            mask = dilate(mask, int(rng.integers(self.grow + 1)))
            out.append(np.concatenate([damaged, mask[..., None].astype(np.float32), clean], 2))
        return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def validation_crops(cfg, files, seed: int, holes: str) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """(damaged, true mask, clean) (1, C, h, w) tensors of the held-out photos' centre crops, damage seeded per
    image: fixed for the run."""
    pairs = []
    kind = damage_kind(holes)
    for i, f in enumerate(files):
        rng = np.random.default_rng([seed, 7, i, len(holes)])
        clean = age_photo(_centre_crop(f, cfg.val_crop), rng)
        damaged, mask = kind.damage(clean, rng)
        t = lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()  # noqa: E731
        pairs.append((t(damaged), t(mask[..., None].astype(np.float32)), t(clean)))
    return pairs


def soft_dice(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits)
    inter = (p * target).sum((1, 2, 3))
    return (1 - (2 * inter + 1) / (p.sum((1, 2, 3)) + target.sum((1, 2, 3)) + 1)).mean()


def fill_loss(out: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor, weight: str = "pixel") -> torch.Tensor:
    """L1 of the fill inside ``mask`` (the pixels outside are the input's): ``pixel``, the mean over all the
    batch's masked pixels; ``crop``, the mean over crops of each crop's mean (crops without holes count 0)."""
    err = ((out - clean).abs() * mask).sum((1, 2, 3))
    area = 3 * mask.sum((1, 2, 3))
    if weight == "crop":
        return (err / area.clamp_min(1.0)).mean()
    return err.sum() / area.sum().clamp_min(1.0)


def fill(net, damaged: torch.Tensor, mask: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """The network's fill of ``damaged``'s masked pixels (ResShift: sampled in its T steps from ``seed``)."""
    if hasattr(net, "sample"):
        return net.sample(damaged, mask, generator=torch.Generator().manual_seed(seed))
    return net(damaged, mask)


@torch.no_grad()
def validate_detector(net, crops, device="cpu", threshold: float = 0.5) -> dict:
    """Pixel precision, recall and F1 of ``sigmoid(logits) > threshold`` against the true masks, over all crops."""
    truth, found = [], []
    for damaged, mask, _ in crops:
        found.append((torch.sigmoid(net(damaged.to(device))) > threshold).cpu().numpy().ravel())
        truth.append(mask.numpy().ravel() > 0.5)
    scores = mask_f1(np.concatenate(truth), np.concatenate(found))
    return {f"val_{k}": round(v, 4) for k, v in scores.items()}


@torch.no_grad()
def hole_psnr(net, crops, device="cpu") -> float:
    """PSNR (8-bit) of the network's fill over every true-mask pixel of the crops (:func:`pooled_psnr`)."""
    errors = []
    for i, (damaged, mask, clean) in enumerate(crops):
        out = fill(net, damaged.to(device), mask.to(device), seed=i).clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
        errors.append(
            hole_error(to_uint8(clean[0].permute(1, 2, 0).numpy(), 1.0), to_uint8(out, 1.0), mask[0, 0].numpy() > 0.5)
        )
    return pooled_psnr(errors)


class RepairTrainer(Trainer):
    def __init__(self, cfg, run_dir, device="auto", rank: int = 0, world_size: int = 1):
        if world_size > 1:
            raise RestoraError("repair runs train in one process")
        if cfg.distill is not None:
            raise RestoraError("a repair run does not distil: remove distill from the config")
        super().__init__(cfg, run_dir, device, rank, world_size)
        self.role = cfg.repair.role

    def streams(self):
        cfg, r = self.cfg, self.cfg.repair
        train_files, _ = split_train_val(cfg.data)
        grow = 0 if r.role == "detect" else r.grow
        sampler = DamageSampler(cfg.data, train_files, cfg.seed, r.holes, grow)
        return sampler, repair_groups(cfg), []

    def log_fields(self) -> list[str]:
        return list(REPAIR_LOG_FIELDS)

    def selection_value(self, figures: dict) -> float:
        return figures[selecting_figure(self.role)]

    def train_step(self, batch: torch.Tensor) -> dict:
        for g in self.optimizer.param_groups:
            g["lr"] = learning_rate(self.cfg, self.step)
        damaged, mask, clean = batch[:, :3], batch[:, 3:4], batch[:, 4:]
        with self._autocast():
            if self.role == "detect":
                logits = self.ddp_model(damaged)
                weight = torch.tensor(self.cfg.repair.positive_weight, device=logits.device)
                total = F.binary_cross_entropy_with_logits(logits, mask, pos_weight=weight) + soft_dice(logits, mask)
            elif self.role == "inpaint":
                out = self.ddp_model(damaged, mask)
                total = fill_loss(out, clean, mask, self.cfg.repair.hole_weight)
            else:
                t = torch.randint(1, self.model.steps + 1, (batch.shape[0],), device=batch.device)
                from restora.models.repairnet import coarse_fill

                y0 = coarse_fill(damaged, mask)
                x_t = self.model.diffuse(clean, y0, mask, t, torch.randn_like(clean))
                out = self.ddp_model(x_t, y0, mask, t)
                total = fill_loss(out, clean, mask, self.cfg.repair.hole_weight)
        return self.apply_update(total, {})

    @torch.no_grad()
    def validate_groups(self, groups, extra=()) -> dict:
        return repair_figures(self.ema, self.role, groups, self.device)


def selecting_figure(role: str) -> str:
    """The validation figure that chooses a repair network: the detector's ``val_f1``, a fill's ``val_psnr_hole``."""
    return "val_f1" if role == "detect" else "val_psnr_hole"


def repair_groups(cfg) -> list[ValGroup]:
    """A repair run's validation groups: mixed damage for the detector, thin and large holes for a fill."""
    _, val_files = split_train_val(cfg.data)
    kinds = ("mixed",) if cfg.repair.role == "detect" else ("thin", "large")
    return [ValGroup(h, validation_crops(cfg.data, val_files, cfg.seed, h)) for h in kinds]


@torch.no_grad()
def repair_figures(net, role: str, groups: list[ValGroup], device="cpu") -> dict:
    """The figures a repair run logs: the detector's pixel scores, or a fill's PSNR per hole kind and their mean."""
    if role == "detect":
        return validate_detector(net, groups[0].pairs, device)
    figures = {f"val_psnr_{g.name}": round(hole_psnr(net, g.pairs, device), 3) for g in groups}
    figures["val_psnr_hole"] = round(float(np.mean(list(figures.values()))), 3)
    return figures


def validate_repair_models(cfg, sources: list[str], device: str = "auto") -> list[dict]:
    """Each repair network (a registered name or a ``.safetensors`` path) on ``cfg``'s validation, as its run logs
    it; ``selected`` is ``val_f1`` (detector) or ``val_psnr_hole`` (fill). The repair counterpart of
    :func:`restora.train.validation.validate_models`."""
    device = resolve_device(device)
    groups = repair_groups(cfg)
    key = selecting_figure(cfg.repair.role)
    results = []
    for source in sources:
        net = load_network(source, "model")[0].to(device).eval()
        figures = repair_figures(net, cfg.repair.role, groups, device)
        results.append({"model": str(source), **figures, "selected": figures[key]})
    return results


def repair_validation_card(cfg, rows: list[dict]) -> dict:
    """A repair run's validation figures from the log: the selecting figure at the last and best validation."""
    d, r = cfg.data, cfg.repair
    key = selecting_figure(r.role)
    rows = [row for row in rows if row.get(key)]
    cols = [c for c in REPAIR_LOG_FIELDS if c.startswith("val_")]
    figures = lambda row: {k: float(row[k]) for k in cols if row.get(k)}  # noqa: E731
    best = max(rows, key=lambda row: float(row[key])) if rows else None
    held_out = (
        [f"last {t.val_count} of {t.dir}" for t in d.sets] if d.sets else [f"last {d.val_count} of {d.train_dir}"]
    )
    metric = (
        "pixel F1 of the found damage mask (threshold 0.5) against the true mask, synthetic mixed damage"
        if r.role == "detect"
        else "PSNR dB inside the true mask (squared error pooled over the group's hole pixels), synthetic thin (scratches, dust) and large (blotches, torn corners) "
        "damage; val_psnr_hole = their mean"
    )
    return {
        "set": f"{', '.join(held_out)}, {d.val_crop}² centre crops, aged (grey/sepia, grain) and damaged "
        "(seeded per image)",
        "metric": metric,
        "last": figures(rows[-1]) if rows else None,
        "best": {"step": int(best["step"]), **figures(best)} if best else None,
    }


THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.3, 0.96, 0.05))


@torch.no_grad()
def choose_threshold(net, cfg) -> dict:
    """The detector's probability threshold with the best pixel F1 on the run's held-out crops (validation only),
    and that F1: what the shipped card's ``threshold`` is."""
    _, val_files = split_train_val(cfg.data)
    crops = validation_crops(cfg.data, val_files, cfg.seed, "mixed")
    probs = np.concatenate([torch.sigmoid(net(d)).numpy().ravel() for d, _, _ in crops])
    truth = np.concatenate([m.numpy().ravel() > 0.5 for _, m, _ in crops])
    scores = {t: mask_f1(truth, probs > t) for t in THRESHOLDS}
    best = max(scores, key=lambda t: scores[t]["f1"])
    return {
        "threshold": best,
        "threshold_f1": round(scores[best]["f1"], 4),
        "threshold_precision": round(scores[best]["precision"], 4),
        "threshold_recall": round(scores[best]["recall"], 4),
    }
