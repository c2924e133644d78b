"""Reliability of one restoration: predicted quality gain (dB) with an interval, and out-of-range flags.

The predictor is learnt from held-out synthetic degradations (cf. "Predicting the Reliability of an Image
Classifier under Image Distortion", arXiv 2412.16881, which learns reliability over a space of distortion
levels): on the validation slice of CBSD432 (never ``test/`` or ``real/``), photos are degraded with the
training degradations, restored with the model, and the measured PSNR gain (output against clean minus
input against clean, 8-bit RGB as in docs/conventions.md) is regressed on no-reference features
(:data:`restora.explain.features.FEATURES`). The fitted numbers live in ``reliability.json`` beside this
module (plain JSON, never a pickle); ``python -m restora.explain.fit`` refits them for a model.

* **Gain**: ridge regression on standardised features, plus the square of the noise level (gain grows
  with σ but not linearly).
* **Interval**: the size of the error is modelled too — a second linear model predicts log |error| — and
  scaled so that ``COVERAGE`` of the fitting set's cross-validated errors fall inside ± the half-width.
* **Confidence**: "high" (half-width ≤ 1 dB), "medium" (≤ 2.5 dB), "low" (wider, or any out-of-range flag).
* **Flags** (each fires on its own measurement; the thresholds are in the JSON with how they were set):
  ``noise_beyond_range`` (σ above what training covered), ``heavy_jpeg`` (8×8 blocking far beyond the
  training's JPEG qualities), ``clipped_highlights`` (a large share of blown-out highlights),
  ``unusual_statistics`` (the input's noise is unlike every training case: squared Mahalanobis distance of
  :data:`DISTANCE_FEATURES` — what describes the input's noise and exposure, not what the model did with
  it or the picture's content — above the limit).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from restora.errors import RestoraError
from restora.explain.features import FEATURES, Analysis, jpeg_blocking

MODEL_PATH = Path(__file__).with_name("reliability.json")
DISTANCE_FEATURES = ("log_sigma", "sigma_spread", "signal_dependence", "input_lag", "outliers", "brightness")
COVERAGE = 0.8
HIGH_CONFIDENCE_DB, MEDIUM_CONFIDENCE_DB = 1.0, 2.5

FLAG_TEXT = {
    "noise_beyond_range": "the noise (σ {value:.0f}) is stronger than anything the model was trained on (σ ≤ {limit:.0f})",
    "heavy_jpeg": "heavy JPEG blocking (score {value:.2f} > {limit:.2f}): the model was trained on lighter compression",
    "clipped_highlights": "{value:.0%} of the photo is blown-out highlight (> {limit:.0%}): no detail is left there to restore",
    "unusual_statistics": "the photo's statistics are unlike every training case (distance {value:.0f} > {limit:.0f})",
}

# What each feature measures, in words, for the reason given with a confidence (see :func:`confidence_reason`).
FEATURE_TEXT = {
    "log_sigma": "the noise level",
    "sigma_spread": "the difference in noise between the colour channels",
    "signal_dependence": "the noise's change with brightness",
    "removed_ratio": "the amount removed against the noise seen",
    "whiteness": "the whiteness of the removed part",
    "low_high_ratio": "the share of coarse structure in the removed part",
    "residual_lag": "the correlation of neighbouring pixels in the removed part",
    "input_lag": "the correlation of the noise between neighbouring pixels",
    "outliers": "the share of impulse-like pixels",
    "risk_fraction": "the share of texture at risk of being smoothed",
    "risk_correlation": "the removed part's resemblance to the picture",
    "textured_fraction": "the share of the photo with structure above the noise",
    "log_texture": "the amount of fine texture",
    "blockiness": "the JPEG blocking",
    "block_ratio": "the JPEG block edges against the picture's own edges",
    "highlights": "the share of clipped highlights",
    "shadows": "the share of crushed shadows",
    "brightness": "the brightness",
}


@dataclass
class Reliability:
    """``gain_db``: predicted PSNR gain of the output over the input; ``low_db``/``high_db``: the COVERAGE
    interval; ``confidence``: high/medium/low; ``flags``: {name: one-line reason}; ``calibrated_for``: the model
    the predictor was fitted for (predictions for another model are indicative only); ``reason``: why the
    confidence is what it is, in one line."""

    gain_db: float
    low_db: float
    high_db: float
    confidence: str
    flags: dict[str, str] = field(default_factory=dict)
    calibrated_for: str = ""
    model: str = ""
    reason: str = ""

    @property
    def out_of_range(self) -> bool:
        return bool(self.flags)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["out_of_range"] = self.out_of_range
        for k in ("gain_db", "low_db", "high_db"):
            d[k] = round(d[k], 2)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Reliability:
        """Inverse of :meth:`to_dict` (results travel between processes as plain values)."""
        return cls(
            float(d["gain_db"]),
            float(d["low_db"]),
            float(d["high_db"]),
            str(d["confidence"]),
            dict(d.get("flags") or {}),
            str(d.get("calibrated_for") or ""),
            str(d.get("model") or ""),
            str(d.get("reason") or ""),
        )

    @property
    def indicative(self) -> bool:
        """True when the photo was restored with another model than the one the predictor was fitted for."""
        return bool(self.calibrated_for and self.model and self.calibrated_for != self.model)

    @property
    def may_be_worse(self) -> bool:
        """The output may be worse than the input: a predicted loss, low confidence, or a photo out of range."""
        return self.gain_db < 0 or self.confidence == "low" or self.out_of_range

    def warning(self) -> str | None:
        """One line saying why the output may be worse than the input, or None when nothing suggests it."""
        if not self.may_be_worse:
            return None
        why = (
            f"predicted gain {self.gain_db:+.1f} dB"
            if self.gain_db < 0
            else f"{self.confidence} confidence"
            if self.confidence == "low"
            else "photo unlike the training data"
        )
        return f"warning: the output may be worse than the input ({why}); --keep-if-worse writes the input unchanged instead"

    def summary(self) -> str:
        """One line for a CLI summary."""
        text = f"predicted gain {self.gain_db:+.1f} dB ({self.low_db:+.1f} to {self.high_db:+.1f}), {self.confidence} confidence"
        if self.indicative:
            text += f" (indicative: fitted for {self.calibrated_for})"
        if self.confidence != "high" and not self.flags and self.reason:
            text += f": {self.reason}"
        if self.flags:
            text += "; out of range: " + "; ".join(self.flags.values())
        return text


@lru_cache(maxsize=4)
def _load(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise RestoraError(f"{path}: cannot read the reliability model ({exc.__class__.__name__})") from None
    if data.get("features") != list(FEATURES):
        raise RestoraError(
            f"{path}: reliability model was fitted on other features; refit it (python -m restora.explain.fit)"
        )
    return data


def load_predictor(path: Path | None = None) -> dict:
    return _load(str(path or MODEL_PATH))


def feature_vector(features: dict) -> np.ndarray:
    return np.array([features[name] for name in FEATURES], np.float64)


def design(z: np.ndarray) -> np.ndarray:
    """Regression design on standardised features z (n, F): [1, z, z_log_sigma²]."""
    z = np.atleast_2d(z)
    return np.hstack([np.ones((len(z), 1)), z, z[:, [FEATURES.index("log_sigma")]] ** 2])


def flag_values(analysis_or_features, sigma: np.ndarray | None = None) -> dict[str, float]:
    """The measurements the flags compare with their limits (except the Mahalanobis distance)."""
    if isinstance(analysis_or_features, Analysis):
        features, sigma = analysis_or_features.features, analysis_or_features.sigma
    else:
        features = analysis_or_features
    return {
        "noise_beyond_range": float(np.max(sigma)) if sigma is not None else float(np.expm1(features["log_sigma"])),
        "heavy_jpeg": jpeg_blocking(float(np.expm1(features["blockiness"])), features["block_ratio"]),
        "clipped_highlights": features["highlights"],
    }


def mahalanobis2(x: np.ndarray, predictor: dict) -> float:
    """Squared Mahalanobis distance of a feature vector from the fitting set, over the JSON's distance features."""
    ref = predictor["in_range"]
    idx = [FEATURES.index(name) for name in ref["features"]]
    z = (x[idx] - np.array(predictor["mean"])[idx]) / np.array(predictor["scale"])[idx]
    d = z - np.array(ref["mean"])
    return float(d @ np.array(ref["precision"]) @ d)


