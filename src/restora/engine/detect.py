"""``--task auto``: which degradations a photo has, how strong they are, and which model restores it.

The all-in-one model (:class:`restora.models.allinone.AllInOneNet`) describes a whole image, downscaled so
its long side is at most 256 px by the model's own ``describe_input`` (the copy the engine computes the
whole-image context on, :meth:`restora.engine.neural.NeuralMethod.context_input`): ``logits`` over the five
degradation types (one per task: noise, blur, rain, haze, low light) and a ``severity`` per type (0 none … 1
the strongest seen in training). Probabilities are the softmax of the logits (sigmoids for a model trained
multi-label, ``multilabel = True``).

Large photos: downscaling averages away noise and mild blur (a 12 MP photo reaches the model 15× smaller), so
when the copy is at least :data:`CROP_MIN_FACTOR` times smaller than the photo, up to :data:`CROPS`
full-resolution crops of :data:`CROP_SIDE` px are described too and every view counts the same: probabilities
and strengths are the means over the whole-image copy and the crops. The crops are the most textured cells
(mean gradient magnitude of the copy's luma over the cell's footprint; edges are where blur shows) of an even
grid of cells covering the photo, so the same photo always gets the same crops.

Probabilities come from the routing head (:mod:`restora.engine.routing`) where one was fitted for the
detector: it reads the model's embedding of each view together with the photo's own noise measurements, which
tells real camera noise from blur. Without it, from the model's own classifier.

Old photos: the damage detector (:mod:`restora.engine.repair_share`) also reads the downscaled copy; when the
share of its pixels found damaged reaches the share threshold fitted on validation, the task is ``repair``
(the detector's mask, then the fast inpainter, :data:`REPAIR_MODEL`) and the five-way choice below is reported
but not used. ``extra["damaged_share"]`` (and ``extra["repair_share_threshold"]``) say what it read.

A type is *detected* when its probability is at least :data:`DETECT_THRESHOLD`; the most probable type is
always reported. Model choice: with one type detected, that task's specific model of ours (the first of
``DEFAULTS[task]`` that is a network and not an all-in-one model, e.g. ``restora-deblur``), or the all-in-one
model where none is installed; with several types detected at once, the all-in-one model, which was trained
on all of them. Classical fallbacks are never chosen by ``auto``: it needs the all-in-one model anyway.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from restora.engine.catalogue import DEFAULTS, METHODS, all_methods, get_spec
from restora.engine.inpaint import INPAINTERS
from restora.engine.neural import describes_degradations
from restora.engine.repair_share import repair_reading
from restora.engine.routing import RoutingHead, noise_features, routing_head
from restora.errors import ModelError

DETECT_THRESHOLD = 0.5
CROPS = 4  # full-resolution crops described besides the whole image, for large photos
CROP_SIDE = 256
CROP_MIN_FACTOR = 1.5  # crops only when the whole-image copy is at least this many times smaller
MAX_GRID = 16  # candidate cells per side at most (a grid of evenly spaced cells on very large photos)
REPAIR_MODEL = INPAINTERS["fast"]  # what auto repairs old photos with (after the detector's mask)
DEGRADATION_NAMES = {"denoise": "noise", "deblur": "blur", "derain": "rain", "dehaze": "haze", "lowlight": "low light"}


@dataclass
class Detection:
    """What ``auto`` found in one image and what it did about it."""

    detector: str  # the all-in-one model that described the image
    probabilities: dict[str, float]  # task → probability that the image has that degradation
    strengths: dict[str, float]  # task → severity head's estimate, 0–1
    detected: list[str]  # tasks judged present, most probable first
    task: str  # the task whose model restored the image
    model: str = ""  # the model that restored it
    seconds: float = 0.0  # time of the description (included in the restore time)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line: ``rain 97% (strength 0.62)``, then the other detected types and the damaged share (old-photo
        damage, when the damage detector read the photo); a repaired photo's damage comes first."""
        parts = []
        share = self.extra.get("damaged_share")
        damage = None if share is None else f"damage {100 * share:.1f}% of pixels"
        for task in self.detected:
            parts.append(
                f"{DEGRADATION_NAMES.get(task, task)} {100 * self.probabilities[task]:.0f}% "
                f"(strength {self.strengths[task]:.2f})"
            )
        if damage is not None:
            parts = [damage, *parts] if self.task == "repair" else [*parts, damage]
        return ", ".join(parts)


