"""A tiny inpainting run: it trains on balanced damage with the per-crop loss, and `restora validate` reproduces
the figures its log holds for the exported weights."""

import pytest
import yaml

from restora.train.card import export_run
from restora.train.checkpoint import prepare_run
from restora.train.config import ModelConfig, OptimConfig, RepairConfig
from restora.train.repair import RepairTrainer, validate_repair_models
from restora.train.runlog import read_log


@pytest.mark.slow
def test_a_repair_run_validates_as_it_logged(tmp_path, tiny_config):
    from typer.testing import CliRunner

    from restora.cli import _register_commands, app

    cfg = tiny_config(
        steps=10,
        model=ModelConfig(arch="inpaintnet", args={"width": 8, "blocks": 1, "base": "telea"}),
        repair=RepairConfig(role="inpaint", holes="balanced", hole_weight="crop"),
        select="val_psnr_hole",
        optim=OptimConfig(lr=5e-3, warmup_steps=2, grad_clip=1.0, ema_decay=0.5),
    )
    prepare_run(cfg, tmp_path / "run", resume=False)
    RepairTrainer(cfg, tmp_path / "run").fit(progress=False)
    export_run(tmp_path / "run", tmp_path / "fill.safetensors", pick="last")
    logged = [r for r in read_log(tmp_path / "run" / "log.csv") if r["val_psnr_hole"]][-1]
    assert logged["step"] == "10"
    (scored,) = validate_repair_models(cfg, [str(tmp_path / "fill.safetensors")], "cpu")
    for key in ("val_psnr_thin", "val_psnr_large", "val_psnr_hole"):
        assert scored[key] == pytest.approx(float(logged[key]), abs=1e-3)
    assert scored["selected"] == scored["val_psnr_hole"]

    cfg_file = tmp_path / "fill.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    _register_commands()
    out = CliRunner().invoke(app, ["validate", str(cfg_file), str(tmp_path / "fill.safetensors"), "--threads", "1"])
    assert out.exit_code == 0, out.output
    header, row = out.output.strip().splitlines()
    assert header.split("\t")[-1] == "selected (val_psnr_hole)"
    assert float(row.split("\t")[-1]) == pytest.approx(scored["selected"], abs=1e-3)
