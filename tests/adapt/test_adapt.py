"""``restora adapt``: a short run on three small noisy photos lowers the self-supervised loss, writes a model
that loads (with its card), leaves the base untouched, resumes after an interruption; bad inputs get one line."""

from __future__ import annotations

import hashlib
import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from restora.adapt import AdaptConfig, adapt, estimate_camera_noise
from restora.adapt import trainer as adapt_trainer
from restora.models.modelfile import load_module, read_metadata, save_model
from restora.errors import BadInputError, ModelError, OutputError
from restora.explain.residual import lag_correlation
from restora.models.nafnet import NAFNet


def scene(height, width, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([0.3 + 0.4 * xx / width, 0.35 + 0.3 * yy / height, 0.5 + 0.2 * np.sin(xx / 13 + seed)], axis=2)
    img[height // 4 : height // 2, width // 3 : 2 * width // 3] = rng.uniform(0.2, 0.8, 3)
    return img.astype(np.float32)


def camera_noise(shape, sigma, rng):
    """Spatially correlated colour noise like a camera's (blurred white noise, rescaled to σ)."""
    n = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 0.8)
    return n / n.std() * sigma / 255


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(3):
        clean = scene(96, 112, i)
        noisy = np.clip(clean + camera_noise(clean.shape, 12.0, rng), 0, 1)
        path = tmp_path / f"IMG_{i:04d}.png"
        PILImage.fromarray(np.rint(noisy * 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def base(tmp_path):
    torch.manual_seed(0)
    net = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,), uses_sigma=True)
    with torch.no_grad():  # a poor denoiser (it adds a pattern of its own), so a short run has much to gain
        net.ending.weight.normal_(0, 0.05)
    path = tmp_path / "base.safetensors"
    save_model(
        net, path, {"name": "base", "task": "denoise", "tasks": ["denoise"], "steps": 123, "summary": "tiny test net"}
    )
    return path


def quick(**kw) -> AdaptConfig:
    """A short run: tiny patches, a fast learning rate and a light pull to the base (the base is untrained), a
    short EMA, evaluations every few steps."""
    settings = dict(
        minutes=5.0,
        steps=40,
        patch=32,
        batch=4,
        lr=2e-3,
        anchor=1.0,
        ema_decay=0.9,
        eval_every=10,
        patience=10,
        regions_per_photo=1,
    )
    settings.update(kw)
    return AdaptConfig(**settings)


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_short_adaptation_lowers_the_loss_writes_a_loadable_model_and_keeps_the_base(tmp_path, photos, base):
    before = digest(base)
    out = tmp_path / "my-camera.safetensors"
    result = adapt(photos, out, base=str(base), cfg=quick(), progress=False)
    assert result.improved and result.best_loss < 0.9 * result.base_loss
    assert [h["step"] for h in result.history] == [10, 20, 30, 40]
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"] * 1.05
    assert digest(base) == before  # the base file is untouched
    module, meta = load_module(out)
    assert isinstance(module, NAFNet)
    card = meta["card"]
    assert card["adaptation"]["photos"] == 3 and card["adaptation"]["steps"] == 40
    assert (
        card["adaptation"]["minutes"] >= 0
        and card["base_model"]["name"] == "base"
        and card["base_model"]["steps"] == 123
    )
    assert card["task"] == "denoise" and "adapted" in card["summary"]
    base_module, _ = load_module(base)
    changed = [k for k, v in module.state_dict().items() if not torch.equal(v, base_module.state_dict()[k])]
    assert changed
    assert not (tmp_path / "my-camera.safetensors.adapt-state.pt").exists()
    # the adapted model denoises through the engine like any other
    from restora.engine import run_restore

    y = np.asarray(PILImage.open(photos[0]), np.float32) / 255
    assert run_restore(y, model=str(out), tile=0, device="cpu").image.pixels.shape == y.shape


@pytest.mark.slow
def test_an_interrupted_run_resumes(tmp_path, photos, base, monkeypatch):
    out = tmp_path / "cam.safetensors"
    real_batch = adapt_trainer.R2RBatches.batch

    def interrupt_at_12(self, step):
        if step == 12:
            raise KeyboardInterrupt
        return real_batch(self, step)

    monkeypatch.setattr(adapt_trainer.R2RBatches, "batch", interrupt_at_12)
    with pytest.raises(KeyboardInterrupt):
        adapt(photos, out, base=str(base), cfg=quick(steps=20, eval_every=5), progress=False)
    state = tmp_path / "cam.safetensors.adapt-state.pt"
    assert state.exists() and not out.exists()
    monkeypatch.setattr(adapt_trainer.R2RBatches, "batch", real_batch)
    with pytest.raises(OutputError, match="--resume"):
        adapt(photos, out, base=str(base), cfg=quick(steps=20, eval_every=5), progress=False)
    resumed = adapt(photos, out, base=str(base), cfg=quick(steps=20, eval_every=5), resume=True, progress=False)
    assert resumed.steps == 20 and [h["step"] for h in resumed.history] == [5, 10, 15, 20]
    straight = adapt(
        photos, tmp_path / "straight.safetensors", base=str(base), cfg=quick(steps=20, eval_every=5), progress=False
    )
    assert resumed.history[-1]["held_out"] == pytest.approx(straight.history[-1]["held_out"], rel=1e-4)
    assert not state.exists() and read_metadata(out)["card"]["adaptation"]["steps"] == 20
    with pytest.raises(OutputError, match="no interrupted run"):
        adapt(photos, out, base=str(base), cfg=quick(steps=20, eval_every=5), resume=True, progress=False)


def test_noise_model_measures_correlated_noise_from_noisy_photos_alone():
    rng = np.random.default_rng(1)
    clean = [scene(128, 128, i) for i in range(3)]
    noisy = [c + camera_noise(c.shape, 10.0, rng) for c in clean]
    model = estimate_camera_noise(noisy)
    assert np.all(np.abs(np.median(model.sigma, axis=1) - 10.0) < 2.0)
    sample = model.sample(clean[0], np.random.default_rng(2))
    assert sample.shape == clean[0].shape
    assert abs(float(sample.std()) * 255 - 10.0) < 2.0
    true_lag = lag_correlation(noisy[0] - clean[0])
    assert true_lag > 0.3 and abs(lag_correlation(sample) - true_lag) < 0.15
    json.dumps(model.to_dict())


@pytest.mark.slow
def test_bad_inputs(tmp_path, photos, base):
    out = tmp_path / "m.safetensors"
    with pytest.raises(BadInputError):
        adapt([], out, base=str(base), cfg=quick(), progress=False)
    with pytest.raises(BadInputError):
        adapt([tmp_path / "missing.jpg"], out, base=str(base), cfg=quick(), progress=False)
    with pytest.raises(OutputError):
        adapt(photos, tmp_path / "m.pt", base=str(base), cfg=quick(), progress=False)
    with pytest.raises(ModelError):
        adapt(photos, out, base="nlm", cfg=quick(), progress=False)
    with pytest.raises(OutputError):
        adapt(photos, base, base=str(base), cfg=quick(), progress=False)
    small = tmp_path / "small.png"
    PILImage.fromarray(np.zeros((20, 20, 3), np.uint8)).save(small)
    with pytest.raises(BadInputError):
        adapt([small], out, base=str(base), cfg=quick(), progress=False)


def test_cli_adapts_and_reports(tmp_path, photos, base, invoke_cli):
    out = tmp_path / "cam.safetensors"
    r = invoke_cli("adapt", *photos, "-o", out, "--from", base, "--steps", "4", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert out.is_file() and "wrote" in r.stdout and "--model" in r.stdout


def test_cli_takes_a_folder_of_photos_and_creates_the_output_folder(tmp_path, photos, base, invoke_cli):
    out = tmp_path / "models" / "new" / "cam.safetensors"
    r = invoke_cli("adapt", tmp_path, "-o", out, "--from", base, "--steps", "2", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert out.is_file() and f"{len(photos)} photos" in r.stdout  # the base model in the folder is no photo


def test_cli_minutes_zero_is_no_time_limit(tmp_path, photos, base, invoke_cli):
    out = tmp_path / "cam.safetensors"
    r = invoke_cli("adapt", *photos, "-o", out, "--from", base, "--steps", "2", "--minutes", "0", "--threads", "1")
    assert r.exit_code == 0, r.stderr
    assert read_metadata(out)["card"]["adaptation"] and "2 steps" in r.stdout


def test_minutes_zero_without_steps_stops_when_the_held_out_loss_stops_improving(tmp_path, photos, base):
    out = tmp_path / "cam.safetensors"
    result = adapt(
        photos,
        out,
        base=str(base),
        cfg=quick(minutes=0.0, steps=None, patience=1, eval_every=5, lr=0.0),
        progress=False,
    )
    assert out.is_file() and result.steps == 5  # lr 0: the first evaluation gains nothing, so the run stops


def test_cli_empty_folder_is_a_usage_error(tmp_path, base, invoke_cli):
    (tmp_path / "empty").mkdir()
    r = invoke_cli("adapt", tmp_path / "empty", "-o", tmp_path / "cam.safetensors", "--from", base)
    assert r.exit_code == 2 and "no photos found" in r.stderr


@pytest.mark.parametrize("case", ["no-output", "missing-photo", "bad-output", "exists", "bad-model", "corrupt"])
def test_cli_bad_inputs_get_one_line(tmp_path, photos, base, case, invoke_cli):
    out = tmp_path / "cam.safetensors"
    args = [*photos, "-o", out, "--from", base, "--steps", "2"]
    if case == "no-output":
        args = [*photos, "--from", base]
    elif case == "missing-photo":
        args[0] = tmp_path / "gone.jpg"
    elif case == "bad-output":
        args[4] = tmp_path / "cam.onnx"
    elif case == "exists":
        out.write_bytes(b"keep")
    elif case == "bad-model":
        args[6] = tmp_path / "nothing.safetensors"
    elif case == "corrupt":
        args[0] = tmp_path / "broken.png"
        args[0].write_bytes(b"\x89PNG\r\n\x1a\n broken")
    r = invoke_cli("adapt", *args)
    # Usage errors exit 2 as in `restora denoise`; a photo that cannot be read is a failure (1).
    assert r.exit_code == (1 if case == "corrupt" else 2), r.stderr
    if case == "no-output":  # typer's own usage error for a missing required option
        assert "Missing option" in r.stderr
        return
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("restora: error:"), r.stderr
    if case == "exists":
        assert out.read_bytes() == b"keep"


def test_evaluation_on_pairs_scores_every_camera(tmp_path, base):
    from restora.adapt.evaluate import evaluate_adaptation, markdown_table

    rng = np.random.default_rng(5)
    for folder in ("noisy", "clean"):
        (tmp_path / "pairs" / folder).mkdir(parents=True)
    for cam in ("CamA", "CamB"):
        for i in range(2):
            clean = scene(80, 96, i)
            name = f"{cam}_{i}.png"
            PILImage.fromarray(np.rint(clean * 255).astype(np.uint8)).save(tmp_path / "pairs" / "clean" / name)
            noisy = np.clip(clean + camera_noise(clean.shape, 10.0, rng), 0, 1)
            PILImage.fromarray(np.rint(noisy * 255).astype(np.uint8)).save(tmp_path / "pairs" / "noisy" / name)
    summary = evaluate_adaptation(
        str(base), tmp_path / "pairs", quick(steps=4, eval_every=2), work_dir=tmp_path, log=lambda s: None
    )
    assert [r["camera"] for r in summary["cameras"]] == ["CamA", "CamB"]
    assert all(r["scored"] == 2 and len(r["per_image"]) == 2 for r in summary["cameras"])
    assert summary["gain"] == pytest.approx(summary["psnr_adapted"] - summary["psnr_base"])
    assert "| **all 4** |" in markdown_table(summary)
    assert all(set(r["removed_structure"]) == {"base", "adapted", "noise_alone", "limit"} for r in summary["cameras"])


def test_benchmark_script_runs_a_fixed_number_of_steps(tmp_path, base, monkeypatch):
    """benchmarks/adapt_polyu.py --steps N: every camera runs exactly N steps whatever the clock says."""
    import importlib.util
    from pathlib import Path

    import restora.settings

    rng = np.random.default_rng(7)
    pairs = tmp_path / "data" / "real" / "PolyU50"
    for folder in ("noisy", "clean"):
        (pairs / folder).mkdir(parents=True)
    for i in range(2):
        clean = scene(80, 96, i)
        PILImage.fromarray(np.rint(clean * 255).astype(np.uint8)).save(pairs / "clean" / f"CamA_{i}.png")
        noisy = np.clip(clean + camera_noise(clean.shape, 10.0, rng), 0, 1)
        PILImage.fromarray(np.rint(noisy * 255).astype(np.uint8)).save(pairs / "noisy" / f"CamA_{i}.png")
    monkeypatch.setattr(restora.settings, "data_dir", lambda required=True: tmp_path / "data")
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "adapt_polyu.py"
    spec = importlib.util.spec_from_file_location("adapt_polyu", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "summary.json"
    module.main(["--model", str(base), "--steps", "3", "--out", str(out)])
    summary = json.loads(out.read_text())
    assert summary["steps_per_camera"] == 3 and summary["minutes_per_camera"] is None
    assert [r["steps"] for r in summary["cameras"]] == [3]


def test_noise_level_range_brackets_noise_that_jpeg_left_only_in_part_of_the_photo():
    """Flat tiles of a JPEG keep less noise than the rest: the flattest fifth gives the low end of the range,
    the flatter half a higher end; the true level of the noisier tiles lies above the low end."""
    rng = np.random.default_rng(3)
    photos = []
    for i in range(3):
        clean = scene(256, 256, i)
        sigma = np.where(rng.random((8, 8)) < 0.3, 3.0, 9.0).repeat(32, 0).repeat(32, 1)[..., None]
        photos.append(clean + camera_noise(clean.shape, 1.0, rng) * sigma)
    model = estimate_camera_noise(photos)
    assert np.all(model.sigma_high >= model.sigma)
    assert np.median(model.sigma) < 4.5 and np.median(model.sigma_high) > 6.0
    low = model.sample(photos[0], np.random.default_rng(4), level=0.0).std() * 255
    high = model.sample(photos[0], np.random.default_rng(4), level=1.0).std() * 255
    assert high > 1.3 * low
    assert model.to_dict()["sigma_high"][0][0] >= model.to_dict()["sigma"][0][0]


def test_criterion_is_the_worst_case_over_the_noise_levels():
    base = {0.0: 1.0, 1.0: 2.0}
    assert adapt_trainer.improvement({0.0: 0.9, 1.0: 1.8}, base) == pytest.approx(0.1)
    assert adapt_trainer.improvement({0.0: 0.8, 1.0: 2.1}, base) == pytest.approx(-0.05)


class _Subtract(torch.nn.Module):
    """Removes a fixed field from its input: the true noise (a perfect denoiser) or image structure."""

    uses_sigma = False

    def __init__(self, field):
        super().__init__()
        self.field = torch.from_numpy(np.ascontiguousarray(field, np.float32)).permute(2, 0, 1)[None]

    def forward(self, x):
        return x - self.field


def test_removed_structure_tells_noise_from_detail():
    """Removing exactly the (correlated) noise stays under the limit, which allows what noise alone shows by
    chance; removing the picture's fine detail with it goes far over."""
    rng = np.random.default_rng(6)
    clean = scene(128, 128, 0)
    yy, xx = np.mgrid[0:128, 0:64].astype(np.float32)
    clean[:, :64] += (0.2 * np.sin(xx / 3.0) * np.cos(yy / 5.0))[..., None]  # texture on the left half
    noise = camera_noise(clean.shape, 6.0, rng)
    region = adapt_trainer.Region(clean + noise, np.full(3, 6.0, np.float32))
    crops = adapt_trainer.structure_set([region], estimate_camera_noise([region.pixels]))
    null = adapt_trainer.removed_structure(_Subtract(0 * noise), crops, null=True)
    limit = adapt_trainer.structure_limit(0.0, null)
    detail = clean - cv2.GaussianBlur(clean, (0, 0), 2.0)
    assert adapt_trainer.removed_structure(_Subtract(noise), crops) <= limit
    assert adapt_trainer.removed_structure(_Subtract(noise + 0.5 * detail), crops) > 0.5 > limit
    assert adapt_trainer.structure_limit(0.02, 0.05) == pytest.approx(0.1)  # explain's "contains structure" level
    assert adapt_trainer.structure_limit(0.3, 0.05) == 0.3 and adapt_trainer.structure_limit(0.02, 0.2) == 0.2


@pytest.mark.slow
def test_weights_that_remove_structure_are_not_kept(tmp_path, photos, base, monkeypatch):
    """The R2R loss falls, but the candidate weights remove image structure: the base is written unchanged."""
    calls = []

    def structure(module, crops, null=False):
        calls.append(null)
        return 0.0 if len(calls) <= 2 else 0.5  # the base and the null first, then every candidate

    monkeypatch.setattr(adapt_trainer, "removed_structure", structure)
    out = tmp_path / "cam.safetensors"
    result = adapt(photos, out, base=str(base), cfg=quick(steps=20, eval_every=5, patience=2), progress=False)
    assert calls[:3] == [False, True, False]
    assert not result.improved and result.steps == 10  # stopped after `patience` rejected evaluations
    assert all(h["improvement"] > 0 and h["structure"] == 0.5 for h in result.history)
    card = read_metadata(out)["card"]["adaptation"]
    assert card["improved"] is False and card["removed_structure"]["limit"] == pytest.approx(0.1)
    written, _ = load_module(out)
    base_module, _ = load_module(base)
    assert all(torch.equal(v, base_module.state_dict()[k]) for k, v in written.state_dict().items())
