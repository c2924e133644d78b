"""Fit the share threshold of ``--task auto``'s repair route (:mod:`restora.engine.repair_share`):
``python -m restora.train.repair_share [OUT.json]``.

Samples, all from the held-out slices of ``configs/repair-detect-wide.yaml`` (the damage detector's own
validation photos, never trained on; each slice is also inside ``configs/denoise-diverse.yaml``'s held-out
slice): each whole photo, stored as 8-bit,

* positives: aged like an old print (:func:`restora.degrade.damage.age_photo`) and damaged, once per hole kind of
  ``restora bench --task repair`` (:func:`restora.eval.repair_bench.routing_samples`; ``thin``: scratches and dust, ``crease``, ``large``: blotches, torn corners);
* negatives: the clean photo, the aged photo without damage, and each of the auto set's five degradations
  (:func:`restora.eval.task_sets.auto_degradations`).

Each sample's damaged share is read as auto reads it: the damage detector on the all-in-one model's downscaled
copy. The threshold sends the most damaged samples to repair while at least :data:`KEEP_OTHERS` of the others
stay out of it, on the draw of seed :data:`FIT_SEED` (ties: the highest); the threshold of best balanced
accuracy is recorded beside it for comparison. A second draw (seed :data:`CHECK_SEED`: other aging and damage
of the same photos) is scored at both and recorded. ``test/`` and ``real/`` are never read here.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from restora.engine.detect import detector_name
from restora.engine.inpaint import DETECTOR, detection_threshold
from restora.engine.repair_share import SHARE_PATH, ShareThreshold, damaged_share, detector_path
from restora.engine.restore import get_method
from restora.engine.routing import file_sha256
from restora.eval.datasets import read_rgb8
from restora.eval.repair_bench import HOLE_KINDS, NOT_DAMAGED, route_rates, routing_samples
from restora.errors import RestoraError
from restora.io import write_bytes
from restora.train.config import TrainConfig
from restora.train.data import split_train_val

SETS_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "repair-detect-wide.yaml"
FIT_SEED, CHECK_SEED = 0, 1
# Share of the clean and otherwise degraded samples that must stay out of repair: a photo sent to repair by
# mistake loses its own restoration (a rainy photo is not derained), so the route is kept for clear damage.
KEEP_OTHERS = 0.95


def read_shares(method, files: list[Path], seed: int, log=print) -> list[dict]:
    """Every sample's damaged share, as auto reads it (the detector on ``method``'s downscaled copy)."""
    rows = []
    for i, f in enumerate(files):
        rng = np.random.default_rng([seed, i])
        clean = read_rgb8(f).astype(np.float32) / 255
        for kind, damaged, photo in routing_samples(clean, rng):
            rows.append(
                {"photo": f.name, "kind": kind, "damaged": damaged, "share": damaged_share(method.context_input(photo))}
            )
        log(f"{f.parent.name}/{f.name}: " + " ".join(f"{r['kind']} {100 * r['share']:.2f}%" for r in rows[-10:]))
    return rows


def rates(rows: list[dict], threshold: float) -> dict:
    """Share of each kind's samples routed correctly at ``threshold``: positives at or above, negatives below."""
    return route_rates([{**r, "repair": r["share"] >= threshold} for r in rows])


def candidate_thresholds(rows: list[dict]) -> list[float]:
    """Midpoints between the samples' sorted shares (and one above the largest), above 0."""
    shares = np.unique([r["share"] for r in rows])
    mids = np.concatenate([(shares[:-1] + shares[1:]) / 2, shares[-1:] + 1e-6]) if len(shares) > 1 else shares
    return [float(t) for t in mids if t > 0]


def choose_threshold(rows: list[dict], keep: float = KEEP_OTHERS) -> float:
    """The share threshold that sends the most damaged samples to repair while at least ``keep`` of the others
    stay out of it (they then go on to the five-way routing as before); ties: the highest."""
    scored = [(rates(rows, t), t) for t in candidate_thresholds(rows)]
    if not scored:
        raise RestoraError("no sample reads any damage: the detector finds nothing to separate")
    allowed = [(r["damaged_to_repair"], t) for r, t in scored if r["others_not_to_repair"] >= keep]
    return max(allowed)[1] if allowed else max(t for _, t in scored)


def best_balanced(rows: list[dict]) -> float:
    """The threshold of best balanced accuracy (recorded beside the chosen one, for comparison)."""
    return max((rates(rows, t)["balanced_accuracy"], t) for t in candidate_thresholds(rows))[1]


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    if detector_path(DETECTOR) is None:
        raise RestoraError(f"the damage detector '{DETECTOR}' is not installed")
    method = get_method(detector_name(), "cpu", "torch")
    cfg = TrainConfig.model_validate(yaml.safe_load(SETS_CONFIG.read_text()))
    _, val_files = split_train_val(cfg.data)
    started = time.perf_counter()
    fit_rows = read_shares(method, val_files, FIT_SEED)
    check_rows = read_shares(method, val_files, CHECK_SEED)
    threshold = round(choose_threshold(fit_rows), 6)
    card = {
        "summary": "share of pixels the damage detector finds on auto's downscaled copy at or above which "
        "--task auto repairs the photo",
        "detector": DETECTOR,
        "detector_threshold": detection_threshold(DETECTOR),
        "all_in_one": detector_name(),
        "samples": f"{len(val_files)} held-out photos of {SETS_CONFIG.name}'s sets (whole photos, 8-bit); per photo "
        f"{len(HOLE_KINDS)} damaged ({', '.join(HOLE_KINDS)}; aged first) and {len(NOT_DAMAGED)} "
        f"not ({', '.join(NOT_DAMAGED)})",
        "rule": f"the most damaged samples to repair with at least {KEEP_OTHERS} of the others kept out of it, on "
        "the fit draw; ties: the highest threshold",
        "fit_seed": FIT_SEED,
        "validation_fit_draw": rates(fit_rows, threshold),
        "check_seed": CHECK_SEED,
        "validation_check_draw": rates(check_rows, threshold),
        "best_balanced_accuracy_threshold": round(best_balanced(fit_rows), 6),
        "at_best_balanced_accuracy": {
            "fit_draw": rates(fit_rows, best_balanced(fit_rows)),
            "check_draw": rates(check_rows, best_balanced(fit_rows)),
        },
        "median_share": {
            kind: round(float(np.median([r["share"] for r in fit_rows if r["kind"] == kind])), 6)
            for kind in (*HOLE_KINDS, *NOT_DAMAGED)
        },
        "fitted": time.strftime("%Y-%m-%d"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    fitted = ShareThreshold(threshold, file_sha256(detector_path(DETECTOR)), card)
    out = Path(argv[0]) if argv else SHARE_PATH
    write_bytes(out, (fitted.to_json() + "\n").encode())
    print(
        f"wrote {out}: threshold {threshold}; fit draw {json.dumps(card['validation_fit_draw'])}; "
        f"check draw {json.dumps(card['validation_check_draw'])}"
    )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except RestoraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
