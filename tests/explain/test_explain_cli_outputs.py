"""``restora denoise``/``restora batch`` with ``--noise-map``, ``--residual`` and the reliability line."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from restora.explain.outputs import heat_map


@pytest.fixture
def cli(tmp_path, monkeypatch, invoke_cli):
    """``cli("denoise", ...)`` in ``tmp_path``: (exit code, stdout, stderr); fails on a traceback."""
    monkeypatch.chdir(tmp_path)

    def invoke(*args):
        result = invoke_cli(*args)
        return result.exit_code, result.stdout, result.stderr

    return invoke


@pytest.fixture
def photo(tmp_path, scene):
    """Write an 8-bit photo of the test scene with Gaussian noise σ=20 (0–255) at a path under tmp_path."""

    def make(name="photo.png", seed=0, height=96, width=128):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        clean = scene(height, width, seed)
        noisy = clean + np.random.default_rng(seed).normal(0, 20 / 255, clean.shape)
        PILImage.fromarray(np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)).save(path)
        return path

    return make


def rgb(path) -> np.ndarray:
    return np.asarray(PILImage.open(path).convert("RGB"))


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("restora: error:"), err
    return lines[0]


def test_exact_noise_map_and_residual_files(cli, photo, tmp_path):
    source = photo()
    code, out, err = cli(
        "denoise",
        source,
        "-o",
        "clean.png",
        "--model",
        "nlm",
        "--noise-map",
        "maps/noise.npy",
        "--residual",
        "maps/residual.tif",
    )
    assert code == 0, err
    noise = np.load(tmp_path / "maps" / "noise.npy")
    assert noise.shape == (96, 128, 3) and noise.dtype == np.float32
    assert abs(float(noise.mean()) - 20) < 2  # synthetic σ=20 reads ≈ 20 on the 0–255 scale
    r = tifffile.imread(tmp_path / "maps" / "residual.tif")
    assert r.shape == (96, 128, 3) and r.dtype == np.float32
    # input − output exactly; the 8-bit output file is the float output rounded.
    expected = (rgb(source).astype(np.float32) - rgb(tmp_path / "clean.png")) / 255
    assert np.abs(r - expected).max() <= 0.5 / 255 + 1e-6
    assert r.std() > 10 / 255  # the removed noise
    assert out.count("reliability: predicted gain") == 1 and "confidence" in out


def test_picture_formats_are_for_looking_at(cli, photo, tmp_path):
    photo()
    code, out, err = cli(
        "denoise",
        "photo.png",
        "-o",
        "clean.png",
        "--model",
        "identity",
        "--noise-map",
        "noise.png",
        "--residual",
        "residual.png",
    )
    assert code == 0, err
    view = rgb(tmp_path / "noise.png")
    assert view.shape == (96, 128, 3)
    # Coloured on the photo's own scale, printed with the file; the median colour shows σ ≈ 20.
    scale = float(re.search(r"noise map noise\.png: σ 0–([0-9.]+)", out)[1])
    assert 20 <= scale <= 30
    grid = np.linspace(0, scale, 241)
    colours = heat_map(grid[None, :], scale)[0].astype(int)
    median = np.median(view.reshape(-1, 3), axis=0)
    assert 17 <= grid[np.argmin(np.abs(colours - median).sum(axis=1))] <= 23
    assert set(np.unique(rgb(tmp_path / "residual.png"))) == {128}  # identity removed nothing: mid-grey


def test_folder_mode_writes_beside_each_output_from_a_pattern(cli, photo, tmp_path):
    photo("in/a.png")
    photo("in/sub/b.png", seed=1)
    code, out, err = cli(
        "denoise",
        "in",
        "-r",
        "-o",
        "out",
        "--model",
        "identity",
        "--noise-map",
        "{stem}.noise.png",
        "--residual",
        "residuals/{stem}.npy",
    )
    assert code == 0, err
    found = sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert found == ["a.noise.png", "a.png", "residuals/a.npy", "sub/b.noise.png", "sub/b.png", "sub/residuals/b.npy"]
    assert np.all(np.load(tmp_path / "out" / "sub" / "residuals" / "b.npy") == 0)
    assert out.count("reliability:") == 2

    # A re-run skips the done photos and writes none of their side files.
    (tmp_path / "out" / "a.noise.png").unlink()
    code, out, _ = cli("denoise", "in", "-r", "-o", "out", "--model", "identity", "--noise-map", "{stem}.noise.png")
    assert code == 0 and "2 skipped" in out and not (tmp_path / "out" / "a.noise.png").exists()


def test_batch_writes_side_outputs_too(cli, photo, tmp_path):
    photo("in/a.png")
    photo("in/b.png", seed=1)
    code, out, err = cli(
        "batch", "in", "-o", "out", "--model", "identity", "--noise-map", "{stem}-noise.npy", "--no-reliability"
    )
    assert code == 0, err
    assert np.load(tmp_path / "out" / "b-noise.npy").shape == (96, 128, 3)
    assert "reliability:" not in out


def test_reliability_line_is_denoising_only_and_can_be_turned_off(cli, photo):
    photo()
    code, out, _ = cli("denoise", "photo.png", "-o", "a.png", "--model", "identity", "--no-reliability")
    assert code == 0 and "reliability" not in out
    code, out, _ = cli("lowlight", "photo.png", "-o", "b.png", "--model", "gamma")
    assert code == 0 and "reliability" not in out


def test_out_of_range_photo_gets_the_warning_on_its_line(cli, tmp_path, scene):
    clean = scene(96, 128)
    noisy = clean + np.random.default_rng(3).normal(0, 120 / 255, clean.shape)
    PILImage.fromarray(np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)).save(tmp_path / "loud.png")
    code, out, _ = cli("denoise", "loud.png", "-o", "out.png", "--model", "identity")
    assert code == 0
    (line,) = [line for line in out.splitlines() if "reliability:" in line]
    assert "low confidence" in line and "out of range" in line and "trained on" in line


@pytest.mark.parametrize("case", ["plain-path-many-inputs", "escapes", "over-input", "exists", "extension", "collides"])
def test_bad_side_outputs_are_refused_before_any_work(cli, photo, tmp_path, case):
    photo("in/a.png")
    photo("in/b.png", seed=1)
    before = rgb(tmp_path / "in" / "a.png")
    args = ["in", "-o", "out", "--model", "identity"]
    if case == "plain-path-many-inputs":
        args += ["--noise-map", "noise.png"]
    elif case == "escapes":
        args += ["--residual", "../{stem}.png"]
    elif case == "over-input":
        args = ["in/a.png", "-o", "a-clean.png", "--model", "identity", "--noise-map", "in/a.png"]
    elif case == "exists":
        (tmp_path / "out").mkdir()
        (tmp_path / "out" / "b.noise.png").write_bytes(b"keep me")
        args += ["--noise-map", "{stem}.noise.png"]
    elif case == "extension":
        args += ["--noise-map", "{stem}.xyz"]
    elif case == "collides":
        args += ["--noise-map", "{stem}.png"]  # the output's own name
    code, _, err = cli("denoise", *args)
    assert code == 2
    line = one_error_line(err)
    assert ("--noise-map" in line) or ("--residual" in line)
    assert not (tmp_path / "out" / "a.png").exists() and not (tmp_path / "a-clean.png").exists()
    np.testing.assert_array_equal(rgb(tmp_path / "in" / "a.png"), before)
    if case == "exists":
        assert (tmp_path / "out" / "b.noise.png").read_bytes() == b"keep me"
        code, _, err = cli("denoise", *args, "--overwrite")
        assert code == 0, err
        assert rgb(tmp_path / "out" / "b.noise.png").shape == (96, 128, 3)
