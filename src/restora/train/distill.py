"""GDD distillation's feature generator."""

from __future__ import annotations

import torch.nn as nn


class FeatureGenerator(nn.Module):
    """GDD's generator: maps noise-perturbed student features to the teacher's feature space."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1)
        )

    def forward(self, x):
        return self.net(x)
