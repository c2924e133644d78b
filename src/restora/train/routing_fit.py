"""Fit ``--task auto``'s routing head (:mod:`restora.engine.routing`): ``python -m restora.train.routing_fit``.

Samples (training data only):

* the auto set's five single degradations (:func:`restora.eval.task_sets.auto_degradations`) and camera noise
  (the ``camera`` and ``camera-isp`` pipelines: demosaiced, tone-mapped, in-camera noise reduction, labelled
  ``denoise``) on seeded 256² crops of the *training* photos of ``configs/denoise-diverse.yaml``'s sets;
* the real noisy photos of ``real-noisy/DND32`` (no references; for noise statistics), labelled ``denoise``,
  one sample per described view (the downscaled copy and its full-resolution crops).

The head corrects the detector's own linear classifier (its logits are the starting point and the L2 penalty pulls
back to them: :func:`fit_head`). Validation (chooses the penalty and the weight of the real photos): ``real/CC52``'s noisy photos (all
``denoise``), the same degradations on every second photo of the held-out slices of those sets, and DND32 by 4-fold
cross-validation (the shipped head is then refitted on every sample). ``test/`` and ``real/PolyU50`` are
never read here.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from restora.degrade import get_pipeline
from restora.engine.catalogue import get_spec
from restora.engine.detect import detector_name, view_windows
from restora.engine.restore import get_method
from restora.engine.routing import NOISE_FEATURES, ROUTING_PATH, RoutingHead, file_sha256, noise_features
from restora.eval.datasets import read_rgb8
from restora.eval.task_sets import AUTO_CROP, auto_degradations
from restora.io import read_image
from restora.settings import data_dir
from restora.tasks import RESTORE_TASKS
from restora.train.config import TrainConfig
from restora.train.data import split_train_val

SETS_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "denoise-diverse.yaml"
PHOTOS_PER_SET = {"train/CBSD432": 25, "train/DreamBooth158": 20, "train/Urban100": 15}
PENALTIES = (1e-3, 1e-2, 1e-1)
REAL_WEIGHTS = (1.0, 2.0, 4.0)
SEED = 11


def degradations() -> dict[str, tuple[str, object]]:
    """Sample name → (label, operator): the auto set's five and two kinds of camera noise."""
    ops = {task: (task, op) for task, op in auto_degradations().items()}
    ops["camera-noise"] = ("denoise", get_pipeline("camera"))
    ops["camera-noise-isp"] = ("denoise", get_pipeline("camera-isp"))
    return ops


def stored(x: np.ndarray) -> np.ndarray:
    """[0, 1] float → as an 8-bit photo, back on [0, 1]."""
    return (np.clip(np.rint(np.asarray(x, np.float64) * 255), 0, 255) / 255).astype(np.float32)


def photo_features(method, pixels: np.ndarray) -> np.ndarray:
    """(views, F) features of one photo: each view's embedding with the photo's noise features."""
    small = method.context_input(pixels)
    noise = noise_features(pixels)
    views = [small] + [np.ascontiguousarray(pixels[t : t + h, l : l + w]) for t, l, h, w in view_windows(small, pixels)]
    return np.stack([np.concatenate([method.describe(v)["embedding"].cpu().numpy()[0], noise]) for v in views])


