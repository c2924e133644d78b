"""``--task auto``: which degradations a photo has, how strong they are, and which model restores it.

The all-in-one model (:class:`restora.models.allinone.AllInOneNet`) describes a whole image, downscaled so
its long side is at most 256 px (:func:`restora.engine.methods.context_image`, the same copy the engine
computes its whole-image context on): ``logits`` over the five degradation types (one per task: noise,
blur, rain, haze, low light) and a ``severity`` per type (0 none … 1 the strongest seen in training).
Probabilities are the softmax of the logits (sigmoids for a model trained multi-label, ``multilabel = True``).

A type is *detected* when its probability is at least :data:`DETECT_THRESHOLD`; the most probable type is
always reported. Model choice: with one type detected, that task's specific model of ours (the first of
``DEFAULTS[task]`` that is a network and not an all-in-one model, e.g. ``restora-deblur``), or the all-in-one
model where none is installed; with several types detected at once, the all-in-one model, which was trained
on all of them. Classical fallbacks are never chosen by ``auto``: it needs the all-in-one model anyway.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from restora.errors import ModelError

DETECT_THRESHOLD = 0.5
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
        """One line: ``rain 97% (strength 0.62)``, then the other detected types."""
        parts = []
        for task in self.detected:
            parts.append(f"{DEGRADATION_NAMES.get(task, task)} {100 * self.probabilities[task]:.0f}% "
                         f"(strength {self.strengths[task]:.2f})")
        return ", ".join(parts)


def probabilities(logits: torch.Tensor, multilabel: bool = False) -> np.ndarray:
    """(B, K) logits → (B, K) probabilities: softmax, or independent sigmoids for a multi-label model."""
    logits = logits.float()
    p = torch.sigmoid(logits) if multilabel else torch.softmax(logits, dim=-1)
    return p.cpu().numpy()


def describe_image(method, small: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """(probabilities, strengths) per task of one downscaled image, from an all-in-one method."""
    out = method.describe(small)
    tasks = tuple(getattr(method.module, "TASKS"))
    p = probabilities(out["logits"], bool(getattr(method.module, "multilabel", False)))[0]
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
    from restora.engine.neural import describes_degradations
    from restora.models.registry import DEFAULTS, METHODS, _ensure_loaded

    _ensure_loaded()
    for name in DEFAULTS.get(task, ()):
        spec = METHODS.get(name)
        if spec is not None and spec.kind == "ours" and task in spec.tasks and not describes_degradations(spec):
            return name
    return None


def detector_name(model: str | None = None) -> str:
    """The all-in-one model ``auto`` describes images with: ``model`` (checked), else the default one."""
    from restora.engine.neural import describes_degradations
    from restora.models.registry import DEFAULTS, METHODS, _ensure_loaded, get_spec

    _ensure_loaded()
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


def detect(method, small: np.ndarray, detector: str) -> Detection:
    """Describe ``small`` (the downscaled whole image) with the all-in-one ``method`` and choose the restorer."""
    import time

    start = time.perf_counter()
    probs, strengths = describe_image(method, small)
    found = detected_tasks(probs)
    task = found[0]
    model = detector if len(found) > 1 else (specific_model(task) or detector)
    return Detection(detector, probs, strengths, found, task, model, time.perf_counter() - start)
