"""Detail-preserving losses, composable by weight from a training config.

- :class:`CharbonnierLoss`: :math:`\\frac{1}{N}\\sum\\sqrt{(\\hat x - x)^2 + \\varepsilon^2}`, a smooth L1 that
  does not average away fine texture as L2 does.
- :class:`FFTLoss`: MIMO-UNet's frequency loss, :math:`\\frac{1}{N}\\| \\mathcal F(\\hat x) - \\mathcal F(x) \\|_1`
  on real and imaginary parts, optionally over a pyramid of scales (multi-scale, as MIMO-UNet's
  multi-output training): errors in high frequencies (texture) weigh as much as in low ones. We use the
  orthonormal FFT so the loss has the scale of a per-pixel error whatever the patch size.
- :class:`EdgeLoss`: Charbonnier on image gradients (finite differences), penalising blurred edges.
- :class:`PSNRLoss`: minus the mean per-image PSNR in dB, :math:`\\frac{10}{B}\\sum_b \\log_{10}(\\mathrm{MSE}_b +
  10^{-8})`, as NAFNet trains: it optimises the benchmarks' own figure (mean PSNR over images), weighting each
  image by :math:`1/\\mathrm{MSE}_b`, so lightly degraded images count as much as heavy ones. Its gradient is
  about :math:`275\\times` Charbonnier's at 30 dB, so a weight near 0.004 keeps the balance with the FFT term.

Multi-scale outputs (MIMO-UNet): when a model returns a list of images, coarsest first, each halving the
next, :class:`RestorationLoss` sums the content and FFT terms over the scales against area-downscaled
targets, :math:`\\sum_k \\mathcal L_\\text{content}(\\hat x_k, x_{\\downarrow 2^k}) + w_\\text{fft}
\\sum_k \\lVert \\mathcal F(\\hat x_k) - \\mathcal F(x_{\\downarrow 2^k}) \\rVert_1` (the edge term on the full
scale only).

Degradation-aware models (the all-in-one network) add three terms on their ``describe`` outputs
(:class:`AuxLoss`): cross-entropy of the degradation type, the squared error of the per-type
:func:`severity_target`, and :func:`supervised_contrastive` on the embeddings.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from restora.models.resample import area_down


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


class PSNRLoss(nn.Module):
    """Minus the mean over the batch of each image's PSNR (dB, peak 1)."""

    def forward(self, pred, target):
        mse = ((pred - target) ** 2).flatten(1).mean(1)
        return 10.0 * torch.log10(mse + 1e-8).mean()


# The weighted terms of RestorationLoss, in the order it sums (and the trainer logs) them.
RESTORATION_TERMS = ("charbonnier", "psnr", "fft", "edge")


@dataclass
class LossWeights:
    charbonnier: float = 1.0
    psnr: float = 0.0
    fft: float = 0.1
    fft_scales: int = 1
    edge: float = 0.0
    multiscale: bool = True  # train on a model's multi-scale outputs when it has them (MIMO-UNet)
    classify: float = 0.0  # cross-entropy of the degradation type (models with describe())
    severity: float = 0.0  # squared error of the per-type severity
    contrastive: float = 0.0  # supervised contrastive loss on the degradation embeddings
    temperature: float = 0.1  # of the contrastive loss


def severity_target(input_psnr: torch.Tensor) -> torch.Tensor:
    """Severity of a degradation from the degraded input's PSNR in dB against the clean image:
    :math:`\\operatorname{clip}((45 - \\mathrm{PSNR}) / 35, 0, 1)`: 0 at 45 dB or more (invisible), 1 at
    10 dB or less (a dark night shot, dense haze), e.g. Gaussian σ=25 (≈ 20 dB) → 0.71."""
    return ((45.0 - input_psnr) / 35.0).clamp(0.0, 1.0)


def supervised_contrastive(embedding: torch.Tensor, labels: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """SupCon (Khosla et al. 2020) over a batch: each embedding is pulled towards the others of its
    degradation type and pushed from the rest (cosine similarity / ``temperature``). Anchors without a
    positive in the batch are skipped; 0 when none has one."""
    z = F.normalize(embedding.float(), dim=1)
    n = z.shape[0]
    sim = z @ z.T / temperature
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, -1e9)
    log_prob = sim - torch.logsumexp(sim, dim=1, keepdim=True)
    pos = (labels[:, None] == labels[None, :]) & ~eye
    count = pos.sum(1)
    has = count > 0
    if not has.any():
        return z.new_zeros(())
    mean_log_prob = (log_prob * pos).sum(1)[has] / count[has]
    return -mean_log_prob.mean()


class AuxLoss(nn.Module):
    """Weighted classification, severity and contrastive terms on a ``describe`` dict."""

    def __init__(self, weights: LossWeights):
        super().__init__()
        self.weights = weights

    def forward(self, aux: dict, labels: torch.Tensor, input_psnr: torch.Tensor):
        w, parts = self.weights, {}
        total = aux["logits"].new_zeros(())
        if w.classify:
            v = F.cross_entropy(aux["logits"].float(), labels)
            parts["classify"], total = float(v.detach()), total + w.classify * v
            parts["accuracy"] = float((aux["logits"].argmax(1) == labels).float().mean())
        if w.severity:
            target = F.one_hot(labels, aux["severity"].shape[1]).float() * severity_target(input_psnr)[:, None]
            v = torch.mean((aux["severity"].float() - target) ** 2)
            parts["severity"], total = float(v.detach()), total + w.severity * v
        if w.contrastive:
            v = supervised_contrastive(aux["embedding"], labels, w.temperature)
            parts["contrastive"], total = float(v.detach()), total + w.contrastive * v
        return total, parts


class RestorationLoss(nn.Module):
    """Weighted sum of the losses above; returns (total, {name: value}) for logging."""

    def __init__(self, weights: LossWeights):
        super().__init__()
        self.weights = weights
        self.charbonnier = CharbonnierLoss()
        self.fft = FFTLoss(weights.fft_scales)
        self.edge = EdgeLoss()
        self.psnr = PSNRLoss()

    def forward(self, pred, target):
        """``pred``: an image, or a list of images coarsest first (multi-scale outputs)."""
        preds = list(pred) if isinstance(pred, (list, tuple)) else [pred]
        n = len(preds)
        targets = [area_down(target, 2 ** (n - 1 - k)) for k in range(n)]
        parts = {}
        total = preds[-1].new_zeros(())
        for name in RESTORATION_TERMS:
            w = getattr(self.weights, name)
            if w:
                pairs = zip(preds, targets) if name != "edge" else [(preds[-1], targets[-1])]
                v = sum(getattr(self, name)(p.float(), t) for p, t in pairs)
                parts[name] = float(v.detach())
                total = total + w * v
        return total, parts
