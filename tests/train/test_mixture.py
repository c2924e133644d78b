"""Task mixtures, multi-scale and all-in-one training (restora.train with mimounet / allinone)."""

import numpy as np
import pytest
import torch

from restora.models.modelfile import load_module
from restora.errors import RestoraError
from restora.train.config import DataConfig, MixtureItem, ModelConfig, OptimConfig, TrainConfig
from restora.tasks import RESTORE_TASKS
from restora.train.data import PatchSampler, noise_hint, split_train_val, validation_groups
from restora.train.card import export_run
from restora.train.checkpoint import prepare_run
from restora.train.runlog import read_log
from restora.train.trainer import Trainer

MIX = [
    MixtureItem(task="denoise", pipeline="gaussian", weight=3),
    MixtureItem(task="deblur", pipeline="defocus", weight=1),
]
TINY_ALLINONE = dict(width=8, enc_blocks=[1, 1, 1], dec_blocks=[1, 1, 1], embed_dim=8, encoder_widths=[4, 8, 8, 8])
TINY_MIMO = dict(width=8, enc_blocks=[1, 1, 1], dec_blocks=[1, 1, 1])


def data_config(folder, **kw):
    args = dict(train_dir=str(folder), val_count=2, val_crop=32, patch=32, batch=4)
    args.update(kw)
    return DataConfig(**args)


def gradient_energy(x):
    return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())


def test_configs_without_a_mixture_draw_the_batches_they_always_drew(tiny_data):
    """The stream of a single-pipeline run (e.g. configs/denoise-quality.yaml) is unchanged."""
    cfg = data_config(tiny_data, pipeline="gaussian")
    sampler = PatchSampler(cfg, split_train_val(cfg)[0], seed=4)
    noisy, clean, sigma = sampler.batch(7)
    rng = np.random.default_rng([4, 7, 0])  # the original algorithm, spelled out
    for i in range(cfg.batch):
        c = sampler.patch(rng)
        n = sampler.pipeline(c, rng).astype(np.float32)
        hint = noise_hint(n, c) * np.exp(rng.normal(0.0, cfg.sigma_jitter))
        assert np.array_equal(noisy[i].permute(1, 2, 0).numpy(), n)
        assert np.array_equal(clean[i].permute(1, 2, 0).numpy(), c)
        assert np.allclose(sigma[i, :, 0, 0].numpy(), hint.astype(np.float32) / 255.0)


def test_mixture_sampler_is_deterministic_and_labels_match_the_degradations(tiny_data):
    cfg = data_config(tiny_data, mixture=MIX)
    files = split_train_val(cfg)[0]
    a, b = PatchSampler(cfg, files, seed=1).sample(3), PatchSampler(cfg, files, seed=1).sample(3)
    assert torch.equal(a.noisy, b.noisy) and torch.equal(a.labels, b.labels)
    sampler = PatchSampler(cfg, files, seed=1, hint=False)
    labels = []
    for step in range(30):
        batch = sampler.sample(step)
        assert batch.input_psnr.shape == (4,) and batch.describe is None and not batch.sigma.any()
        for noisy, clean, label in zip(batch.noisy, batch.clean, batch.labels):
            labels.append(int(label))
            if RESTORE_TASKS[int(label)] == "deblur":  # defocus blur (plus a little noise) smooths the patch
                assert gradient_energy(noisy) < gradient_energy(clean)
    share = labels.count(RESTORE_TASKS.index("denoise")) / len(labels)
    assert set(labels) == {0, 1} and 0.6 < share < 0.9  # weights 3 : 1


def test_mixture_ranks_slice_the_global_batch(tiny_data):
    cfg = data_config(tiny_data, mixture=MIX, describe_shrink=(1.0, 2.0))
    files = split_train_val(cfg)[0]
    whole = PatchSampler(cfg, files, seed=2, hint=False).sample(5)
    parts = [PatchSampler(cfg, files, seed=2, rank=r, world_size=2, hint=False).sample(5) for r in range(2)]
    for field in ("noisy", "clean", "labels", "input_psnr", "describe"):
        assert torch.equal(torch.cat([getattr(p, field) for p in parts]), getattr(whole, field)), field
    assert whole.describe.shape[-1] <= 32


