"""The run folder and its checkpoints' compute accounting: ``config.yaml`` made or checked, CPU and wall time of a
checkpoint (real process CPU time, or the estimate of code before that accounting)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from restora.errors import RestoraError
from restora.train.config import TrainConfig


def prepare_run(cfg: TrainConfig, run_dir: Path, resume: bool) -> TrainConfig:
    """Make or check the run folder and write its config.yaml; returns the config as written (a resumed run
    keeps its own warm start, ``init_from``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = run_dir / "config.yaml"
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.exists() and not resume:
        raise RestoraError(
            f"{run_dir} already has a checkpoint: add --resume to continue it, or choose another --run-dir"
        )
    if resume and cfg_path.exists():
        old = TrainConfig.model_validate(yaml.safe_load(cfg_path.read_text()))
        if old.model != cfg.model:
            raise RestoraError(f"{run_dir}: the config's model differs from the run's; cannot resume")
        if ckpt.exists():
            cfg = cfg.model_copy(update={"init_from": old.init_from})
    cfg_path.write_text(yaml.safe_dump(json.loads(cfg.model_dump_json()), sort_keys=False))
    return cfg


def run_compute(s: dict, world_size: int = 1) -> tuple[float, float, float, int]:
    """(cpu_seconds, wall_seconds, estimated_seconds, estimated_steps) of a checkpoint. One written before real
    CPU accounting has only ``compute_seconds`` (wall-clock × threads × processes): it counts as CPU time,
    estimated over all its steps, and its wall time as that divided by this process's threads × processes."""
    if "cpu_seconds" in s:
        return (
            float(s["cpu_seconds"]),
            float(s["wall_seconds"]),
            float(s["estimated_seconds"]),
            int(s["estimated_steps"]),
        )
    old = float(s["compute_seconds"])
    return old, old / (torch.get_num_threads() * world_size), old, int(s["step"])


def estimate_note(estimated_seconds: float, estimated_steps: int) -> str | None:
    if not estimated_steps:
        return None
    return (
        f"steps 1-{estimated_steps} ({estimated_seconds / 3600:.2f} CPU-hours) are the estimate of code before real CPU "
        "accounting: wall-clock x threads (their wall time: that / threads), which also counts time paused or "
        "crowded out; real process CPU time after"
    )
