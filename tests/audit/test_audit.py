"""restora audit: each check with and without its defect on tiny synthetic images, the JSON shape, a hidden leak, exit codes."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image as PILImage
from scipy.ndimage import shift as subpixel_shift
from typer.testing import CliRunner

from restora.audit import image_checks, pair_checks
from restora.audit.runner import run_audit


def scene(seed: int = 0, h: int = 192, w: int = 256) -> np.ndarray:
    """A smooth-but-detailed colour photo stand-in: blurred random blobs plus sharp edges, in [0.1, 0.9]."""
    rng = np.random.default_rng(seed)
    x = cv2.GaussianBlur(rng.random((h, w, 3)).astype(np.float32), (0, 0), 6)
    x = (x - x.min()) / (x.max() - x.min())
    x += 0.5 * cv2.GaussianBlur(rng.random((h, w, 1)).astype(np.float32), (0, 0), 1.5)[..., None]  # fine detail
    for _ in range(h * w // 1500):
        y0, x0 = rng.integers(0, h - 20), rng.integers(0, w - 20)
        x[y0 : y0 + rng.integers(3, 25), x0 : x0 + rng.integers(3, 25)] = rng.random(3) * 1.5
    x = (x - x.min()) / (x.max() - x.min())
    return (0.1 + 0.8 * x).astype(np.float32)


def save(path, pixels, quality=None):
    im = PILImage.fromarray(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8))
    im.save(path, quality=quality) if quality else im.save(path)
    return path


def noisy(x, sigma=10, seed=1):
    return np.clip(x + np.random.default_rng(seed).normal(0, sigma / 255, x.shape), 0, 1).astype(np.float32)


def codes(result, path=None):
    return {f.code for f in result.findings if path is None or f.path == str(path) or f.other == str(path)}


def test_residual_noise():
    clean = image_checks.measure_image(scene())
    assert clean.sigma < image_checks.NOISE_SIGMA
    dirty = image_checks.measure_image(noisy(scene(), 20))
    assert [f.code for f in image_checks.image_findings("x", dirty)] == ["residual-noise"]
    assert not image_checks.image_findings("x", clean)


def test_blurred():
    sharp = image_checks.measure_image(scene())
    soft = image_checks.measure_image(cv2.GaussianBlur(scene(), (0, 0), 2.0))
    assert sharp.sharpness > image_checks.SHARPNESS > soft.sharpness
    assert "blurred" in {f.code for f in image_checks.image_findings("x", soft)}


def test_blurred_is_relative_to_its_set():
    soft_set = [0.3, 0.31, 0.32, 0.3, 0.29, 0.3, 0.31, 0.33, 0.3]  # e.g. means of many shots: smooth by nature
    assert 0.2 < image_checks.sharpness_limit(soft_set) < 0.3  # its members pass, a much softer one does not
    assert image_checks.sharpness_limit(soft_set[:3]) == image_checks.SHARPNESS  # too few for statistics
    assert image_checks.sharpness_limit([0.9] * 9) == image_checks.SHARPNESS


def test_jpeg_blocking(tmp_path):
    x = scene()
    high = image_checks.blocking(
        image_checks.luma(np.asarray(PILImage.open(save(tmp_path / "a.jpg", x, 95)), np.float32) / 255)
    )
    low = image_checks.blocking(
        image_checks.luma(np.asarray(PILImage.open(save(tmp_path / "b.jpg", x, 10)), np.float32) / 255)
    )
    assert high < image_checks.BLOCKING < low
    # cropped off the grid: still found
    shifted = np.asarray(PILImage.open(tmp_path / "b.jpg"), np.float32)[3:, 5:] / 255
    assert image_checks.blocking(image_checks.luma(shifted)) > image_checks.BLOCKING


def test_clipped():
    x = scene()
    assert image_checks.clipped_fraction(x) == 0
    blown = x.copy()
    blown[:100] = 1.0
    assert image_checks.clipped_fraction(blown) > image_checks.CLIPPED
    speckled = x.copy()
    speckled[::4, ::4] = 1.0  # scattered highlights are not an area
    assert image_checks.clipped_fraction(speckled) < 0.01


@pytest.mark.parametrize(
    "code, make",
    [
        ("exposure-offset", lambda x: x * 0.85),
        ("colour-cast", lambda x: x * np.array([1.08, 1.0, 0.92], np.float32)),
        ("misaligned", lambda x: subpixel_shift(x, (0.9, 0.8, 0), order=3, mode="reflect")),
        ("mismatched-pair", lambda x: scene(7)),
    ],
)
def test_pair_checks(code, make):
    clean = scene()
    good = pair_checks.pair_findings("n", "c", pair_checks.measure_pair(noisy(clean), clean))
    assert good == []
    bad = pair_checks.pair_findings("n", "c", pair_checks.measure_pair(noisy(make(clean).astype(np.float32)), clean))
    assert code in {f.code for f in bad}
    assert all(f.path == "c" and f.other == "n" for f in bad)


def test_pair_of_different_sizes():
    found = pair_checks.pair_findings("n", "c", pair_checks.measure_pair(scene(0, 64, 64), scene(0, 64, 80)))
    assert [f.code for f in found] == ["mismatched-pair"]


def test_duplicate_within_a_folder(tmp_path):
    d = tmp_path / "refs"
    d.mkdir()
    save(d / "a.png", scene(1))
    save(d / "b.png", scene(2))
    result = run_audit([d], [])
    assert "duplicate" not in codes(result)
    save(d / "c.jpg", cv2.resize(scene(1), None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA), 90)
    result = run_audit([d], [])
    dup = [f for f in result.findings if f.code == "duplicate"]
    assert [(f.path, f.other) for f in dup] == [(str(d / "c.jpg"), str(d / "a.png"))]


def test_leak_hidden_as_crop_scaled_and_reencoded(tmp_path):
    train, test = tmp_path / "train", tmp_path / "test"
    train.mkdir(), test.mkdir()
    big = scene(3, 320, 480)
    save(train / "photo.png", big)
    save(train / "unrelated.png", scene(4, 320, 480))
    save(test / "other.png", scene(5))
    assert "leak" not in codes(run_audit([train, test], []))
    crop = cv2.resize(big[40:280, 60:400], None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    save(test / "hidden.jpg", crop, 80)
    leaks = [f for f in run_audit([train, test], []).findings if f.code == "leak"]
    assert [(f.path, f.other) for f in leaks] == [(str(train / "photo.png"), str(test / "hidden.jpg"))]
    assert leaks[0].value < 0.8  # the test file shows only part of the training photo


def test_pairs_and_unreadable_files(tmp_path):
    n, c = tmp_path / "noisy", tmp_path / "clean"
    n.mkdir(), c.mkdir()
    for i in range(3):
        save(c / f"{i}.png", scene(10 + i))
        save(n / f"{i}.png", noisy(scene(10 + i)))
    assert run_audit([], [(n, c)]).findings == []  # a pair's two files are not a duplicate
    save(n / "1.png", noisy(scene(11) * 0.8))
    (c / "3.png").write_bytes(b"not an image")
    save(n / "4.png", scene(20))
    found = {(f.code, f.path) for f in run_audit([], [(n, c)]).findings}
    assert ("exposure-offset", str(c / "1.png")) in found
    assert ("unreadable", str(c / "3.png")) in found
    assert ("mismatched-pair", str(c / "3.png")) in found  # no partner
    assert ("mismatched-pair", str(n / "4.png")) in found


def _cli(args):
    from restora.cli import _register_commands, app

    _register_commands()
    return CliRunner().invoke(app, args)


def test_cli_json_shape_and_exit_codes(tmp_path):
    d = tmp_path / "refs"
    d.mkdir()
    save(d / "a.png", scene(1))
    out = _cli(["audit", str(d), "--json", str(tmp_path / "ok.json"), "-q"])
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "ok.json").read_text()) == {"findings": []}

    save(d / "b.png", noisy(scene(2), 25))
    out = _cli(["audit", str(d), "--json", str(tmp_path / "f.json"), "--html", str(tmp_path / "r.html"), "-q"])
    assert out.exit_code == 1, out.output
    data = json.loads((tmp_path / "f.json").read_text())
    assert list(data) == ["findings"]
    for f in data["findings"]:
        assert list(f) == ["code", "path", "other", "value", "message"]
        assert isinstance(f["code"], str) and isinstance(f["path"], str) and isinstance(f["message"], str)
        assert f["other"] is None or isinstance(f["other"], str)
        assert f["value"] is None or isinstance(f["value"], (int, float))
    assert any(f["code"] == "residual-noise" and f["path"] == str(d / "b.png") for f in data["findings"])
    assert (tmp_path / "r.html").read_text().count("data:image/jpeg;base64,") >= 1

    out = _cli(["audit", str(d), "--html", str(tmp_path / "r.md"), "-q"])
    assert out.exit_code == 1
    assert "![](r_files/" in (tmp_path / "r.md").read_text()


@pytest.mark.parametrize(
    "args",
    [
        ["audit"],
        ["audit", "no-such-folder"],
        ["audit", "--pairs", "only-one-folder"],
        ["audit", ".", "--html", "report.pdf"],
        ["audit", ".", "--json", "missing-folder/x.json"],
    ],
)
def test_cli_usage_errors_exit_2(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = _cli(args)
    assert out.exit_code == 2, out.output
    assert "Traceback" not in out.output


def test_workers_give_the_same_findings(tmp_path):
    d = tmp_path / "refs"
    d.mkdir()
    for i in range(3):
        save(d / f"{i}.png", scene(30 + i))
    save(d / "3.png", noisy(scene(33), 25))
    save(d / "4.jpg", scene(30), 90)
    one, two = run_audit([d], [], workers=1), run_audit([d], [], workers=2)
    # the LSH index draws its hash bits at random: counts of matching features may differ, the findings do not
    assert [(f.code, f.path, f.other) for f in one.findings] == [(f.code, f.path, f.other) for f in two.findings]
    assert {"residual-noise", "duplicate"} <= codes(one)
