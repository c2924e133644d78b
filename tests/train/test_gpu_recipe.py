"""The GPU recipe (scripts/gpu-train.sh, restora.train.pack): argument handling and a CPU dry run."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from restora.errors import RestoraError
from restora.train.config import TrainConfig
from restora.train.pack import pack_sets

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gpu-train.sh"


def textured_set(folder, n, size=64, seed=0):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size + 8, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture
def tiny_sets_config(tmp_path):
    a, b = textured_set(tmp_path / "data" / "setA", 6), textured_set(tmp_path / "data" / "setB", 5, seed=1)
    cfg = {
        "name": "tiny-gpu",
        "steps": 50,
        "threads": 1,
        "data": {
            "sets": [{"dir": str(a), "weight": 2, "val_count": 1}, {"dir": str(b), "weight": 1, "val_count": 1}],
            "patch": 32,
            "batch": 2,
            "val_crop": 32,
            "pipeline": "gaussian",
            "augment": {"clip_prob": 0.5},
        },
        "model": {
            "arch": "nafnet",
            "args": {"width": 8, "enc_blocks": [1], "mid_blocks": 1, "dec_blocks": [1], "uses_sigma": True},
        },
        "optim": {"lr": 1e-3, "warmup_steps": 1},
        "select": "mean",
        "log_every": 1,
        "val_every": 2,
        "ckpt_every": 2,
    }
    path = tmp_path / "tiny-gpu.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def script(*args, env=None, cwd=ROOT):
    full = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, env=full, cwd=cwd, timeout=300)


def test_pack_keeps_the_held_out_slices_whole_and_fills_sets_by_weight(tmp_path, tiny_sets_config):
    cfg = TrainConfig.from_yaml(tiny_sets_config)
    packed = pack_sets(cfg, tmp_path / "packed", budget_bytes=10**7, crop=48)
    assert [t.dir for t in packed.data.sets] == ["setA", "setB"] and packed.data.val_real is None
    for name, train, val in (("setA", 5, 1), ("setB", 4, 1)):
        files = sorted(p.name for p in (tmp_path / "packed" / name).iterdir())
        assert len(files) == train + val and files[-val:] == [f"v{i:04d}.jpg" for i in range(val)]
        assert Image.open(tmp_path / "packed" / name / files[0]).size == (48, 48)
    with pytest.raises(RestoraError, match="budget"):
        pack_sets(cfg, tmp_path / "small", budget_bytes=3000, crop=48)


def test_usage_errors_exit_2_with_one_line():
    for args, words in (
        ((), "usage"),
        (("run", "soon", "/tmp/x"), "MINUTES must be a number"),
        (("pack", "no-such.yaml"), "no config"),
    ):
        done = script(*args)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


def test_run_without_packed_data_says_to_pack_first(tmp_path):
    done = script("run", "1", str(tmp_path / "out"), env={"CARRY": str(tmp_path / "nothing")})
    assert done.returncode == 2 and "pack" in done.stderr


def test_dry_run_on_the_cpu_trains_exports_and_brings_back_the_weights(tmp_path, tiny_sets_config):
    carry, out = tmp_path / "carry", tmp_path / "out"
    env = {"CARRY": str(carry), "INIT_FROM": ""}
    packed = script("pack", str(tiny_sets_config), "1", env=env)
    assert packed.returncode == 0, packed.stderr
    done = script("run", "5", str(out), "--device", "cpu", "--max-steps", "3", env=env)
    assert done.returncode == 0, done.stderr
    assert {"tiny-gpu.safetensors", "log.csv", "train.log"} <= {p.name for p in out.iterdir()}
    from restora.models.modelfile import read_metadata

    card = read_metadata(out / "tiny-gpu.safetensors")["card"]
    assert card["selected"]["of_steps"] == 3 and card["selected"]["step"] in (2, 3)  # the best by the config's select
    assert card["validation"]["per_task"].keys() >= {"setA", "setB"}
