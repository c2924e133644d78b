"""Entry used by ``restora train`` and ``python -m restora.train`` (also under torchrun)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from restora.settings import get_settings
from restora.train.config import TrainConfig
from restora.train.trainer import Trainer, prepare_run


def run_training(config: Path, run_dir: Path | None = None, resume: bool = False, init_from: Path | None = None,
                 max_steps: int | None = None, threads: int | None = None, device: str = "auto") -> Trainer:
    cfg = TrainConfig.from_yaml(config)
    torch.set_num_threads(threads or int(os.environ.get("RESTORA_THREADS", cfg.threads)))
    run_dir = Path(run_dir) if run_dir else get_settings().runs_dir / cfg.name
    prepare_run(cfg, run_dir, resume)
    trainer = Trainer(cfg, run_dir, device)
    if resume and trainer.checkpoint_path.exists():
        trainer.load_checkpoint()
        print(f"resumed {run_dir} at step {trainer.step}", flush=True)
    elif init_from is not None:
        from restora.engine.neural import load_module

        module, _ = load_module(init_from)
        trainer.model.load_state_dict(module.state_dict())
        trainer.ema.load_state_dict(module.state_dict())
        print(f"initialised from {init_from}", flush=True)
    trainer.fit(max_steps)
    return trainer
