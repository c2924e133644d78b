"""MIMO-UNet-style deblurring network (Cho et al., "Rethinking Coarse-to-Fine Approach in Single Image
Deblurring", ICCV 2021), rebuilt for CPUs.

MIMO-UNet's three ideas, kept:

- **Multi-input**: one encoder sees the image at full, 1/2 and 1/4 scale. The downscaled copies enter at
  their level through a *shallow convolutional module* (SCM: 3×3 conv, ReLU, 1×1 conv) and are merged
  into the encoder's features by the *feature attention module* (FAM: ``z + conv3×3(z · scm)``), so each
  level starts from what the blurred image looks like at that scale.
- **Multi-output**: the decoder emits a restored image at 1/4, 1/2 and full scale, each a residual on
  that scale's (area-downscaled) input, trained against area-downscaled targets; a single U-Net thus
  mimics a cascade of coarse-to-fine networks.
- **Feature fusion** (``fusion="aff"``): each decoder level's skip is fused from the encoder features of
  *all* levels, resampled to it (asymmetric feature fusion, AFF: concatenate, 1×1 conv, ReLU, 3×3 conv;
  here added to the level's own features), so fine levels see the coarse levels' large context.
  ``fusion="add"`` is a plain additive skip.

Changed for a CPU budget: the network first pixel-unshuffles by ``unshuffle`` (2: it works at half
resolution, like FFDNet), so level ``k`` runs at :math:`2^{-k}` of the input and the 1/4-scale output
comes from the lowest of three levels; blocks are dense 3×3 conv + ReLU residual blocks (compute-bound, the
fastest kind per FLOP on CPUs: no LayerNorm, depthwise convs or gates); downsampling is a 2×2 stride-2
conv and upsampling a 1×1 conv + pixel shuffle; most blocks sit at the lowest level, where each 3×3
conv widens the receptive field by 16 input pixels, optionally dilated (``bottom_dilations``, as
DRACO-DehazeNet's dilated blocks) to reach further at the same cost. Camera-shake blurs of up to ~31 px
need a receptive field well beyond the blur; :func:`receptive_radius` gives the theoretical one.

``forward(x)`` returns the full-resolution restoration; ``forward(x, multiscale=True)`` returns the list
``[1/4, 1/2, full]`` (coarse to fine) for training. Any input size: reflect-padded to ``size_multiple``
inside and cropped back. Optional FiLM (``film``: scale and shift per block, from a caller's embedding)
lets :class:`restora.models.allinone.AllInOneNet` steer the same trunk; the trunk itself holds no
global pooling or normalisation, so its output depends only on pixels within its receptive field
(tiles agree with the whole image).
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn as nn
import torch.nn.functional as F

from restora.models.layers import zero_
from restora.models.registry import register_arch
from restora.models.resample import area_down


class ResBlock(nn.Module):
    """x + conv(ReLU(conv(x)) · (1 + γ) + β): dense 3×3 convolutions; γ, β (FiLM) optional."""

    def __init__(self, c: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x, film=None):
        y = F.relu(self.conv1(x))
        if film is not None:
            gamma, beta = film
            y = torch.addcmul(beta, y, 1.0 + gamma)
        return x + self.conv2(y)


class Stage(nn.Module):
    """A run of :class:`ResBlock`; ``films`` is one (γ, β) per block or None."""

    def __init__(self, c: int, dilations: list[int]):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(c, d) for d in dilations)

    def forward(self, x, films=None):
        for i, block in enumerate(self.blocks):
            x = block(x, None if films is None else films[i])
        return x


class ShallowConv(nn.Module):
    """SCM: features of a downscaled (unshuffled) copy of the input, for the level it enters."""

    def __init__(self, c_in: int, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x)))


class FeatureAttention(nn.Module):
    """FAM: z + conv3×3(z · s), where s are the SCM features of the same scale."""

    def __init__(self, c: int):
        super().__init__()
        self.merge = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, z, s):
        return z + self.merge(z * s)


class FeatureFusion(nn.Module):
    """AFF: the encoder features of all levels, resampled to one level, concatenated and fused by a 1×1
    conv, ReLU and a 3×3 conv. A 1×1 conv commutes with nearest upsampling and average pooling, so each
    source is squeezed at its own (smaller) resolution first and only the squeezed maps are resampled and
    summed: the same function as concatenating, at a fraction of the memory traffic."""

    def __init__(self, source_widths: list[int], c: int):
        super().__init__()
        self.squeeze = nn.ModuleList(nn.Conv2d(w, c, 1, bias=i == 0) for i, w in enumerate(source_widths))
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, feats, size):
        total = None
        for f, squeeze in zip(feats, self.squeeze):
            g = _resample(squeeze(f), size)
            total = g if total is None else total + g
        return self.conv(F.relu(total))


def _resample(f: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = f.shape[-2:]
    if (h, w) == tuple(size):
        return f
    if h > size[0]:
        return F.avg_pool2d(f, h // size[0])
    return F.interpolate(f, size=size, mode="nearest")


@register_arch("mimounet")
class MIMOUNet(nn.Module):
    """Multi-input multi-output U-Net. ``enc_blocks[k]`` / ``dec_blocks[k]``: blocks at level k (0: top,
    half resolution); the lowest level holds both its encoder and decoder blocks. ``width`` doubles per level."""

    uses_sigma = False
    multiscale_outputs = True  # forward(x, multiscale=True) returns [1/4, 1/2, full]

    def __init__(
        self,
        width: int = 32,
        enc_blocks: tuple[int, ...] = (1, 1, 3),
        dec_blocks: tuple[int, ...] = (1, 1, 3),
        bottom_dilations: tuple[int, ...] = (1,),
        fusion: str = "aff",
        unshuffle: int = 2,
        channels: int = 3,
        film_dim: int = 0,
    ):
        super().__init__()
        if fusion not in ("aff", "add"):
            raise ValueError("fusion must be 'aff' or 'add'")
        if len(enc_blocks) != len(dec_blocks) or len(enc_blocks) < 2:
            raise ValueError("enc_blocks and dec_blocks need the same number (≥ 2) of levels")
        self.config: dict[str, Any] = dict(
            width=width,
            enc_blocks=list(enc_blocks),
            dec_blocks=list(dec_blocks),
            bottom_dilations=list(bottom_dilations),
            fusion=fusion,
            unshuffle=unshuffle,
            channels=channels,
            film_dim=film_dim,
        )
        self.levels = levels = len(enc_blocks)
        self.unshuffle, self.channels, self.fusion = unshuffle, channels, fusion
        self.size_multiple = unshuffle * 2 ** (levels - 1)
        widths = [width * 2**k for k in range(levels)]
        c_in = channels * unshuffle**2
        self.intro = nn.Conv2d(c_in, width, 3, padding=1)
        self.scms = nn.ModuleList(ShallowConv(c_in, widths[k]) for k in range(1, levels))
        self.fams = nn.ModuleList(FeatureAttention(widths[k]) for k in range(1, levels))
        self.downs = nn.ModuleList(nn.Conv2d(widths[k], widths[k + 1], 2, stride=2) for k in range(levels - 1))
        bottom = levels - 1
        n_bottom = enc_blocks[bottom] + dec_blocks[bottom]
        dil = [bottom_dilations[i % len(bottom_dilations)] for i in range(n_bottom)]
        self.encoders = nn.ModuleList(Stage(widths[k], [1] * enc_blocks[k]) for k in range(bottom))
        self.bottom = Stage(widths[bottom], dil)
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv2d(widths[k + 1], 4 * widths[k], 1), nn.PixelShuffle(2)) for k in range(bottom)
        )
        if fusion == "aff":
            self.fuses = nn.ModuleList(FeatureFusion(widths, widths[k]) for k in range(bottom))
        self.decoders = nn.ModuleList(Stage(widths[k], [1] * dec_blocks[k]) for k in range(bottom))
        # Initialisation: He-normal for the ReLU convs, the second conv of every residual block scaled by
        # 0.1 (the residual stream starts near the identity and keeps its scale through the depth; PyTorch's
        # default init shrinks the signal at every conv of a network without normalisation layers).
        for mod in self.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, nonlinearity="relu")
                nn.init.zeros_(mod.bias) if mod.bias is not None else None
        for mod in self.modules():
            if isinstance(mod, ResBlock):
                mod.conv2.weight.data.mul_(0.1)
        # The coarser levels join the decoder through zero-initialised up-projections: a fresh network is
        # a shallow one at full resolution, and the coarse paths grow in as they learn something useful.
        # Likewise the fused skips are residuals on the level's own encoder features (zero-initialised).
        for up in self.ups:
            zero_(up)  # its conv (whose bias is zero already)
        for fuse in getattr(self, "fuses", []):
            nn.init.zeros_(fuse.conv.weight)
        # One image head per level (level 0: the full-resolution output); zero-initialised, so a fresh
        # network is the identity at every scale and training refines rather than undoes.
        self.heads = nn.ModuleList(nn.Conv2d(widths[k], c_in, 3, padding=1) for k in range(levels))
        for head in self.heads:
            zero_(head)
        # FiLM: every block's (γ, β) from one linear map of the caller's embedding (zero-initialised).
        self.block_widths = [widths[k] for k in range(bottom) for _ in range(enc_blocks[k])]
        self.block_widths += [widths[bottom]] * n_bottom
        self.block_widths += [widths[k] for k in reversed(range(bottom)) for _ in range(dec_blocks[k])]
        self.film = None
        if film_dim:
            self.film = nn.Linear(film_dim, 2 * sum(self.block_widths))
            zero_(self.film)
        self.halo = min(96, receptive_radius(self))

    # --- helpers ---------------------------------------------------------------------------------
    def _films(self, embedding):
        """Per-block (γ, β), each (B, c, 1, 1), in block order (encoder, bottom, decoder)."""
        if self.film is None or embedding is None:
            return None
        params = self.film(embedding)
        out, i = [], 0
        for c in self.block_widths:
            g, b = params[:, i : i + c], params[:, i + c : i + 2 * c]
            out.append((g[:, :, None, None], b[:, :, None, None]))
            i += 2 * c
        return out

    def _pad(self, x):
        h, w = x.shape[-2:]
        m = self.size_multiple
        ph, pw = (-h) % m, (-w) % m
        return (F.pad(x, (0, pw, 0, ph), mode="reflect") if (ph or pw) else x), (h, w)

    # --- forward ---------------------------------------------------------------------------------
    def forward(
        self,
        x: torch.Tensor,
        multiscale: bool = False,
        embedding: torch.Tensor | None = None,
        base: torch.Tensor | None = None,
    ):
        """x: (N, C, H, W) in [0, 1]. Returns the restored image, or with ``multiscale`` the list
        ``[1/4, 1/2, …, full]`` (coarsest first). ``embedding`` drives FiLM; ``base`` (same shape as x),
        if given, is what the heads' residuals are added to (default: x itself)."""
        xp, (h, w) = self._pad(x)
        bp = xp if base is None else self._pad(base)[0]
        films = self._films(embedding)
        u, L = self.unshuffle, self.levels
        offset = 0

        def next_films(n):
            nonlocal offset
            f = None if films is None else films[offset : offset + n]
            offset += n
            return f

        f = self.intro(F.pixel_unshuffle(xp - 0.5, u))
        skips = []
        for k in range(L - 1):
            if k > 0:
                f = self.fams[k - 1](f, self.scms[k - 1](F.pixel_unshuffle(area_down(xp, 2**k) - 0.5, u)))
            f = self.encoders[k](f, next_films(_block_count(self.encoders[k])))
            skips.append(f)
            f = self.downs[k](f)
        f = self.fams[L - 2](f, self.scms[L - 2](F.pixel_unshuffle(area_down(xp, 2 ** (L - 1)) - 0.5, u)))
        f = self.bottom(f, next_films(len(self.bottom.blocks)))
        if self.fusion == "aff":
            skips = [skips[k] + fuse(skips + [f], skips[k].shape[-2:]) for k, fuse in enumerate(self.fuses)]
        outputs = []
        if multiscale:
            outputs.append(self._image(L - 1, f, bp))
        for k in reversed(range(L - 1)):
            f = self.decoders[k](self.ups[k](f) + skips[k], next_films(_block_count(self.decoders[k])))
            if multiscale or k == 0:
                outputs.append(self._image(k, f, bp))
        outputs = [o[..., : -(-h // 2**i), : -(-w // 2**i)] for o, i in zip(outputs, reversed(range(len(outputs))))]
        return outputs if multiscale else outputs[-1]

    def _image(self, k: int, f: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        return area_down(base, 2**k) + F.pixel_shuffle(self.heads[k](f), self.unshuffle)


def _block_count(stage: nn.Module) -> int:
    """How many blocks a :class:`Stage` of a ModuleList (typed Module) runs."""
    return len(cast(Stage, stage).blocks)


def receptive_radius(model: MIMOUNet) -> int:
    """Theoretical receptive-field radius in input pixels of the full-resolution output (3×3 convs add
    dilation × stride per conv; the 2×2 downsampling and pixel (un)shuffles add their stride)."""
    cfg = model.config
    u, L = cfg["unshuffle"], len(cfg["enc_blocks"])
    r = 2 * u  # the unshuffle's footprint and the intro conv at stride u
    for k in range(L - 1):
        stride = u * 2**k
        r += 2 * stride * cfg["enc_blocks"][k] + 2 * stride  # blocks, FAM conv, the 2×2 down conv
    bottom = u * 2 ** (L - 1)
    n = cfg["enc_blocks"][-1] + cfg["dec_blocks"][-1]
    dil = cfg["bottom_dilations"]
    r += bottom * sum(dil[i % len(dil)] + 1 for i in range(n)) + bottom  # blocks + FAM conv
    for k in range(L - 1):
        r += 2 * u * 2**k * cfg["dec_blocks"][k] + u * 2**k  # blocks + fusion conv
    return int(r + 2 * u + model.size_multiple)  # head conv, pixel shuffle, resampling margin
