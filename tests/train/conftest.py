import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def tiny_data(tmp_path):
    """Eight 48² striped RGB images in a training folder (shared by the trainer tests)."""
    folder = tmp_path / "train"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    for i in range(8):
        stripes = 0.5 + 0.4 * np.sin(xx * (0.2 + 0.05 * i) + yy * 0.1 * i)
        img = np.dstack([stripes, np.roll(stripes, i, 0), stripes[::-1]]) + 0.02 * rng.standard_normal((48, 48, 3))
        Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8)).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture
def tiny_config(tiny_data):
    """Factory: ``tiny_config(steps=20, **fields)``, a tiny NAFNet run on ``tiny_data`` (Gaussian patches),
    logging every 5 steps, validating every 10, checkpointing every 5; ``fields`` replace the config's."""
    from restora.train.config import DataConfig, ModelConfig, OptimConfig, TrainConfig

    def make(steps=20, **fields):
        return TrainConfig(
            **{
                "name": "tiny",
                "steps": steps,
                "threads": 1,
                "data": DataConfig(
                    train_dir=str(tiny_data), val_count=2, val_crop=32, patch=32, batch=4, pipeline="gaussian"
                ),
                "model": ModelConfig(arch="nafnet", args=dict(width=8, enc_blocks=[1], mid_blocks=1, dec_blocks=[1])),
                "optim": OptimConfig(lr=5e-3, warmup_steps=2, grad_clip=0.0),
                "log_every": 5,
                "val_every": 10,
                "ckpt_every": 5,
                **fields,
            }
        )

    return make


@pytest.fixture
def validate_cli(tmp_path):
    """Factory: ``validate_cli(cfg, model)`` runs ``restora validate`` on ``cfg`` written as YAML and one model
    file, asserts it exits 0, and returns its header and row, split at the tabs."""
    import yaml
    from typer.testing import CliRunner

    from restora.cli import _register_commands, app

    def run(cfg, model) -> tuple[list[str], list[str]]:
        cfg_file = tmp_path / f"{cfg.name}.yaml"
        cfg_file.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
        _register_commands()
        out = CliRunner().invoke(app, ["validate", str(cfg_file), str(model), "--threads", "1"])
        assert out.exit_code == 0, out.output
        header, row = out.output.strip().splitlines()
        return header.split("\t"), row.split("\t")

    return run
