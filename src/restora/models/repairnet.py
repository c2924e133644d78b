"""Old-photo repair networks: a damage detector, a one-pass inpainter and a residual-shifting inpainter.

All three are the same small U-Net (:class:`RepairUNet`, three scales) with different inputs and outputs:

- ``damagenet``: photo (B, 3, H, W) → damage logits (B, 1, H, W); sigmoid > threshold is the mask.
- ``inpaintnet``: photo and mask → the photo with the masked pixels filled, in one pass (regression): a residual
  painted on the photo with its holes pre-filled (``base``: :func:`coarse_fill`, or Telea's inpainting,
  :func:`telea_fill`), which is also its input with the mask as a fourth channel.
- ``resshift``: ResShift (Yue et al., NeurIPS 2023) for holes: a short Markov chain
  :math:`x_t = x_0 + \\eta_t (y_0 - x_0) + \\kappa \\sqrt{\\eta_t}\\,\\varepsilon` that shifts the residual between
  the coarse fill :math:`y_0` and the clean photo :math:`x_0`; the network predicts :math:`x_0` from
  :math:`(x_t, y_0, M, t)` and :meth:`ResShiftNet.sample` walks the chain's posterior from :math:`t = T` down.

Every output equals the input outside the mask exactly: the networks only paint inside it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from restora.models.layers import zero_
from restora.models.registry import register_arch

SCALES = 3  # the U-Net halves the image twice: sizes are padded to a multiple of 4


def coarse_fill(x: torch.Tensor, mask: torch.Tensor, levels: int = 8) -> torch.Tensor:
    """Holes (``mask`` 1) filled by push–pull: the masked mean of the known pixels at ever coarser scales,
    pulled back up, so every hole pixel gets the smooth colour of its surroundings. Known pixels are kept."""
    known = 1.0 - mask
    pyramid = [(x * known, known)]
    for _ in range(levels):
        v, w = pyramid[-1]
        if min(v.shape[-2:]) < 2:
            break
        pyramid.append((F.avg_pool2d(v, 2, ceil_mode=True), F.avg_pool2d(w, 2, ceil_mode=True)))
    fill = pyramid[-1][0] / pyramid[-1][1].clamp_min(1e-6)
    for v, w in reversed(pyramid[:-1]):
        up = F.interpolate(fill, size=v.shape[-2:], mode="bilinear", align_corners=False)
        fill = v + (1 - w) * up  # known share w keeps its masked mean, the rest comes from the coarser scale
    return x * known + fill * mask


class ConvBlock(nn.Module):
    """Two 3×3 convolutions with LeakyReLU and a residual connection."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.1))


class RepairUNet(nn.Module):
    """``c_in`` → ``c_out`` channels at the same size; widths ``width``·(1, 2, 4) at scales 1, 1/2, 1/4."""

    def __init__(self, c_in: int, c_out: int, width: int = 16, blocks: int = 1):
        super().__init__()
        widths = [width * 2**i for i in range(SCALES)]
        self.head = nn.Conv2d(c_in, widths[0], 3, padding=1)
        self.enc = nn.ModuleList([nn.Sequential(*[ConvBlock(c) for _ in range(blocks)]) for c in widths[:-1]])
        self.down = nn.ModuleList([nn.Conv2d(a, b, 3, stride=2, padding=1) for a, b in zip(widths, widths[1:])])
        self.middle = nn.Sequential(*[ConvBlock(widths[-1]) for _ in range(blocks + 1)])
        self.up = nn.ModuleList([nn.Conv2d(b, a, 1) for a, b in zip(widths, widths[1:])])
        self.dec = nn.ModuleList([nn.Sequential(*[ConvBlock(c) for _ in range(blocks)]) for c in widths[:-1]])
        self.tail = nn.Conv2d(widths[0], c_out, 3, padding=1)

    def forward(self, x):
        h, w = x.shape[-2:]
        m = 2 ** (SCALES - 1)
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, [0, pw, 0, ph], mode="replicate")
        y = F.leaky_relu(self.head(x), 0.1)
        skips = []
        for enc, down in zip(self.enc, self.down):
            y = enc(y)
            skips.append(y)
            y = F.leaky_relu(down(y), 0.1)
        y = self.middle(y)
        for i in reversed(range(len(self.dec))):
            y = skips[i] + self.up[i](F.interpolate(y, size=skips[i].shape[-2:], mode="bilinear", align_corners=False))
            y = self.dec[i](y)
        return self.tail(y)[..., :h, :w]


