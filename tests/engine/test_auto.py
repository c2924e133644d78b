"""``--task auto``: detection with an all-in-one model, the choice of model, the CLI and API paths.

A trained all-in-one model is not needed to test the machinery: ``StatsDescriber`` is a test-only
architecture with the all-in-one interface (``describe``, ``forward(x, embedding=)``) whose logits come from
plain image statistics, so clear synthetic examples (a dark photo, a hazy one, a noisy one) are detected
for certain. It is saved and loaded like any model file.
"""

import os

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

import restora
from restora.engine import run_restore
from restora.engine.detect import detected_tasks, probabilities
from restora.models.modelfile import save_model
from restora.models.registry import register_arch

TASKS = ("denoise", "deblur", "derain", "dehaze", "lowlight")


@register_arch("test-stats-describer")
class StatsDescriber(torch.nn.Module):
    """Logits from statistics: noise (pixel-to-pixel jitter) → denoise, dark → lowlight, a lifted dark
    channel with low contrast → dehaze. ``forward`` applies the embedding's gain (brightens dark images)."""

    TASKS = TASKS
    uses_sigma = False
    size_multiple = 1
    context = 2

    def __init__(self, scale: float = 40.0):
        super().__init__()
        self.config = {"scale": scale}
        self.scale = torch.nn.Parameter(torch.tensor(scale))

    def describe(self, x):
        mean = x.mean((1, 2, 3))
        jitter = (x[:, :, :, 1:] - x[:, :, :, :-1]).abs().mean((1, 2, 3))
        dark_channel = x.amin(1).mean((1, 2))
        contrast = x.std((1, 2, 3))
        zero = torch.zeros_like(mean)
        logits = (
            torch.stack([jitter - 0.05, zero - 0.5, zero - 0.5, dark_channel - 0.45 - contrast, 0.2 - mean], 1)
            * self.scale
        )
        severity = torch.sigmoid(logits)
        gain = (0.5 / mean.clamp_min(0.05)).clamp(1.0, 8.0)
        return {"embedding": torch.stack([gain, mean], 1), "logits": logits, "severity": severity}

    def forward(self, x, embedding=None):
        if embedding is None:
            embedding = self.describe(x)["embedding"]
        return (x * embedding[:, :1, None, None]).clamp(0, 1)


def smooth_scene(h=64, w=80):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 0.5 + 0.35 * np.sin(xx / 9.0)
    g = 0.45 + 0.3 * np.cos(yy / 7.0)
    b = 0.2 + 0.6 * (xx / w)
    return np.clip(np.dstack([r, g, b]), 0, 1).astype(np.float32)


def examples() -> dict:
    scene = smooth_scene()
    rng = np.random.default_rng(0)
    return {
        "lowlight": scene * 0.08,
        "dehaze": 0.35 * scene + 0.65 * np.array([0.9, 0.9, 0.92], np.float32),
        "denoise": np.clip(scene + rng.normal(0, 30 / 255, scene.shape), 0, 1).astype(np.float32),
    }


@pytest.fixture(autouse=True)
def five_way_only(request, monkeypatch):
    """These tests are of the five-way routing: the real damage detector's reading of the tiny synthetic scenes
    (a flat bright haze reads as a blotch) is kept out; the repair route has its own tests (test_auto_repair.py)."""
    if request.module.__name__.endswith("test_auto"):
        from restora.engine import detect

        monkeypatch.setattr(detect, "repair_reading", lambda small: None)


