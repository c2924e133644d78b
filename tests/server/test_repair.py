"""Task repair over HTTP: an uploaded mask (white = fill) or the damage detector's; the mask's checks; and the
noise-map scale of every done job."""

from __future__ import annotations

import numpy as np
import pytest

from server_helpers import decode, encode, noisy_pixels, wait_done


def photo_and_mask(height: int = 40, width: int = 48) -> tuple[np.ndarray, np.ndarray]:
    """A smooth photo with a white scratch, and the mask of the scratch (uint8, 255 = fill)."""
    clean, _ = noisy_pixels(height, width, sigma=0)
    mask = np.zeros((height, width), np.uint8)
    mask[18:22, 6:42] = 255
    damaged = clean.copy()
    damaged[mask > 0] = 250
    return damaged, mask


def post(client, photo: bytes, mask: bytes | None = None, **fields):
    files = {"file": ("old.png", photo, "application/octet-stream")}
    if mask is not None:
        files["mask"] = ("old-mask.png", mask, "application/octet-stream")
    return client.post("/api/jobs", files=files, data={k: str(v) for k, v in fields.items()})


def test_repair_with_a_mask_fills_only_the_mask(client):
    damaged, mask = photo_and_mask()
    response = post(client, encode(damaged, "PNG"), encode(mask, "PNG"), task="repair")
    assert response.status_code == 200, response.text
    status = wait_done(client, response.json()["id"])
    assert status["status"] == "done", status
    assert status["task"] == "repair" and status["model"] == "restora-inpaint" and status["detection"] is None
    result = decode(client.get(f"/api/jobs/{status['id']}/result").content)
    keep = mask == 0
    np.testing.assert_array_equal(result[keep], damaged[keep])  # outside the mask: bit for bit
    assert np.abs(result[~keep].astype(int) - 250).mean() > 30  # the white scratch was filled


def test_repair_without_a_mask_runs_the_detector(client):
    damaged, _ = photo_and_mask()
    response = post(client, encode(damaged, "PNG"), task="repair")
    assert response.status_code == 200, response.text
    status = wait_done(client, response.json()["id"])
    assert status["status"] == "done" and status["model"] == "restora-inpaint"
    assert decode(client.get(f"/api/jobs/{status['id']}/result").content).shape == damaged.shape


def test_a_mask_of_another_size_is_a_clear_422(client):
    damaged, _ = photo_and_mask()
    response = post(client, encode(damaged, "PNG"), encode(np.zeros((20, 48), np.uint8), "PNG"), task="repair")
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail == "the mask is 48 × 20 px, the photo 48 × 40: they must be the same size"
    assert list(client.app.state.jobs.root.iterdir()) == []  # nothing kept of the refused upload


@pytest.mark.parametrize(
    "mask, fields, words",
    [
        (b"not an image", {"task": "repair"}, "mask: "),
        (None, {"task": "denoise"}, "a mask is for task 'repair', not 'denoise'"),
    ],
)
def test_bad_masks_are_422_with_one_line(client, mask, fields, words):
    damaged, good = photo_and_mask()
    response = post(client, encode(damaged, "PNG"), encode(good, "PNG") if mask is None else mask, **fields)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert words in detail and "\n" not in detail


def test_a_mask_over_the_upload_limit_is_413(make_client):
    damaged, _ = photo_and_mask(8, 8)
    client = make_client(max_upload_bytes=2000)
    photo = encode(damaged, "PNG")
    assert len(photo) < 2000
    big = encode(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8), "PNG")
    response = post(client, photo, big, task="repair")
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_repair_is_offered_with_the_inpainters_only(client):
    models = {m["name"]: m for m in client.get("/api/models").json()}
    assert "repair" in models["restora-inpaint"]["default_for"]
    assert "repair" in models["restora-inpaint-resshift"]["tasks"]
    assert "repair" not in models["restora-damage"]["tasks"]  # it finds the mask; it fills nothing


def test_status_gives_the_noise_map_scale(client):
    from restora.explain import noise_map_overall
    from restora.explain.noise_map import noise_map_scale
    from restora.explain.outputs import heat_map

    _, noisy = noisy_pixels(48, 64, sigma=20)
    response = post(client, encode(noisy, "PNG"), model="nlm")
    status = wait_done(client, response.json()["id"])
    overall = noise_map_overall(noisy.astype(np.float32) / 255)
    assert status["noise_map_scale"] == noise_map_scale(overall) >= 2.0
    shown = decode(client.get(f"/api/jobs/{status['id']}/noise-map").content)
    np.testing.assert_array_equal(shown, heat_map(overall, status["noise_map_scale"]))
