"""Multi-process training on the CPU: 2 gloo processes started by ``restora train --nproc 2`` (torchrun)."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from restora.train.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
from restora.train.checkpoint import prepare_run
from restora.train.runlog import read_log
from restora.train.trainer import Trainer

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

STEPS = 8
HALF = 4


def tiny_config(folder):
    # grad_clip on: clipping uses the averaged gradient, so it must match too.
    return TrainConfig(
        name="tiny-ddp",
        steps=STEPS,
        threads=2,
        seed=3,
        data=DataConfig(train_dir=str(folder), val_count=2, val_crop=32, patch=32, batch=8, pipeline="gaussian"),
        model=ModelConfig(arch="nafnet", args=dict(width=8, enc_blocks=[1], mid_blocks=1, dec_blocks=[1])),
        optim=OptimConfig(lr=5e-3, warmup_steps=2, grad_clip=0.5),
        log_every=1,
        val_every=HALF,
        ckpt_every=2,
    )


def logged_losses(run_dir):
    return {int(r["step"]): float(r["loss"]) for r in read_log(run_dir / "log.csv")}


def test_two_processes_equal_one_with_the_whole_batch_and_resume_with_one(tmp_path, tiny_data):
    cfg = tiny_config(tiny_data)
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))

    # Two processes, global batch 8 = 4 patches per rank, first half of the schedule.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    two = tmp_path / "two"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "restora.train",
            str(config_file),
            "--run-dir",
            str(two),
            "--max-steps",
            str(HALF),
            "--nproc",
            "2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("step=4") == 1  # rank 0 alone reports
    after_two = torch.load(two / "checkpoint.pt", weights_only=True)
    assert after_two["step"] == HALF

    # One process on the whole batch of 8.
    one = tmp_path / "one"
    prepare_run(cfg, one, resume=False)
    single = Trainer(cfg, one)
    single.fit(max_steps=HALF, progress=False)
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(after_two["model"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    two_losses, one_losses = logged_losses(two), logged_losses(one)
    assert sorted(two_losses) == list(range(1, HALF + 1))
    for step in range(1, HALF + 1):
        assert two_losses[step] == pytest.approx(one_losses[step], rel=1e-4), step

    # Resume the two-process run with one process: it ends where the single run ends.
    single.fit(progress=False)
    resumed = Trainer(cfg, two)
    resumed.load_checkpoint()
    assert resumed.step == HALF
    resumed.fit(progress=False)
    for key, value in single.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert logged_losses(two)[STEPS] == pytest.approx(logged_losses(one)[STEPS], rel=1e-3)
    assert "val_psnr" in (two / "log.csv").read_text().splitlines()[0]


def test_batch_must_split_evenly(tiny_data):
    from restora.errors import RestoraError
    from restora.train.data import PatchSampler, split_train_val

    cfg = tiny_config(tiny_data).data
    with pytest.raises(RestoraError, match="split evenly"):
        PatchSampler(cfg.model_copy(update={"batch": 7}), split_train_val(cfg)[0], seed=0, rank=0, world_size=2)


def test_rank_slices_make_up_the_single_process_batch(tiny_data):
    from restora.train.data import PatchSampler, split_train_val

    cfg = tiny_config(tiny_data).data
    files = split_train_val(cfg)[0]
    whole = PatchSampler(cfg, files, seed=5).batch(11)
    slices = [PatchSampler(cfg, files, seed=5, rank=r, world_size=2).batch(11) for r in range(2)]
    for i in range(3):
        assert slices[0][i].shape[0] == 4
        assert torch.equal(torch.cat([s[i] for s in slices]), whole[i])
