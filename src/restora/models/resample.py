"""Resampling shared by architectures and losses."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def area_down(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Area (box) downscale by an integer factor; sizes that do not divide are cropped (ceil → floor)."""
    if factor == 1:
        return x
    return F.avg_pool2d(x, factor, ceil_mode=True, count_include_pad=False)
