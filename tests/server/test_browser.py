"""End to end in a real headless Chromium: upload on the page, wait, compare, toggle the noise map.

The browser comes from the ``chromium`` fixture (tests/conftest.py), which skips with the reason when
Debian's chromium or the ``playwright`` package is missing.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage


@pytest.fixture
def server_url(tmp_path):
    import uvicorn

    from restora.server.app import create_app
    from restora.server.config import ServerConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(ServerConfig(work_dir=tmp_path / "server"))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=30)


def photo(path: Path, width: int = 640, height: int = 480) -> Path:
    """A colourful scene (shading, discs, stripes) with Gaussian noise σ=25, larger than the viewer."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    scene = np.stack([40 + 160 * x / width, 60 + 140 * y / height, 120 + 60 * np.sin(x / 23) * np.cos(y / 31)], axis=2)
    for cx, cy, r, colour in ((160, 140, 70, (230, 60, 40)), (470, 330, 100, (40, 200, 90))):
        scene[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = colour
    scene[:, 300:340][(y[:, 300:340] // 6) % 2 == 0] = 250
    noisy = np.clip(np.rint(scene + rng.normal(0, 25, scene.shape)), 0, 255).astype(np.uint8)
    PILImage.fromarray(noisy).save(path)
    return path


def test_page_restores_a_photo_end_to_end(server_url, tmp_path, chromium):
    image_path = photo(tmp_path / "street photo.png")
    problems: list[str] = []
    page = chromium.new_page(viewport={"width": 700, "height": 500})
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    page.goto(server_url)
    page.wait_for_selector("#model option[value='nlm']", state="attached")
    page.select_option("#model", "nlm")

    page.set_input_files("#files", str(image_path))
    page.wait_for_selector("#jobs li[data-status='done']", timeout=120_000)
    row = page.inner_text("#jobs li .state")
    assert "nlm" in row and "gain" in row and "dB" in row
    page.wait_for_function("""() => ['before', 'after'].every(id => {
        const img = document.getElementById(id); return img.complete && img.naturalWidth === 640; })""")
    assert page.is_visible("#viewer")

    # The reliability of the denoised photo, as the job status gives it.
    job_id = page.get_attribute("#jobs li .download", "href").split("/")[3]
    reliability = page.request.get(f"{server_url}/api/jobs/{job_id}").json()["reliability"]
    assert page.is_visible("#reliability")
    line = page.inner_text("#reliability-line")
    shown = re.search(r"predicted gain ([+−])(\d+\.\d) dB", line)
    assert shown, line
    assert float(shown[2]) * (-1 if shown[1] == "−" else 1) == pytest.approx(reliability["gain_db"], abs=0.051)
    assert f"{reliability['confidence']} confidence" in line
    assert page.eval_on_selector_all("#reliability-flags li", "els => els.length") == len(reliability["flags"])

    # The slider moves the split between before and after.
    page.fill("#split", "30")
    assert "30" in page.eval_on_selector("#after-clip", "el => el.style.clipPath")
    # Dragging pans the 100% view (the photo is larger than the viewer).
    transform = page.eval_on_selector("#before", "el => el.style.transform")
    box = page.locator("#stage").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.7 - 60, box["y"] + box["height"] / 2 - 40, steps=5)
    page.mouse.up()
    assert page.eval_on_selector("#before", "el => el.style.transform") != transform

    # The noise map replaces the result on the right of the split.
    page.check("input[name='layer'][value='noise-map']")
    page.wait_for_function("""() => { const img = document.getElementById('after');
        return img.src.includes('/noise-map') && img.complete && img.naturalWidth === 640; }""")
    assert page.is_visible("#legend-noise-map")

    download = page.get_attribute("#jobs li .download", "href")
    result = page.request.get(server_url + download)
    assert result.status == 200 and result.body().startswith(b"\x89PNG")

    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    page.locator("#stage").screenshot(path=str(tmp_path / "stage.png"))

    assert problems == []
    shot = np.asarray(PILImage.open(tmp_path / "page.png").convert("RGB"))
    assert shot.shape[1] == 700 and shot.shape[0] >= 500
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) > 1000  # a photo and a heat map, not a blank page
    stage = np.asarray(PILImage.open(tmp_path / "stage.png").convert("RGB")).astype(float)
    split = int(stage.shape[1] * 0.3)
    photo_side, map_side = stage[:, : split - 5], stage[:, split + 5 :]
    assert photo_side.std() > 20  # the noisy photo
    # inferno: low noise is dark purple, high is orange/yellow; either way red exceeds green on average
    assert map_side[..., 0].mean() > map_side[..., 1].mean() + 10


def test_page_runs_task_auto_and_shows_the_detection(server_url, tmp_path, chromium, allinone):
    name = allinone("lowlight")  # a tiny all-in-one model that detects low light in any photo
    image_path = photo(tmp_path / "dim.png", 160, 120)
    problems: list[str] = []
    page = chromium.new_page(viewport={"width": 700, "height": 500})
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: msg.type == "error" and problems.append(f"console: {msg.text}"))
    page.goto(server_url)
    page.wait_for_selector("#task option[value='auto']", state="attached")
    page.select_option("#task", "auto")
    assert page.eval_on_selector("#model", "el => [...el.options].map(o => o.value)") == ["", name]

    page.set_input_files("#files", str(image_path))
    page.wait_for_selector("#jobs li[data-status='done']", timeout=60_000)
    row = page.inner_text("#jobs li .state")
    assert name in row and "low light" in row and "%" in row
    job_id = page.get_attribute("#jobs li .download", "href").split("/")[3]
    detection = page.request.get(f"{server_url}/api/jobs/{job_id}").json()["detection"]
    page.wait_for_selector("#detection", state="visible")
    line = page.inner_text("#detection-line")
    assert line.startswith(f"Detected: low light {round(100 * detection['probabilities']['lowlight'])}% (strength ")
    assert line.endswith(f"restored by {name} (lowlight).")
    # Every type, most probable first: its probability and strength.
    shown = page.eval_on_selector_all("#detection-rows tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText))")
    names = {"denoise": "noise", "deblur": "blur", "derain": "rain", "dehaze": "haze", "lowlight": "low light"}
    p, s = detection["probabilities"], detection["strengths"]
    assert shown == [[names[t], f"{round(100 * p[t])}%", f"{s[t]:.2f}"] for t in sorted(p, key=lambda t: -p[t])]
    assert not page.is_visible("#reliability")
    page.screenshot(path=str(tmp_path / "auto.png"), full_page=True)
    assert problems == []


