from pathlib import Path

import pytest
import torch

from restora.models.modelfile import load_module
from restora.errors import RestoraError
from restora.train.config import OptimConfig, TrainConfig
from restora.train.card import export_run
from restora.train.checkpoint import prepare_run
from restora.train.runlog import read_log
from restora.train.trainer import learning_rate, Trainer


def fixed_batch_loss(trainer, batch):
    noisy, clean, sigma = batch
    with torch.no_grad():
        return float(torch.mean((trainer.model(noisy, sigma) - clean) ** 2))


@pytest.mark.slow
def test_training_lowers_the_loss_and_resume_is_bit_exact(tmp_path, tiny_config):
    cfg = tiny_config()
    from restora.train.data import PatchSampler, split_train_val

    probe = PatchSampler(cfg.data, split_train_val(cfg.data)[0], seed=123).batch(0)

    straight = Trainer(cfg, tmp_path / "a")
    prepare_run(cfg, tmp_path / "a", resume=False)
    before = fixed_batch_loss(straight, probe)
    straight.fit(progress=False)
    assert fixed_batch_loss(straight, probe) < 0.97 * before

    prepare_run(cfg, tmp_path / "b", resume=False)
    first = Trainer(cfg, tmp_path / "b")
    first.fit(max_steps=10, progress=False)
    resumed = Trainer(cfg, tmp_path / "b")
    resumed.load_checkpoint()
    assert resumed.step == 10
    resumed.fit(progress=False)
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    for a, b in zip(straight.ema.parameters(), resumed.ema.parameters()):
        assert torch.equal(a, b)
    assert (tmp_path / "b" / "curve.png").exists()
    assert "val_psnr" in (tmp_path / "b" / "log.csv").read_text()


@pytest.mark.slow
def test_psnr_loss_is_logged_and_its_negative_curve_plotted(tmp_path, tiny_config):
    import warnings

    from restora.losses import LossWeights

    cfg = tiny_config(steps=10, loss=LossWeights(charbonnier=0.0, psnr=0.01, fft=0.0))
    prepare_run(cfg, tmp_path / "run", resume=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. matplotlib's "cannot be log-scaled" for a negative loss
        Trainer(cfg, tmp_path / "run").fit(progress=False)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert rows and all(float(r["psnr"]) < 0 and abs(float(r["loss"]) - 0.01 * float(r["psnr"])) < 1e-5 for r in rows)
    assert (tmp_path / "run" / "curve.png").exists()


@pytest.mark.slow
def test_export_round_trip_equals_the_trained_ema(tmp_path, tiny_config):
    cfg = tiny_config(steps=6)
    prepare_run(cfg, tmp_path / "run", resume=False)
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.fit(progress=False)
    card = export_run(tmp_path / "run", tmp_path / "m.safetensors")
    module, meta = load_module(tmp_path / "m.safetensors")
    for (k, a), (_, b) in zip(trainer.ema.state_dict().items(), module.state_dict().items()):
        assert torch.equal(a, b), k
    assert card["steps"] == 6 and meta["card"]["task"] == "denoise" and meta["arch"] == "nafnet"


@pytest.mark.slow
def test_existing_run_needs_resume(tmp_path, tiny_config):
    cfg = tiny_config(steps=2)
    prepare_run(cfg, tmp_path / "run", resume=False)
    Trainer(cfg, tmp_path / "run").fit(progress=False)
    with pytest.raises(RestoraError, match="--resume"):
        prepare_run(cfg, tmp_path / "run", resume=False)


def test_schedule_warms_up_then_decays():
    cfg = TrainConfig(name="s", steps=100, optim=OptimConfig(lr=1e-3, min_lr=0.0, warmup_steps=10))
    lrs = [learning_rate(cfg, s) for s in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] < 1e-5


def test_bad_config_is_a_one_line_error(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nsteps: many\n")
    with pytest.raises(RestoraError, match="invalid config"):
        TrainConfig.from_yaml(p)


@pytest.mark.slow
def test_distillation_trains_a_student_from_a_teacher_file(tmp_path, tiny_config):
    from restora.models.modelfile import save_model
    from restora.models.nafnet import NAFNet
    from restora.train.config import DistillConfig

    torch.manual_seed(0)
    teacher = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,))
    torch.nn.init.normal_(teacher.ending.weight, std=0.01)
    save_model(
        teacher,
        tmp_path / "teacher.safetensors",
        {
            "task": "denoise",
            "name": "big-teacher",
            "run": "big",
            "steps": 50,
            "cpu_hours": 0.5,
            "validation": {"last": 22.0},
        },
    )
    cfg = tiny_config(steps=6)
    cfg.model.args = dict(width=4, enc_blocks=[1], mid_blocks=1, dec_blocks=[1])
    cfg.distill = DistillConfig(teacher=str(tmp_path / "teacher.safetensors"))
    prepare_run(cfg, tmp_path / "student", resume=False)
    trainer = Trainer(cfg, tmp_path / "student")
    first = trainer.generator.net[0].weight.detach().clone()
    trainer.fit(progress=False)
    rows = read_log(tmp_path / "student" / "log.csv")
    assert any(r["distill_out"] for r in rows)  # distill_out logged
    assert not torch.equal(first, trainer.generator.net[0].weight)  # the feature generator learns
    # The teacher file changes after the run started: the run keeps the record of the teacher it began with.
    save_model(teacher, tmp_path / "teacher.safetensors", {"task": "denoise", "name": "other", "steps": 99})
    resumed = Trainer(cfg, tmp_path / "student")
    resumed.load_checkpoint()
    assert torch.equal(resumed.generator.net[0].weight, trainer.generator.net[0].weight)
    card = export_run(tmp_path / "student", tmp_path / "student.safetensors")
    assert card["teacher"] == str(tmp_path / "teacher.safetensors")
    assert card["teacher_model"] == {
        "name": "big-teacher",
        "run": "big",
        "steps": 50,
        "cpu_hours": 0.5,
        "validation": 22.0,
    }


