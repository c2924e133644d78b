"""A tiny inpainting run: it trains on balanced damage with the per-crop loss, and `restora validate` reproduces
the figures its log holds for the exported weights."""

import pytest

from restora.train.card import export_run
from restora.train.checkpoint import prepare_run
from restora.train.config import ModelConfig, OptimConfig, RepairConfig
from restora.train.repair import RepairTrainer, validate_repair_models
from restora.train.runlog import read_log


@pytest.mark.slow
def test_a_repair_run_validates_as_it_logged(tmp_path, tiny_config, validate_cli):
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

    header, row = validate_cli(cfg, tmp_path / "fill.safetensors")
    assert header[-1] == "selected (val_psnr_hole)"
    assert float(row[-1]) == pytest.approx(scored["selected"], abs=1e-3)
