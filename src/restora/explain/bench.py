"""``restora bench``'s reliability hook: the predicted gain beside the measured one, and their calibration.

For each image a neural denoiser of ours restores, the bench adds a ``reliability`` field to the image's row:
the gain :func:`restora.explain.assess` predicts from the noisy input and the 8-bit output the bench scores
(no reference), with its interval, confidence and flags, and the gain measured against the clean image (the
output's PSNR minus the noisy input's, both as the bench computes PSNR). Each (set, σ, method) entry then gets
:func:`~restora.explain.reliability_calibration` of its images (Spearman, MAE, bias, interval coverage), and
``results.md`` a table of them per set (real pairs included) and over all sets.
"""

from __future__ import annotations

import numpy as np

from restora.eval.metrics import psnr, to_uint8
from restora.explain.core import assess
from restora.explain.reliability import load_predictor, reliability_calibration


def reliability_row(noisy: np.ndarray, clean8: np.ndarray, output8: np.ndarray, sigma_used, model: str) -> dict:
    """Predicted and measured gain of one restored image.

    ``noisy``: the input as the method got it (0–255 float, unclipped); ``clean8``/``output8``: uint8 RGB;
    ``sigma_used``: the σ the method ran with (per channel, 0–255) or None; ``model``: the method's engine name.
    """
    pixels = np.asarray(noisy, np.float32) / 255.0
    r = assess(
        pixels, output8.astype(np.float32) / 255.0, None if sigma_used is None else np.asarray(sigma_used), model
    )
    measured = psnr(clean8, output8) - psnr(clean8, to_uint8(noisy))
    return {
        "predicted_gain": round(r.gain_db, 3),
        "low_db": round(r.low_db, 3),
        "high_db": round(r.high_db, 3),
        "measured_gain": round(float(measured), 3),
        "confidence": r.confidence,
        "flags": sorted(r.flags),
    }


def entry_calibration(rows: list[dict]) -> dict | None:
    """Calibration of one bench entry's images (None when they carry no reliability)."""
    records = [r["reliability"] for r in rows if "reliability" in r]
    return reliability_calibration(records) if records else None


def _label(entry: dict) -> str:
    return entry["set"] if entry["sigma"] is None else f"{entry['set']} σ={entry['sigma']:g}"


def _cells(c: dict) -> str:
    coverage = f"{c['coverage']:.0%}" if "coverage" in c else "—"
    rho = "—" if not np.isfinite(c["spearman"]) else f"{c['spearman']:.3f}"
    return f"{c['n']} | {rho} | {c['mae']:.2f} | {c['bias']:+.2f} | {coverage}"


def calibration_lines(entries: list[dict]) -> list[str]:
    """Markdown: per method, a row per (set, σ) and one over all its images; [] when no entry has reliability."""
    by_method: dict[str, list[dict]] = {}
    for e in entries:
        if e.get("reliability"):
            by_method.setdefault(e["method"], []).append(e)
    if not by_method:
        return []
    fitted_for = load_predictor().get("model", {}).get("name", "?")
    lines = [
        "## Reliability calibration",
        "",
        "Predicted PSNR gain (restora.explain, from the noisy input and the output alone) against the gain "
        "measured with the clean image, per image. Spearman: rank correlation; MAE and bias (predicted − "
        "measured) in dB; coverage: share of measured gains inside the predicted 80% interval. The predictor "
        f"(src/restora/explain/reliability.json) is fitted for the model '{fitted_for}'; for others it is "
        "indicative.",
        "",
    ]
    for method, group in by_method.items():
        lines += [
            f"### {method}",
            "",
            "| set | images | Spearman | MAE (dB) | bias (dB) | coverage |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [f"| {_label(e)} | {_cells(e['reliability'])} |" for e in group]
        every = [r["reliability"] for e in group for r in e["images"] if "reliability" in r]
        lines += [f"| **all** | {_cells(reliability_calibration(every))} |", ""]
        flagged = sum(bool(r["flags"]) for r in every)
        lines += [f"Out-of-range flags fired on {flagged} of {len(every)} images.", ""]
    return lines