def synthetic(method, files: list[Path], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    feats, labels = [], []
    ops = degradations()
    for f in files:
        clean = read_rgb8(f)
        h, w = clean.shape[:2]
        c = min(AUTO_CROP, h, w)
        y0, x0 = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        crop = clean[y0 : y0 + c, x0 : x0 + c].astype(np.float32) / 255
        for label, op in ops.values():
            feats.append(photo_features(method, stored(op(crop, rng)))[0])
            labels.append(RESTORE_TASKS.index(label))
    return np.stack(feats), np.array(labels)


def real_noisy(method, folder: Path) -> list[np.ndarray]:
    """Per photo, its (views, F) features."""
    return [photo_features(method, read_image(p).pixels[..., :3]) for p in sorted(folder.glob("*.png"))]


def fit_head(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray, penalty: float, prior: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, ...]:
    """Weighted multinomial logistic regression on standardised features (L-BFGS); (mean, scale, W, b) of
    ``softmax(W · (x − mean) / scale + b)``.

    ``prior``: the detector's own classifier ``(W_c, b_c)`` on the first ``W_c.shape[1]`` features (the
    embedding). The head then learns a correction to the classifier's logits, and the L2 penalty pulls it back to
    the classifier, not to chance: with few samples per class it keeps what the classifier learned from many. The
    classifier is folded into the returned (W, b), so the head's form is the same.
    """
    x = np.asarray(x, np.float64)
    mean, scale = x.mean(0), x.std(0) + 1e-6
    z = torch.from_numpy((x - mean) / scale)
    t = torch.from_numpy(np.asarray(y, np.int64))
    wt = torch.from_numpy(np.asarray(weight, np.float64) / np.mean(weight))
    classes = len(RESTORE_TASKS)
    prior_w = np.zeros((classes, x.shape[1]))
    prior_b = np.zeros(classes)
    if prior is not None:
        prior_w[:, : prior[0].shape[1]], prior_b = prior[0], np.asarray(prior[1], np.float64)
    offset = torch.from_numpy(x @ prior_w.T + prior_b)
    w = torch.zeros(classes, x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = z @ w.T + b + offset
        loss = (torch.nn.functional.cross_entropy(logits, t, reduction="none") * wt).mean() + penalty * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    # W z + b + W_c x + b_c = (W + W_c · scale) z + (b + b_c + W_c · mean)
    return mean, scale, w.detach().numpy() + prior_w * scale, b.detach().numpy() + prior_b + prior_w @ mean


def classifier_of(method) -> tuple[np.ndarray, np.ndarray]:
    """The all-in-one network's linear classifier on its embedding: (W_c, b_c)."""
    layer = method.module.classify
    return layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()


def photo_tasks(head: RoutingHead, photos: list[np.ndarray]) -> list[str]:
    """Each photo's routed task: the most probable after averaging its views' probabilities."""
    return [head.tasks[int(np.argmax(head.probabilities(v).mean(0)))] for v in photos]


def training_photos(train_files: list[Path], cfg: TrainConfig, rng: np.random.Generator) -> list[Path]:
    chosen = []
    for s in cfg.data.sets:
        own = [f for f in train_files if f.parent.name == Path(s.dir).name]
        chosen += [own[i] for i in sorted(rng.choice(len(own), PHOTOS_PER_SET[s.dir], replace=False))]
    return chosen


def measured_features(method, cache: Path | None) -> dict[str, object]:
    """Every sample's features (minutes of detector passes), read from ``cache`` when it holds them for this
    detector: a plain .npz of arrays (no pickles)."""
    if cache is not None and cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            if str(z["detector_sha256"]) == file_sha256(Path(get_spec(detector_name()).path)):
                return {
                    "x_syn": z["x_syn"],
                    "y_syn": z["y_syn"],
                    "x_val": z["x_val"],
                    "y_val": z["y_val"],
                    "dnd": np.split(z["dnd"], z["dnd_splits"]),
                    "cc52": np.split(z["cc52"], z["cc52_splits"]),
                }
    data = data_dir()
    cfg = TrainConfig.model_validate(yaml.safe_load(SETS_CONFIG.read_text()))
    train_files, val_files = split_train_val(cfg.data)
    rng = np.random.default_rng(SEED)
    chosen = training_photos(train_files, cfg, rng)
    x_syn, y_syn = synthetic(method, chosen, rng)
    x_val, y_val = synthetic(method, val_files[::2], np.random.default_rng(SEED + 1))
    dnd = real_noisy(method, data / "real-noisy" / "DND32")
    cc52 = real_noisy(method, data / "real" / "CC52" / "noisy")
    if cache is not None:
        splits = {k: np.cumsum([len(v) for v in views])[:-1] for k, views in (("dnd", dnd), ("cc52", cc52))}
        np.savez(
            cache,
            x_syn=x_syn,
            y_syn=y_syn,
            x_val=x_val,
            y_val=y_val,
            dnd=np.concatenate(dnd),
            dnd_splits=splits["dnd"],
            cc52=np.concatenate(cc52),
            cc52_splits=splits["cc52"],
            detector_sha256=file_sha256(Path(get_spec(detector_name()).path)),
        )
    return {"x_syn": x_syn, "y_syn": y_syn, "x_val": x_val, "y_val": y_val, "dnd": dnd, "cc52": cc52}


def main(argv: list[str]) -> int:
    """``[OUT.json] [FEATURES.npz]``: where the head is written (default: the shipped routing.json) and an
    optional cache of the measured features."""
    torch.set_num_threads(1)
    detector = detector_name()
    method = get_method(detector, "cpu", "torch")
    started = time.perf_counter()
    f = measured_features(method, Path(argv[1]) if len(argv) > 1 else None)
    x_syn, y_syn, x_val, y_val, dnd, cc52 = (f[k] for k in ("x_syn", "y_syn", "x_val", "y_val", "dnd", "cc52"))
    chosen_count = sum(PHOTOS_PER_SET.values())
    print(
        f"features: {len(y_syn)} training crops, {len(y_val)} held-out crops, {len(dnd)} DND32, {len(cc52)} CC52 "
        f"photos ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    denoise = RESTORE_TASKS.index("denoise")
    prior = classifier_of(method)
    sha = file_sha256(Path(get_spec(detector).path))

    def accuracy(head: RoutingHead) -> float:
        return float(np.mean(head.probabilities(x_val).argmax(1) == y_val))

    # The detector's classifier alone on the same held-out crops: the head may not do worse.
    alone = RoutingHead(
        tuple(RESTORE_TASKS),
        np.zeros(x_syn.shape[1]),
        np.ones(x_syn.shape[1]),
        np.pad(prior[0], ((0, 0), (0, len(NOISE_FEATURES)))),
        prior[1],
        sha,
        {},
    )
    baseline = {
        "held_out_synthetic": round(accuracy(alone), 4),
        "cc52_to_denoise": round(float(np.mean([t == "denoise" for t in photo_tasks(alone, cc52)])), 4),
        "dnd32_to_denoise": round(float(np.mean([t == "denoise" for t in photo_tasks(alone, dnd)])), 4),
    }
    print("classifier alone:", json.dumps(baseline), flush=True)

    def head_from(dnd_part: list[np.ndarray], penalty: float, real_weight: float) -> RoutingHead:
        xr = np.concatenate(dnd_part) if dnd_part else np.zeros((0, x_syn.shape[1]))
        x = np.concatenate([x_syn, xr])
        y = np.concatenate([y_syn, np.full(len(xr), denoise)])
        wt = np.concatenate([np.ones(len(y_syn)), np.full(len(xr), real_weight)])
        mean, scale, w, b = fit_head(x, y, wt, penalty, prior)
        return RoutingHead(tuple(RESTORE_TASKS), mean, scale, w, b, sha, {})

    folds = [list(range(i, len(dnd), 4)) for i in range(4)]
    results = []
    for penalty in PENALTIES:
        for real_weight in REAL_WEIGHTS:
            head = head_from(dnd, penalty, real_weight)
            cc = float(np.mean([t == "denoise" for t in photo_tasks(head, cc52)]))
            cv = []
            for fold in folds:
                part = head_from([d for i, d in enumerate(dnd) if i not in fold], penalty, real_weight)
                cv += [t == "denoise" for t in photo_tasks(part, [dnd[i] for i in fold])]
            row = {
                "penalty": penalty,
                "real_weight": real_weight,
                "held_out_synthetic": round(accuracy(head), 4),
                "cc52_to_denoise": round(cc, 4),
                "dnd32_to_denoise_cv": round(float(np.mean(cv)), 4),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    # Choose: the most CC52 photos to denoise while the held-out synthetic accuracy is at least the classifier's
    # own, then the most DND32 photos (cross-validated), then the best held-out synthetic accuracy.
    ok = [r for r in results if r["held_out_synthetic"] >= baseline["held_out_synthetic"]] or results
    best = max(ok, key=lambda r: (r["cc52_to_denoise"], r["dnd32_to_denoise_cv"], r["held_out_synthetic"]))
    head = head_from(dnd, best["penalty"], best["real_weight"])
    card = {
        "summary": "routing head of --task auto: all-in-one embedding + noise measurements → degradation type",
        "detector": detector,
        "features": f"embedding ({x_syn.shape[1] - len(NOISE_FEATURES)}) + {', '.join(NOISE_FEATURES)}",
        "training": f"{len(y_syn)} crops of {chosen_count} training photos (auto set's degradations + camera "
        f"noise) and {sum(len(d) for d in dnd)} views of real-noisy/DND32",
        "chosen": best,
        "classifier_alone": baseline,
        "grid": results,
        "fitted": time.strftime("%Y-%m-%d"),
    }
    head = RoutingHead(head.tasks, head.mean, head.scale, head.weight, head.bias, sha, card)
    out = Path(argv[0]) if argv else ROUTING_PATH
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(head.to_json() + "\n")
    tmp.replace(out)
    print(f"wrote {out}: {json.dumps(best)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
