"""What a run records about itself: real CPU time, its warm start, extra validation figures and the checkpoint
they select, and runs written by older code (no CPU counter, older log columns) resuming bit-exactly."""

import csv
import json
from types import SimpleNamespace

import pytest
import torch
import yaml

import restora.train.trainer as trainer_module
from restora.models.modelfile import load_module, save_model
from restora.errors import RestoraError
from restora.train.config import DataConfig, TrainConfig
from restora.train.data import extra_validation_groups, split_train_val
from restora.train.run import run_training
from restora.train.card import export_run
from restora.train.checkpoint import prepare_run
from restora.train.runlog import LOG_FIELDS, read_log
from restora.train.trainer import Trainer


@pytest.mark.slow
def test_cpu_time_is_the_process_time_not_wall_clock_times_threads(tmp_path, tiny_config, monkeypatch):
    """A pause (SIGSTOP) adds wall time but no CPU time: fake clocks where each step costs 1 s of CPU and of
    wall time, and the process is stopped for 1000 s after step 3."""
    clock = SimpleNamespace(cpu=0.0, wall=0.0)
    monkeypatch.setattr(
        trainer_module, "time", SimpleNamespace(process_time=lambda: clock.cpu, perf_counter=lambda: clock.wall)
    )
    monkeypatch.setattr(torch, "get_num_threads", lambda: 8)  # what the old wall × threads estimate multiplied by
    cfg = tiny_config(steps=10)

    def clocked(trainer):
        def step(batch):
            clock.cpu += 1.0
            clock.wall += 1.0 + (1000.0 if trainer.step == 3 else 0.0)
            return Trainer.train_step(trainer, batch)

        trainer.train_step = step
        return trainer

    prepare_run(cfg, tmp_path / "run", resume=False)
    trainer = clocked(Trainer(cfg, tmp_path / "run"))
    trainer.fit(max_steps=6, progress=False)
    assert (trainer.cpu_seconds, trainer.wall_seconds) == (6.0, 1006.0)
    resumed = clocked(Trainer(cfg, tmp_path / "run"))  # summed across resumes
    resumed.load_checkpoint()
    assert (resumed.cpu_seconds, resumed.wall_seconds) == (6.0, 1006.0)
    resumed.fit(progress=False)
    assert (resumed.cpu_seconds, resumed.wall_seconds) == (10.0, 1010.0)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert [(r["step"], r["seconds"], r["wall_seconds"]) for r in rows] == [
        ("5", "5.0", "1005.0"),
        ("6", "6.0", "1006.0"),
        ("10", "10.0", "1010.0"),
    ]
    card = export_run(tmp_path / "run", tmp_path / "m.safetensors")
    assert card["cpu_hours"] == round(10 / 3600, 2) and card["wall_hours"] == round(1010 / 3600, 2)
    assert "cpu_hours_note" not in card


@pytest.mark.slow
def test_init_from_is_recorded_and_the_card_continues_its_base(tmp_path, tiny_config):
    cfg = tiny_config(steps=4)
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    base = Trainer(cfg, tmp_path / "unused").model
    torch.nn.init.normal_(base.ending.weight, std=0.05)
    save_model(
        base,
        tmp_path / "base.safetensors",
        {
            "task": "denoise",
            "name": "base-model",
            "run": "base",
            "steps": 100,
            "cpu_hours": 1.5,
            "validation": {"last": 20.0},
            "config": {},
        },
    )

    first = run_training(config_file, tmp_path / "a", init_from=tmp_path / "base.safetensors", max_steps=2)
    assert yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())["init_from"] == str(
        tmp_path / "base.safetensors"
    )
    # Resumed without the flag: the run keeps its warm start (config and checkpoint).
    run_training(config_file, tmp_path / "a", resume=True)
    assert yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())["init_from"] == str(
        tmp_path / "base.safetensors"
    )
    card = export_run(tmp_path / "a", tmp_path / "a.safetensors")
    assert card["continues"]["name"] == "base-model" and card["continues"]["run"] == "base"
    assert (card["continues"]["steps"], card["continues"]["cpu_hours"], card["continues"]["validation"]) == (
        100,
        1.5,
        20.0,
    )
    assert card["steps"] == 4 and card["total_steps"] == 104
    assert card["total_cpu_hours"] == round(1.5 + card["cpu_hours"], 2)
    assert first.init_card["name"] == "base-model"

    # A continuation of a continuation adds to the base's totals; a model name works like a path.
    second = run_training(config_file, tmp_path / "b", init_from=tmp_path / "a.safetensors", max_steps=4)
    assert second.cfg.init_from == str(tmp_path / "a.safetensors")
    card2 = export_run(tmp_path / "b", tmp_path / "b.safetensors")
    assert card2["continues"]["name"] == "a" and card2["continues"]["total_steps"] == 104
    assert card2["total_steps"] == 108

    # Weights of another architecture or size: a one-line error, not a traceback.
    small = tiny_config(
        steps=4, model={"arch": "nafnet", "args": dict(width=4, enc_blocks=[1], mid_blocks=1, dec_blocks=[1])}
    )
    with pytest.raises(RestoraError, match="do not fit"):
        Trainer(small, tmp_path / "c").init_from(tmp_path / "base.safetensors")


