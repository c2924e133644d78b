"""``restora bench`` reports the reliability calibration of our models: predicted against measured gain."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from restora.cli import _register_commands, app

_register_commands()


@pytest.fixture
def data_dir(tmp_path, scene):
    """test/Tiny: three clean scenes; real/TinyReal: three noisy/clean pairs."""
    root = tmp_path / "data"
    (root / "test" / "Tiny").mkdir(parents=True)
    for sub in ("noisy", "clean"):
        (root / "real" / "TinyReal" / sub).mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(3):
        clean = np.rint(scene(64, 80, seed=i) * 255).astype(np.uint8)
        PILImage.fromarray(clean).save(root / "test" / "Tiny" / f"img{i}.png")
        noisy = np.clip(np.rint(clean + rng.normal(0, 4 + 6 * i, clean.shape)), 0, 255).astype(np.uint8)
        PILImage.fromarray(clean).save(root / "real" / "TinyReal" / "clean" / f"p{i}.png")
        PILImage.fromarray(noisy).save(root / "real" / "TinyReal" / "noisy" / f"p{i}.png")
    return root


@pytest.mark.slow
def test_bench_reports_reliability_calibration_per_set_and_overall(data_dir, tmp_path, tiny_model):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "--data",
            str(data_dir),
            "--sets",
            "Tiny,TinyReal",
            "--sigmas",
            "15,40",
            "--methods",
            f"{tiny_model},identity",
            "--out",
            str(out),
            "--threads",
            "1",
            "--no-speed",
            "--no-cache-scores",
            "--crops",
            "0",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    quality = json.loads((out / "results.json").read_text())["quality"]
    ours = [e for e in quality if e["method"] != "identity"]
    identity = {(e["set"], e["sigma"]): e for e in quality if e["method"] == "identity"}
    assert len(ours) == 3 and all("reliability" not in e for e in identity.values())
    for e in ours:
        c = e["reliability"]
        assert c["n"] == 3 and set(c) >= {"spearman", "mae", "bias", "coverage"}
        base = {r["image"]: r["psnr"] for r in identity[(e["set"], e["sigma"])]["images"]}
        for row in e["images"]:
            r = row["reliability"]
            assert r["low_db"] <= r["predicted_gain"] <= r["high_db"]
            # Measured gain: the output's PSNR minus the noisy input's, as the bench scores them.
            assert r["measured_gain"] == pytest.approx(row["psnr"] - base[row["image"]], abs=2e-3)
        errors = [abs(r["reliability"]["predicted_gain"] - r["reliability"]["measured_gain"]) for r in e["images"]]
        assert c["mae"] == pytest.approx(np.mean(errors), abs=2e-3)
    md = (out / "results.md").read_text()
    section = md[md.index("## Reliability calibration") :]
    assert "| Tiny σ=15 | 3 |" in section and "| TinyReal | 3 |" in section and "| **all** | 9 |" in section