def test_validation_groups_are_fixed_per_task_or_pipeline(tiny_data):
    cfg = data_config(tiny_data, mixture=MIX)
    val = split_train_val(cfg)[1]
    groups = validation_groups(cfg, val, seed=0)
    assert [g.name for g in groups] == ["denoise", "deblur"] and [g.label for g in groups] == [0, 1]
    again = validation_groups(cfg, val, seed=0)
    assert all(torch.equal(p[0], q[0]) for g, h in zip(groups, again) for p, q in zip(g.pairs, h.pairs))
    blurred = validation_groups(data_config(tiny_data, val_pipeline="defocus"), val, seed=0)[0]
    gaussian = validation_groups(data_config(tiny_data), val, seed=0)[0]
    for (b, clean, _), (g, _, _) in zip(blurred.pairs, gaussian.pairs):
        assert gradient_energy(b) < gradient_energy(clean) < gradient_energy(g)


def allinone_config(folder, steps=16):
    return TrainConfig(
        name="tiny-aio",
        steps=steps,
        threads=1,
        seed=0,
        data=data_config(
            folder,
            mixture=[
                MixtureItem(task="denoise", pipeline="gaussian"),
                MixtureItem(task="deblur", pipeline="defocus"),
                MixtureItem(task="dehaze", pipeline="haze"),
            ],
            describe_shrink=(1.0, 2.0),
        ),
        model=ModelConfig(arch="allinone", args=TINY_ALLINONE),
        loss=dict(charbonnier=1.0, fft=0.1, classify=0.1, severity=0.5, contrastive=0.05),
        optim=OptimConfig(lr=3e-3, warmup_steps=2, grad_clip=0.0),
        log_every=4,
        val_every=8,
        ckpt_every=4,
        card={"tasks": ["denoise", "deblur", "dehaze"]},
    )


def fixed_batch_loss(model, batch):
    with torch.no_grad():
        return float(torch.mean((model(batch.noisy) - batch.clean) ** 2))


@pytest.mark.slow
def test_allinone_training_lowers_the_loss_resumes_bit_exactly_and_exports(tmp_path, tiny_data):
    cfg = allinone_config(tiny_data)
    probe = PatchSampler(cfg.data, split_train_val(cfg.data)[0], seed=99, hint=False).sample(0)
    prepare_run(cfg, tmp_path / "a", resume=False)
    straight = Trainer(cfg, tmp_path / "a")
    before = fixed_batch_loss(straight.model, probe)
    straight.fit(progress=False)
    assert fixed_batch_loss(straight.model, probe) < 0.9 * before

    rows = read_log(tmp_path / "a" / "log.csv")
    for col in (
        "classify",
        "severity",
        "contrastive",
        "accuracy",
        "val_denoise",
        "val_deblur",
        "val_dehaze",
        "val_acc",
    ):
        assert col in rows[0], col
    last = rows[-1]
    assert float(last["val_psnr"]) == pytest.approx(
        np.mean([float(last[f"val_{t}"]) for t in ("denoise", "deblur", "dehaze")]), abs=1e-3
    )
    assert 0.0 <= float(last["val_acc"]) <= 1.0

    prepare_run(cfg, tmp_path / "b", resume=False)
    Trainer(cfg, tmp_path / "b").fit(max_steps=8, progress=False)
    resumed = Trainer(cfg, tmp_path / "b")
    resumed.load_checkpoint()
    resumed.fit(progress=False)
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k

    card = export_run(tmp_path / "a", tmp_path / "aio.safetensors")
    module, meta = load_module(tmp_path / "aio.safetensors")
    for (k, a), (_, b) in zip(straight.ema.state_dict().items(), module.state_dict().items()):
        assert torch.equal(a, b), k
    assert meta["arch"] == "allinone" and card["tasks"] == ["denoise", "deblur", "dehaze"]
    assert set(card["validation"]["per_task"]) == {"denoise", "deblur", "dehaze"}
    assert "type_accuracy" in card["validation"]


