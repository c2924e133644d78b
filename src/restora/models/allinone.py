"""One network for denoise, deblur, derain, dehaze and low light: a degradation-aware embedding steers a
MIMO-UNet restoration trunk (see docs/allinone.md for what comes from MIMO-UNet, CoIC, DRACO-DehazeNet and
CLAIO, and why).

Two parts:

- :meth:`AllInOneNet.describe` — a small CNN on a downscaled copy of the *whole* image (long side ≤ 256,
  :func:`describe_input`) that pools mean and standard deviation of its features at four depths (the
  first at full resolution of that copy, so noise and fine texture register: "detail-aware", as CoIC's
  encoder) plus a few global image statistics (per-channel mean and spread, dark-channel mean, luminance
  quantiles: exposure and haze veil), and maps them to an ``embedding`` (B, E). Two heads read it:
  ``logits`` over :data:`TASKS` (cross-entropy on the degradation type; drives ``--task auto``) and
  ``severity`` in [0, 1] per task (see :func:`restora.losses.severity_target`: 0 at ≥ 45 dB input PSNR,
  1 at ≤ 10 dB; trained as one-hot × severity of the patch's degradation, so absent types read ≈ 0).
- The trunk — :class:`restora.models.mimounet.MIMOUNet` with FiLM: every residual block's activations are
  scaled and shifted per channel by (γ, β) computed from the embedding (CoIC's instance-level modulation,
  as a cheap per-channel affine instead of modulated kernels), after a global tone curve
  :math:`x' = g\\,x^{\\gamma}` per channel, also from the embedding, which undoes an exposure change
  exactly as the low-light degradation applies it (power and gain in sRGB).

Tiling: haze and low light depend on global statistics, and the engine restores big images tile by tile.
The trunk therefore has *no* global pooling or normalisation: all global information reaches it through
``embedding``, computed once per image (``describe(describe_input(image))``) and passed to every tile with
``forward(tile, embedding)``; then a tile's output depends only on pixels within the trunk's receptive
field (``halo``), and tiled equals untiled. ``forward(x)`` without an embedding describes ``x`` itself
(right for a whole image, not for a tile).

Exposure is corrected once for the whole image. The trunk learned its brightening on 128-px patches; on a
whole photo, a region larger than any training patch (a clear sky) is beyond what it learned, and its
brightening there drifts with far-away content (a white lighthouse left a dark smear in the sky around it).
A low-light degradation is one global per-channel curve, so its correction must be one too: for an image
the classifier calls low light, :meth:`AllInOneNet.whole_image_context` runs the network on the
downscaled whole image (``describe_input``, the scale at which a whole photo looks like a training patch),
fits per channel the curve from its tone-mapped input to its output (:func:`fit_curve`, on the
:data:`CURVE_BLUR`-blurred pairs), and ``forward(x, embedding, exposure=curve)`` keeps the trunk's fine
detail (what it adds above a Gaussian low-pass of σ = :data:`EXPOSURE_BLUR`) on the curve's low
frequencies. On held-out low-light images (the last six of train/CBSD432, DreamBooth158 and Urban100,
``lowlight-dark``) the mean PSNR rises from 23.05 to 24.96 dB.

Training (:mod:`restora.train`): ``forward(x, x_small=small, multiscale=True, return_aux=True)``
returns the ``[1/4, 1/2, full]`` outputs and the ``describe`` dict of ``small`` — in training the patch
itself, shrunk by a random factor (``data.describe_shrink``), so the heads learn from the scale at which
they will see whole images.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from restora.models.layers import zero_
from restora.models.mimounet import MIMOUNet
from restora.models.registry import register_arch
from restora.tasks import RESTORE_TASKS as TASKS  # denoise, deblur, derain, dehaze, lowlight

DESCRIBE_SIDE = 256  # long side of describe()'s input
EXPOSURE_BLUR = 4.0  # σ (px) of the low-pass whose band the whole-image exposure curve sets (held-out train images)
CURVE_BLUR = 1.0  # σ (px, on the downscaled copy) of the blur before fitting the curve: noise would flatten it
CURVE_KNOTS = 64


def shrink(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Antialiased bilinear downscale of (B, C, H, W) by ``factor`` ≥ 1 (1: unchanged)."""
    if factor <= 1.0:
        return x
    h, w = x.shape[-2:]
    size = (max(8, round(h / factor)), max(8, round(w / factor)))
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)


