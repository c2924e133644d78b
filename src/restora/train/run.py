"""Entry used by ``restora train`` and ``python -m restora.train`` (also under torchrun).

Multi-process training: ``torchrun --nproc_per_node N -m restora.train CONFIG`` (or ``restora train CONFIG
--nproc N``, which starts torchrun). torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; each process joins the process group (NCCL on
GPUs, one GPU per local rank; gloo on CPUs) and trains its slice of every step's batch. On the CPU the thread
budget (``--threads``, ``RESTORA_THREADS`` or the config's) is shared by the processes of one machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from restora.errors import RestoraError
from restora.settings import get_settings
from restora.train.config import TrainConfig
from restora.train.checkpoint import prepare_run
from restora.train.trainer import Trainer


@dataclass(frozen=True)
class Distributed:
    """Where this process stands in a multi-process run (rank 0 of 1 when started alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @classmethod
    def from_env(cls) -> Distributed:
        env = os.environ
        world = int(env.get("WORLD_SIZE", "1"))
        return cls(
            rank=int(env.get("RANK", "0")),
            world_size=world,
            local_rank=int(env.get("LOCAL_RANK", "0")),
            local_world_size=int(env.get("LOCAL_WORLD_SIZE", str(world))),
        )


@contextmanager
def process_group(dist: Distributed, device: str):
    """Join the process group for the run's lifetime; yields the device this rank trains on."""
    if dist.world_size == 1:
        yield device
        return
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        torch.cuda.set_device(dist.local_rank)
        device = f"cuda:{dist.local_rank}"
    torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        yield device
    finally:
        torch.distributed.destroy_process_group()


def _on_rank_zero(dist: Distributed, action) -> None:
    """Run ``action`` on rank 0 only; a RestoraError there is raised on every rank (no rank left waiting)."""
    message = None
    if dist.rank == 0:
        try:
            action()
        except RestoraError as exc:
            message = str(exc)
    if dist.world_size > 1:
        box = [message]
        torch.distributed.broadcast_object_list(box, src=0)
        message = box[0]
    if message is not None:
        raise RestoraError(message)


def run_training(
    config: Path,
    run_dir: Path | None = None,
    resume: bool = False,
    init_from: Path | None = None,
    max_steps: int | None = None,
    threads: int | None = None,
    device: str = "auto",
    max_minutes: float | None = None,
) -> Trainer | dict:
    cfg = TrainConfig.from_yaml(config)
    dist = Distributed.from_env()
    budget = threads or int(os.environ.get("RESTORA_THREADS", cfg.threads))
    torch.set_num_threads(max(1, budget // dist.local_world_size))
    run_dir = Path(run_dir) if run_dir else get_settings().runs_dir / cfg.name
    if init_from is not None:  # the command line's warm start, recorded in the run's config
        cfg = cfg.model_copy(update={"init_from": str(init_from)})
    if cfg.denoiserep is not None:  # not a restoration network: its own small loop, one process
        from restora.train.denoiserep import train_denoiserep

        prepare_run(cfg, run_dir, resume)
        return train_denoiserep(cfg, run_dir, resume, max_steps, device, max_minutes)
    with process_group(dist, device) as device:
        _on_rank_zero(dist, lambda: prepare_run(cfg, run_dir, resume))
        trainer_class = Trainer
        if cfg.style is not None:
            from restora.train.style import StyleTrainer as trainer_class
        elif cfg.repair is not None:
            from restora.train.repair import RepairTrainer as trainer_class
        trainer = trainer_class(cfg, run_dir, device, rank=dist.rank, world_size=dist.world_size)
        say = print if dist.rank == 0 else (lambda *a, **k: None)
        if resume and trainer.checkpoint_path.exists():
            trainer.load_checkpoint()
            say(
                f"resumed {run_dir} at step {trainer.step}"
                + (f" on {dist.world_size} processes" if dist.world_size > 1 else ""),
                flush=True,
            )
            if trainer.time_note:
                say(f"compute: {trainer.time_note}", flush=True)
        elif cfg.init_from is not None:
            trainer.init_from(cfg.init_from)
            base = trainer.init_card
            say(
                f"initialised from {cfg.init_from} ({base['name']}, {base.get('total_steps', base.get('steps', '?'))} steps)",
                flush=True,
            )
        trainer.fit(max_steps, max_minutes=max_minutes)
    return trainer


def launch(nproc: int, argv: list[str]) -> int:
    """Start ``nproc`` training processes on this machine with torchrun; returns its exit status.

    ``argv``: the arguments of ``python -m restora.train`` (config and options, without ``--nproc``).
    """
    if "WORLD_SIZE" in os.environ:
        raise RestoraError("--nproc starts the processes itself: leave it out under torchrun")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "restora.train",
        *argv,
    ]
    return subprocess.call(cmd)
