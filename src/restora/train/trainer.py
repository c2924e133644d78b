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

import torch
import torch.nn as nn

from restora.models.device import resolve_device
from restora.models.modelfile import build_module
from restora.errors import RestoraError
from restora.losses import RESTORATION_TERMS, AuxLoss, CharbonnierLoss, RestorationLoss
from restora.train.config import TrainConfig, selection_figure
from restora.train.ema import update_ema
from restora.train.data import Batch, PatchSampler, extra_validation_groups, split_train_val, validation_groups
from restora.train.card import load_network
from restora.train.checkpoint import estimate_note, run_compute
from restora.train.distill import FeatureGenerator
from restora.train.runlog import AUX_FIELDS, extend_log, log_fields, plot_curve, validation_title
from restora.train.validation import validate_network


def learning_rate(cfg: TrainConfig, step: int) -> float:
    o = cfg.optim
    if step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    t = (step - o.warmup_steps) / max(1, cfg.steps - o.warmup_steps)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1 + math.cos(math.pi * min(1.0, t)))


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
        self.optimizer = torch.optim.AdamW(
            params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay
        )
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
            self.ddp_model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=unused
            )
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
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "best_val": self.best_val,
            "select": self.cfg.select or "val_psnr",
            "config": self.cfg.model_dump_json(),
            # compute_seconds: the name older code reads
            "compute_seconds": self.cpu_seconds,
            "cpu_seconds": self.cpu_seconds,
            "wall_seconds": self.wall_seconds,
            "estimated_seconds": self.estimated_seconds,
            "estimated_steps": self.estimated_steps,
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
        self.cpu_seconds, self.wall_seconds, self.estimated_seconds, self.estimated_steps = run_compute(
            s, self.world_size
        )
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
            raise RestoraError(
                f"--init-from {source}: a '{meta['arch']}' network, the config trains '{self.cfg.model.arch}'"
            )
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
        update_ema(self.ema, self.model, cfg.optim.ema_decay)
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
                    parts.update(
                        step=self.step,
                        seconds=round(self.cpu_seconds, 1),
                        wall_seconds=round(self.wall_seconds, 1),
                        steps_per_s=round(window_steps / elapsed, 3),
                    )
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
                            shown = (
                                "step",
                                "loss",
                                "accuracy",
                                "lr",
                                "steps_per_s",
                                "val_psnr",
                                "val_loss",
                                "val_acc",
                                *(f"val_{s}" for s in cfg.data.set_names),
                                *(f"val_psnr_{n}" for n in cfg.data.extra_names),
                            )
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
        best = {
            "ema": self.ema.state_dict(),
            "step": self.step,
            "select": self.cfg.select or "val_psnr",
            "value": value,
            "figures": json.dumps(figures),
            "config": self.cfg.model_dump_json(),
        }
        tmp = self.best_path.with_suffix(".pt.tmp")
        torch.save(best, tmp)
        os.replace(tmp, self.best_path)


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
