"""Fast neural style's feed-forward transformer (Johnson et al. 2016, with Ulyanov et al.'s instance norm).

A 9×9 convolution, two stride-2 convolutions, residual blocks at quarter resolution, two upsampling
convolutions (nearest ×2, then a 3×3 convolution: no checkerboard of transposed convolutions) and a 9×9
output convolution. Every convolution but the last is followed by instance norm and ReLU. ``width`` is the
first convolution's channels (the original's 32, with 64 and 128 after the downsamplings); at ``width=32``
and five residual blocks the network has 1.68 M parameters.

Shared normalisation (seamless tiles): instance norm normalises each feature map by its own mean and
standard deviation, so a tile normalised by its own statistics would be styled differently from its
neighbour. :meth:`StyleNet.norm_stats` runs the network once on a downscaled copy of the whole image and
returns every norm layer's per-channel (mean, std); ``forward(x, stats=...)`` then normalises every tile
with those same statistics, so all tiles, and the whole image, go through one and the same affine map.
Without ``stats`` (training) each image uses its own statistics, as in the paper.

The network works on [-1, 1] internally and returns RGB on the [0, 1] scale, unclipped (the engine clips).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from restora.models.registry import register_arch

EPS = 1e-5


def pad(x: torch.Tensor, p: int) -> torch.Tensor:
    """Pad by ``p`` on every side: reflected, or repeated where the map is too small to reflect (tiny images)."""
    return F.pad(x, [p] * 4, mode="reflect" if p < min(x.shape[-2:]) else "replicate")


class SharedInstanceNorm(nn.Module):
    """Instance norm with a learned affine map, normalising by the image's own statistics or by given ones."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    @staticmethod
    def statistics(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-image, per-channel mean and standard deviation, each (B, C, 1, 1)."""
        var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
        return mean, torch.sqrt(var + EPS)

    def forward(self, x, stats: tuple[torch.Tensor, torch.Tensor] | None = None):
        mean, std = self.statistics(x) if stats is None else stats
        return (x - mean) / std * self.weight[:, None, None] + self.bias[:, None, None]


class ConvNormReLU(nn.Module):
    """Reflection-padded convolution, instance norm, ReLU (``relu=False``: no activation)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, relu: bool = True):
        super().__init__()
        self.pad = kernel // 2
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride)
        self.norm = SharedInstanceNorm(c_out)
        self.relu = relu

    def forward(self, x, stats, record):
        y = self.conv(pad(x, self.pad))
        if record is not None:
            record.append(self.norm.statistics(y))
        y = self.norm(y, None if stats is None else next(stats))
        return F.relu(y) if self.relu else y


class ResidualBlock(nn.Module):
    """Two 3×3 conv–norm layers (ReLU between) added to the block's input."""

    def __init__(self, channels: int):
        super().__init__()
        self.first = ConvNormReLU(channels, channels, 3)
        self.second = ConvNormReLU(channels, channels, 3, relu=False)

    def forward(self, x, stats, record):
        return x + self.second(self.first(x, stats, record), stats, record)


class UpsampleConv(ConvNormReLU):
    """Nearest-neighbour ×2 upsampling, then a conv–norm–ReLU."""

    def forward(self, x, stats, record):
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"), stats, record)


@register_arch("stylenet")
class StyleNet(nn.Module):
    """Image (B, 3, H, W) in [0, 1] → stylised image of the same size; any H, W (padded to a multiple of 4)."""

    size_multiple = 4  # tiles start on the stride-2 grid, so a tile sees the phase the whole image does
    halo = 48  # pixels of surrounding image per tile: most of the receptive field's weight
    stats_side = 512  # the shared normalisation is measured on the whole image at this long side (at most)

    def __init__(self, width: int = 32, blocks: int = 5):
        super().__init__()
        self.config = {"width": width, "blocks": blocks}
        c = width
        self.encode = nn.ModuleList(
            [ConvNormReLU(3, c, 9), ConvNormReLU(c, 2 * c, 3, 2), ConvNormReLU(2 * c, 4 * c, 3, 2)]
        )
        self.residual = nn.ModuleList([ResidualBlock(4 * c) for _ in range(blocks)])
        self.decode = nn.ModuleList([UpsampleConv(4 * c, 2 * c, 3), UpsampleConv(2 * c, c, 3)])
        self.to_rgb = nn.Conv2d(c, 3, 9)

    def _run(self, x, stats=None, record=None):
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:  # two stride-2 steps: a multiple of 4 comes back to the same size
            x = F.pad(x, [0, pw, 0, ph], mode="reflect" if ph < h and pw < w else "replicate")
        y = x * 255.0 / 127.5 - 1.0  # [-1, 1]
        it = None if stats is None else iter(stats)
        for layer in (*self.encode, *self.residual, *self.decode):
            y = layer(y, it, record)
        y = self.to_rgb(pad(y, 4))
        return (y + 1.0) / 2.0 if not (ph or pw) else ((y + 1.0) / 2.0)[..., :h, :w]

    def forward(self, x: torch.Tensor, stats: list | None = None) -> torch.Tensor:
        """``stats``: every norm layer's (mean, std) from :meth:`norm_stats`; None: each image's own."""
        return self._run(x, stats)

    @torch.no_grad()
    def norm_stats(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Each norm layer's per-channel (mean, std) on ``x`` (a downscaled whole image), in layer order."""
        record: list = []
        self._run(x, None, record)
        return record
