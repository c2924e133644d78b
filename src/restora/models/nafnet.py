"""NAFNet-style U-Net denoiser (Chen et al., "Simple Baselines for Image Restoration", 2022), tuned for CPUs.

Layout: pixel-unshuffle by ``unshuffle`` (FFDNet's trick: the network never works at full resolution),
an encoder of ``len(enc_blocks)`` levels that halve resolution and double width, ``mid_blocks`` at the
bottom, a mirrored decoder with additive skips, pixel-shuffle back, and a global residual
(output = input + predicted correction). Optional noise-level-map input (``uses_sigma``): the per-channel
σ map (0–1 scale) is concatenated at the unshuffled input, so a user's σ/strength steers the result.

Blocks (``block``):
- ``"naf"``: LayerNorm → 1×1 expand → 3×3 depthwise → SimpleGate → simplified channel attention → 1×1,
  then a gated 1×1 feed-forward; residuals scaled by learned β, γ (NAFNet's block).
- ``"conv"``: 3×3 conv → ReLU → 3×3 conv + skip. Dense 3×3 convolutions are compute-bound and run far
  faster per FLOP on CPUs than depthwise convs, LayerNorm and gates, which are memory-bound.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from restora.models.layers import zero_
from restora.models.registry import register_arch


class LayerNorm2d(nn.Module):
    """LayerNorm over channels of an (N, C, H, W) tensor."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.weight[:, None, None] + self.bias[:, None, None]


class SimpleGate(nn.Module):
    """Split channels in two halves and multiply them: a non-linearity without activation functions."""

    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    def __init__(self, c: int, expand: int = 2, ffn_expand: int = 2):
        super().__init__()
        dw = c * expand
        self.norm1 = LayerNorm2d(c)
        self.expand = nn.Conv2d(c, dw, 1)
        self.depthwise = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.gate = SimpleGate()
        self.channel_attention = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.project = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.ffn_in = nn.Conv2d(c, c * ffn_expand, 1)
        self.ffn_out = nn.Conv2d(c * ffn_expand // 2, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x):
        y = self.gate(self.depthwise(self.expand(self.norm1(x))))
        y = self.project(y * self.channel_attention(y))
        x = x + y * self.beta
        y = self.ffn_out(self.gate(self.ffn_in(self.norm2(x))))
        return x + y * self.gamma


class ConvBlock(nn.Module):
    """Residual block of two dense 3×3 convolutions (DRUNet/EDSR style)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(x), inplace=True))


def _stage(block: str, c: int, n: int) -> nn.Sequential:
    make = NAFBlock if block == "naf" else ConvBlock
    return nn.Sequential(*[make(c) for _ in range(n)])


@register_arch("nafnet")
class NAFNet(nn.Module):
    def __init__(
        self,
        width: int = 32,
        enc_blocks: tuple[int, ...] = (1, 1, 2),
        mid_blocks: int = 2,
        dec_blocks: tuple[int, ...] = (1, 1, 1),
        block: str = "naf",
        unshuffle: int = 2,
        uses_sigma: bool = True,
        channels: int = 3,
    ):
        super().__init__()
        if block not in ("naf", "conv"):
            raise ValueError("block must be 'naf' or 'conv'")
        self.config = dict(
            width=width,
            enc_blocks=list(enc_blocks),
            mid_blocks=mid_blocks,
            dec_blocks=list(dec_blocks),
            block=block,
            unshuffle=unshuffle,
            uses_sigma=uses_sigma,
            channels=channels,
        )
        self.uses_sigma = uses_sigma
        self.unshuffle = unshuffle
        self.size_multiple = unshuffle * 2 ** len(enc_blocks)
        # Receptive radius grows ~2 px per 3×3 conv per level scale; 64 px of context is ample for tiling.
        self.halo = 64
        in_ch = channels * unshuffle**2 + (channels if uses_sigma else 0)
        self.intro = nn.Conv2d(in_ch, width, 3, padding=1)
        self.encoders, self.downs, self.ups, self.decoders = (
            nn.ModuleList(),
            nn.ModuleList(),
            nn.ModuleList(),
            nn.ModuleList(),
        )
        c = width
        for n in enc_blocks:
            self.encoders.append(_stage(block, c, n))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = _stage(block, c, mid_blocks)
        for n in reversed(dec_blocks):
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(_stage(block, c, n))
        self.ending = nn.Conv2d(width, channels * unshuffle**2, 3, padding=1)
        # Start as the identity (zero correction): early training refines rather than undoes noise.
        zero_(self.ending)

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | None = None, return_bottleneck: bool = False):
        """x: (N, C, H, W) in [0, 1]; sigma: (N, C, H, W) noise-level map on the [0, 1] scale.

        With ``return_bottleneck`` also returns the lowest-resolution features (for distillation).
        """
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = (-h) % m, (-w) % m
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x
        feat = F.pixel_unshuffle(xp, self.unshuffle) if self.unshuffle > 1 else xp
        if self.uses_sigma:
            if sigma is None:
                raise ValueError("this model takes a noise-level map")
            sp = F.pad(sigma, (0, pw, 0, ph), mode="replicate") if (ph or pw) else sigma
            feat = torch.cat([feat, F.avg_pool2d(sp, self.unshuffle) if self.unshuffle > 1 else sp], 1)
        f = self.intro(feat)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            f = enc(f)
            skips.append(f)
            f = down(f)
        f = bottleneck = self.middle(f)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips)):
            f = dec(up(f) + skip)
        out = self.ending(f)
        out = F.pixel_shuffle(out, self.unshuffle) if self.unshuffle > 1 else out
        out = (xp + out)[..., :h, :w]
        return (out, bottleneck) if return_bottleneck else out