@pytest.mark.slow
def test_distillation_resumes_bit_exactly(tmp_path, tiny_config):
    # The student's feature noise draws from torch's global generator: the checkpoint must carry its state.
    from restora.models.modelfile import save_model
    from restora.models.nafnet import NAFNet
    from restora.train.config import DistillConfig

    torch.manual_seed(0)
    save_model(
        NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,)),
        tmp_path / "teacher.safetensors",
        {"task": "denoise", "name": "t"},
    )
    cfg = tiny_config(steps=6)
    cfg.model.args = dict(width=4, enc_blocks=[1], mid_blocks=1, dec_blocks=[1])
    cfg.distill = DistillConfig(teacher=str(tmp_path / "teacher.safetensors"), feature_noise=0.5)
    prepare_run(cfg, tmp_path / "a", resume=False)
    straight = Trainer(cfg, tmp_path / "a")
    straight.fit(progress=False)
    prepare_run(cfg, tmp_path / "b", resume=False)
    Trainer(cfg, tmp_path / "b").fit(max_steps=3, progress=False)
    torch.manual_seed(12345)  # a new process would start from another generator state
    resumed = Trainer(cfg, tmp_path / "b")
    resumed.load_checkpoint()
    resumed.fit(progress=False)
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_shipped_config_is_valid_and_runnable(path):
    """A config under configs/ is the record that reproduces a run: it must parse, build its network, and name
    pipelines and a teacher that exist, so a typo fails here and not hours into a training."""
    from restora.degrade import PIPELINES
    from restora.models.modelfile import build_module
    from restora.engine.catalogue import get_spec

    cfg = TrainConfig.from_yaml(path)
    assert cfg.name == path.stem
    build_module(cfg.model.arch, cfg.model.args)
    data = cfg.data
    pipelines = [m.pipeline for m in data.mixture] if data.mixture else [data.pipeline]
    pipelines += [p for p in [data.val_pipeline] if p is not None] + list(data.val_extra)
    assert set(pipelines) <= set(PIPELINES)
    if cfg.distill is not None:
        get_spec(cfg.distill.teacher)


@pytest.mark.slow
def test_validate_reproduces_the_runs_own_validation_figures(tmp_path, tiny_config, validate_cli):
    """`restora validate` is how a candidate is judged against shipped weights, so its figures must be the ones the
    run logged for the same weights, on every validation set, with the config's select figure."""
    from restora.models.modelfile import build_module, save_model
    from restora.train.validation import validate_models

    # A fast EMA, so that 20 steps take the exported weights away from the untrained ones.
    cfg = tiny_config(steps=20, select="mean", optim=OptimConfig(lr=5e-3, warmup_steps=2, grad_clip=0.0, ema_decay=0.5))
    cfg = cfg.model_copy(update={"data": cfg.data.model_copy(update={"val_extra": ["camera"]})})
    prepare_run(cfg, tmp_path / "run", resume=False)
    Trainer(cfg, tmp_path / "run").fit(progress=False)
    export_run(tmp_path / "run", tmp_path / "last.safetensors", pick="last")
    logged = [r for r in read_log(tmp_path / "run" / "log.csv") if r["val_psnr"]][-1]
    assert logged["step"] == "20"

    untrained = tmp_path / "untrained.safetensors"  # the run's step-0 weights: what training must beat
    torch.manual_seed(cfg.seed)
    save_model(
        build_module(cfg.model.arch, cfg.model.args), untrained, load_module(tmp_path / "last.safetensors")[1]["card"]
    )

    trained, fresh = validate_models(cfg, [str(tmp_path / "last.safetensors"), str(untrained)])
    for key in ("val_psnr", "val_psnr_camera"):
        assert trained[key] == pytest.approx(float(logged[key]), abs=1e-4)
    for r in (trained, fresh):
        assert r["selected"] == pytest.approx((r["val_psnr"] + r["val_psnr_camera"]) / 2)
    assert abs(trained["val_psnr"] - fresh["val_psnr"]) > 1e-3  # each network is scored, not the first twice

    header, row = validate_cli(cfg, tmp_path / "last.safetensors")
    assert header == ["model", "val_psnr", "val_psnr_camera", "selected (mean)"]
    assert float(row[-1]) == pytest.approx(trained["selected"], abs=1e-4)