@pytest.fixture(scope="module")
def describer(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "stats-describer.safetensors"
    save_model(StatsDescriber(), path, {"tasks": list(TASKS), "summary": "test stand-in"})
    return path


@pytest.mark.parametrize("expected", ["lowlight", "dehaze", "denoise"])
def test_clear_examples_are_detected_and_routed(describer, expected):
    result = run_restore(examples()[expected], task="auto", model=str(describer), device="cpu")
    d = result.detection
    assert d.task == expected and d.detected[0] == expected and result.task == expected
    assert d.probabilities[expected] > 0.9 and sum(d.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert set(d.strengths) == set(TASKS) and all(0.0 <= s <= 1.0 for s in d.strengths.values())
    # Denoising has its own shipped model; the other two fall back to the all-in-one model.
    assert result.model == ("restora-denoise" if expected == "denoise" else "stats-describer")
    assert d.model in ("restora-denoise", str(describer))


def test_auto_restores_with_the_embedding_of_the_whole_image(describer):
    dark = examples()["lowlight"]
    out = run_restore(dark, task="auto", model=str(describer), tile=0, device="cpu").image.pixels
    tiled = run_restore(dark, task="auto", model=str(describer), tile=64, device="cpu").image.pixels
    assert out.mean() > 3 * dark.mean()  # brightened by the whole image's gain
    assert np.abs(out - tiled).max() < 1e-6


def test_python_api_takes_task_auto(describer):
    dark = (examples()["lowlight"] * 255).astype(np.uint8)
    out = restora.restore(dark, task="auto", model=str(describer), device="cpu")
    assert out.shape == dark.shape and out.dtype == np.float32 and out.mean() > dark.mean() / 255 * 3


def test_several_types_detected_go_to_the_all_in_one_model(describer, monkeypatch):
    import restora.engine.detect as detect

    monkeypatch.setattr(detect, "DETECT_THRESHOLD", 0.0)  # every type counts as detected
    result = run_restore(examples()["denoise"], task="auto", model=str(describer), device="cpu")
    assert len(result.detection.detected) == 5 and result.model == "stats-describer"


def test_probabilities_and_threshold():
    logits = torch.tensor([[2.0, 0.0, 0.0, 0.0, 0.0]])
    p = probabilities(logits)
    assert p.shape == (1, 5) and p.sum() == pytest.approx(1.0) and p[0, 0] > 0.5
    assert np.allclose(probabilities(logits, multilabel=True), 1 / (1 + np.exp(-logits.numpy())))
    assert detected_tasks({"denoise": 0.3, "dehaze": 0.45, "lowlight": 0.25}) == ["dehaze"]  # the top one at least
    assert detected_tasks({"denoise": 0.6, "dehaze": 0.7, "lowlight": 0.1}) == ["dehaze", "denoise"]


# ---------------------------------------------------------------------------------------------------
# Command line


@pytest.fixture
def cli(tmp_path, monkeypatch, invoke_cli):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    return invoke_cli


def save_png(path, pixels):
    PILImage.fromarray(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8)).save(path)


def test_restore_task_auto_reports_detections_and_writes_outputs(cli, tmp_path, describer):
    for name, pixels in examples().items():
        save_png(tmp_path / f"{name}.png", pixels)
    run = cli("restore", "lowlight.png", "dehaze.png", "-o", "out", "--task", "auto", "--model", describer)
    assert run.exit_code == 0, run.output
    assert "detected: low light 100% (strength 1.00); restored by stats-describer (lowlight)" in run.stdout
    assert "detected: haze" in run.stdout and "(dehaze)" in run.stdout
    assert "detected: dehaze 1, lowlight 1" in run.stdout or "detected: lowlight 1, dehaze 1" in run.stdout
    out = np.asarray(PILImage.open(tmp_path / "out" / "lowlight.png"))
    assert out.shape == (64, 80, 3) and out.mean() > 3 * np.asarray(PILImage.open(tmp_path / "lowlight.png")).mean()
    assert "stats-describer" in PILImage.open(tmp_path / "out" / "lowlight.png").getexif().get(0x0131)


def test_restore_with_a_named_task_is_the_task_command(cli, tmp_path):
    save_png(tmp_path / "a.png", examples()["lowlight"])
    assert cli("restore", "a.png", "-o", "r.png", "--task", "lowlight", "--model", "gamma").exit_code == 0
    assert cli("lowlight", "a.png", "-o", "l.png", "--model", "gamma").exit_code == 0
    assert cli("enhance", "a.png", "-o", "e.png", "--model", "gamma").exit_code == 0
    r, l, e = (np.asarray(PILImage.open(tmp_path / n)) for n in ("r.png", "l.png", "e.png"))
    assert (
        np.array_equal(r, l)
        and np.array_equal(e, l)
        and l.mean() > 2 * np.asarray(PILImage.open(tmp_path / "a.png")).mean()
    )


def test_bad_inputs_get_the_same_one_line_errors_as_denoise(cli, tmp_path, describer):
    save_png(tmp_path / "good.png", examples()["dehaze"])
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "empty.jpg").write_bytes(b"")
    runs = {}
    for verb in (
        ["denoise", "--model", "identity"],
        ["restore", "--task", "auto", "--model", describer],
        ["dehaze"],
        ["enhance"],
    ):
        runs[verb[0]] = run = cli(
            verb[0], "good.png", "broken.png", "empty.jpg", "missing.png", "-o", f"out-{verb[0]}", *verb[1:]
        )
        assert run.exit_code == 1, run.output
        assert "Traceback" not in run.output
    errors = {verb: sorted(run.stderr.strip().splitlines()) for verb, run in runs.items()}
    assert len(errors["denoise"]) == 3 and all(": " in line for line in errors["denoise"])
    assert all(e == errors["denoise"] for e in errors.values()), errors


