"""The ``restora explain`` report: one self-contained HTML file (every image embedded as a data: URI, no
scripts, no fonts or styles from elsewhere, no links out), readable offline in any browser."""

from __future__ import annotations

import base64
import html
import io
from datetime import datetime, UTC
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from restora.explain.core import Explanation
from restora.explain.noise_map import noise_map_scale, overall_sigma
from restora.explain.residual import luma, reading, residual_view
from restora import __version__
from restora.io import write_bytes

OVERVIEW_SIDE = 900  # long side of the downscaled overview images (px)
CROP = 160  # side of the 100% crops
CROPS = 3
RISK_SHOWN = 0.15  # risk below this is left transparent on the detail-at-risk map
RISK_THRESHOLD_TEXT = "0.3"

STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1900px; padding: 1em 2em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.meta { color: #555; } .row { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
figure { margin: 0; } figcaption { color: #555; font-size: 0.9em; max-width: 900px; }
img { max-width: 100%; height: auto; } img.pixel { image-rendering: pixelated; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.reading { font-weight: 600; } .box { border: 1px solid #ccc; border-radius: 6px; padding: 0.6em 1em; display: inline-block; }
.flag { color: #a40000; } .ok { color: #176117; } .crop figcaption { max-width: 170px; }
.pair figure { flex: 1 1 45%; min-width: 280px; }
"""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _encode(rgb: np.ndarray, fmt: str = "PNG") -> str:
    """uint8 (H, W[, 3]) array → data: URI (PNG, or JPEG for large photographic overviews)."""
    buf = io.BytesIO()
    im = PILImage.fromarray(rgb)
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=92, subsampling=0)
        return _data_uri(buf.getvalue(), "image/jpeg")
    im.save(buf, "PNG")
    return _data_uri(buf.getvalue(), "image/png")


def _figure(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})  # no URL in the file
    plt.close(fig)
    return _data_uri(buf.getvalue(), "image/png")


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(pixels, np.float32) * 255.0), 0, 255).astype(np.uint8)


def _downscale(rgb: np.ndarray, side: int = OVERVIEW_SIDE) -> np.ndarray:
    h, w = rgb.shape[:2]
    f = side / max(h, w)
    if f >= 1:
        return rgb
    return np.asarray(
        PILImage.fromarray(rgb).resize((max(1, round(w * f)), max(1, round(h * f))), PILImage.Resampling.LANCZOS)
    )


def textured_crops(pixels: np.ndarray, size: int = CROP, count: int = CROPS) -> list[tuple[int, int, int]]:
    """(y, x, side) of the ``count`` most textured non-overlapping square blocks (gradient energy of the luma)."""
    import cv2

    h, w = pixels.shape[:2]
    side = min(size, h, w)
    y = luma(np.clip(pixels, 0, 1)) * 255.0
    energy = cv2.Sobel(y, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(y, cv2.CV_32F, 0, 1) ** 2
    rows, cols = h // side, w // side
    if rows == 0 or cols == 0:
        return [(0, 0, side)]
    blocks = energy[: rows * side, : cols * side].reshape(rows, side, cols, side).mean(axis=(1, 3))
    order = np.argsort(blocks.ravel())[::-1][:count]
    return [(int(i // cols) * side, int(i % cols) * side, side) for i in order]


def _noise_figure(ex: Explanation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    a = ex.analysis
    overall = overall_sigma(a.sigma_map)
    vmax = noise_map_scale(overall)
    small = _downscale_float(overall)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.4), gridspec_kw={"width_ratios": [1.3, 1], "wspace": 0.45})
    im = axes[0].imshow(small, cmap="inferno", vmin=0, vmax=vmax, interpolation="nearest")
    axes[0].set_axis_off()
    axes[0].set_title("noise level map (RMS over R, G, B)")
    bar = fig.colorbar(im, ax=axes[0], fraction=0.046, pad=0.02)
    bar.set_label("noise σ (0–255 scale)")
    nm = a.noise_model
    grid = np.linspace(0, 1, 101)
    for c, colour in enumerate(("tab:red", "tab:green", "tab:blue")):
        axes[1].plot(nm.levels[c], nm.sigma[c], "o-", color=colour, label="RGB"[c])
        axes[1].plot(grid, np.sqrt(nm.shot[c] * grid + (nm.read[c] / 255) ** 2) * 255, "--", color=colour, lw=0.8)
    axes[1].set(
        xlabel="local brightness (0–1)",
        ylabel="noise σ (0–255)",
        xlim=(0, 1),
        ylim=(0, None),
        title="noise level function (dashed: shot + read fit)",
    )
    axes[1].legend(frameon=False)
    axes[1].grid(alpha=0.3)
    return _figure(fig)


def _downscale_float(x: np.ndarray, side: int = OVERVIEW_SIDE) -> np.ndarray:
    import cv2

    h, w = x.shape[:2]
    f = side / max(h, w)
    if f >= 1:
        return x
    return cv2.resize(x, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)


def _residual_figure(ex: Explanation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = ex.analysis.spectrum
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.semilogy(s.frequency, s.power, "-", color="k", label="residual")
    white = float(np.mean(s.power))
    ax.axhline(white, color="tab:orange", ls="--", label="white noise of the same power")
    ax.set(
        xlabel="spatial frequency (cycles / pixel)",
        ylabel="power ((0–255)² per pixel)",
        xlim=(0, 0.5),
        title=f"power spectrum of the residual (whiteness {s.whiteness:.2f})",
    )
    ax.legend(frameon=False)
    ax.grid(alpha=0.3, which="both")
    return _figure(fig)


def _risk_figure(ex: Explanation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grey = _downscale_float(luma(np.clip(ex.restored.pixels, 0, 1)))
    risk = _downscale_float(ex.analysis.risk.risk)
    fig, ax = plt.subplots(figsize=(8, 8 * grey.shape[0] / max(grey.shape[1], 1) + 0.6))
    ax.imshow(grey, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    shown = np.ma.masked_less(risk, RISK_SHOWN)
    im = ax.imshow(shown, cmap="autumn_r", vmin=0, vmax=1, alpha=0.75, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title("detail at risk (over the output in grey)")
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
    bar.set_label("local correlation of the residual with the picture")
    return _figure(fig)


def display_gain(r: np.ndarray) -> float:
    """Amplification that makes a residual visible: its 99.5th-percentile magnitude reaches ±0.4 (at least ×1)."""
    spread = float(np.percentile(np.abs(r), 99.5))
    return max(1.0, round(0.4 / max(spread, 1e-4), 1))


def _crops_html(ex: Explanation, gain: float) -> str:
    rows = []
    noisy8, out8 = _to_uint8(ex.image.pixels), _to_uint8(ex.restored.pixels)
    res8 = residual_view(ex.analysis.residual, gain)
    risk8 = (np.clip(ex.analysis.risk.risk, 0, 1) * 255).astype(np.uint8)
    for y, x, side in textured_crops(ex.restored.pixels):
        box = (slice(y, y + side), slice(x, x + side))
        cells = [
            (noisy8[box], "input"),
            (out8[box], "output"),
            (res8[box], "residual (×%g)" % gain),
            (risk8[box], "detail at risk (white = high)"),
        ]
        figs = "".join(
            f'<figure class="crop"><img class="pixel" src="{_encode(a)}" width="{side}" height="{side}" '
            f'alt="{html.escape(cap)}"><figcaption>{html.escape(cap)}</figcaption></figure>'
            for a, cap in cells
        )
        rows.append(f'<p class="meta">100% crop at x={x}, y={y} ({side}×{side} px)</p><div class="row">{figs}</div>')
    return "\n".join(rows)


def _noise_table(ex: Explanation) -> str:
    nm = ex.analysis.noise_model
    given = ex.sigma if ex.sigma is not None else ex.analysis.sigma
    rows = []
    for c, name in enumerate(("red", "green", "blue")):
        r2 = nm.fit_r2[c]
        rows.append(
            f"<tr><td>{name}</td><td>{float(given[c]):.2f}</td><td>{float(nm.channel_sigma[c]):.2f}</td>"
            f"<td>{nm.sigma[c].min():.2f} – {nm.sigma[c].max():.2f}</td><td>{nm.shot[c]:.2e}</td>"
            f"<td>{nm.read[c]:.2f}</td><td>{'—' if not np.isfinite(r2) else f'{r2:.2f}'}</td></tr>"
        )
    kind = (
        "signal-dependent (grows or falls with brightness)"
        if nm.signal_dependence > 1.5
        else "nearly constant over brightness (Gaussian-like)"
    )
    return (
        f"<p>The noise is {html.escape(kind)}: its level varies by a factor {nm.signal_dependence:.1f} across brightness.</p>"
        "<table><tr><th>channel</th><th>σ given to the model</th><th>σ (noise level function, median)</th>"
        "<th>σ range over brightness</th><th>shot a</th><th>read σ</th><th>fit R²</th></tr>"
        + "".join(rows)
        + "</table>"
        "<p class='meta'>σ on the 0–255 scale. Shot/read model: Var = a·μ + (read/255)² with brightness μ in 0–1 "
        "(heteroscedastic Gaussian model of raw sensors; after a camera's tone curve and JPEG it is only an approximation).</p>"
    )


def _reliability_html(ex: Explanation) -> str:
    r = ex.reliability
    flags = "".join(f"<li class='flag'>{html.escape(v)}</li>" for v in r.flags.values())
    flag_part = (
        f"<p class='flag'><b>Out of range</b>:</p><ul>{flags}</ul>"
        if flags
        else "<p class='ok'>No out-of-range warning.</p>"
    )
    note = ""
    if r.calibrated_for and r.model and r.calibrated_for != r.model:
        note = (
            f"<p class='meta'>The predictor was fitted for the model '{html.escape(r.calibrated_for)}'; "
            f"this photo was restored with '{html.escape(r.model)}', so the numbers are indicative only.</p>"
        )
    return (
        f"<div class='box'><p>Predicted quality gain: <b>{r.gain_db:+.1f} dB</b> PSNR "
        f"(80% interval {r.low_db:+.1f} to {r.high_db:+.1f} dB) — <b>{html.escape(r.confidence)} confidence</b>"
        f"{': ' + html.escape(r.reason) if r.reason and not r.flags else ''}.</p>"
        f"{flag_part}{note}<p class='meta'>Learnt from held-out synthetic degradations of training-like photos; "
        "the gain is the output's PSNR against a clean reference minus the input's, predicted from the input and "
        "output alone.</p></div>"
    )


def render(ex: Explanation) -> str:
    """The report as an HTML string."""
    a = ex.analysis
    name = html.escape(ex.name)
    noisy8, out8 = _to_uint8(ex.image.pixels), _to_uint8(ex.restored.pixels)
    scaled = max(ex.image.height, ex.image.width) > OVERVIEW_SIDE
    fmt = "JPEG" if scaled else "PNG"
    overview_note = f" (downscaled to {OVERVIEW_SIDE} px; crops below are 100%)" if scaled else ""
    reading_text = reading(a.spectrum, a.risk)
    sigma_text = ", ".join(f"{v:.1f}" for v in (ex.sigma if ex.sigma is not None else a.sigma))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    rms = float(np.sqrt(np.mean(a.residual.astype(np.float64) ** 2)) * 255)
    gain = display_gain(a.residual)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Restora report: {name}</title><style>{STYLE}</style></head>
<body>
<h1>What Restora did to {name}</h1>
<p class="meta">{ex.image.width}×{ex.image.height} px · model {html.escape(ex.model)} · σ given (R, G, B): {sigma_text}
 · strength {ex.strength:g} · restored in {ex.seconds:.1f} s · Restora {html.escape(__version__)} · {when}</p>

<h2>Reliability</h2>
{_reliability_html(ex)}

<h2>Input and output</h2>
<div class="row pair">
<figure><img id="input" src="{_encode(_downscale(noisy8), fmt)}" alt="input"><figcaption>input{overview_note}</figcaption></figure>
<figure><img id="output" src="{_encode(_downscale(out8), fmt)}" alt="output"><figcaption>output</figcaption></figure>
</div>
<h2>100% crops of the most textured regions</h2>
{_crops_html(ex, gain)}

<h2>Noise level map</h2>
<p>Estimated from the input alone: the noise level at each pixel is the photo's noise level function (σ against
brightness, estimated per channel from its flattest patches) read at the pixel's local brightness.</p>
<figure><img id="noise-map" src="{_noise_figure(ex)}" alt="noise level map with colour scale in σ"></figure>

<h2>Estimated noise model</h2>
{_noise_table(ex)}

<h2>Residual: what was removed</h2>
<p class="reading">Reading: {html.escape(reading_text)}</p>
<p class="meta">Residual = input − output (RMS {rms:.2f} on the 0–255 scale), shown as mid-grey + {gain:g}× the difference.
Whiteness {a.spectrum.whiteness:.2f} (1 = flat spectrum like white noise), lag-1 correlation {a.features["residual_lag"]:.2f}.</p>
<div class="row">
<figure><img id="residual" src="{_encode(_downscale(residual_view(a.residual, gain)), fmt)}" alt="residual"><figcaption>residual</figcaption></figure>
<figure><img id="spectrum" src="{_residual_figure(ex)}" alt="power spectrum of the residual"></figure>
</div>

<h2>Detail at risk</h2>
<p>Where the residual is locally correlated with the picture's edges and texture (correlation above {RISK_THRESHOLD_TEXT}),
structure was removed along with the noise. {a.risk.at_risk_fraction:.0%} of the textured area
({a.risk.textured_fraction:.0%} of the photo) is at risk; flat areas are not judged (noise left there would look
correlated too).</p>
<figure><img id="detail-risk" src="{_risk_figure(ex)}" alt="detail-at-risk map"></figure>

<p class="meta">Made by Restora {html.escape(__version__)} for offline viewing: this file needs no network and holds every image.</p>
</body></html>
"""


def write_report(path: Path, ex: Explanation) -> None:
    """Write the report atomically (temporary file in the same folder, then rename)."""
    write_bytes(path, render(ex).encode("utf-8"))
