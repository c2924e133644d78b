"""The routing head of --task auto: its noise features, its file, and detection through it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

import restora.engine.routing as routing
from restora.engine.routing import RoutingHead, file_sha256, noise_features, routing_head
from restora.tasks import RESTORE_TASKS
from restora.train.routing_fit import fit_head


def scene(h=160, w=200):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.clip(np.dstack([0.5 + 0.3 * np.sin(xx / 11), 0.45 + 0.25 * np.cos(yy / 9), 0.3 + 0.4 * xx / w]), 0, 1)


def test_noise_features_tell_white_from_correlated_noise():
    rng = np.random.default_rng(0)
    clean = scene()
    white = clean + rng.normal(0, 8 / 255, clean.shape)
    # Low-passed noise, as after demosaicing and in-camera noise reduction, of a similar std.
    soft = cv2.GaussianBlur(rng.normal(0, 1, clean.shape).astype(np.float32), (0, 0), 1.0)
    correlated = clean + soft / soft.std() * 8 / 255
    (s_white, r_white), (s_corr, r_corr) = noise_features(white), noise_features(correlated)
    assert np.exp(s_white) - 0.1 == pytest.approx(8.0, rel=0.2)
    assert np.exp(r_white) < 1.4 < np.exp(r_corr)  # the stride test: white reads ≈ 1, correlated louder
    assert s_corr < s_white  # the PCA sees the flattest part of correlated noise: lower


def head(bias_task: str | None = None, sha: str = "x") -> RoutingHead:
    k, f = len(RESTORE_TASKS), 4
    bias = np.zeros(k)
    if bias_task:
        bias[RESTORE_TASKS.index(bias_task)] = 50.0
    return RoutingHead(tuple(RESTORE_TASKS), np.zeros(f), np.ones(f), np.eye(k, f), bias, sha, {"summary": "t"})


def test_head_round_trips_through_json_and_gives_probabilities():
    h = head()
    again = RoutingHead.from_json(h.to_json())
    x = np.random.default_rng(1).normal(size=(6, 4))
    p = again.probabilities(x)
    np.testing.assert_allclose(p, h.probabilities(x))
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert (p.argmax(1) == np.where(x.max(1) > 0, x.argmax(1), 4)).mean() > 0.5  # W = I: the largest feature wins


def test_head_is_used_only_with_the_detector_it_was_fitted_for(tmp_path, monkeypatch):
    detector = tmp_path / "allinone.safetensors"
    detector.write_bytes(b"weights")
    fitted = tmp_path / "routing.json"
    monkeypatch.setattr(routing, "ROUTING_PATH", fitted)
    fitted.write_text(head(sha=file_sha256(detector)).to_json())
    routing._head_for.cache_clear()
    assert routing_head(detector) is not None
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"other weights")
    assert routing_head(other) is None and routing_head(None) is None
    fitted.unlink()
    routing._head_for.cache_clear()
    assert routing_head(detector) is None


def test_fit_head_separates_classes():
    rng = np.random.default_rng(2)
    centres = rng.normal(0, 3, (len(RESTORE_TASKS), 6))
    y = np.repeat(np.arange(len(RESTORE_TASKS)), 40)
    x = centres[y] + rng.normal(0, 0.5, (len(y), 6))
    mean, scale, w, b = fit_head(x, y, np.ones(len(y)), 1e-3)
    h = RoutingHead(tuple(RESTORE_TASKS), mean, scale, w, b, "x", {})
    assert (h.probabilities(x).argmax(1) == y).mean() > 0.95


def test_detection_reads_the_head_when_it_fits_the_detector(tiny_allinone, monkeypatch):
    from restora.engine import detect as detect_module
    from restora.engine.neural import NeuralMethod
    from restora.models.modelfile import load_module

    path = tiny_allinone()
    module, _ = load_module(path)
    method = NeuralMethod(module, "tiny", "cpu")
    x = scene()
    embed = module.classify.in_features
    k = len(RESTORE_TASKS)
    bias = np.zeros(k)
    bias[RESTORE_TASKS.index("derain")] = 30.0
    fitted = RoutingHead(
        tuple(RESTORE_TASKS),
        np.zeros(embed + 2),
        np.ones(embed + 2),
        np.zeros((k, embed + 2)),
        bias,
        file_sha256(path),
        {},
    )
    monkeypatch.setattr(detect_module, "routing_head", lambda p: fitted if p == path else None)
    d = detect_module.detect(method, method.context_input(x), str(path), x)
    assert d.task == "derain" and d.probabilities["derain"] > 0.99 and "routing" in d.extra
    plain = detect_module.detect(method, method.context_input(x), "not-a-model", x)
    assert "routing" not in plain.extra