@pytest.mark.slow
def test_mimounet_multiscale_training_with_bf16_lowers_the_loss_and_exports(tmp_path, tiny_data):
    cfg = TrainConfig(
        name="tiny-mimo",
        steps=16,
        threads=1,
        data=data_config(tiny_data, pipeline="gaussian", val_pipeline="defocus"),  # noise: learnable in 16 steps
        model=ModelConfig(arch="mimounet", args=TINY_MIMO),
        optim=OptimConfig(lr=3e-3, warmup_steps=2, grad_clip=0.5, cpu_bf16=True),
        log_every=4,
        val_every=8,
        ckpt_every=8,
        card={"tasks": ["deblur"]},
    )
    probe = PatchSampler(cfg.data, split_train_val(cfg.data)[0], seed=99, hint=False).sample(0)
    prepare_run(cfg, tmp_path / "run", resume=False)
    trainer = Trainer(cfg, tmp_path / "run")
    assert trainer.multiscale
    # The multi-scale loss trains the side heads too.
    side = trainer.model.heads[2].weight.detach().clone()
    before = fixed_batch_loss(trainer.model, probe)
    trainer.fit(progress=False)
    assert fixed_batch_loss(trainer.model, probe) < 0.9 * before
    assert not torch.equal(side, trainer.model.heads[2].weight)
    # Exported by the command line, as a user would.
    from typer.testing import CliRunner

    from restora.cli import _register_commands, app

    _register_commands()
    done = CliRunner().invoke(app, ["export", str(tmp_path / "run"), "-o", str(tmp_path / "deblur.safetensors")])
    assert done.exit_code == 0, done.output
    module, meta = load_module(tmp_path / "deblur.safetensors")
    card = meta["card"]
    assert meta["arch"] == "mimounet" and card["task"] == "deblur" and "defocus" in card["validation"]["metric"]
    with torch.no_grad():
        assert torch.equal(module(probe.noisy), trainer.ema(probe.noisy))


def test_describe_losses_need_a_mixture(tmp_path, tiny_data):
    cfg = allinone_config(tiny_data)
    cfg.data = data_config(tiny_data, pipeline="gaussian")
    with pytest.raises(RestoraError, match="mixture"):
        Trainer(cfg, tmp_path / "x")


@pytest.mark.slow
def test_resume_keeps_the_columns_of_an_existing_log(tmp_path, tiny_data):
    cfg = allinone_config(tiny_data, steps=4)
    run = tmp_path / "run"
    prepare_run(cfg, run, resume=False)
    header = "step,loss,lr,val_psnr,seconds,steps_per_s"
    (run / "log.csv").write_text(header + "\n")
    Trainer(cfg, run).fit(progress=False)
    lines = (run / "log.csv").read_text().splitlines()
    assert lines[0] == header and all(len(line.split(",")) == 6 for line in lines[1:]) and len(lines) > 1


def test_bad_mixture_is_a_config_error():
    with pytest.raises(Exception):
        DataConfig(mixture=[{"task": "sharpen", "pipeline": "gaussian"}])
    with pytest.raises(Exception):
        DataConfig(mixture=[])
    with pytest.raises(Exception):
        DataConfig(describe_shrink=(0.5, 2.0))


def test_gt_mean_psnr_forgives_a_global_gain_and_nothing_else():
    from restora.eval.metrics import gt_mean_psnr_8bit, psnr_8bit

    target = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0)) * 0.8 + 0.1
    darker = target * 0.7
    assert gt_mean_psnr_8bit(darker, target) > psnr_8bit(darker, target) + 15
    noisy = darker + 0.05 * torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    assert gt_mean_psnr_8bit(noisy, target) < gt_mean_psnr_8bit(darker, target) - 15


@pytest.mark.slow
def test_whole_photo_validation_and_the_low_light_gt_mean_column(tmp_path, tiny_data):
    mixture = [MixtureItem(task="denoise", pipeline="gaussian"), MixtureItem(task="lowlight", pipeline="lowlight-dark")]
    cfg = allinone_config(tiny_data, steps=8).model_copy(
        update=dict(
            data=data_config(tiny_data, mixture=mixture, describe_shrink=(1.0, 2.0), val_crop=0),
            card={"tasks": ["denoise", "lowlight"]},
        )
    )
    groups = validation_groups(cfg.data, split_train_val(cfg.data)[1], seed=0)
    assert all(noisy.shape[-2:] == (48, 48) for g in groups for noisy, _, _ in g.pairs)  # whole 48² photos
    prepare_run(cfg, tmp_path / "run", resume=False)
    Trainer(cfg, tmp_path / "run").fit(progress=False)
    last = read_log(tmp_path / "run" / "log.csv")[-1]
    assert float(last["val_lowlight_gtmean"]) > 0 and last["val_lowlight"]
    assert float(last["val_psnr"]) == pytest.approx(
        (float(last["val_denoise"]) + float(last["val_lowlight"])) / 2, abs=1e-3
    )
    card = export_run(tmp_path / "run", tmp_path / "aio.safetensors")
    assert card["validation"]["set"].endswith("whole photos") and "lowlight_gtmean" in card["validation"]["per_task"]