def describe_input(x: torch.Tensor, long_side: int = DESCRIBE_SIDE) -> torch.Tensor:
    """The input :meth:`AllInOneNet.describe` expects: the whole image with its long side ≤ ``long_side``."""
    return shrink(x, max(x.shape[-2:]) / long_side)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, H, W), radius 3σ, edges replicated (any size, also 1 px)."""
    r = max(1, int(3 * sigma + 0.5))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype, device=x.device) / sigma) ** 2)
    k = (k / k.sum()).repeat(x.shape[1], 1)
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k[:, None, None, :], groups=x.shape[1])
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k[:, None, :, None], groups=x.shape[1])


def fit_curve(a: torch.Tensor, b: torch.Tensor, knots: int = CURVE_KNOTS) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per channel of (1, C, H, W) pairs: the non-decreasing curve ``b ≈ f(a)`` as knots (mean of a, mean of b
    over the pixels of each of ``knots`` quantile bins of a; bins that ties leave empty are dropped)."""
    curves = []
    for av, bv in zip(a[0].flatten(1).float(), b[0].flatten(1).float()):
        edges = torch.quantile(av[:: max(1, av.numel() // 65536)], torch.linspace(0, 1, knots + 1, device=av.device))
        idx = (torch.bucketize(av.contiguous(), edges[1:-1], right=True)).clamp(0, knots - 1)
        count = torch.bincount(idx, minlength=knots).float()
        keep = count > 0
        xs = torch.bincount(idx, av, minlength=knots)[keep] / count[keep]
        ys = torch.bincount(idx, bv, minlength=knots)[keep] / count[keep]
        curves.append((xs, torch.cummax(ys, 0).values))
    return curves


def apply_curve(curves: list[tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear per-channel curves (from :func:`fit_curve`) applied to (B, C, H, W); flat beyond the ends."""
    out = torch.empty_like(x, dtype=torch.float32)
    for c, (xs, ys) in enumerate(curves):
        v = x[:, c].float()
        if xs.numel() == 1:
            out[:, c] = ys[0]
            continue
        i = torch.searchsorted(xs, v.contiguous()).clamp(1, xs.numel() - 1)
        x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
        t = ((v - x0) / (x1 - x0).clamp_min(1e-12)).clamp(0.0, 1.0)
        out[:, c] = y0 + t * (y1 - y0)
    return out


def mean_std(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel spatial mean and standard deviation of (B, C, H, W), in float32 (one pass over
    E[f] and E[f²]: several times faster on the CPU than ``Tensor.std``)."""
    f = f.float()
    mean = f.mean((2, 3))
    return mean, ((f * f).mean((2, 3)) - mean * mean).clamp_min(1e-8).sqrt()


def image_statistics(x: torch.Tensor) -> torch.Tensor:
    """(B, 10) global statistics: per-channel mean and standard deviation, the dark channel's mean (haze
    lifts it: He et al.'s prior) and the 5 %, 50 % and 95 % luminance quantiles (exposure, veil; from at
    most 4096 evenly strided pixels)."""
    x = x.float()
    mean, std = mean_std(x)
    dark = x.amin(1).mean((1, 2))[:, None]
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).flatten(1)
    luma = luma[:, :: max(1, luma.shape[1] // 4096)]
    q = torch.quantile(luma, torch.tensor([0.05, 0.5, 0.95], device=x.device), dim=1).T
    return torch.cat([mean, std, dark, q], 1)


class DegradationEncoder(nn.Module):
    """Stages of two 3×3 conv + ReLU (the first at stride 1, then stride 2); the mean and standard
    deviation of each stage's features and :func:`image_statistics` feed a two-layer MLP → embedding."""

    def __init__(self, widths: tuple[int, ...], embed_dim: int, channels: int = 3):
        super().__init__()
        stages, c = [], channels
        for i, w in enumerate(widths):
            stages.append(
                nn.Sequential(
                    nn.Conv2d(c, w, 3, stride=1 if i == 0 else 2, padding=1),
                    nn.ReLU(inplace=True),
                    nn.Conv2d(w, w, 3, padding=1),
                    nn.ReLU(inplace=True),
                )
            )
            c = w
        self.stages = nn.ModuleList(stages)
        n_stats = 2 * sum(widths) + 10
        self.mlp = nn.Sequential(
            nn.Linear(n_stats, 2 * embed_dim), nn.ReLU(inplace=True), nn.Linear(2 * embed_dim, embed_dim)
        )

    def forward(self, x):
        pooled = [image_statistics(x)]
        f = x - 0.5
        for stage in self.stages:
            f = stage(f)
            pooled += list(mean_std(f))
        return self.mlp(torch.cat(pooled, 1))


@register_arch("allinone")
class AllInOneNet(nn.Module):
    TASKS = TASKS
    uses_sigma = False
    multiscale_outputs = True

    def __init__(
        self,
        width: int = 24,
        enc_blocks: tuple[int, ...] = (1, 1, 3),
        dec_blocks: tuple[int, ...] = (1, 1, 3),
        bottom_dilations: tuple[int, ...] = (1, 2),
        fusion: str = "aff",
        embed_dim: int = 64,
        encoder_widths: tuple[int, ...] = (16, 32, 64, 96),
        channels: int = 3,
    ):
        super().__init__()
        self.encoder = DegradationEncoder(tuple(encoder_widths), embed_dim, channels)
        self.classify = nn.Linear(embed_dim, len(TASKS))
        self.severity = nn.Linear(embed_dim, len(TASKS))
        # Global tone curve x' = g · x^γ per channel (log γ, log g from the embedding); zero-init = identity.
        self.tone = nn.Linear(embed_dim, 2 * channels)
        zero_(self.tone)
        self.trunk = MIMOUNet(
            width=width,
            enc_blocks=tuple(enc_blocks),
            dec_blocks=tuple(dec_blocks),
            bottom_dilations=tuple(bottom_dilations),
            fusion=fusion,
            unshuffle=2,
            channels=channels,
            film_dim=embed_dim,
        )
        # The trunk's options as its config records them, then the encoder's (the arguments' order).
        shared = ("width", "enc_blocks", "dec_blocks", "bottom_dilations", "fusion")
        self.config = {k: self.trunk.config[k] for k in shared} | dict(
            embed_dim=embed_dim, encoder_widths=list(encoder_widths), channels=channels
        )
        self.size_multiple = self.trunk.size_multiple
        # A tile needs the trunk's receptive field plus the exposure low-pass's radius of real image around it.
        self.halo = self.trunk.halo + int(3 * EXPOSURE_BLUR + 0.5)

    def describe(self, x_small: torch.Tensor) -> dict:
        """x_small: (B, 3, h, w) in [0, 1], a downscaled whole image (long side ≤ 256).

        Returns ``embedding`` (B, E), ``logits`` (B, len(TASKS)) and ``severity`` (B, len(TASKS)) in [0, 1]."""
        emb = self.encoder(x_small)
        return {"embedding": emb, "logits": self.classify(emb), "severity": torch.sigmoid(self.severity(emb))}

    def whole_image_context(self, x_small: torch.Tensor) -> dict:
        """What every tile of one image needs (x_small: the whole image from :func:`describe_input`): the
        ``embedding`` and, when the classifier calls the image low light, the whole image's ``exposure``
        curve (see the module's docstring), else None. Pass both to :meth:`forward`."""
        aux = self.describe(x_small)
        embedding, exposure = aux["embedding"], None
        if TASKS[int(aux["logits"][0].argmax())] == "lowlight":
            toned = self.apply_tone(x_small, embedding)
            out = self.trunk(toned, embedding=embedding)
            exposure = fit_curve(gaussian_blur(toned, CURVE_BLUR), gaussian_blur(out, CURVE_BLUR))
        return {"embedding": embedding, "exposure": exposure}

    def apply_tone(self, x: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        p = self.tone(embedding)[:, :, None, None]
        log_gamma, log_gain = p[:, :c], p[:, c:]
        return torch.exp(log_gain + torch.exp(log_gamma) * torch.log(x.clamp_min(1e-3)))

    def forward(
        self,
        x: torch.Tensor,
        embedding: torch.Tensor | None = None,
        multiscale: bool = False,
        x_small: torch.Tensor | None = None,
        return_aux: bool = False,
        exposure=None,
    ):
        """Restore ``x`` (B, 3, H, W) in [0, 1]. ``embedding``: from :meth:`describe` of the whole image
        (pass it for tiles); None describes ``x_small`` or, if that is None too, ``x`` downscaled.
        ``exposure``: the whole image's curve from :meth:`whole_image_context` (or None): it sets the
        output's low frequencies. ``multiscale``: return ``[1/4, 1/2, full]``; ``return_aux``: also the
        ``describe`` dict (None when an embedding was given)."""
        aux = None
        if embedding is None:
            aux = self.describe(x_small if x_small is not None else describe_input(x))
            embedding = aux["embedding"]
        toned = self.apply_tone(x, embedding)
        out = self.trunk(toned, multiscale=multiscale, embedding=embedding)
        if exposure is not None and not multiscale:
            out = out - gaussian_blur(out, EXPOSURE_BLUR) + apply_curve(exposure, gaussian_blur(toned, EXPOSURE_BLUR))
        return (out, aux) if return_aux else out
