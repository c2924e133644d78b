"""Where a network runs."""

from __future__ import annotations

import torch

from restora.errors import ModelError


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else the CPU; a CUDA device asked for without a GPU is a ModelError."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for but no CUDA GPU is available")
    return torch.device(device)
