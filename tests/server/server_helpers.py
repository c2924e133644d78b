"""Helpers for the server tests: tiny images as bytes, uploading, polling."""

from __future__ import annotations

import io
import time

import httpx
import numpy as np
from fastapi.testclient import TestClient
from PIL import Image as PILImage


def noisy_pixels(
    height: int = 40, width: int = 48, sigma: float = 20.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) uint8 RGB: smooth gradients plus Gaussian noise of σ (0–255 scale)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    clean = np.stack([60 + 120 * x / width, 80 + 100 * y / height, 140 + 40 * np.sin(x / 7)], axis=2)
    noisy = clean + rng.normal(0, sigma, clean.shape)
    return np.clip(clean, 0, 255).astype(np.uint8), np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format=fmt, **params)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(data)))


def png16_bytes(pixels16: np.ndarray) -> bytes:
    """16-bit RGB PNG (Pillow cannot write 16-bit RGB; OpenCV can)."""
    import cv2

    ok, data = cv2.imencode(".png", cv2.cvtColor(pixels16, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def wait_done(client: TestClient, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/jobs/{job_id}").json()
        if body["status"] in ("done", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


def submit(client: TestClient, data: bytes, filename: str = "photo.png", **fields) -> httpx.Response:
    return client.post(
        "/api/jobs",
        files={"file": (filename, data, "application/octet-stream")},
        data={k: str(v) for k, v in fields.items()},
    )
