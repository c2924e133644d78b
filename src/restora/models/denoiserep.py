"""Denoising layers inside a classifier, merged into its weights (after DenoiseRep, arXiv 2406.08773).

A backbone's embedding after each block is treated as a step of denoising: a :class:`FeatureDenoiser` after the
block's last convolution and batch norm maps its output ``z`` to ``z + A z + c`` (``A`` a 1×1 convolution,
``c`` a bias, both zero at first, so the network starts exactly as it was). The layers are trained label-free
(:mod:`restora.train.denoiserep`) and then folded into the weights by :func:`fold_denoiser`, so the merged
network has the original architecture and costs nothing extra at inference.

The fold is exact. With the batch norm in inference mode, ``BN(W x) = s ⊙ (W x) + t`` with
``s = γ / √(σ² + ε)`` and ``t = β − s ⊙ μ``, so

    z + A z + c = (I + A) diag(s) W x + (I + A) t + c.

The convolution's weight becomes ``(I + A) diag(s) W``; the batch norm becomes the identity plus a bias:
weight 1, running mean 0, running variance ``1 − ε`` (so ``√(σ² + ε) = 1``) and bias ``(I + A) t + c``.

>>> import torch
>>> conv, bn = torch.nn.Conv2d(4, 3, 1, bias=False), torch.nn.BatchNorm2d(3).eval()
>>> den = FeatureDenoiser(3)
>>> _ = torch.nn.init.normal_(den.mix.weight, std=0.1)
>>> x = torch.randn(2, 4, 5, 5)
>>> before = den(bn(conv(x)))
>>> fold_denoiser(conv, bn, den)
>>> bool(torch.allclose(bn(conv(x)), before, atol=1e-5))
True
"""

from __future__ import annotations

import torch
from torch import nn

from restora.models.registry import register_arch


class FeatureDenoiser(nn.Module):
    """``z + A z + c``: a residual 1×1 convolution over channels, zero-initialised (the identity at first)."""

    def __init__(self, channels: int):
        super().__init__()
        self.mix = nn.Conv2d(channels, channels, 1, bias=True)
        nn.init.zeros_(self.mix.weight)
        nn.init.zeros_(self.shift)

    @property
    def shift(self) -> torch.Tensor:
        """``c``, the layer's bias."""
        assert self.mix.bias is not None  # made with bias=True
        return self.mix.bias

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z + self.mix(z)


class DenoisedNorm(nn.Module):
    """A batch norm followed by its :class:`FeatureDenoiser`: put in place of the norm while the layer trains."""

    def __init__(self, norm: nn.BatchNorm2d, denoiser: FeatureDenoiser):
        super().__init__()
        self.norm, self.denoiser = norm, denoiser

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.denoiser(self.norm(x))


@torch.no_grad()
def fold_denoiser(conv: nn.Conv2d, norm: nn.BatchNorm2d, denoiser: FeatureDenoiser) -> None:
    """Merge ``denoiser`` (applied after ``norm(conv(x))``) into ``conv`` and ``norm``, in place, exactly.

    ``conv`` has no bias (as before every batch norm); ``norm`` is used in inference mode afterwards.
    """
    if conv.bias is not None:
        raise ValueError("fold_denoiser: the convolution before a batch norm has no bias")
    if norm.running_mean is None or norm.running_var is None:
        raise ValueError("fold_denoiser: the batch norm needs running statistics")
    mix = denoiser.mix.weight.flatten(1).double()  # (C, C)
    eye = torch.eye(mix.shape[0], dtype=torch.float64, device=mix.device)
    gain = eye + mix
    gamma = norm.weight.double() if norm.weight is not None else torch.ones_like(norm.running_var).double()
    beta = norm.bias.double() if norm.bias is not None else torch.zeros_like(norm.running_mean).double()
    scale = gamma / torch.sqrt(norm.running_var.double() + norm.eps)
    shift = beta - scale * norm.running_mean.double()
    weight = conv.weight.double()
    merged = (gain @ (scale[:, None] * weight.flatten(1))).reshape(weight.shape)
    conv.weight.copy_(merged.to(conv.weight.dtype))
    norm.running_mean.zero_()
    norm.running_var.fill_(1.0 - norm.eps)
    if norm.weight is not None:
        norm.weight.fill_(1.0)
    if norm.bias is None:
        raise ValueError("fold_denoiser: the batch norm needs an affine bias to carry the merged shift")
    norm.bias.copy_((gain @ shift + denoiser.shift.double()).to(norm.bias.dtype))


def denoiser_channels(pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d]]) -> list[int]:
    """The output channels of each (convolution, batch norm) pair that gets a denoiser."""
    return [norm.num_features for _, norm in pairs]


@register_arch("denoiserep")
class DenoiserSet(nn.Module):
    """The denoising layers of one backbone, one per (convolution, batch norm) pair, in the backbone's order:
    what is trained and shipped (the backbone's own weights are not)."""

    def __init__(self, channels: list[int]):
        super().__init__()
        self.config = {"channels": list(channels)}
        self.layers = nn.ModuleList(FeatureDenoiser(c) for c in channels)

    def insert(self, pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d]], set_norm) -> None:
        """Put each layer after its pair's norm for training: ``set_norm(i, DenoisedNorm(norm, layer))``."""
        self._check(pairs)
        for i, ((_, norm), layer) in enumerate(zip(pairs, self.denoisers())):
            set_norm(i, DenoisedNorm(norm, layer))

    def fold(self, pairs: list[tuple[nn.Conv2d, nn.BatchNorm2d]]) -> None:
        """Merge every layer into its pair's convolution and norm (:func:`fold_denoiser`), in place."""
        self._check(pairs)
        for (conv, norm), layer in zip(pairs, self.denoisers()):
            fold_denoiser(conv, norm, layer)

    def denoisers(self) -> list[FeatureDenoiser]:
        return [layer for layer in self.layers if isinstance(layer, FeatureDenoiser)]

    def _check(self, pairs) -> None:
        if denoiser_channels(pairs) != self.config["channels"]:
            raise ValueError(f"denoising layers for channels {self.config['channels']}, not {denoiser_channels(pairs)}")