def probabilities(logits: torch.Tensor, multilabel: bool = False) -> np.ndarray:
    """(B, K) logits → (B, K) probabilities: softmax, or independent sigmoids for a multi-label model."""
    logits = logits.float()
    p = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
    return p.cpu().numpy()


def describe_image(
    method, small: np.ndarray, head: RoutingHead | None = None, noise: np.ndarray | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """(probabilities, strengths) per task of one downscaled image, from an all-in-one method; with a routing
    ``head`` (:mod:`restora.engine.routing`) the probabilities are its reading of the view's embedding and the
    photo's ``noise`` features instead of the model's own classifier."""
    out = method.describe(small)
    tasks = tuple(method.module.TASKS)
    if head is None:
        p = probabilities(out["logits"], bool(getattr(method.module, "multilabel", False)))[0]
    else:
        p = head.probabilities(np.concatenate([out["embedding"].cpu().numpy()[0], noise]))[0]
        tasks_p = dict(zip(head.tasks, p))
        p = np.array([tasks_p[t] for t in tasks])
    s = np.clip(out["severity"].cpu().numpy()[0], 0.0, 1.0)
    return ({t: float(v) for t, v in zip(tasks, p)}, {t: float(v) for t, v in zip(tasks, s)})


def detected_tasks(probs: dict[str, float], threshold: float | None = None) -> list[str]:
    """Tasks at or above ``threshold`` (default :data:`DETECT_THRESHOLD`), most probable first; at least the top one."""
    threshold = DETECT_THRESHOLD if threshold is None else threshold
    order = sorted(probs, key=lambda t: -probs[t])
    found = [t for t in order if probs[t] >= threshold]
    return found or order[:1]


def specific_model(task: str) -> str | None:
    """The task's own network of ours (not an all-in-one model), if one is installed."""
    all_methods()
    for name in DEFAULTS.get(task, ()):
        spec = METHODS.get(name)
        if spec is not None and spec.kind == "ours" and task in spec.tasks and not describes_degradations(spec):
            return name
    return None


def detector_name(model: str | None = None) -> str:
    """The all-in-one model ``auto`` describes images with: ``model`` (checked), else the default one."""
    all_methods()
    if model is not None:
        spec = get_spec(model)
        if not describes_degradations(spec):
            raise ModelError(f"model '{spec.name}' cannot detect degradations: --task auto needs an all-in-one model")
        return model
    for name in DEFAULTS.get("auto", ()):
        if name in METHODS and describes_degradations(METHODS[name]):
            return name
    for spec in METHODS.values():
        if spec.kind == "ours" and describes_degradations(spec):
            return spec.name
    raise ModelError("--task auto needs an all-in-one model and none is installed (give one with --model)")


def crop_windows(
    small: np.ndarray, shape: tuple[int, int], count: int = CROPS, side: int = CROP_SIDE
) -> list[tuple[int, int, int, int]]:
    """(top, left, height, width) of the ``count`` most textured ``side``² cells of an image of ``shape``.

    Candidates: an even grid of cells that covers the image (as few per side as cover it, overlapping where the
    size is not a multiple of ``side``; at most :data:`MAX_GRID` per side, evenly spaced, on very large photos);
    texture: the mean gradient magnitude of ``small``'s luma (``small`` is the whole image downscaled) over
    each cell's footprint. Deterministic: ties keep grid order."""

    h, w = shape
    ch, cw = min(side, h), min(side, w)
    tops = np.unique(np.linspace(0, h - ch, min(MAX_GRID, -(-h // ch))).round().astype(int))
    lefts = np.unique(np.linspace(0, w - cw, min(MAX_GRID, -(-w // cw))).round().astype(int))
    luma = np.ascontiguousarray(small[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32))
    grad = np.hypot(cv2.Sobel(luma, cv2.CV_32F, 1, 0), cv2.Sobel(luma, cv2.CV_32F, 0, 1))
    sy, sx = small.shape[0] / h, small.shape[1] / w
    cells, scores = [], []
    for top in tops:
        for left in lefts:
            y0, x0 = int(top * sy), int(left * sx)
            y1, x1 = max(y0 + 1, int(np.ceil((top + ch) * sy))), max(x0 + 1, int(np.ceil((left + cw) * sx)))
            cells.append((int(top), int(left), ch, cw))
            scores.append(float(grad[y0:y1, x0:x1].mean()))
    order = np.argsort(-np.asarray(scores), kind="stable")
    return [cells[i] for i in order[:count]]


def view_windows(small: np.ndarray, pixels: np.ndarray | None) -> list[tuple[int, int, int, int]]:
    """The full-resolution crops described beside the whole-image copy: none unless ``pixels`` is at least
    :data:`CROP_MIN_FACTOR` times larger than ``small`` (:func:`crop_windows`)."""
    if pixels is None or max(pixels.shape[:2]) < CROP_MIN_FACTOR * max(small.shape[:2]):
        return []
    return crop_windows(small, pixels.shape[:2])


def describe_views(
    method, small: np.ndarray, pixels: np.ndarray | None = None, head: RoutingHead | None = None
) -> tuple[dict[str, float], dict[str, float], dict]:
    """(probabilities, strengths, extra) of a photo: of its downscaled copy ``small`` alone, or, for a photo
    ``pixels`` at least :data:`CROP_MIN_FACTOR` times larger, the means over the copy and :data:`CROPS`
    full-resolution crops (:func:`view_windows`). ``head``: the routing head, which also reads the photo's
    noise at full resolution. ``extra``: the crops and the whole-image copy's own view."""
    noise = None if head is None else noise_features(small if pixels is None else pixels)
    probs, strengths = describe_image(method, small, head, noise)
    windows = view_windows(small, pixels)
    if not windows or pixels is None:  # no windows without pixels
        return probs, strengths, {}
    views = [(probs, strengths)] + [
        describe_image(method, np.ascontiguousarray(pixels[t : t + h, l : l + w]), head, noise)
        for t, l, h, w in windows
    ]
    mean_p = {k: float(np.mean([p[k] for p, _ in views])) for k in probs}
    mean_s = {k: float(np.mean([s[k] for _, s in views])) for k in strengths}
    extra = {"crops": [list(c) for c in windows], "whole_image": {"probabilities": probs, "strengths": strengths}}
    return mean_p, mean_s, extra


def detector_file(detector: str) -> Path | None:
    """The model file of a detector given by catalogue name or path; None for one that is neither."""
    spec = all_methods().get(detector)
    if spec is not None:
        return spec.path
    return Path(detector) if Path(detector).suffix == ".safetensors" else None


def detect(method, small: np.ndarray, detector: str, pixels: np.ndarray | None = None) -> Detection:
    """Describe a photo with the all-in-one ``method`` and choose the restorer: ``small`` is the downscaled
    whole photo, ``pixels`` the photo itself (its crops are described too when it is large, see
    :func:`describe_views`)."""

    start = time.perf_counter()
    head = routing_head(detector_file(detector))
    probs, strengths, extra = describe_views(method, small, pixels, head)
    if head is not None:
        extra["routing"] = "routing head (embedding + noise measurements)"
    found = detected_tasks(probs)
    task = found[0]
    model = detector if len(found) > 1 else (specific_model(task) or detector)
    reading = repair_reading(small)
    if reading is not None:
        extra["damaged_share"], extra["repair_share_threshold"] = round(reading[0], 6), reading[1]
        if reading[0] >= reading[1]:  # old-photo damage: a fill, whatever else the photo shows
            task, model = "repair", REPAIR_MODEL
    return Detection(detector, probs, strengths, found, task, model, time.perf_counter() - start, extra)
