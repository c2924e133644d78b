"""The training loop: AdamW + warm-up + cosine, gradient clipping, EMA, bf16 autocast on CUDA,
checkpoints that resume bit-exactly, validation PSNR, CSV log and curve plot, optional GDD distillation.

A run folder holds ``config.yaml``, ``checkpoint.pt`` (latest), ``log.csv`` and ``curve.png``.
Checkpoints hold only tensors and plain values and are read with ``torch.load(weights_only=True)``.

Multi-process (``rank``/``world_size`` > 1, process group set up by :mod:`restora.train.run`): the model
(and GDD's feature generator) are wrapped in DistributedDataParallel, which averages gradients over ranks;
each rank trains on its slice of the step's global batch (:class:`~restora.train.data.PatchSampler`), so
the updates equal one process's on the whole batch. Rank 0 alone writes checkpoints (the others wait at a
barrier), the log, the curve and runs validation; logged losses are averaged over ranks. The checkpoint
holds the unwrapped modules' state, so it resumes with any number of processes.

Models with multi-scale outputs (``multiscale_outputs``: MIMO-UNet, the all-in-one network) train on all
scales (:class:`~restora.losses.RestorationLoss`); models with ``describe()`` (the all-in-one network)
also train its classification, severity and contrastive terms (:class:`~restora.losses.AuxLoss`) and log
the type accuracy. With a task mixture, validation reports PSNR per task (``val_<task>`` columns; ``val_psnr``
is their mean) and the type accuracy on the validation images (``val_acc``).
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import yaml

from restora.engine.neural import build_module, load_module, resolve_device, save_model
from restora.errors import RestoraError
from restora.losses import AuxLoss, CharbonnierLoss, RestorationLoss
from restora.train.config import TrainConfig
from restora.train.data import Batch, PatchSampler, split_train_val, validation_groups

LOG_FIELDS = ["step", "loss", "charbonnier", "fft", "edge", "distill_out", "distill_feat", "lr", "val_psnr", "seconds", "steps_per_s"]
AUX_FIELDS = ["classify", "severity", "contrastive", "accuracy"]


def log_fields(cfg: TrainConfig, describes: bool) -> list[str]:
    """CSV columns of a new run: the classic ones, plus the auxiliary losses of a describing model and
    the per-task validation PSNR and accuracy of a mixture."""
    fields = list(LOG_FIELDS)
    if describes:
        fields[fields.index("lr"):fields.index("lr")] = AUX_FIELDS
    extra = [f"val_{t}" for t in cfg.data.tasks] + (["val_acc"] if describes and cfg.data.mixture else [])
    at = fields.index("val_psnr") + 1
    return fields[:at] + extra + fields[at:]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    o = cfg.optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    t = (step - o.warmup_steps) / max(1, cfg.steps - o.warmup_steps)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def psnr_8bit(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR on RGB after clipping and rounding both to 8 bits (CONVENTIONS.md)."""
    p = torch.round(pred.clamp(0, 1) * 255)
    t = torch.round(target.clamp(0, 1) * 255)
    mse = torch.mean((p - t) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


class FeatureGenerator(nn.Module):
    """GDD's generator: maps noise-perturbed student features to the teacher's feature space."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1))

    def forward(self, x):
        return self.net(x)


class Trainer:
    def __init__(self, cfg: TrainConfig, run_dir: Path, device: str = "auto", rank: int = 0, world_size: int = 1):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.rank, self.world_size = rank, world_size
        self.device = resolve_device(device)
        torch.manual_seed(cfg.seed)
        self.model = build_module(cfg.model.arch, cfg.model.args).to(self.device)
        self.ema = build_module(cfg.model.arch, cfg.model.args).to(self.device)
        self.ema.load_state_dict(self.model.state_dict())
        self.ema.requires_grad_(False).eval()
        self.loss = RestorationLoss(cfg.loss)
        self.aux_loss = AuxLoss(cfg.loss)
        self.describes = hasattr(self.model, "describe")
        self.multiscale = bool(getattr(self.model, "multiscale_outputs", False)) and cfg.loss.multiscale
        if self.describes and not cfg.data.mixture and (cfg.loss.classify or cfg.loss.severity or cfg.loss.contrastive):
            raise RestoraError("classification, severity and contrastive losses need task labels: set data.mixture")
        self.teacher = self.generator = None
        params = list(self.model.parameters())
        if cfg.distill is not None:
            from restora.models.registry import get_spec

            spec = get_spec(cfg.distill.teacher)
            if spec.path is None:
                raise RestoraError(f"teacher '{cfg.distill.teacher}' is not a network")
            self.teacher, _ = load_module(spec.path)
            self.teacher.to(self.device).requires_grad_(False).eval()
            c_s, c_t = self._bottleneck_channels(self.model), self._bottleneck_channels(self.teacher)
            self.generator = FeatureGenerator(c_s, c_t).to(self.device)
            params += list(self.generator.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
        self.step = 0
        self.compute_seconds = 0.0
        self.best_val = -float("inf")
        self.ddp_model, self.ddp_generator = self.model, self.generator
        if world_size > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # A multi-scale model trained on its full-resolution output only leaves its side heads unused.
            unused = bool(getattr(self.model, "multiscale_outputs", False)) and not self.multiscale
            self.ddp_model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids, find_unused_parameters=unused)
            if self.generator is not None:  # its gradients must be averaged over ranks too
                self.ddp_generator = nn.parallel.DistributedDataParallel(self.generator, device_ids=ids)

    @staticmethod
    def _bottleneck_channels(model: nn.Module) -> int:
        return model.config["width"] * 2 ** len(model.config["enc_blocks"])

    # --- checkpoints -------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    def state(self) -> dict:
        s = {
            "model": self.model.state_dict(), "ema": self.ema.state_dict(), "optimizer": self.optimizer.state_dict(),
            "step": self.step, "compute_seconds": self.compute_seconds, "best_val": self.best_val,
            "config": self.cfg.model_dump_json(),
        }
        if self.generator is not None:
            s["generator"] = self.generator.state_dict()
        return s

    def save_checkpoint(self) -> None:
        """Rank 0 writes (atomically); every rank returns once the file is complete."""
        if self.rank == 0:
            tmp = self.checkpoint_path.with_suffix(".pt.tmp")
            torch.save(self.state(), tmp)
            os.replace(tmp, self.checkpoint_path)
        _barrier(self.world_size)

    def load_checkpoint(self, path: Path | None = None) -> None:
        _barrier(self.world_size)  # no rank reads while rank 0 may still be writing
        s = torch.load(path or self.checkpoint_path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(s["model"])
        self.ema.load_state_dict(s["ema"])
        self.optimizer.load_state_dict(s["optimizer"])
        if self.generator is not None and "generator" in s:
            self.generator.load_state_dict(s["generator"])
        self.step, self.compute_seconds, self.best_val = int(s["step"]), float(s["compute_seconds"]), float(s["best_val"])

    # --- one step ----------------------------------------------------------------------------
    def _autocast(self):
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.cfg.optim.cpu_bf16)

    def train_step(self, batch: Batch) -> dict:
        cfg = self.cfg
        noisy, clean, sigma = batch.noisy, batch.clean, batch.sigma
        for g in self.optimizer.param_groups:
            g["lr"] = learning_rate(cfg, self.step)
        uses_sigma = getattr(self.model, "uses_sigma", False)
        with self._autocast():
            if self.teacher is None:
                kwargs = {"multiscale": True} if self.multiscale else {}
                if self.describes:
                    kwargs.update(x_small=batch.describe, return_aux=True)
                pred = self.ddp_model(noisy, sigma, **kwargs) if uses_sigma else self.ddp_model(noisy, **kwargs)
                aux = None
                if self.describes:
                    pred, aux = pred
                total, parts = self.loss(pred, clean)
                if aux is not None and batch.labels is not None:
                    aux_total, aux_parts = self.aux_loss(aux, batch.labels, batch.input_psnr)
                    total = total + aux_total
                    parts.update(aux_parts)
            else:
                pred, feat = self.ddp_model(noisy, sigma, return_bottleneck=True)
                with torch.no_grad():
                    t_pred, t_feat = self.teacher(noisy, sigma, return_bottleneck=True)
                total, parts = self.loss(pred.float(), clean)
                d = cfg.distill
                out_loss = CharbonnierLoss()(pred.float(), t_pred.float())
                noise = torch.randn_like(feat) * feat.detach().std() * d.feature_noise
                feat_loss = torch.mean((self.ddp_generator(feat + noise) - t_feat) ** 2)
                total = total + d.output_weight * out_loss + d.feature_weight * feat_loss
                parts.update(distill_out=float(out_loss.detach()), distill_feat=float(feat_loss.detach()))
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        self.optimizer.step()
        with torch.no_grad():
            ema_p, p = list(self.ema.parameters()), list(self.model.parameters())
            torch._foreach_lerp_(ema_p, p, 1.0 - cfg.optim.ema_decay)
            for eb, b in zip(self.ema.buffers(), self.model.buffers()):
                eb.copy_(b)
        self.step += 1
        parts["loss"] = float(total.detach())
        parts["lr"] = self.optimizer.param_groups[0]["lr"]
        return parts

    @torch.no_grad()
    def validate(self, val) -> float:
        """Mean PSNR of the EMA weights over validation pairs (noisy, clean, σ hint)."""
        scores = []
        uses_sigma = getattr(self.ema, "uses_sigma", False)
        for noisy, clean, sigma in val:
            noisy, sigma = noisy.to(self.device), sigma.to(self.device)
            pred = self.ema(noisy, sigma) if uses_sigma else self.ema(noisy)
            scores.append(psnr_8bit(pred.float().cpu(), clean))
        return float(np.mean(scores))

    @torch.no_grad()
    def validate_groups(self, groups) -> dict:
        """``val_psnr`` (mean over groups), per-task ``val_<task>`` for a mixture and, for a describing
        model, ``val_acc``: the fraction of validation images whose degradation type it names."""
        out = {}
        for g in groups:
            out[g.name] = self.validate(g.pairs)
        result = {"val_psnr": round(float(np.mean(list(out.values()))), 4)}
        if self.cfg.data.mixture:
            result.update({f"val_{k}": round(v, 4) for k, v in out.items()})
            if self.describes:
                from restora.models.allinone import describe_input

                hits = [int(self.ema.describe(describe_input(noisy.to(self.device)))["logits"].argmax(1).item() == g.label)
                        for g in groups for noisy, _, _ in g.pairs]
                result["val_acc"] = round(float(np.mean(hits)), 4)
        return result

    # --- the loop ----------------------------------------------------------------------------
    def fit(self, max_steps: int | None = None, progress: bool = True) -> None:
        cfg = self.cfg
        train_files, val_files = split_train_val(cfg.data)
        hint = bool(getattr(self.model, "uses_sigma", False)) or self.teacher is not None  # σ hints needed
        sampler = PatchSampler(cfg.data, train_files, cfg.seed, self.rank, self.world_size, hint=hint)
        val = validation_groups(cfg.data, val_files, cfg.seed, hint) if self.rank == 0 else []
        stop = cfg.steps if max_steps is None else min(cfg.steps, self.step + max_steps)
        self.model.train()
        log_path = self.run_dir / "log.csv"
        new_log = not log_path.exists()
        fields = log_fields(cfg, self.describes)
        if not new_log and self.rank == 0:  # keep an existing log's columns (a run started by older code)
            with open(log_path, newline="") as old:
                fields = next(csv.reader(old), None) or fields
        # Only rank 0 touches the log (another rank opening it could create it before rank 0 looks).
        with open(log_path, "a", newline="") if self.rank == 0 else open(os.devnull, "w") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            if new_log and self.rank == 0:
                writer.writeheader()
            window_start, window_steps = time.perf_counter(), 0
            while self.step < stop:
                parts = self.train_step(sampler.sample(self.step).to(self.device))
                window_steps += 1
                val_due = self.step % cfg.val_every == 0 or self.step == stop
                log_due = self.step % cfg.log_every == 0 or val_due
                if log_due:
                    parts = _mean_over_ranks(parts, self.world_size)
                    elapsed = time.perf_counter() - window_start
                    self.compute_seconds += elapsed * torch.get_num_threads() * self.world_size
                    parts.update(step=self.step, seconds=round(self.compute_seconds, 1), steps_per_s=round(window_steps / elapsed, 3))
                    if val_due and self.rank == 0:
                        parts.update(self.validate_groups(val))
                        self.best_val = max(self.best_val, parts["val_psnr"])
                    if self.rank == 0:
                        writer.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in parts.items()})
                        fh.flush()
                        if progress:
                            shown = ("step", "loss", "accuracy", "lr", "steps_per_s", "val_psnr", "val_acc")
                            print(" ".join(f"{k}={parts[k]}" for k in shown if k in parts), flush=True)
                    window_start, window_steps = time.perf_counter(), 0
                if self.step % cfg.ckpt_every == 0 or self.step == stop:
                    self.save_checkpoint()
                    if val_due and self.rank == 0:
                        plot_curve(log_path, self.run_dir / "curve.png", validation_title(cfg))
        self.save_checkpoint()


def _barrier(world_size: int) -> None:
    if world_size > 1:
        torch.distributed.barrier()


LOSS_KEYS = ("loss", "charbonnier", "fft", "edge", "distill_out", "distill_feat", *AUX_FIELDS)


def _mean_over_ranks(parts: dict, world_size: int) -> dict:
    """The step's losses averaged over ranks: the loss of the whole global batch (equal slices)."""
    keys = [k for k in LOSS_KEYS if k in parts]
    if world_size == 1 or not keys:
        return parts
    values = torch.tensor([float(parts[k]) for k in keys], dtype=torch.float64)
    if torch.distributed.get_backend() == "nccl":
        values = values.cuda()
    torch.distributed.all_reduce(values)
    return {**parts, **{k: float(v) / world_size for k, v in zip(keys, values.tolist())}}


def validation_title(cfg: TrainConfig) -> str:
    d = cfg.data
    if d.mixture:
        return f"validation PSNR per task (held-out {Path(d.train_dir).name}, the run's degradations)"
    if d.val_pipeline:
        return f"validation PSNR (held-out {Path(d.train_dir).name}, {d.val_pipeline})"
    return f"validation PSNR (held-out {Path(d.train_dir).name}, σ={d.val_sigma:g} blind)"


def plot_curve(log_path: Path, out: Path, title: str = "validation PSNR (held-out CBSD432, σ=25 blind)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(log_path)))
    if not rows:
        return
    steps = np.array([int(r["step"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    columns = [c for c in (rows[0].keys()) if c.startswith("val_") and c != "val_acc" and c != "val_psnr"] or ["val_psnr"]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot(steps, loss, lw=0.6)
    ax[0].set(xlabel="step", ylabel="training loss", yscale="log", title="loss")
    for col in columns:
        vrows = [(int(r["step"]), float(r[col])) for r in rows if r.get(col)]
        if vrows:
            v = np.array(vrows)
            ax[1].plot(v[:, 0], v[:, 1], "o-", ms=3, label=col.removeprefix("val_") if len(columns) > 1 else None)
    if len(columns) > 1:
        ax[1].legend(fontsize=7)
    ax[1].set(xlabel="step", ylabel="PSNR (dB)")
    ax[1].set_title(title, fontsize=8)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)


def prepare_run(cfg: TrainConfig, run_dir: Path, resume: bool) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "config.yaml"
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.exists() and not resume:
        raise RestoraError(f"{run_dir} already has a checkpoint: add --resume to continue it, or choose another --run-dir")
    if resume and cfg_path.exists():
        old = TrainConfig.model_validate(yaml.safe_load(cfg_path.read_text()))
        if old.model != cfg.model:
            raise RestoraError(f"{run_dir}: the config's model differs from the run's; cannot resume")
    cfg_path.write_text(yaml.safe_dump(json.loads(cfg.model_dump_json()), sort_keys=False))


def export_run(run_dir: Path, out: Path, name: str | None = None) -> dict:
    """Write the run's EMA weights and model card to ``out`` (.safetensors)."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.exists():
        raise RestoraError(f"{run_dir}: no checkpoint.pt to export")
    s = torch.load(ckpt, map_location="cpu", weights_only=True)
    cfg = TrainConfig.model_validate_json(s["config"])
    model = build_module(cfg.model.arch, cfg.model.args)
    model.load_state_dict(s["ema"])
    rows = list(csv.DictReader(open(run_dir / "log.csv"))) if (run_dir / "log.csv").exists() else []
    vals = [float(r["val_psnr"]) for r in rows if r.get("val_psnr")]
    tasks = list(cfg.card.get("tasks") or cfg.data.tasks or ["denoise"])
    d = cfg.data
    if d.mixture:
        metric = "PSNR dB per task, the run's own degradations (seeded per image); val_psnr = mean over tasks"
    elif d.val_pipeline:
        metric = f"PSNR dB, degradation pipeline '{d.val_pipeline}' (seeded per image)"
    else:
        metric = f"PSNR dB, Gaussian σ={d.val_sigma:g}, σ estimated (blind)"
    validation = {"set": f"last {d.val_count} of {d.train_dir}, {d.val_crop}² centre crops", "metric": metric,
                  "last": vals[-1] if vals else None, "best": max(vals) if vals else None}
    last_val = next((r for r in reversed(rows) if r.get("val_psnr")), None)
    if last_val is not None:
        per_task = {k.removeprefix("val_"): float(v) for k, v in last_val.items()
                    if k.startswith("val_") and k not in ("val_psnr", "val_acc") and v}
        if per_task:
            validation["per_task"] = per_task
        if last_val.get("val_acc"):
            validation["type_accuracy"] = float(last_val["val_acc"])
    card = {
        "name": name or Path(out).stem,
        "task": tasks[0],
        "tasks": tasks,
        "summary": cfg.card.get("summary", f"{cfg.model.arch} trained by Restora ({cfg.name})"),
        "training_data": cfg.card.get("training_data", f"{cfg.data.train_dir} (see shared/data/MANIFEST.md)"),
        "data_terms": cfg.card.get("data_terms", "BSDS500: research and education"),
        "degradations": ([m.model_dump() for m in d.mixture] if d.mixture else d.pipeline),
        "run": cfg.name,
        "steps": int(s["step"]),
        "cpu_hours": round(float(s["compute_seconds"]) / 3600, 2),
        "validation": validation,
        "weights": "EMA",
        "config": json.loads(cfg.model_dump_json()),
    }
    for k, v in cfg.card.items():
        card.setdefault(k, v)
    if cfg.distill is not None:
        card["teacher"] = cfg.distill.teacher
    save_model(model, Path(out), card)
    return card
