"""``restora bench --task noise-type``: accuracy of the noise-kind detector (:mod:`restora.engine.noise_type`).

Images: the last :data:`HELD_OUT` files (sorted) of each of ``train/CBSD432``, ``train/Urban100`` and
``train/DreamBooth158`` — a held-out slice the detector's thresholds were not chosen on (they were chosen on the
first :data:`TUNE` files of each, ``split="tune"``). Each image is degraded once per kind, seeded by its index
(``numpy.random.default_rng(index · 16 + kind number)``):

* ``gaussian``: Gaussian noise σ 5–50 or the camera pipeline (``camera``), each half of the time;
* ``salt-pepper``: the ``salt-pepper`` pipeline (1–30 %);
* ``periodic``: the ``periodic`` pipeline (1–3 sinusoids, amplitude 8–30);
* ``jpeg``: JPEG quality 10–30;

and the clean image itself is scored too: it must not be taken for salt-and-pepper or periodic noise (the
methods of those kinds must not fire on clean photos). Results: accuracy over the four kinds, a confusion
matrix (rows: applied, columns: detected) and the clean photos' false alarms.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

SETS = ("CBSD432", "Urban100", "DreamBooth158")
HELD_OUT = 20
TUNE = 30
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def _files(data: Path, split: str) -> list[Path]:
    out = []
    for name in SETS:
        folder = data / "train" / name
        if not folder.is_dir():
            continue
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        out += files[-HELD_OUT:] if split == "held-out" else files[:TUNE]
    return out


def degrade_as(kind: str, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``clean`` (float32 [0, 1]) degraded by one kind of noise (the module's list), clipped and 8-bit."""
    from restora.degrade import JPEG, GaussianNoise, get_pipeline

    if kind == "gaussian":
        op = GaussianNoise(sigma=(5, 50)) if rng.random() < 0.5 else get_pipeline("camera")
    elif kind == "jpeg":
        op = JPEG(quality=(10, 30))
    else:
        op = get_pipeline(kind)
    y = op(clean, rng)
    return (np.rint(np.clip(y, 0, 1) * 255) / 255).astype(np.float32)


def noise_type_samples(
    data: Path, split: str = "held-out", limit: int | None = None
) -> Iterator[tuple[str, str, np.ndarray]]:
    """(image name, applied kind or ``clean``, degraded float32 image) for every image of the split."""
    from restora.engine.noise_type import KINDS
    from restora.eval.datasets import read_rgb8

    files = _files(data, split)
    for index, path in enumerate(files[:limit] if limit else files):
        clean = read_rgb8(path).astype(np.float32) / 255.0
        name = f"{path.parent.name}/{path.name}"
        yield name, "clean", clean
        for k, kind in enumerate(KINDS):
            yield name, kind, degrade_as(kind, clean, np.random.default_rng(index * 16 + k))


def run_noise_type(data: Path, split: str = "held-out", limit: int | None = None, log=print) -> dict:
    """Detector results on the split: accuracy, confusion matrix, clean false alarms, per-image rows."""
    from restora.engine.noise_type import KINDS, classify_noise

    rows = []
    for name, kind, image in noise_type_samples(data, split, limit):
        found = classify_noise(image)
        rows.append({"image": name, "applied": kind, **found.as_dict()})
        if kind != "clean" and found.kind != kind:
            log(f"  {name}: {kind} detected as {found.kind}")
    noisy = [r for r in rows if r["applied"] != "clean"]
    clean = [r for r in rows if r["applied"] == "clean"]
    confusion = {a: {d: sum(1 for r in noisy if r["applied"] == a and r["kind"] == d) for d in KINDS} for a in KINDS}
    false_alarms = sum(1 for r in clean if r["kind"] in ("salt-pepper", "periodic"))
    return {
        "split": split,
        "n_images": len(clean),
        "accuracy": float(np.mean([r["kind"] == r["applied"] for r in noisy])) if noisy else float("nan"),
        "per_kind": {a: confusion[a][a] / max(1, sum(confusion[a].values())) for a in KINDS},
        "confusion": confusion,
        "clean_false_alarms": false_alarms,
        "clean_detected": {d: sum(1 for r in clean if r["kind"] == d) for d in KINDS},
        "rows": rows,
    }
