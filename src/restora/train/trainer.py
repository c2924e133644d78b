"""The training loop: AdamW + warm-up + cosine, gradient clipping, EMA, bf16 autocast on CUDA,
checkpoints that resume bit-exactly, validation PSNR, CSV log and curve plot, optional GDD distillation.

A run folder holds ``config.yaml``, ``checkpoint.pt`` (latest), ``best.pt`` (the EMA weights at the best
validation figure, ``TrainConfig.select``), ``log.csv`` and ``curve.png``. Checkpoints hold only tensors and
plain values and are read with ``torch.load(weights_only=True)``.

Compute: ``seconds`` (log) / ``cpu_seconds`` (checkpoint) is the process's real CPU time (user + system, all
threads, :func:`time.process_time`) summed over ranks and resumes, so a paused (SIGSTOP) or crowded run does
not over-count; ``wall_seconds`` is the wall-clock time of the training loop. A checkpoint written before this
accounting carries the old estimate (wall-clock × threads); a resumed run starts from it and the model card
says which steps it covers. A warm start (``init_from``) and a distillation teacher are recorded with their
cards in the checkpoint, so the exported card names them (``continues``, ``teacher_model``).

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
from restora.losses import RESTORATION_TERMS, AuxLoss, CharbonnierLoss, RestorationLoss
from restora.train.config import TrainConfig, selection_figure
from restora.train.data import Batch, PatchSampler, extra_validation_groups, split_train_val, validation_groups

LOG_FIELDS = ["step", "loss", *RESTORATION_TERMS, "distill_out", "distill_feat", "lr", "val_psnr", "seconds", "wall_seconds",
              "steps_per_s"]
AUX_FIELDS = ["classify", "severity", "contrastive", "accuracy"]


def log_fields(cfg: TrainConfig, describes: bool) -> list[str]:
    """CSV columns of a new run: the classic ones, plus the auxiliary losses of a describing model and
    the per-task validation PSNR and accuracy of a mixture, and the extra validation figures."""
    fields = list(LOG_FIELDS)
    if describes:
        fields[fields.index("lr"):fields.index("lr")] = AUX_FIELDS
    extra = [f"val_{t}" for t in cfg.data.tasks] + (["val_acc"] if describes and cfg.data.mixture else [])
    if cfg.data.mixture and "lowlight" in cfg.data.tasks:
        extra.insert(extra.index("val_lowlight") + 1, "val_lowlight_gtmean")
    extra += [f"val_{s}" for s in cfg.data.set_names]
    extra += [f"val_psnr_{n}" for n in cfg.data.extra_names]
    at = fields.index("val_psnr") + 1
    return fields[:at] + extra + fields[at:]


def learning_rate(cfg: TrainConfig, step: int) -> float:
    o = cfg.optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    t = (step - o.warmup_steps) / max(1, cfg.steps - o.warmup_steps)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


def psnr_8bit(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR on RGB after clipping and rounding both to 8 bits (docs/conventions.md)."""
    p = torch.round(pred.clamp(0, 1) * 255)
    t = torch.round(target.clamp(0, 1) * 255)
    mse = torch.mean((p - t) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


def gt_mean_psnr_8bit(pred: torch.Tensor, target: torch.Tensor) -> float:
    """:func:`psnr_8bit` of ``pred`` brought to the target's mean grey by the low-light bench's own GT-mean
    protocol (:func:`restora.eval.metrics.gt_mean_scaled`), on (B, 3, H, W) in [0, 1]."""
    from restora.eval.metrics import gt_mean_scaled, to_uint8

    def as_uint8(x: torch.Tensor) -> np.ndarray:
        return to_uint8(x.detach().float().cpu().permute(0, 2, 3, 1).numpy(), scale=1.0)

    scaled = gt_mean_scaled(as_uint8(target), as_uint8(pred))
    return psnr_8bit(torch.from_numpy(scaled).permute(0, 3, 1, 2).float() / 255.0, target)


class FeatureGenerator(nn.Module):
    """GDD's generator: maps noise-perturbed student features to the teacher's feature space."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1))

    def forward(self, x):
        return self.net(x)


@torch.no_grad()
def _mean_scores(net: nn.Module, pairs, device, metrics=(psnr_8bit,)) -> float | list[float]:
    """Mean PSNR of ``net`` over validation pairs (noisy, clean, σ hint); with several ``metrics`` (functions of
    (prediction, clean)), the mean of each, from one pass."""
    scores = []
    uses_sigma = getattr(net, "uses_sigma", False)
    for noisy, clean, sigma in pairs:
        noisy, sigma = noisy.to(device), sigma.to(device)
        pred = (net(noisy, sigma) if uses_sigma else net(noisy)).float().cpu()
        scores.append([metric(pred, clean) for metric in metrics])
    means = [float(m) for m in np.mean(scores, axis=0)]
    return means[0] if len(metrics) == 1 else means


@torch.no_grad()
def validate_network(net: nn.Module, groups, extra=(), device="cpu", per_task: bool = False) -> dict:
    """A network's validation figures: ``val_psnr`` (mean over groups), per-task ``val_<task>`` with
    ``per_task`` (a mixture's run) and, for a describing model, ``val_acc``: the fraction of validation images
    whose degradation type it names; and ``val_psnr_<name>`` for each extra group (``data.val_extra``), kept
    out of ``val_psnr``."""
    out, gt_mean = {}, None
    for g in groups:
        if g.name == "lowlight":  # also GT-mean: low light apart from its exposure guess (restora.eval.metrics)
            out[g.name], gt_mean = _mean_scores(net, g.pairs, device, (psnr_8bit, gt_mean_psnr_8bit))
        else:
            out[g.name] = _mean_scores(net, g.pairs, device)
    result = {"val_psnr": round(float(np.mean(list(out.values()))), 4)}
    result.update({f"val_psnr_{g.name}": round(_mean_scores(net, g.pairs, device), 4) for g in extra})
    if per_task:
        result.update({f"val_{k}": round(v, 4) for k, v in out.items()})
        if gt_mean is not None:
            result["val_lowlight_gtmean"] = round(gt_mean, 4)
        if hasattr(net, "describe"):
            from restora.models.allinone import describe_input

            hits = [int(net.describe(describe_input(noisy.to(device)))["logits"].argmax(1).item() == g.label)
                    for g in groups for noisy, _, _ in g.pairs]
            result["val_acc"] = round(float(np.mean(hits)), 4)
    return result


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
        self.teacher_card = self.init_card = None  # records of the teacher and of the warm start's weights
        params = list(self.model.parameters())
        if cfg.distill is not None:
            self.teacher, _, self.teacher_card = load_network(cfg.distill.teacher, "teacher")
            self.teacher.to(self.device).requires_grad_(False).eval()
            c_s, c_t = self._bottleneck_channels(self.model), self._bottleneck_channels(self.teacher)
            self.generator = FeatureGenerator(c_s, c_t).to(self.device)
            params += list(self.generator.parameters())
        self.optimizer = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
        self.step = 0
        self.cpu_seconds = 0.0  # process CPU time, all threads, summed over ranks and resumes
        self.wall_seconds = 0.0  # wall-clock time of the training loop, summed over resumes
        # Of those, the part carried from a checkpoint of before real CPU accounting (wall-clock × threads),
        # and the steps it covers.
        self.estimated_seconds, self.estimated_steps = 0.0, 0
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

    @property
    def best_path(self) -> Path:
        return self.run_dir / "best.pt"

    def state(self) -> dict:
        s = {
            "model": self.model.state_dict(), "ema": self.ema.state_dict(), "optimizer": self.optimizer.state_dict(),
            "step": self.step, "best_val": self.best_val, "select": self.cfg.select or "val_psnr",
            "config": self.cfg.model_dump_json(),
            # compute_seconds: the name older code reads
            "compute_seconds": self.cpu_seconds, "cpu_seconds": self.cpu_seconds, "wall_seconds": self.wall_seconds,
            "estimated_seconds": self.estimated_seconds, "estimated_steps": self.estimated_steps,
        }
        if self.generator is not None:
            s["generator"] = self.generator.state_dict()
        s["torch_rng"] = torch.get_rng_state()  # distillation's feature noise draws from it
        for key, record in (("init_card", self.init_card), ("teacher_card", self.teacher_card)):
            if record is not None:
                s[key] = json.dumps(record)
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
        if "torch_rng" in s:  # absent in checkpoints written before 2026-11-24
            torch.set_rng_state(s["torch_rng"].cpu())
        self.step, self.best_val = int(s["step"]), float(s["best_val"])
        if s.get("select", "val_psnr") != (self.cfg.select or "val_psnr"):  # best by another figure: start afresh
            self.best_val = -float("inf")
        self.cpu_seconds, self.wall_seconds, self.estimated_seconds, self.estimated_steps = run_compute(s, self.world_size)
        if "init_card" in s:  # the run's warm start, whatever this command line says
            self.init_card = json.loads(s["init_card"])
            self.cfg = self.cfg.model_copy(update={"init_from": self.init_card["from"]})
        if "teacher_card" in s:  # the teacher as the run first loaded it
            self.teacher_card = json.loads(s["teacher_card"])

    @property
    def time_note(self) -> str | None:
        """What part of the compute figures is the old estimate (None: all measured)."""
        return estimate_note(self.estimated_seconds, self.estimated_steps)

    def init_from(self, source: str | Path) -> None:
        """Warm start: model and EMA from a model file (path or registered name), recorded for the card."""
        module, meta, record = load_network(source, "--init-from")
        if meta["arch"] != self.cfg.model.arch:
            raise RestoraError(f"--init-from {source}: a '{meta['arch']}' network, the config trains '{self.cfg.model.arch}'")
        try:
            self.model.load_state_dict(module.state_dict())
        except RuntimeError:
            raise RestoraError(f"--init-from {source}: its weights do not fit the config's model.args") from None
        self.ema.load_state_dict(module.state_dict())
        self.init_card = {"from": str(source), **record}
        self.cfg = self.cfg.model_copy(update={"init_from": str(source)})

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
        return self.apply_update(total, parts)

    def apply_update(self, total: torch.Tensor, parts: dict) -> dict:
        """One optimiser step on the loss ``total`` (clipped gradients), the EMA update; logs loss and lr."""
        cfg = self.cfg
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

    def validate_groups(self, groups, extra=()) -> dict:
        """The EMA weights on the run's validation (:func:`validate_network`)."""
        return validate_network(self.ema, groups, extra, self.device, per_task=self.cfg.data.per_group)

    def streams(self):
        """(sampler of training batches by step, validation groups, extra validation groups)."""
        cfg = self.cfg
        train_files, val_files = split_train_val(cfg.data)
        hint = bool(getattr(self.model, "uses_sigma", False)) or self.teacher is not None  # σ hints needed
        sampler = PatchSampler(cfg.data, train_files, cfg.seed, self.rank, self.world_size, hint=hint)
        val = validation_groups(cfg.data, val_files, cfg.seed, hint) if self.rank == 0 else []
        extra = extra_validation_groups(cfg.data, val_files, cfg.seed, hint) if self.rank == 0 else []
        return sampler, val, extra

    def log_fields(self) -> list[str]:
        return log_fields(self.cfg, self.describes)

    def selection_value(self, figures: dict) -> float:
        """The figure that picks best.pt, higher is better."""
        return selection_figure(self.cfg.select, figures)

    # --- the loop ----------------------------------------------------------------------------
    def fit(self, max_steps: int | None = None, progress: bool = True, max_minutes: float | None = None) -> None:
        """Train to the config's ``steps`` (or ``max_steps`` more); with ``max_minutes``, the step under way when
        that much wall-clock time has passed becomes the last one (validated and checkpointed as any last step)."""
        cfg = self.cfg
        deadline = None if max_minutes is None else time.perf_counter() + 60.0 * max_minutes
        sampler, val, extra = self.streams()
        stop = cfg.steps if max_steps is None else min(cfg.steps, self.step + max_steps)
        self.model.train()
        log_path = self.run_dir / "log.csv"
        new_log = not log_path.exists()
        fields = self.log_fields()
        if not new_log and self.rank == 0:  # keep an existing log's columns (a run started by older code)
            fields = extend_log(log_path, [f"val_psnr_{n}" for n in cfg.data.extra_names]) or fields
        # Only rank 0 touches the log (another rank opening it could create it before rank 0 looks).
        with open(log_path, "a", newline="") if self.rank == 0 else open(os.devnull, "w") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
            if new_log and self.rank == 0:
                writer.writeheader()
            window_start, window_steps = time.perf_counter(), 0
            self._clock = (time.process_time(), time.perf_counter())
            while self.step < stop:
                if deadline is not None and time.perf_counter() > deadline:
                    stop = self.step + 1
                parts = self.train_step(sampler.sample(self.step).to(self.device))
                window_steps += 1
                val_due = self.step % cfg.val_every == 0 or self.step == stop
                log_due = self.step % cfg.log_every == 0 or val_due
                if log_due:
                    parts = _mean_over_ranks(parts, self.world_size)
                    elapsed = time.perf_counter() - window_start
                    self._count_time()
                    parts.update(step=self.step, seconds=round(self.cpu_seconds, 1), wall_seconds=round(self.wall_seconds, 1),
                                 steps_per_s=round(window_steps / elapsed, 3))
                    if val_due and self.rank == 0:
                        figures = self.validate_groups(val, extra)
                        parts.update(figures)
                        value = self.selection_value(figures)
                        if value > self.best_val:
                            self.best_val = value
                            self.save_best(figures, value)
                    if self.rank == 0:
                        writer.writerow({k: (round(v, 6) if isinstance(v, float) else v) for k, v in parts.items()})
                        fh.flush()
                        if progress:
                            shown = ("step", "loss", "accuracy", "lr", "steps_per_s", "val_psnr", "val_loss", "val_acc",
                                     *(f"val_{s}" for s in cfg.data.set_names),
                                     *(f"val_psnr_{n}" for n in cfg.data.extra_names))
                            print(" ".join(f"{k}={parts[k]}" for k in shown if k in parts), flush=True)
                    window_start, window_steps = time.perf_counter(), 0
                if self.step % cfg.ckpt_every == 0 or self.step == stop:
                    self.save_checkpoint()
                    if val_due and self.rank == 0:
                        plot_curve(log_path, self.run_dir / "curve.png", validation_title(cfg))
        self._count_time()
        self.save_checkpoint()

    def _count_time(self) -> None:
        """Add the CPU time (all threads; summed over ranks) and wall time since the last count."""
        cpu, wall = time.process_time(), time.perf_counter()
        self.cpu_seconds += _sum_over_ranks(cpu - self._clock[0], self.world_size)
        self.wall_seconds += wall - self._clock[1]
        self._clock = (cpu, wall)

    def save_best(self, figures: dict, value: float) -> None:
        """Rank 0: the EMA weights at a new best validation figure, with the figures (atomic)."""
        best = {"ema": self.ema.state_dict(), "step": self.step, "select": self.cfg.select or "val_psnr", "value": value,
                "figures": json.dumps(figures), "config": self.cfg.model_dump_json()}
        tmp = self.best_path.with_suffix(".pt.tmp")
        torch.save(best, tmp)
        os.replace(tmp, self.best_path)


def load_network(source: str | Path, role: str) -> tuple[torch.nn.Module, dict, dict]:
    """(module, metadata, record for the card) of a network a run starts from or distils: a registered model
    name or a .safetensors path; ``role`` names it in the error for a method that is not a network."""
    from restora.models.registry import get_spec

    spec = get_spec(str(source))
    if spec.path is None:
        raise RestoraError(f"{role} '{source}' is not a network")
    module, meta = load_module(spec.path)
    return module, meta, base_record(spec.name, meta["card"])


def base_record(name: str, card: dict) -> dict:
    """What a run keeps of a model it starts from or distils: name, run, steps, compute, validation."""
    keys = ("run", "steps", "cpu_hours", "wall_hours", "total_steps", "total_cpu_hours")
    record = {"name": card.get("name", name), **{k: card[k] for k in keys if card.get(k) is not None}}
    last = (card.get("validation") or {}).get("last")
    if last is not None:
        record["validation"] = last
    return record


def run_compute(s: dict, world_size: int = 1) -> tuple[float, float, float, int]:
    """(cpu_seconds, wall_seconds, estimated_seconds, estimated_steps) of a checkpoint. One written before real
    CPU accounting has only ``compute_seconds`` (wall-clock × threads × processes): it counts as CPU time,
    estimated over all its steps, and its wall time as that divided by this process's threads × processes."""
    if "cpu_seconds" in s:
        return float(s["cpu_seconds"]), float(s["wall_seconds"]), float(s["estimated_seconds"]), int(s["estimated_steps"])
    old = float(s["compute_seconds"])
    return old, old / (torch.get_num_threads() * world_size), old, int(s["step"])


def estimate_note(estimated_seconds: float, estimated_steps: int) -> str | None:
    if not estimated_steps:
        return None
    return (f"steps 1-{estimated_steps} ({estimated_seconds / 3600:.2f} CPU-hours) are the estimate of code before real CPU "
            "accounting: wall-clock x threads (their wall time: that / threads), which also counts time paused or "
            "crowded out; real process CPU time after")


def extend_log(log_path: Path, wanted: list[str]) -> list[str] | None:
    """An existing log's columns, plus any of ``wanted`` it lacks (appended; earlier rows left blank)."""
    with open(log_path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return None
    header = rows[0]
    missing = [c for c in wanted if c not in header]
    if missing:
        tmp = log_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows([header + missing, *(r + [""] * len(missing) for r in rows[1:])])
        os.replace(tmp, log_path)
    return header + missing


def _sum_over_ranks(value: float, world_size: int) -> float:
    if world_size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.all_reduce(t)
    return float(t.item())


def _barrier(world_size: int) -> None:
    if world_size > 1:
        torch.distributed.barrier()


LOSS_KEYS = ("loss", *RESTORATION_TERMS, "distill_out", "distill_feat", *AUX_FIELDS)


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
    if cfg.style is not None:
        return f"validation perceptual loss (held-out {Path(d.train_dir).name}, {d.val_crop}² crops)"
    plus = "".join(f" + {n}" for n in d.extra_names)
    if d.sets:
        return f"validation PSNR per set (held-out {', '.join(d.set_names)}, σ={d.val_sigma:g} blind{plus})"
    if d.mixture:
        return f"validation PSNR per task (held-out {Path(d.train_dir).name}, the run's degradations{plus})"
    if d.val_pipeline:
        return f"validation PSNR (held-out {Path(d.train_dir).name}, {d.val_pipeline}{plus})"
    return f"validation PSNR (held-out {Path(d.train_dir).name}, σ={d.val_sigma:g} blind{plus})"


def read_log(log_path: Path) -> list[dict]:
    """A run's log.csv as rows of column → text (empty where a row has no figure); [] without a log."""
    if not Path(log_path).exists():
        return []
    with open(log_path, newline="") as fh:
        return list(csv.DictReader(fh))


def plot_curve(log_path: Path, out: Path, title: str = "validation PSNR (held-out CBSD432, σ=25 blind)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    if not rows:
        return
    steps = np.array([int(r["step"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    extra = [c for c in rows[0] if c.startswith("val_psnr_")]  # data.val_extra
    columns = [c for c in rows[0] if c.startswith("val_") and c not in ("val_acc", "val_psnr", *extra)] or ["val_psnr"]
    columns += extra
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot(steps, loss, lw=0.6)
    # A log axis where the loss is positive; a PSNR loss (negative dB) is plotted on a linear one.
    ax[0].set(xlabel="step", ylabel="training loss", yscale="log" if (loss > 0).all() else "linear", title="loss")
    for col in columns:
        vrows = [(int(r["step"]), float(r[col])) for r in rows if r.get(col)]
        if vrows:
            v = np.array(vrows)
            label = "main" if col == "val_psnr" else col.removeprefix("val_psnr_").removeprefix("val_")
            ax[1].plot(v[:, 0], v[:, 1], "o-", ms=3, label=label if len(columns) > 1 else None)
    if len(columns) > 1:
        ax[1].legend(fontsize=7)
    ax[1].set(xlabel="step", ylabel="PSNR (dB)" if "val_psnr" in rows[0] else "validation loss")
    ax[1].set_title(title, fontsize=8)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)


def prepare_run(cfg: TrainConfig, run_dir: Path, resume: bool) -> TrainConfig:
    """Make or check the run folder and write its config.yaml; returns the config as written (a resumed run
    keeps its own warm start, ``init_from``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "config.yaml"
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.exists() and not resume:
        raise RestoraError(f"{run_dir} already has a checkpoint: add --resume to continue it, or choose another --run-dir")
    if resume and cfg_path.exists():
        old = TrainConfig.model_validate(yaml.safe_load(cfg_path.read_text()))
        if old.model != cfg.model:
            raise RestoraError(f"{run_dir}: the config's model differs from the run's; cannot resume")
        if ckpt.exists():
            cfg = cfg.model_copy(update={"init_from": old.init_from})
    cfg_path.write_text(yaml.safe_dump(json.loads(cfg.model_dump_json()), sort_keys=False))
    return cfg


def validate_models(cfg: TrainConfig, sources: list[str], device: str = "auto") -> list[dict]:
    """Each network (a registered name or a ``.safetensors`` path) on ``cfg``'s validation: the held-out crops,
    degradations and seeds its run logs, and the figure its ``select`` names (``selected``). A candidate and the
    shipped weights measured this way compare on equal terms, which is how a model is chosen (docs/training.md,
    "Which weights ship"). Returns one dict per source: ``model``, the ``val_*`` figures and ``selected``."""
    device = resolve_device(device)
    networks = [(str(source), load_network(source, "model")[0].to(device).eval()) for source in sources]
    _, val_files = split_train_val(cfg.data)
    hint = any(getattr(net, "uses_sigma", False) for _, net in networks)
    groups = validation_groups(cfg.data, val_files, cfg.seed, hint)
    extra = extra_validation_groups(cfg.data, val_files, cfg.seed, hint)
    results = []
    for source, net in networks:
        figures = validate_network(net, groups, extra, device, per_task=cfg.data.per_group)
        results.append({"model": source, **figures, "selected": selection_figure(cfg.select, figures)})
    return results


def export_run(run_dir: Path, out: Path, name: str | None = None, pick: str | None = None) -> dict:
    """Write the run's EMA weights and model card to ``out`` (.safetensors): those of the last checkpoint
    (``pick="last"``) or of ``best.pt``, the best validation by the config's ``select`` (``pick="best"``);
    by default the best where the config sets ``select``, else the last."""
    run_dir = Path(run_dir)
    ckpt = run_dir / "checkpoint.pt"
    if not ckpt.exists():
        raise RestoraError(f"{run_dir}: no checkpoint.pt to export")
    s = torch.load(ckpt, map_location="cpu", weights_only=True)
    cfg = TrainConfig.model_validate_json(s["config"])
    pick = pick or ("best" if cfg.select else "last")
    if pick not in ("last", "best"):
        raise RestoraError(f"--pick must be 'last' or 'best', not '{pick}'")
    weights, steps, selected = s["ema"], int(s["step"]), None
    if pick == "best":
        if not (run_dir / "best.pt").exists():
            raise RestoraError(f"{run_dir}: no best.pt (no validation has beaten the run's best since this code kept "
                               "one); export the last checkpoint with --pick last")
        b = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=True)
        weights, steps = b["ema"], int(b["step"])
        selected = {"checkpoint": "best", "by": b["select"], "value": round(float(b["value"]), 4), "step": steps,
                    "of_steps": int(s["step"]), "figures": json.loads(b["figures"])}
    model = build_module(cfg.model.arch, cfg.model.args)
    model.load_state_dict(weights)
    rows = read_log(run_dir / "log.csv")
    from restora.train.repair import repair_validation_card  # a repair run's figures (it imports this module)

    tasks = list(cfg.card.get("tasks") or cfg.data.tasks or ["denoise"])
    d = cfg.data
    cpu, wall, estimated_seconds, estimated_steps = run_compute(s)
    card = {
        "name": name or Path(out).stem,
        "task": tasks[0],
        "tasks": tasks,
        "summary": cfg.card.get("summary", f"{cfg.model.arch} trained by Restora ({cfg.name})"),
        "training_data": cfg.card.get("training_data", f"{cfg.data.train_dir} (see shared/data/MANIFEST.md)"),
        "data_terms": cfg.card.get("data_terms", "BSDS500: research and education"),
        "degradations": None if cfg.style else f"restora.degrade.damage ({cfg.repair.holes})" if cfg.repair else ([m.model_dump() for m in d.mixture] if d.mixture else d.pipeline),
        "run": cfg.name,
        "steps": steps,
        "cpu_hours": round(cpu / 3600, 2),  # process CPU time, all threads (see cpu_hours_note where estimated)
        "validation": (style_validation_card(cfg, rows) if cfg.style else repair_validation_card(cfg, rows) if cfg.repair
                       else validation_card(cfg, rows)),
        "weights": "EMA",
        "config": json.loads(cfg.model_dump_json()),
    }
    if "wall_seconds" in s:  # a checkpoint of older code has no wall time of its own
        card["wall_hours"] = round(wall / 3600, 2)
    note = estimate_note(estimated_seconds, estimated_steps)
    if note:
        card["cpu_hours_note"] = note
    if selected:
        if cfg.style:  # best.pt keeps the negated loss (higher is better); the card shows the loss
            selected["value"] = -selected["value"]
        card["selected"] = selected
    if "init_card" in s:
        card.update(continuation(json.loads(s["init_card"]), cfg.name, steps, card["cpu_hours"]))
    if cfg.repair is not None and cfg.repair.role == "detect":  # the mask threshold, chosen on validation
        from restora.train.repair import choose_threshold

        card.update(choose_threshold(model.eval(), cfg))
    for k, v in cfg.card.items():
        card.setdefault(k, v)
    if cfg.distill is not None:
        card["teacher"] = cfg.distill.teacher
        if "teacher_card" in s:
            card["teacher_model"] = json.loads(s["teacher_card"])
    save_model(model, Path(out), card)
    return card


def continuation(base: dict, run: str, steps: int, cpu_hours: float) -> dict:
    """Card fields of a run started from another model's weights: ``continues`` (the base's name, run, steps,
    CPU-hours, validation) and ``total_steps``/``total_cpu_hours`` (the base's totals plus this run's)."""
    keys = ("name", "run", "steps", "cpu_hours", "total_steps", "total_cpu_hours", "validation")
    out = {"continues": {**{k: base[k] for k in keys if k in base},
                         "how": f"EMA weights of {base['name']} ({base['from']}), then this run ({run})"}}
    base_steps = base.get("total_steps", base.get("steps"))
    base_cpu = base.get("total_cpu_hours", base.get("cpu_hours"))
    if base_steps is not None:
        out["total_steps"] = int(base_steps) + steps
    if base_cpu is not None:
        out["total_cpu_hours"] = round(float(base_cpu) + cpu_hours, 2)
    return out


def style_validation_card(cfg: TrainConfig, rows: list[dict]) -> dict:
    """A style run's validation figures from the log: the weighted perceptual loss and its content and style
    terms on the held-out crops, at the last validation and at the best (lowest loss) one."""
    d = cfg.data
    rows = [r for r in rows if r.get("val_loss")]
    figures = lambda r: {k: float(r[k]) for k in ("val_loss", "val_content", "val_style") if r.get(k)}  # noqa: E731
    best = min(rows, key=lambda r: float(r["val_loss"])) if rows else None
    return {"set": f"last {d.val_count} of {d.train_dir}, {d.val_crop}² centre crops",
            "metric": "perceptual loss of restora.losses.style (content + style terms, the run's weights)",
            "last": figures(rows[-1]) if rows else None,
            "best": {"step": int(best["step"]), **figures(best)} if best else None}


def validation_card(cfg: TrainConfig, rows: list[dict]) -> dict:
    """The card's validation figures from the log: held-out set, metric, last and best ``val_psnr``, per task
    (mixture), type accuracy (describing model), each extra figure (``data.val_extra``) and the selection."""
    d = cfg.data
    if d.mixture:
        metric = "PSNR dB per task, the run's own degradations (seeded per image); val_psnr = mean over tasks"
    elif d.val_pipeline:
        metric = f"PSNR dB, degradation pipeline '{d.val_pipeline}' (seeded per image)"
    else:
        metric = f"PSNR dB, Gaussian σ={d.val_sigma:g}, σ estimated (blind)"
    vals = [float(r["val_psnr"]) for r in rows if r.get("val_psnr")]
    crops = f"{d.val_crop}² centre crops" if d.val_crop > 0 else "whole photos"
    held_out = ([f"last {t.val_count} of {t.dir}" for t in d.sets] if d.sets else [f"last {d.val_count} of {d.train_dir}"])
    if d.sets:
        metric += "; val_psnr = mean over the sets"
    validation = {"set": f"{', '.join(held_out)}, {crops}", "metric": metric,
                  "last": vals[-1] if vals else None, "best": max(vals) if vals else None}
    last_val = next((r for r in reversed(rows) if r.get("val_psnr")), None)
    if last_val is not None:
        per_task = {k.removeprefix("val_"): float(v) for k, v in last_val.items()
                    if k.startswith("val_") and not k.startswith("val_psnr") and k != "val_acc" and v}
        if per_task:
            validation["per_task"] = per_task
        if last_val.get("val_acc"):
            validation["type_accuracy"] = float(last_val["val_acc"])
    for n in d.extra_names:
        col = [float(r[f"val_psnr_{n}"]) for r in rows if r.get(f"val_psnr_{n}")]
        what = (f"PSNR dB, real noisy/clean pairs of {d.val_real}" if n == "real" and d.val_real
                else f"PSNR dB, degradation pipeline '{n}' (seeded per image), same crops")
        validation.setdefault("extra", {})[n] = {
            "metric": what,
            "last": col[-1] if col else None, "best": max(col) if col else None}
    if cfg.select:
        figures = [selection_figure(cfg.select, {k: float(v) for k, v in r.items() if k.startswith("val_psnr") and v})
                   for r in rows if r.get("val_psnr")]
        figures = [f for f in figures if f is not None]
        validation["select"] = {"by": cfg.select, "last": round(figures[-1], 4) if figures else None,
                                "best": round(max(figures), 4) if figures else None}
    return validation
