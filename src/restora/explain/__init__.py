"""Understand a restoration: what was noise, what was removed, where detail is at risk, how far to trust it.

* :func:`noise_map` — per-pixel, per-channel noise σ (0–255) from the input alone; :func:`estimate_noise_model`
  its noise level function and shot/read fit; :func:`noise_map_overall` the (H, W) map the web page shows.
* :func:`residual` — input − output, exactly; :func:`power_spectrum`, :func:`detail_at_risk`.
* :func:`assess` — predicted quality gain with interval and out-of-range flags (:class:`Reliability`);
  :func:`reliability_calibration` — predicted against measured gains, for the bench.
* :func:`explain_image` and :func:`write_report` — ``restora explain PHOTO -o report.html``.
* :func:`write_noise_map`, :func:`write_residual` — ``restora denoise --noise-map PATH --residual PATH``.
"""

from restora.explain.core import Explanation, assess, explain_image
from restora.explain.features import Analysis, analyse
from restora.explain.noise_map import NoiseModel, estimate_noise_model, noise_map, noise_map_overall
from restora.explain.outputs import write_noise_map, write_residual
from restora.explain.reliability import Reliability, predict, reliability_calibration
from restora.explain.report import write_report
from restora.explain.residual import detail_at_risk, power_spectrum, residual

__all__ = [
    "Analysis",
    "Explanation",
    "NoiseModel",
    "Reliability",
    "analyse",
    "assess",
    "detail_at_risk",
    "estimate_noise_model",
    "explain_image",
    "noise_map",
    "noise_map_overall",
    "power_spectrum",
    "predict",
    "reliability_calibration",
    "residual",
    "write_noise_map",
    "write_report",
    "write_residual",
]