def predict(analysis: Analysis, model_name: str = "", predictor: dict | None = None) -> Reliability:
    """Predicted gain, interval, confidence and flags for one analysed restoration."""
    p = predictor or load_predictor()
    x = feature_vector(analysis.features)
    z = (x - np.array(p["mean"])) / np.array(p["scale"])
    z = np.clip(z, -p["clip_z"], p["clip_z"])  # no wild extrapolation of the linear model
    d = design(z)[0]
    gain = float(d @ np.array(p["gain"]))
    half = float(np.exp(d @ np.array(p["spread"])) * p["interval_scale"])
    flags = {}
    values = flag_values(analysis)
    values["unusual_statistics"] = mahalanobis2(x, p)
    for name, limit in p["flags"].items():
        if values[name] > limit["limit"]:
            flags[name] = FLAG_TEXT[name].format(value=values[name], limit=limit["limit"])
    confidence = "high" if half <= HIGH_CONFIDENCE_DB else "medium" if half <= MEDIUM_CONFIDENCE_DB else "low"
    if flags:
        confidence = "low"
    reason = confidence_reason(confidence, half, flags, d * np.array(p["spread"]), z)
    return Reliability(
        gain, gain - half, gain + half, confidence, flags, p.get("model", {}).get("name", ""), model_name, reason
    )


