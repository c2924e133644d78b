"""Export forms of layers: equivalent modules that run faster in onnxruntime (the ONNX export uses them)."""

from __future__ import annotations

import copy

import torch

from restora.models.nafnet import LayerNorm2d


class FusedChannelLayerNorm(torch.nn.Module):
    """Export form of a channel LayerNorm (:class:`restora.models.nafnet.LayerNorm2d`): the same maths as one
    ``LayerNormalization`` node over the last axis between two transposes. onnxruntime runs that fused op
    instead of five element-wise and reduction nodes, about 15% faster for NAFNet on a CPU."""

    def __init__(self, norm: torch.nn.Module):
        super().__init__()
        self.weight, self.bias, self.eps = norm.weight, norm.bias, norm.eps

    def forward(self, x):
        y = torch.nn.functional.layer_norm(
            x.permute(0, 2, 3, 1), (self.weight.shape[0],), self.weight, self.bias, self.eps
        )
        return y.permute(0, 3, 1, 2)


def export_form(module: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``module`` with layers replaced by equivalent ones that run faster in onnxruntime
    (:func:`restora.engine.onnx.check_onnx` compares the export with the original module)."""
    module = copy.deepcopy(module)
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is LayerNorm2d:
                setattr(parent, name, FusedChannelLayerNorm(child))
    return module
