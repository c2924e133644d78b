"""Validation of a network on a run's held-out crops: the figures a run logs and selects its weights by."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from restora.eval.metrics import gt_mean_psnr_8bit, psnr_8bit
from restora.models.allinone import describe_input
from restora.models.device import resolve_device
from restora.train.card import load_network
from restora.train.config import TrainConfig, selection_figure
from restora.train.data import extra_validation_groups, split_train_val, validation_groups


@torch.no_grad()
def _mean_scores(net: nn.Module, pairs, device, metrics=(psnr_8bit,)) -> float | list[float]:
    """Mean PSNR of ``net`` over validation pairs (noisy, clean, σ hint); with several ``metrics`` (functions of
    (prediction, clean)), the mean of each, from one pass."""
    scores = []
    uses_sigma = getattr(net, "uses_sigma", False)
    for noisy, clean, sigma in pairs:
        noisy, sigma = noisy.to(device), sigma.to(device)
        pred = (net(noisy, sigma) if uses_sigma else net(noisy)).float().cpu()
        scores.append([metric(pred, clean) for metric in metrics])
    means = [float(m) for m in np.mean(scores, axis=0)]
    return means[0] if len(metrics) == 1 else means


@torch.no_grad()
def validate_network(net: nn.Module, groups, extra=(), device="cpu", per_task: bool = False) -> dict:
    """A network's validation figures: ``val_psnr`` (mean over groups), per-task ``val_<task>`` with
    ``per_task`` (a mixture's run) and, for a describing model, ``val_acc``: the fraction of validation images
    whose degradation type it names; and ``val_psnr_<name>`` for each extra group (``data.val_extra``), kept
    out of ``val_psnr``."""
    out, gt_mean = {}, None
    for g in groups:
        if g.name == "lowlight":  # also GT-mean: low light apart from its exposure guess (restora.eval.metrics)
            out[g.name], gt_mean = _mean_scores(net, g.pairs, device, (psnr_8bit, gt_mean_psnr_8bit))
        else:
            out[g.name] = _mean_scores(net, g.pairs, device)
    result = {"val_psnr": round(float(np.mean(list(out.values()))), 4)}
    result.update({f"val_psnr_{g.name}": round(_mean_scores(net, g.pairs, device), 4) for g in extra})
    if per_task:
        result.update({f"val_{k}": round(v, 4) for k, v in out.items()})
        if gt_mean is not None:
            result["val_lowlight_gtmean"] = round(gt_mean, 4)
        if hasattr(net, "describe"):
            hits = [
                int(net.describe(describe_input(noisy.to(device)))["logits"].argmax(1).item() == g.label)
                for g in groups
                for noisy, _, _ in g.pairs
            ]
            result["val_acc"] = round(float(np.mean(hits)), 4)
    return result


def validate_models(cfg: TrainConfig, sources: list[str], device: str = "auto") -> list[dict]:
    """Each network (a registered name or a ``.safetensors`` path) on ``cfg``'s validation: the held-out crops,
    degradations and seeds its run logs, and the figure its ``select`` names (``selected``). A candidate and the
    shipped weights measured this way compare on equal terms, which is how a model is chosen (docs/training.md,
    "Which weights ship"). Returns one dict per source: ``model``, the ``val_*`` figures and ``selected``."""
    device = resolve_device(device)
    networks = [(str(source), load_network(source, "model")[0].to(device).eval()) for source in sources]
    _, val_files = split_train_val(cfg.data)
    hint = any(getattr(net, "uses_sigma", False) for _, net in networks)
    groups = validation_groups(cfg.data, val_files, cfg.seed, hint)
    extra = extra_validation_groups(cfg.data, val_files, cfg.seed, hint)
    results = []
    for source, net in networks:
        figures = validate_network(net, groups, extra, device, per_task=cfg.data.per_group)
        results.append({"model": source, **figures, "selected": selection_figure(cfg.select, figures)})
    return results
