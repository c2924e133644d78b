"""Checks of a noisy/clean pair: same scene, same exposure, same colour balance, aligned.

Measured on the two images' centre crops of at most :data:`~restora.audit.image_checks.WORK` px (the same
pixels of both). Thresholds are calibrated on ``real/CC52`` (the real-noise validation pairs) and on
synthetic pairs from the training sets (docs/data-audit.md).

* **mismatched-pair** — the sizes differ, or the correlation of the two lumas after a Gaussian blur of
  σ = :data:`MATCH_BLUR` px (which removes the noise) is below :data:`MATCH_CORRELATION`.
* **exposure-offset** — gain = Σ noisy / Σ clean luma over the mid-tone pixels (clean luma, blurred, in
  [:data:`MID_LOW`, :data:`MID_HIGH`] on the 0–255 scale: noise clipped at black or white cannot bias the
  sums there). Flagged when ``|gain − 1|`` exceeds :data:`EXPOSURE`.
* **colour-cast** — the same gain per RGB channel (over that channel's mid-tones), divided by the luma gain;
  flagged when a channel's ratio is more than :data:`CAST` from 1.
* **misaligned** — the shift of the noisy image against the clean one by phase correlation
  (``skimage.registration.phase_cross_correlation``, 1/20 px, on the blurred lumas); flagged above
  :data:`SHIFT_PX` px.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.registration import phase_cross_correlation

from restora.audit.findings import Finding
from restora.audit.image_checks import centre_crop, luma

MATCH_BLUR = 2.0
MATCH_CORRELATION = 0.5
MID_LOW, MID_HIGH = 40.0, 215.0
EXPOSURE = 0.05
CAST = 0.04
SHIFT_PX = 0.4
UPSAMPLE = 20


@dataclass(frozen=True)
class PairMeasures:
    """What the pair checks decide on; all None when the sizes differ."""

    same_size: bool
    correlation: float | None = None
    gain: float | None = None
    cast: float | None = None
    cast_channel: str | None = None
    shift: float | None = None
    shift_yx: tuple[float, float] | None = None


def _gain(noisy: np.ndarray, clean: np.ndarray) -> float:
    """Σ noisy / Σ clean over the pixels whose blurred clean value (0–255) is a mid-tone."""
    blurred = cv2.GaussianBlur(clean, (0, 0), MATCH_BLUR)
    mid = (blurred >= MID_LOW) & (blurred <= MID_HIGH)
    if mid.sum() < 64:
        return 1.0
    return float(noisy[mid].sum() / max(float(clean[mid].sum()), 1e-6))


def _channel_gains(noisy: np.ndarray, clean: np.ndarray) -> tuple[float, np.ndarray]:
    """The luma gain and each RGB channel's gain, each over its own mid-tones."""
    channels = [_gain(noisy[..., c] * np.float32(255), clean[..., c] * np.float32(255)) for c in range(3)]
    return _gain(luma(noisy), luma(clean)), np.array(channels)


def measure_pair(noisy: np.ndarray, clean: np.ndarray) -> PairMeasures:
    """Every pair measure of two (H, W, 3) float32 images in [0, 1]."""
    if noisy.shape != clean.shape:
        return PairMeasures(same_size=False)
    noisy, clean = centre_crop(noisy), centre_crop(clean)
    yn = cv2.GaussianBlur(luma(noisy), (0, 0), MATCH_BLUR)
    yc = cv2.GaussianBlur(luma(clean), (0, 0), MATCH_BLUR)
    a, b = yn - yn.mean(), yc - yc.mean()
    correlation = float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-9))
    gain, channels = _channel_gains(noisy, clean)
    ratios = channels / max(gain, 1e-6)
    worst = int(np.argmax(np.abs(ratios - 1)))
    shift, _, _ = phase_cross_correlation(yc, yn, upsample_factor=UPSAMPLE, normalization=None)
    return PairMeasures(
        True,
        correlation,
        gain,
        float(ratios[worst] - 1),
        "RGB"[worst],
        float(np.hypot(*shift)),
        (float(shift[0]), float(shift[1])),
    )


def pair_findings(noisy_path: str, clean_path: str, m: PairMeasures) -> list[Finding]:
    """The findings for one pair; the clean reference is the file at fault, the noisy one its partner."""
    if not m.same_size:
        return [Finding("mismatched-pair", clean_path, noisy_path, None, "the two files of the pair differ in size")]
    if m.correlation < MATCH_CORRELATION:
        return [
            Finding(
                "mismatched-pair",
                clean_path,
                noisy_path,
                m.correlation,
                f"the pair shows different scenes (correlation {m.correlation:.2f}, below {MATCH_CORRELATION})",
            )
        ]
    out = []
    if abs(m.gain - 1) > EXPOSURE:
        out.append(
            Finding(
                "exposure-offset",
                clean_path,
                noisy_path,
                m.gain,
                f"the noisy image is {m.gain:.3f}× as bright as the reference (limit ±{EXPOSURE:.0%})",
            )
        )
    if abs(m.cast) > CAST:
        out.append(
            Finding(
                "colour-cast",
                clean_path,
                noisy_path,
                m.cast,
                f"channel {m.cast_channel} of the noisy image is {m.cast:+.1%} against the reference's "
                f"balance (limit ±{CAST:.0%})",
            )
        )
    if m.shift > SHIFT_PX:
        dy, dx = m.shift_yx
        out.append(
            Finding(
                "misaligned",
                clean_path,
                noisy_path,
                m.shift,
                f"the noisy image is shifted by {m.shift:.2f} px (dy {dy:+.2f}, dx {dx:+.2f}) against the reference",
            )
        )
    return out
