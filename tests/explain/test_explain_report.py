"""``restora explain``: one self-contained HTML file, rendered in headless Chromium; bad inputs get one line."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from restora.explain import explain_image, write_report


class Links(HTMLParser):
    """Every URL-bearing attribute and every tag name of a page."""

    def __init__(self):
        super().__init__()
        self.urls, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href", "srcset", "data", "action", "poster") and v]


def photo_file(tmp_path, scene, sigma=20.0, name="street photo.png") -> Path:
    clean = scene(160, 192)
    noisy = clean + np.random.default_rng(0).normal(0, sigma / 255, clean.shape)
    path = tmp_path / name
    PILImage.fromarray(np.clip(np.rint(noisy * 255), 0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def report(tmp_path, scene, tiny_model):
    ex = explain_image(photo_file(tmp_path, scene), model=str(tiny_model), tile=0, device="cpu")
    path = tmp_path / "report.html"
    write_report(path, ex)
    return path, ex


def test_report_is_one_file_with_embedded_images_and_no_external_url(report):
    path, ex = report
    assert [p.name for p in path.parent.iterdir() if p.suffix == ".html"] == ["report.html"]
    text = path.read_text(encoding="utf-8")
    links = Links()
    links.feed(text)
    assert "script" not in links.tags and "link" not in links.tags and "iframe" not in links.tags
    assert len(links.urls) >= 8 and all(u.startswith("data:image/") for u in links.urls)
    outside_data = re.sub(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"https?:|ftp:|//[a-z0-9]|url\(|@import", outside_data, re.IGNORECASE)
    for anchor in (
        "Reliability",
        "Noise level map",
        "Estimated noise model",
        "Residual",
        "Detail at risk",
        "100% crop",
    ):
        assert anchor in text
    assert "σ (0–255 scale)" in text or "0–255" in text
    assert f"{ex.reliability.gain_db:+.1f} dB" in text
    assert "Reading: The residual" in text


def test_report_renders_offline_in_headless_chromium(report, chromium):
    path, _ = report
    problems, requests = [], []
    context = chromium.new_context(offline=True)  # any network use would fail and be reported
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console: {m.text}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => ({src: e.src.slice(0, 15), ok: e.complete && e.naturalWidth > 0}))"
    )
    ids = page.eval_on_selector_all("img[id]", "els => els.map(e => e.id)")
    assert problems == []
    assert all(u == path.as_uri() or u.startswith("data:") for u in requests)
    assert len(images) >= 8 and all(i["ok"] and i["src"].startswith("data:image/") for i in images)
    assert {"input", "output", "noise-map", "residual", "spectrum", "detail-risk"} <= set(ids)


def test_cli_writes_the_report_and_a_summary(tmp_path, scene, tiny_model, invoke_cli):
    photo = photo_file(tmp_path, scene)
    out = tmp_path / "out" / "report.html"
    out.parent.mkdir()
    r = invoke_cli(
        "explain", photo, "-o", out, "--model", tiny_model, "--device", "cpu", "--restored", tmp_path / "clean.png"
    )
    assert r.exit_code == 0, r.stderr
    assert out.is_file() and (tmp_path / "clean.png").is_file()
    assert "predicted gain" in r.stdout and "confidence" in r.stdout


def test_cli_creates_the_output_folders(tmp_path, scene, tiny_model, invoke_cli):
    photo = photo_file(tmp_path, scene)
    out = tmp_path / "new" / "reports" / "report.html"
    restored = tmp_path / "other" / "clean.png"
    r = invoke_cli("explain", photo, "-o", out, "--model", tiny_model, "--device", "cpu", "--restored", restored)
    assert r.exit_code == 0, r.stderr
    assert out.is_file() and restored.is_file()


@pytest.mark.parametrize("case", ["missing", "not-html", "exists", "corrupt", "bad-sigma", "bad-model"])
def test_cli_bad_inputs_get_one_line(tmp_path, scene, tiny_model, case, invoke_cli):
    photo = photo_file(tmp_path, scene)
    out = tmp_path / "report.html"
    args = [photo, "-o", out, "--model", tiny_model]
    if case == "missing":
        args[0] = tmp_path / "nothing.png"
    elif case == "not-html":
        args[2] = tmp_path / "report.png"
    elif case == "exists":
        out.write_text("keep me")
    elif case == "corrupt":
        args[0] = tmp_path / "broken.jpg"
        args[0].write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    elif case == "bad-sigma":
        args += ["--sigma", "loud"]
    elif case == "bad-model":
        args[4] = tmp_path / "nope.safetensors"
    r = invoke_cli("explain", *args)
    # Usage errors exit 2 as in `restora denoise`; a file that cannot be read is a failure (1).
    assert r.exit_code == (1 if case == "corrupt" else 2), r.stderr
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("restora: error:"), r.stderr
    assert "Traceback" not in r.stderr
    if case == "exists":
        assert out.read_text() == "keep me"