@pytest.mark.slow
def test_init_from_on_the_command_line(tmp_path, tiny_config, invoke_cli):
    cfg = tiny_config(steps=2)
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    save_model(
        Trainer(cfg, tmp_path / "x").model,
        tmp_path / "base.safetensors",
        {"task": "denoise", "steps": 7, "cpu_hours": 0.25},
    )
    done = invoke_cli("train", config_file, "--run-dir", tmp_path / "run", "--init-from", tmp_path / "base.safetensors")
    assert done.exit_code == 0, done.output
    done = invoke_cli("export", tmp_path / "run", "-o", tmp_path / "m.safetensors")
    assert done.exit_code == 0, done.output
    card = load_module(tmp_path / "m.safetensors")[1]["card"]
    assert card["continues"]["name"] == "base" and card["total_steps"] == 9
    missing = invoke_cli(
        "train", config_file, "--run-dir", tmp_path / "run2", "--init-from", tmp_path / "nope.safetensors"
    )
    assert missing.exit_code != 0 and "nope.safetensors" in missing.output


@pytest.mark.slow
def test_extra_validation_is_its_own_column_and_can_select_the_exported_checkpoint(tmp_path, tiny_config):
    plain = tiny_config(steps=20, val_every=5)
    extra = plain.model_copy(update={"data": plain.data.model_copy(update={"val_extra": ["camera"]}), "select": "mean"})
    for cfg, name in ((plain, "plain"), (extra, "extra")):
        prepare_run(cfg, tmp_path / name, resume=False)
        Trainer(cfg, tmp_path / name).fit(progress=False)
    rows, plain_rows = read_log(tmp_path / "extra" / "log.csv"), read_log(tmp_path / "plain" / "log.csv")
    assert "val_psnr_camera" in rows[0] and "val_psnr_camera" not in plain_rows[0]
    val_rows = [r for r in rows if r["val_psnr"]]
    assert len(val_rows) == 4 and all(r["val_psnr_camera"] for r in val_rows)
    # The extra set changes neither training nor the main figure.
    assert [r["val_psnr"] for r in val_rows] == [r["val_psnr"] for r in plain_rows if r["val_psnr"]]
    assert [r["loss"] for r in rows] == [r["loss"] for r in plain_rows]
    # The camera set is fixed (seeded) and not the Gaussian one.
    files = split_train_val(extra.data)[1]
    (group,), (again,) = (extra_validation_groups(extra.data, files, extra.seed) for _ in range(2))
    assert group.name == "camera" and all(torch.equal(a[0], b[0]) for a, b in zip(group.pairs, again.pairs))

    means = {int(r["step"]): (float(r["val_psnr"]) + float(r["val_psnr_camera"])) / 2 for r in val_rows}
    best_step = max(means, key=means.get)
    best = torch.load(tmp_path / "extra" / "best.pt", weights_only=True)
    assert best["step"] == best_step and best["select"] == "mean"
    assert best["value"] == pytest.approx(means[best_step], abs=1e-6)

    card = export_run(tmp_path / "extra", tmp_path / "best.safetensors")  # select set: the best by default
    module, _ = load_module(tmp_path / "best.safetensors")
    for (k, a), (_, b) in zip(best["ema"].items(), module.state_dict().items()):
        assert torch.equal(a, b), k
    assert card["steps"] == best_step and card["selected"]["by"] == "mean" and card["selected"]["of_steps"] == 20
    assert card["validation"]["extra"]["camera"]["last"] == float(val_rows[-1]["val_psnr_camera"])
    assert card["validation"]["select"]["best"] == pytest.approx(means[best_step], abs=1e-4)
    last = export_run(tmp_path / "extra", tmp_path / "last.safetensors", pick="last")
    assert last["steps"] == 20 and "selected" not in last
    assert "selected" not in export_run(
        tmp_path / "plain", tmp_path / "plain.safetensors"
    )  # default: the last, as before

    with pytest.raises(ValueError, match="select"):
        TrainConfig(name="x", select="val_psnr_camera")  # not a figure of this run
    with pytest.raises(ValueError, match="unknown pipeline"):
        DataConfig(val_extra=["no-such-pipeline"])


