"""Detail-preserving losses, composable by weight from a training config.

- :class:`CharbonnierLoss`: :math:`\\frac{1}{N}\\sum\\sqrt{(\\hat x - x)^2 + \\varepsilon^2}`, a smooth L1 that
  does not average away fine texture as L2 does.
- :class:`FFTLoss`: MIMO-UNet's frequency loss, :math:`\\frac{1}{N}\\| \\mathcal F(\\hat x) - \\mathcal F(x) \\|_1`
  on real and imaginary parts, optionally over a pyramid of scales (multi-scale, as MIMO-UNet's
  multi-output training): errors in high frequencies (texture) weigh as much as in low ones. We use the
  orthonormal FFT so the loss has the scale of a per-pixel error whatever the patch size.
- :class:`EdgeLoss`: Charbonnier on image gradients (finite differences), penalising blurred edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class CharbonnierLoss(nn.Module):
    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps = eps

    def forward(self, pred, target):
        return torch.sqrt((pred - target) ** 2 + self.eps**2).mean()


class FFTLoss(nn.Module):
    """L1 between 2-D FFTs (real and imaginary parts), averaged over ``scales`` 2× downsamplings."""

    def __init__(self, scales: int = 1):
        super().__init__()
        self.scales = scales

    def forward(self, pred, target):
        total = 0.0
        for s in range(self.scales):
            if s:
                pred, target = F.avg_pool2d(pred, 2), F.avg_pool2d(target, 2)
            diff = torch.fft.rfft2(pred.float(), norm="ortho") - torch.fft.rfft2(target.float(), norm="ortho")
            total = total + torch.view_as_real(diff).abs().mean()
        return total / self.scales


class EdgeLoss(nn.Module):
    """Charbonnier on horizontal and vertical finite differences."""

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps = eps

    def forward(self, pred, target):
        def grads(x):
            return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]

        (px, py), (tx, ty) = grads(pred), grads(target)
        return (torch.sqrt((px - tx) ** 2 + self.eps**2).mean() + torch.sqrt((py - ty) ** 2 + self.eps**2).mean()) / 2


@dataclass
class LossWeights:
    charbonnier: float = 1.0
    fft: float = 0.1
    fft_scales: int = 1
    edge: float = 0.0


class RestorationLoss(nn.Module):
    """Weighted sum of the losses above; returns (total, {name: value}) for logging."""

    def __init__(self, weights: LossWeights):
        super().__init__()
        self.weights = weights
        self.charbonnier = CharbonnierLoss()
        self.fft = FFTLoss(weights.fft_scales)
        self.edge = EdgeLoss()

    def forward(self, pred, target):
        parts = {}
        total = pred.new_zeros(())
        for name in ("charbonnier", "fft", "edge"):
            w = getattr(self.weights, name)
            if w:
                v = getattr(self, name)(pred, target)
                parts[name] = float(v.detach())
                total = total + w * v
        return total, parts