def confidence_reason(confidence: str, half: float, flags: dict[str, str], widening: np.ndarray, z: np.ndarray) -> str:
    """Why the confidence is ``confidence``, in one line: the out-of-range checks that fired, or the interval's
    half-width against the bands and the feature that widens it most on this photo.

    ``widening``: each design term's share of log(half-width) (design row × spread weights); ``z``: the photo's
    standardised features (the sign says whether the photo is above or below the fitting set's mean).
    """
    if flags:
        return f"out of range ({len(flags)} check{'s' if len(flags) != 1 else ''} fired)"
    band = (
        f"≤ {HIGH_CONFIDENCE_DB:g} dB: high"
        if confidence == "high"
        else f"{HIGH_CONFIDENCE_DB:g}–{MEDIUM_CONFIDENCE_DB:g} dB: medium"
        if confidence == "medium"
        else f"over {MEDIUM_CONFIDENCE_DB:g} dB: low"
    )
    text = f"the 80% interval is ±{half:.2f} dB ({band})"
    terms = widening[1 : 1 + len(FEATURES)].copy()  # the features' own terms (not the constant, not σ²)
    terms[FEATURES.index("log_sigma")] += widening[-1]
    top = int(np.argmax(terms))
    if confidence != "high" and terms[top] > 0:
        side = "higher" if z[top] > 0 else "lower"
        text += (
            f"; what widens it most on this photo: {FEATURE_TEXT[FEATURES[top]]}, {side} than in most photos "
            "the predictor was fitted on"
        )
    return text


def reliability_calibration(records) -> dict:
    """Calibration of predicted against measured gains, for the bench.

    ``records``: iterable of mappings with ``predicted_gain`` and ``measured_gain`` (dB), optionally
    ``low_db``/``high_db`` (the predicted interval) and ``set`` (a group name). Returns ``n``, ``spearman``
    (rank correlation), ``mae`` (mean absolute error, dB), ``bias`` (mean predicted − measured), ``coverage``
    (share of measured gains inside the interval, when given) and the same per ``set`` under ``sets``.
    """
    from scipy.stats import spearmanr

    rows = [dict(r) for r in records]
    for r in rows:
        if "predicted_gain" not in r or "measured_gain" not in r:
            raise RestoraError("each calibration record needs 'predicted_gain' and 'measured_gain'")

    def summary(group: list[dict]) -> dict:
        pred = np.array([r["predicted_gain"] for r in group], np.float64)
        meas = np.array([r["measured_gain"] for r in group], np.float64)
        out = {
            "n": len(group),
            "mae": float(np.mean(np.abs(pred - meas))) if group else float("nan"),
            "bias": float(np.mean(pred - meas)) if group else float("nan"),
        }
        rho = (
            spearmanr(pred, meas).statistic
            if len(group) > 2 and np.ptp(pred) > 0 and np.ptp(meas) > 0
            else float("nan")
        )
        out["spearman"] = float(rho)
        with_interval = [r for r in group if "low_db" in r and "high_db" in r]
        if with_interval:
            out["coverage"] = float(np.mean([r["low_db"] <= r["measured_gain"] <= r["high_db"] for r in with_interval]))
        return out

    result = summary(rows)
    sets = sorted({r["set"] for r in rows if "set" in r})
    if sets:
        result["sets"] = {s: summary([r for r in rows if r.get("set") == s]) for s in sets}
    return result