def telea_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Holes filled by OpenCV's Telea inpainting (radius 3 px), image by image on 8-bit copies; known pixels kept.
    Not differentiable: it is the base the one-pass inpainter paints its residual on."""
    import cv2
    import numpy as np

    out = []
    for xi, mi in zip(x.detach().cpu(), mask.detach().cpu()):
        eight = np.clip(np.rint(xi.permute(1, 2, 0).numpy() * 255), 0, 255).astype(np.uint8)
        filled = cv2.inpaint(eight, (mi[0].numpy() > 0.5).astype(np.uint8), 3, cv2.INPAINT_TELEA)
        out.append(torch.from_numpy(filled.astype(np.float32) / 255).permute(2, 0, 1))
    return torch.where(mask > 0.5, torch.stack(out).to(x.device, x.dtype), x)


@register_arch("damagenet")
class DamageNet(nn.Module):
    """Photo (B, 3, H, W) in [0, 1] → damage logits (B, 1, H, W)."""

    size_multiple = 4

    def __init__(self, width: int = 12, blocks: int = 1):
        super().__init__()
        self.config = {"width": width, "blocks": blocks}
        self.net = RepairUNet(3, 1, width, blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x - 0.5)


@register_arch("inpaintnet")
class InpaintNet(nn.Module):
    """(photo (B, 3, H, W), mask (B, 1, H, W), 1 = fill) → the photo with the masked pixels painted."""

    size_multiple = 4

    def __init__(self, width: int = 16, blocks: int = 1, base: str = "coarse"):
        super().__init__()
        if base not in ("coarse", "telea"):
            raise ValueError("base must be 'coarse' or 'telea'")
        self.config = {"width": width, "blocks": blocks, "base": base}
        self.net = RepairUNet(4, 3, width, blocks)
        if base == "telea":  # starts as exactly the Telea fill; training learns what to add
            zero_(self.net.tail)
        self.fill = telea_fill if base == "telea" else coarse_fill

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        filled = self.fill(x, mask)
        out = filled + self.net(torch.cat([filled - 0.5, mask], 1))
        return torch.where(mask > 0.5, out, x)


def eta_schedule(steps: int, eta_first: float, eta_last: float, power: float) -> torch.Tensor:
    """ResShift's shifting schedule :math:`\\eta_1 < \\dots < \\eta_T`: :math:`\\sqrt{\\eta_t}` geometric from
    :math:`\\sqrt{\\eta_1}` to :math:`\\sqrt{\\eta_T}` with its progress raised to ``power``."""
    if steps == 1:
        return torch.tensor([eta_last])
    b0 = math.exp(math.log(eta_last / eta_first) / (2 * (steps - 1)))
    progress = torch.linspace(0, 1, steps) ** power * (steps - 1)
    return (math.sqrt(eta_first) * b0**progress) ** 2


@register_arch("resshift")
class ResShiftNet(nn.Module):
    """ResShift for holes: predicts the clean photo :math:`x_0` from :math:`(x_t, y_0, M, t/T)`.

    :math:`y_0` is the coarse fill (:func:`coarse_fill`); outside the mask :math:`x_t = y_0 = x_0`, so only the
    holes are sampled. ``steps`` (T) is the chain's length it was trained on; sampling may take fewer."""

    eta: torch.Tensor  # the schedule η_1..η_T, a buffer
    size_multiple = 4

    def __init__(
        self,
        width: int = 16,
        blocks: int = 1,
        steps: int = 4,
        kappa: float = 0.2,
        eta_first: float = 0.04,
        eta_last: float = 0.99,
        power: float = 0.3,
    ):
        super().__init__()
        self.config = {
            "width": width,
            "blocks": blocks,
            "steps": steps,
            "kappa": kappa,
            "eta_first": eta_first,
            "eta_last": eta_last,
            "power": power,
        }
        self.steps, self.kappa = steps, kappa
        self.register_buffer("eta", eta_schedule(steps, eta_first, eta_last, power), persistent=False)
        self.net = RepairUNet(8, 3, width, blocks)

    def forward(self, x_t: torch.Tensor, y0: torch.Tensor, mask: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted :math:`x_0`; ``t`` (B,) integer steps 1..T."""
        level = (t.float() / self.steps).view(-1, 1, 1, 1).expand_as(mask)
        out = y0 + self.net(torch.cat([x_t - 0.5, y0 - 0.5, mask, level], 1))
        return torch.where(mask > 0.5, out, y0)

    def diffuse(
        self, x0: torch.Tensor, y0: torch.Tensor, mask: torch.Tensor, t: torch.Tensor, noise: torch.Tensor
    ) -> torch.Tensor:
        """A draw of :math:`q(x_t \\mid x_0, y_0)`, inside the mask only."""
        eta = self.eta[t - 1].view(-1, 1, 1, 1)
        x_t = x0 + eta * (y0 - x0) + self.kappa * eta.sqrt() * noise
        return torch.where(mask > 0.5, x_t, x0)

    @torch.no_grad()
    def sample(
        self, x: torch.Tensor, mask: torch.Tensor, steps: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Fill the masked pixels of ``x`` in ``steps`` network calls (default and at most T: a subsequence of
        the chain, always ending at t = 1), drawing the chain's noise from ``generator``."""
        steps = self.steps if steps is None else steps
        if not 1 <= steps <= self.steps:
            raise ValueError(f"steps must be 1..{self.steps}")
        ts = torch.linspace(self.steps, 1, steps).round().long().tolist()
        y0 = coarse_fill(x, mask)
        noise = lambda: torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)  # noqa: E731
        eta_t = float(self.eta[ts[0] - 1])
        x_t = torch.where(mask > 0.5, y0 + self.kappa * math.sqrt(eta_t) * noise(), x)
        for i, t in enumerate(ts):
            x0 = self.forward(x_t, y0, mask, torch.full((x.shape[0],), t, device=x.device))
            eta_t = float(self.eta[t - 1])
            eta_s = float(self.eta[ts[i + 1] - 1]) if i + 1 < len(ts) else 0.0
            mean = (eta_s / eta_t) * x_t + (1 - eta_s / eta_t) * x0
            std = self.kappa * math.sqrt(eta_s * (eta_t - eta_s) / eta_t)
            x_t = mean + std * noise() if std > 0 else mean
            x_t = torch.where(mask > 0.5, x_t, x)
        return x_t
