"""The exponential moving average of a network's weights, shared by training and adaptation.

:math:`W^{\\mathrm{EMA}} \\leftarrow d\\,W^{\\mathrm{EMA}} + (1 - d)\\,W` after every optimiser step
(PyTorch's :func:`torch.optim.swa_utils.get_ema_multi_avg_fn`), on a plain copy of the network, so the EMA
is saved and loaded like any module.
"""

from __future__ import annotations

import torch
from torch.optim.swa_utils import get_ema_multi_avg_fn


@torch.no_grad()
def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float, copy_buffers: bool = True) -> None:
    """One EMA step of ``ema``'s parameters towards ``model``'s; buffers (norm statistics) are copied as they are."""
    get_ema_multi_avg_fn(decay)(list(ema.parameters()), list(model.parameters()), None)
    if copy_buffers:
        for ema_buffer, buffer in zip(ema.buffers(), model.buffers()):
            ema_buffer.copy_(buffer)


@torch.no_grad()
def pull_towards(params: list[torch.Tensor], anchor: list[torch.Tensor], weight: float) -> None:
    """:math:`\\theta \\leftarrow \\theta - w\\,(\\theta - \\theta_{\\mathrm{anchor}})` for each parameter."""
    for p, a in zip(params, anchor):
        p.lerp_(a, weight)