def test_failed_job_cannot_be_viewed(server_url, tmp_path, chromium):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    problems: list[str] = []
    page = chromium.new_page(viewport={"width": 700, "height": 500})
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(server_url)
    page.wait_for_selector("#model option[value='nlm']", state="attached")
    page.select_option("#model", "nlm")
    page.set_input_files("#files", str(broken))
    page.wait_for_selector("#jobs li[data-status='failed']", timeout=60_000)
    assert page.inner_text("#jobs li .state").strip()  # the reason it failed
    view = page.locator("#jobs li[data-status='failed'] .view")
    assert view.is_disabled()
    # It must also look disabled (the page's own button style would otherwise hide that) and not react.
    assert float(view.evaluate("el => getComputedStyle(el).opacity")) < 0.6
    assert view.evaluate("el => getComputedStyle(el).pointerEvents") == "none"
    view.evaluate("el => el.click()")
    assert not page.is_visible("#viewer")
    link = page.locator("#jobs li[data-status='failed'] .download")
    assert link.get_attribute("aria-disabled") == "true" and link.get_attribute("href") is None
    assert problems == []


def test_example_photo_says_why_its_confidence_is_not_high(server_url, chromium):
    example = Path(__file__).resolve().parents[2] / "examples" / "noisy.png"
    page = chromium.new_page(viewport={"width": 700, "height": 500})
    page.goto(server_url)
    page.wait_for_selector("#model option", state="attached")
    page.set_input_files("#files", str(example))  # default model and σ auto, as a new user would
    page.wait_for_selector("#jobs li[data-status='done']", timeout=120_000)
    job_id = page.get_attribute("#jobs li .download", "href").split("/")[3]
    reliability = page.request.get(f"{server_url}/api/jobs/{job_id}").json()["reliability"]
    if reliability is None:
        pytest.skip("no neural denoiser installed: no reliability to show")
    page.wait_for_selector("#reliability", state="visible")
    line = page.inner_text("#reliability-line")
    assert f"{reliability['confidence']} confidence" in line
    assert reliability["reason"] and reliability["reason"] in line
