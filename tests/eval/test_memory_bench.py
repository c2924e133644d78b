"""restora bench --memory: peak RSS of the real command on a synthetic photo, each run in its own process."""

import json

import numpy as np

from restora.eval.memory import markdown, synthetic_photo
from restora.io import read_image


def test_synthetic_photo_has_the_asked_size(tmp_path):
    height, width = synthetic_photo(tmp_path / "p.png", 0.06)
    image = read_image(tmp_path / "p.png")
    assert (image.height, image.width) == (height, width) == (200, 300)
    assert 0.05 < float(np.std(image.pixels)) < 0.5  # a gradient with grain, not a flat field


def test_bench_memory_reports_the_peak_of_a_real_run(invoke_cli, tmp_path):
    result = invoke_cli("bench", "--memory", "0.05", "--methods", "nlm", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    (row,) = json.loads((tmp_path / "memory.json").read_text())
    assert row["model"] == "nlm" and row["megapixels"] == 0.05
    assert 50 < row["peak_rss_mb"] < 8000  # at least an interpreter with numpy; a real, finite high-water mark
    assert row["photo_mb"] == round(row["height"] * row["width"] * 3 * 4 / 2**20, 1)
    assert row["ratio"] > 1  # this tiny photo is far smaller than the interpreter
    assert "0.05 MP" in markdown([row]) and "0.05 MP" in result.output


def test_bench_memory_takes_one_model(invoke_cli, tmp_path):
    result = invoke_cli("bench", "--memory", "1", "--methods", "nlm,bm3d", "--out", str(tmp_path))
    assert result.exit_code == 2 and "one model" in result.output