def test_usage_errors_of_task_auto(cli, tmp_path, monkeypatch):
    save_png(tmp_path / "a.png", examples()["dehaze"])
    run = cli("restore", "a.png", "-o", "b.png", "--task", "auto", "--model", "nlm")
    assert run.exit_code == 2 and "cannot detect degradations" in run.stderr
    assert cli("restore", "a.png", "-o", "b.png", "--task", "sharpen").exit_code == 2
    # With no all-in-one model installed, auto says so in one line.
    from restora.engine import catalogue

    for name in [n for n, s in catalogue.METHODS.items() if s.kind == "ours"]:
        monkeypatch.delitem(catalogue.METHODS, name)
    monkeypatch.setattr("restora.engine.catalogue.register_shipped_models", lambda folder: None)
    run = cli("restore", "a.png", "-o", "b.png")
    assert run.exit_code == 1, run.output
    assert run.stderr.strip() == (
        "restora: error: --task auto needs an all-in-one model and none is installed (give one with --model)"
    )
    assert not os.path.exists(tmp_path / "b.png")


def test_auto_routed_to_denoising_gets_the_reliability_line(cli, tmp_path, describer):
    """The reliability step follows the task run: a photo auto-routed to denoising gets its line, others not."""
    save_png(tmp_path / "noisy.png", examples()["denoise"])
    save_png(tmp_path / "dark.png", examples()["lowlight"])
    run = cli("restore", "noisy.png", "dark.png", "-o", "out", "--task", "auto", "--model", describer)
    assert run.exit_code == 0, run.output
    lines = run.stdout.splitlines()
    after = {
        name: lines[next(i for i, line in enumerate(lines) if line.startswith(name)) + 1] for name in ("noisy", "dark")
    }
    assert after["noisy"].startswith("  reliability: predicted gain ")
    assert after["dark"].startswith("  detected: low light") and "reliability" not in run.stdout.split("dark.png")[1]


# ---------------------------------------------------------------------------------------------------
# Large photos: full-resolution crops are described besides the downscaled whole image


def large_noisy_photo(h=1000, w=1400, seed=3):
    """A smooth scene with Gaussian noise σ 25, and fine texture only in the cells around (600–850, 900–1300)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    scene = np.dstack([0.3 + 0.4 * xx / w, 0.6 - 0.3 * yy / h, 0.5 + 0 * xx])
    textured = (yy >= 600) & (yy < 850) & (xx >= 900) & (xx < 1300)
    scene[textured] += (0.25 * np.sign(np.sin(xx / 4.0) * np.sin(yy / 5.0)))[textured, None]
    return np.clip(scene + rng.normal(0, 25 / 255, scene.shape), 0, 1).astype(np.float32)


def test_large_photo_detection_describes_textured_crops_deterministically(tiny_allinone):
    from restora.engine.detect import CROPS, describe_image, detect
    from restora.engine.neural import NeuralMethod
    from restora.models.modelfile import load_module

    module, _ = load_module(tiny_allinone())
    method = NeuralMethod(module, "tiny", "cpu")
    x = large_noisy_photo()
    small = method.context_input(x)
    d = detect(method, small, "tiny", x)
    crops = d.extra["crops"]
    assert len(crops) == CROPS and len({tuple(c) for c in crops}) == CROPS
    assert all(h == w == 256 and 0 <= t <= 1000 - 256 and 0 <= l <= 1400 - 256 for t, l, h, w in crops)
    # The most textured crop overlaps the textured region.
    t, l, _, _ = crops[0]
    assert t < 850 and t + 256 > 600 and l < 1300 and l + 256 > 900
    # Probabilities and strengths are the means over the whole-image copy and the crops.
    views = [describe_image(method, small)] + [describe_image(method, x[t : t + h, l : l + w]) for t, l, h, w in crops]
    assert d.extra["whole_image"]["probabilities"] == views[0][0]
    for task in TASKS:
        assert d.probabilities[task] == pytest.approx(np.mean([p[task] for p, _ in views]), abs=1e-6)
        assert d.strengths[task] == pytest.approx(np.mean([s[task] for _, s in views]), abs=1e-6)
    assert sum(d.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    again = detect(method, method.context_input(x), "tiny", x)
    assert (again.probabilities, again.strengths, again.extra) == (d.probabilities, d.strengths, d.extra)
    # A photo the copy barely shrinks is described whole only.
    assert detect(method, method.context_input(x[:300, :360]), "tiny", x[:300, :360]).extra == {}


def test_run_restore_auto_on_a_large_photo_uses_crops(tiny_allinone):
    x = large_noisy_photo(420, 600)
    result = run_restore(x, task="auto", model=str(tiny_allinone("dehaze")), device="cpu")
    d = result.detection
    assert d.task == "dehaze" and result.model == "tiny-allinone-dehaze" and len(d.extra["crops"]) == 4