def make_old_format(run_dir, estimate):
    """Turn a run folder into what the code before real CPU accounting wrote: a checkpoint without the new
    counters (compute_seconds: wall-clock × threads), a log without wall_seconds, a config without new fields."""
    s = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    for key in ("cpu_seconds", "wall_seconds", "estimated_seconds", "estimated_steps", "select"):
        del s[key]
    config = json.loads(s["config"])
    for key in ("init_from", "select"):
        del config[key]
    del config["data"]["val_extra"]
    s["compute_seconds"], s["config"] = estimate, json.dumps(config)
    torch.save(s, run_dir / "checkpoint.pt")
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    old_fields = [f for f in LOG_FIELDS if f != "wall_seconds"]
    rows = read_log(run_dir / "log.csv")
    with open(run_dir / "log.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=old_fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return old_fields


@pytest.mark.slow
def test_a_run_of_older_code_resumes_bit_exactly_and_says_its_compute_is_partly_estimated(tmp_path, tiny_config):
    cfg = tiny_config(steps=20)
    prepare_run(cfg, tmp_path / "straight", resume=False)
    straight = Trainer(cfg, tmp_path / "straight")
    straight.fit(progress=False)

    run = tmp_path / "old"
    prepare_run(cfg, run, resume=False)
    Trainer(cfg, run).fit(max_steps=10, progress=False)
    old_fields = make_old_format(run, estimate=7200.0)
    old_card = export_run(run, tmp_path / "old.safetensors")  # an old run exports as it is
    assert old_card["cpu_hours"] == 2.0 and "wall_hours" not in old_card and "1-10" in old_card["cpu_hours_note"]

    # Resumed with an extra validation set added to the config: training is unchanged, its column is appended.
    with_extra = cfg.model_copy(update={"data": cfg.data.model_copy(update={"val_extra": ["camera"]})})
    cfg_again = prepare_run(with_extra, run, resume=True)
    resumed = Trainer(cfg_again, run)
    resumed.load_checkpoint()
    assert resumed.step == 10 and resumed.cpu_seconds == 7200.0 and "1-10" in resumed.time_note
    resumed.fit(progress=False)
    for (k, a), (_, b) in zip(straight.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    for a, b in zip(straight.ema.parameters(), resumed.ema.parameters()):
        assert torch.equal(a, b)
    rows = read_log(run / "log.csv")
    assert list(rows[0]) == old_fields + ["val_psnr_camera"]  # the log keeps its columns, plus the new figure's
    assert [r["val_psnr_camera"] != "" for r in rows if r["val_psnr"]] == [False, True]  # steps 10 and 20
    assert float(rows[-1]["seconds"]) >= 7200.0 and rows[-1]["step"] == "20"
    card = export_run(run, tmp_path / "m.safetensors")
    assert card["steps"] == 20 and card["cpu_hours"] >= 2.0 and "1-10" in card["cpu_hours_note"]
    assert card["validation"]["last"] == float(rows[-1]["val_psnr"])
    assert card["validation"]["extra"]["camera"]["last"] == float(rows[-1]["val_psnr_camera"])
    assert (run / "curve.png").exists()
