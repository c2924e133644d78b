"""HTTP API: upload, poll, results in every format, views, limits and errors (tiny images, fast models)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from server_helpers import decode, encode, noisy_pixels, png16_bytes, submit, wait_done

MAGIC = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF", "tiff": (b"II*\x00", b"MM\x00*")}


def run_job(client, data: bytes, filename: str = "photo.png", **fields) -> dict:
    response = submit(client, data, filename, **fields)
    assert response.status_code == 200, response.text
    status = wait_done(client, response.json()["id"])
    assert status["status"] == "done", status
    return status


def test_png_upload_runs_and_result_keeps_format_size_and_pixels(client):
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), model="identity")
    assert status["progress"] == 1.0 and status["error"] is None
    assert (status["width"], status["height"], status["format"], status["bit_depth"]) == (48, 40, "PNG", 8)
    assert status["model"] == "identity" and status["filename"] == "photo.png"
    result = client.get(f"/api/jobs/{status['id']}/result")
    assert result.status_code == 200
    assert result.headers["content-type"] == "image/png"
    assert 'filename="photo-restored.png"' in result.headers["content-disposition"]
    np.testing.assert_array_equal(decode(result.content), noisy)  # identity model: the pixels come back exactly


def test_16bit_png_stays_16bit(client):
    rng = np.random.default_rng(3)
    pixels16 = rng.integers(0, 65536, (24, 32, 3), dtype=np.uint16)
    status = run_job(client, png16_bytes(pixels16), model="identity")
    assert status["bit_depth"] == 16
    import cv2

    data = client.get(f"/api/jobs/{status['id']}/result").content
    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, pixels16)


def test_jpeg_upload_gives_jpeg_result(client):
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "JPEG", quality=95), "shot.jpg", model="identity")
    result = client.get(f"/api/jobs/{status['id']}/result")
    assert result.headers["content-type"] == "image/jpeg"
    assert result.content.startswith(MAGIC["jpeg"])
    assert decode(result.content).shape == (40, 48, 3)


@pytest.mark.parametrize("fmt", ["png", "jpeg", "tiff", "webp"])
def test_result_in_requested_format(client, fmt):
    smooth, _ = noisy_pixels()  # smooth, so the lossy formats come back close
    status = run_job(client, encode(smooth, "PNG"), model="identity")
    result = client.get(f"/api/jobs/{status['id']}/result", params={"format": fmt})
    assert result.status_code == 200, result.text
    assert result.content.startswith(MAGIC[fmt])
    pixels = decode(result.content)
    assert pixels.shape[:2] == (40, 48)
    tolerance = 0 if fmt in ("png", "tiff") else 2
    assert np.abs(pixels[..., :3].astype(int) - smooth).mean() <= tolerance


def test_unknown_result_format_is_422(client):
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), model="identity")
    assert client.get(f"/api/jobs/{status['id']}/result", params={"format": "bmp"}).status_code == 422


def test_nlm_denoises_and_reports_sigma(client):
    clean, noisy = noisy_pixels(64, 64, sigma=25)
    status = run_job(client, encode(noisy, "PNG"), model="nlm", sigma="auto", strength=1)
    assert status["model"] == "nlm" and len(status["sigma"]) == 3
    assert all(10 < s < 40 for s in status["sigma"]), status["sigma"]  # estimated, near the true 25
    assert status["seconds"] >= 0
    restored = decode(client.get(f"/api/jobs/{status['id']}/result").content).astype(float)
    assert np.mean((restored - clean) ** 2) < 0.5 * np.mean((noisy.astype(float) - clean) ** 2)

    residual = decode(client.get(f"/api/jobs/{status['id']}/residual").content).astype(float)
    assert residual.shape == (64, 64, 3)
    assert residual.std() > 5  # the removed noise shows around mid grey
    assert abs(residual.mean() - 128) < 10


def test_given_sigma_is_used(client):
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), model="nlm", sigma="12.5")
    assert status["sigma"] == [12.5, 12.5, 12.5]


def test_identity_residual_is_flat_grey(client):
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), model="identity")
    residual = decode(client.get(f"/api/jobs/{status['id']}/residual").content)
    assert residual.shape == (40, 48, 3)
    assert set(np.unique(residual)) == {128}


def test_noise_map_is_brighter_where_noise_is_stronger(client):
    clean, _ = noisy_pixels(64, 96, sigma=0)
    rng = np.random.default_rng(5)
    clean[:, :48] //= 4  # a dark half with weak noise, a bright half with strong noise (as camera noise goes)
    sigma = np.where(np.arange(96) < 48, 3.0, 30.0)[None, :, None]
    noisy = np.clip(np.rint(clean + rng.normal(0, 1, clean.shape) * sigma), 0, 255).astype(np.uint8)
    status = run_job(client, encode(noisy, "PNG"), model="identity")
    response = client.get(f"/api/jobs/{status['id']}/noise-map")
    assert response.headers["content-type"] == "image/png"
    heat = decode(response.content).astype(float)
    assert heat.shape == (64, 96, 3)
    assert heat[:, 64:].mean() > heat[:, :32].mean() + 40


def test_noise_map_is_restora_explains_map(client):
    from restora.explain import noise_map_overall
    from restora.explain.outputs import heat_map

    _, noisy = noisy_pixels(48, 64, sigma=20)
    status = run_job(client, encode(noisy, "PNG"), model="nlm")
    shown = decode(client.get(f"/api/jobs/{status['id']}/noise-map").content)
    np.testing.assert_array_equal(shown, heat_map(noise_map_overall(noisy.astype(np.float32) / 255)))


def test_denoising_status_has_reliability(client):
    from restora.explain.reliability import load_predictor

    _, noisy = noisy_pixels(64, 64, sigma=20)
    status = run_job(client, encode(noisy, "PNG"), model="nlm")
    r = status["reliability"]
    assert set(r) == {
        "gain_db",
        "low_db",
        "high_db",
        "confidence",
        "out_of_range",
        "flags",
        "calibrated_for",
        "model",
        "reason",
    }
    assert r["low_db"] <= r["gain_db"] <= r["high_db"] and r["confidence"] in ("high", "medium", "low")
    assert r["out_of_range"] == bool(r["flags"]) and r["model"] == "nlm"
    assert r["calibrated_for"] == load_predictor()["model"]["name"]


def test_out_of_range_upload_is_flagged_in_the_status(client):
    clean, _ = noisy_pixels(64, 64, sigma=0)
    noise = np.random.default_rng(6).normal(0, 120, clean.shape)  # far beyond the trained σ ≤ 55
    noisy = np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)
    r = run_job(client, encode(noisy, "PNG"), model="identity")["reliability"]
    assert r["out_of_range"] and "noise_beyond_range" in r["flags"] and r["confidence"] == "low"
    assert "trained" in r["flags"]["noise_beyond_range"]


@pytest.mark.parametrize("side", [1, 8, 15])
def test_tiny_upload_is_restored_without_reliability(client, side):
    _, noisy = noisy_pixels(side, side)
    status = run_job(client, encode(noisy, "PNG"), model="nlm")
    assert status["reliability"] is None and (status["width"], status["height"]) == (side, side)
    assert client.get(f"/api/jobs/{status['id']}/result").status_code == 200


def test_other_tasks_have_no_reliability(client):
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), task="lowlight", model="gamma")
    assert status["reliability"] is None


def test_auto_task_reports_the_detection(client, allinone):
    name = allinone("lowlight")
    models = {m["name"]: m for m in client.get("/api/models").json()}
    assert "auto" in models[name]["tasks"] and "auto" not in models["nlm"]["tasks"]
    assert any("auto" in m["default_for"] for m in models.values())
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), task="auto", model=name)
    d = status["detection"]
    assert status["task"] == "auto" and d["detector"] == name
    assert d["task"] == d["detected"][0] == "lowlight" and d["model"] == status["model"] == name
    tasks = {"denoise", "deblur", "derain", "dehaze", "lowlight"}
    assert set(d["probabilities"]) == set(d["strengths"]) == tasks
    assert sum(d["probabilities"].values()) == pytest.approx(1.0, abs=1e-5) and d["probabilities"]["lowlight"] > 0.9
    assert all(0.0 <= v <= 1.0 for v in d["strengths"].values())
    assert status["reliability"] is None  # not denoised
    assert decode(client.get(f"/api/jobs/{status['id']}/result").content).shape == (40, 48, 3)
    # Jobs of a named task have no detection.
    assert run_job(client, encode(noisy, "PNG"), model="identity")["detection"] is None


def test_auto_routed_to_denoising_has_reliability(client, allinone):
    name = allinone("denoise")
    _, noisy = noisy_pixels(64, 64, sigma=20)
    status = run_job(client, encode(noisy, "PNG"), task="auto", model=name)
    d = status["detection"]
    assert d["task"] == "denoise" and d["model"] == status["model"] != name  # the denoiser of its own
    assert status["reliability"]["model"] == status["model"]


def test_auto_takes_only_all_in_one_models(client, allinone, monkeypatch):
    name = allinone("lowlight")
    _, noisy = noisy_pixels()
    response = submit(client, encode(noisy, "PNG"), task="auto", model="nlm")
    assert response.status_code == 422 and f"(known: {name}" in response.json()["detail"]
    from restora.engine.neural import describes_degradations
    from restora.engine import catalogue

    for spec in catalogue.available_methods():
        if describes_degradations(spec):
            monkeypatch.delitem(catalogue.METHODS, spec.name)
    response = submit(client, encode(noisy, "PNG"), task="auto")
    assert response.status_code == 422 and "all-in-one model" in response.json()["detail"]
    assert all("auto" not in m["tasks"] for m in client.get("/api/models").json())


@pytest.mark.parametrize("which", ["input", "result"])
def test_previews_are_8bit_png_of_full_size(client, which):
    rng = np.random.default_rng(4)
    pixels16 = rng.integers(0, 65536, (20, 30, 3), dtype=np.uint16)
    status = run_job(client, png16_bytes(pixels16), model="identity")
    response = client.get(f"/api/jobs/{status['id']}/preview", params={"which": which})
    assert response.status_code == 200 and response.content.startswith(MAGIC["png"])
    preview = decode(response.content)
    assert preview.dtype == np.uint8 and preview.shape == (20, 30, 3)
    np.testing.assert_allclose(preview, pixels16 / 257.0, atol=1)


def test_preview_rejects_other_values(client):
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), model="identity")
    assert client.get(f"/api/jobs/{status['id']}/preview", params={"which": "../x"}).status_code == 422


def test_unknown_job_is_404_and_unfinished_job_is_409(make_client):
    client = make_client(lifespan=False)  # no workers: the job stays queued
    assert client.get("/api/jobs/0123456789abcdef").status_code == 404
    _, noisy = noisy_pixels()
    job_id = submit(client, encode(noisy, "PNG"), model="identity").json()["id"]
    assert client.get(f"/api/jobs/{job_id}").json()["status"] == "queued"
    for path in ("result", "noise-map", "residual", "preview"):
        response = client.get(f"/api/jobs/{job_id}/{path}")
        assert response.status_code == 409 and "queued" in response.json()["detail"]


def test_queue_full_is_503_with_retry_after(make_client):
    client = make_client(lifespan=False, queue_size=1, retry_after_seconds=7)
    _, noisy = noisy_pixels()
    assert submit(client, encode(noisy, "PNG"), model="identity").status_code == 200
    response = submit(client, encode(noisy, "PNG"), model="identity")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert "busy" in response.json()["detail"]
    assert client.get("/healthz").json()["queued"] == 1
    # the refused upload left nothing behind: one job folder only
    assert len([p for p in client.app.state.jobs.root.iterdir() if p.is_dir()]) == 1


def test_upload_over_size_limit_is_413(make_client):
    client = make_client(max_upload_bytes=2000)
    rng = np.random.default_rng(0)
    big = encode(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "PNG")
    assert len(big) > 2000
    response = submit(client, big)
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert list(client.app.state.jobs.root.iterdir()) == []  # the partial upload was removed


def test_image_over_pixel_limit_is_422(make_client):
    client = make_client(max_pixels=1000)
    _, noisy = noisy_pixels(40, 48)  # 1920 pixels
    response = submit(client, encode(noisy, "PNG"))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "photo.png" in detail and "pixel" in detail.lower()


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"this is not an image at all", "text"),
        (b"", "empty"),
        (None, "truncated"),
    ],
)
def test_bad_files_are_422_with_a_reason(client, data, reason):
    if data is None:
        _, noisy = noisy_pixels()
        data = encode(noisy, "PNG")[:200]
    response = submit(client, data, "broken.png")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "broken.png" in detail
    assert "\n" not in detail


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"strength": 2}, "strength"),
        ({"strength": "strong"}, "strength"),
        ({"strength": "nan"}, "strength"),
        ({"sigma": -3}, "sigma: Value error, must be 'auto' or a number from 0 to 255"),
        ({"sigma": "loud"}, "sigma: Value error, must be 'auto' or a number from 0 to 255"),
        ({"task": "sharpen"}, "task"),
        ({"model": "no-such-model"}, "unknown model"),
        ({"model": "/etc/passwd"}, "unknown model"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_fields_are_422(client, fields, words):
    _, noisy = noisy_pixels()
    response = submit(client, encode(noisy, "PNG"), **fields)
    assert response.status_code == 422
    assert words in response.json()["detail"]


def test_missing_file_and_wrong_content_type_are_422(client):
    assert client.post("/api/jobs", data={"task": "denoise"}).status_code == 422
    response = client.post("/api/jobs", content=b"raw bytes", headers={"content-type": "image/png"})
    assert response.status_code == 422 and "multipart/form-data" in response.json()["detail"]


def test_client_filename_is_never_a_path(client):
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), "../../escape/evil.png", model="identity")
    assert status["filename"] == "evil.png"
    root = client.app.state.jobs.root
    assert not any("evil" in p.name for p in root.parent.rglob("*"))
    assert not (root.parent.parent / "escape").exists()
    result = client.get(f"/api/jobs/{status['id']}/result")
    assert 'filename="evil-restored.png"' in result.headers["content-disposition"]


def test_zip_of_results(client):
    _, noisy = noisy_pixels()
    ids = [run_job(client, encode(noisy, "PNG"), name, model="identity")["id"] for name in ("a.png", "a.png", "b.png")]
    response = client.get("/api/jobs/zip", params={"ids": ",".join(ids)})
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["a-restored (2).png", "a-restored.png", "b-restored.png"]
        np.testing.assert_array_equal(decode(archive.read("b-restored.png")), noisy)
    assert client.get("/api/jobs/zip", params={"ids": ids[0] + ",nope"}).status_code == 404
    assert not list((client.app.state.jobs.root / "zips").iterdir())  # the zip is deleted once sent


def test_finished_jobs_expire_with_their_files(make_client):
    client = make_client(keep_seconds=60)
    _, noisy = noisy_pixels()
    status = run_job(client, encode(noisy, "PNG"), model="identity")
    jobs = client.app.state.jobs
    folder = jobs.get(status["id"]).folder
    assert jobs.sweep() == 0 and folder.is_dir()
    assert jobs.sweep(now=jobs.get(status["id"]).finished_at + 61) == 1
    assert not folder.exists()
    assert client.get(f"/api/jobs/{status['id']}").status_code == 404


def test_failed_job_reports_the_error(client):
    _, noisy = noisy_pixels()
    response = submit(client, encode(noisy, "PNG"), task="deblur")  # no deblur model exists yet
    if response.status_code == 422:
        assert "deblur" in response.json()["detail"]
    else:  # a deblur model has been added since: the job must then succeed
        assert wait_done(client, response.json()["id"])["status"] == "done"


def test_models_lists_registered_methods(client):
    models = {m["name"]: m for m in client.get("/api/models").json()}
    assert {"identity", "nlm"} <= set(models)
    assert "denoise" in models["nlm"]["tasks"]
    assert any("denoise" in m["default_for"] for m in models.values())


def test_healthz(client):
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["workers"] == 1 and body["queued"] == 0
    assert body["max_upload_bytes"] == 100_000_000


def test_openapi_describes_the_api(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/jobs",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/result",
        "/api/jobs/{job_id}/noise-map",
        "/api/jobs/{job_id}/residual",
        "/api/jobs/{job_id}/preview",
        "/api/jobs/zip",
        "/api/models",
        "/healthz",
    ):
        assert path in paths, path
    form = paths["/api/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["file"] and form["properties"]["file"]["format"] == "binary"
    assert {"task", "model", "sigma", "strength"} <= set(form["properties"])
    assert {"413", "422", "503"} <= set(paths["/api/jobs"]["post"]["responses"])
    status = schema["components"]["schemas"]["JobStatus"]["properties"]["status"]
    assert status["enum"] == ["queued", "running", "done", "failed"]


def test_page_and_static_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http" not in page.text.split("<body>")[0].replace("http-equiv", "")  # no outside resources
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200


def test_cors_is_off_by_default(make_client):
    off = make_client().get("/healthz", headers={"Origin": "http://example.org"})
    assert "access-control-allow-origin" not in off.headers
    on = make_client(cors_origins=("http://example.org",)).get("/healthz", headers={"Origin": "http://example.org"})
    assert on.headers["access-control-allow-origin"] == "http://example.org"


def test_all_files_removed_when_server_stops(make_client):
    client = make_client()
    _, noisy = noisy_pixels()
    run_job(client, encode(noisy, "PNG"), model="identity")
    root = client.app.state.jobs.root
    assert any(root.iterdir())
    client.__exit__(None, None, None)
    assert not root.exists()


def test_a_stylize_job_runs_the_shipped_style(client):
    models = {m["name"]: m for m in client.get("/api/models").json()}
    if "restora-style-mosaic" not in models:
        pytest.skip("restora-style-mosaic is not shipped")
    assert models["restora-style-mosaic"]["tasks"] == ["stylize"]
    assert "stylize" in models["restora-style-mosaic"]["default_for"]
    _, photo = noisy_pixels()
    response = submit(client, encode(photo, "PNG"), task="stylize", strength="0.5")
    assert response.status_code in (200, 201, 202), response.text
    job = wait_done(client, response.json()["id"])
    assert job["status"] == "done" and job["model"] == "restora-style-mosaic"
    result = decode(client.get(f"/api/jobs/{job['id']}/result").content)
    assert result.shape == photo.shape and np.abs(result.astype(float) - photo).mean() > 2
