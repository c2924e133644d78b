"""Reliability: the fitted predictor's file, out-of-range flags on crafted inputs, the bench's calibration."""

import json

import cv2
import numpy as np
import pytest

from restora.degrade.compression import encode_jpeg
from restora.errors import RestoraError
from restora.explain import analyse, assess, predict, reliability_calibration
from restora.explain.features import FEATURES
from restora.explain.fit import fit_predictor
from restora.explain.reliability import MODEL_PATH, load_predictor


def denoise_stand_in(noisy):
    """A crude denoiser (Gaussian blur): the flags judge the input, not the method."""
    return np.clip(cv2.GaussianBlur(np.ascontiguousarray(noisy), (0, 0), 1.0), 0, 1)


def flags_for(noisy):
    return assess(noisy, denoise_stand_in(noisy)).flags


def test_predictor_file_is_plain_json_with_our_features():
    data = json.loads(MODEL_PATH.read_text())
    assert data["features"] == list(FEATURES)
    assert len(data["gain"]) == len(FEATURES) + 2 and len(data["spread"]) == len(FEATURES) + 2
    assert set(data["flags"]) == {"noise_beyond_range", "heavy_jpeg", "clipped_highlights", "unusual_statistics"}
    assert data["fit"]["samples"] > 50 and "CBSD432" in data["fit"]["data"]


def test_in_range_input_raises_no_flag_and_gets_an_interval(scene):
    clean = scene()
    noisy = clean + np.random.default_rng(0).normal(0, 15 / 255, clean.shape).astype(np.float32)
    r = assess(noisy, denoise_stand_in(noisy), model="blur")
    for name in ("noise_beyond_range", "heavy_jpeg", "clipped_highlights"):
        assert name not in r.flags
    assert r.low_db <= r.gain_db <= r.high_db and r.confidence in ("high", "medium", "low")
    d = r.to_dict()
    assert d["out_of_range"] == bool(r.flags) and set(d) >= {"gain_db", "low_db", "high_db", "confidence", "flags"}


def test_noise_far_beyond_training_is_flagged(scene):
    clean = scene()
    noisy = clean + np.random.default_rng(1).normal(0, 120 / 255, clean.shape).astype(np.float32)
    assert "noise_beyond_range" in flags_for(noisy)


def test_heavy_jpeg_blocking_is_flagged(scene):
    clean = scene()
    noisy = clean + np.random.default_rng(2).normal(0, 8 / 255, clean.shape).astype(np.float32)
    assert "heavy_jpeg" in flags_for(encode_jpeg(noisy, 5))
    assert "heavy_jpeg" not in flags_for(encode_jpeg(noisy, 92))


def test_blown_highlights_are_flagged(scene):
    clean = scene()
    bright = np.clip(clean * 2.2, 0, 1)  # over-exposed by more than a stop: most of the frame clips
    noisy = np.clip(bright + np.random.default_rng(3).normal(0, 5 / 255, clean.shape), 0, 1).astype(np.float32)
    assert "clipped_highlights" in flags_for(noisy)


def test_unusual_statistics_are_flagged(scene):
    clean = scene()
    noisy = clean + np.random.default_rng(4).normal(0, 15 / 255, clean.shape).astype(np.float32)
    analysis = analyse(noisy, denoise_stand_in(noisy))
    p = load_predictor()
    for i, name in enumerate(FEATURES):  # every measurement ten spreads away from the training cases
        analysis.features[name] = p["mean"][i] + 10 * p["scale"][i]
    r = predict(analysis)
    assert "unusual_statistics" in r.flags and r.confidence == "low"
    assert "unlike every training case" in r.summary()


def test_confidence_comes_with_its_reason(scene):
    clean = scene()
    noisy = clean + np.random.default_rng(0).normal(0, 15 / 255, clean.shape).astype(np.float32)
    analysis = analyse(noisy, denoise_stand_in(noisy))
    r = predict(analysis)
    assert not r.flags and "80% interval" in r.reason and f"±{(r.high_db - r.low_db) / 2:.2f} dB" in r.reason
    if r.confidence != "high":  # the feature that widens the interval most, in words
        assert "widens it most" in r.reason and r.reason in r.summary()
    assert predict(analysis).to_dict()["reason"] == r.reason
    p = load_predictor()
    for i, name in enumerate(FEATURES):
        analysis.features[name] = p["mean"][i] + 10 * p["scale"][i]
    flagged = predict(analysis)
    assert flagged.confidence == "low" and flagged.reason.startswith("out of range")


def test_calibration_for_the_bench():
    perfect = [
        {"predicted_gain": g, "measured_gain": g, "low_db": g - 1, "high_db": g + 1, "set": s}
        for g, s in [(1.0, "a"), (2.0, "a"), (3.0, "a"), (5.0, "b"), (4.0, "b"), (9.0, "b")]
    ]
    c = reliability_calibration(perfect)
    assert c["n"] == 6 and c["spearman"] == pytest.approx(1.0) and c["mae"] == 0 and c["coverage"] == 1.0
    assert set(c["sets"]) == {"a", "b"} and c["sets"]["a"]["n"] == 3
    shifted = reliability_calibration([{"predicted_gain": g + 2, "measured_gain": 10 - g} for g in range(5)])
    assert shifted["spearman"] == pytest.approx(-1.0) and shifted["bias"] == pytest.approx(-4.0)  # mean of 2g − 8
    with pytest.raises(RestoraError):
        reliability_calibration([{"predicted_gain": 1.0}])


def test_fit_recovers_a_gain_that_follows_the_features():
    rng = np.random.default_rng(0)
    records = []
    for i in range(120):
        f = {name: float(rng.normal()) for name in FEATURES}
        gain = 3.0 + 2.0 * f["log_sigma"] - 0.5 * f["risk_fraction"] + 0.05 * rng.normal()
        records.append(
            {
                "features": f,
                "gain": gain,
                "image": f"p{i % 8}",
                "flag_values": {"noise_beyond_range": 20.0, "heavy_jpeg": 0.1, "clipped_highlights": 0.0},
            }
        )
    p = fit_predictor(records)
    assert p["fit"]["cv_spearman"] > 0.98 and p["fit"]["cv_mae_db"] < 0.2
    assert 0.6 <= p["fit"]["cv_coverage"] <= 1.0
    json.dumps(p)  # stored as JSON


def test_the_shipped_predictor_was_fitted_for_the_shipped_denoiser():
    """The predictor learns one model's gains; a new restora-denoise must ship with a refit
    (python -m restora.explain.fit --model restora-denoise), or users get another model's confidence."""
    import hashlib
    import json

    from restora.explain.reliability import MODEL_PATH
    from restora.engine.catalogue import get_spec

    fitted_for = json.loads(MODEL_PATH.read_text())["model"]
    shipped = get_spec(fitted_for["name"]).path
    assert hashlib.sha256(shipped.read_bytes()).hexdigest()[:16] == fitted_for["sha256"]


@pytest.mark.parametrize("side", [1, 6, 7, 8, 15])
def test_photos_too_small_to_analyse_say_so_in_one_line(side):
    from restora.explain.features import TooSmallToAnalyse

    noisy = np.random.default_rng(0).random((side, side, 3)).astype(np.float32)
    with pytest.raises(TooSmallToAnalyse, match=f"too small to analyse \\({side} × {side} px"):
        analyse(noisy, noisy * 0.9)
    enough = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    assert np.isfinite(assess(enough, enough * 0.9).gain_db)
