"""Pieces shared by the architectures."""

from __future__ import annotations

from torch import nn


def zero_(module: nn.Module) -> None:
    """Zero every parameter of ``module``: a head, residual branch or FiLM map that starts as nothing, so a fresh
    network is the identity (or its base fill) and training adds what helps."""
    for parameter in module.parameters():
        nn.init.zeros_(parameter)
