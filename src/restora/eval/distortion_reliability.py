"""Is the classifier reliable under this distortion level? A *distortion classifier* with Gaussian-process rebalancing.

After the idea of arXiv 2412.16881: a classifier is *reliable* under a distortion level when its accuracy on
images so distorted is at least a chosen threshold τ. Each training example is one distortion level, described
by label-free features of its images (:func:`level_features`: mean estimated noise σ, share of saturated
pixels, sharpness, brightness, blockiness), labelled reliable or not from measured accuracy. Such a training set
is imbalanced (most levels are reliable, or most are not), so before fitting it is rebalanced
(:func:`gp_rebalance`): a Gaussian process is fitted to accuracy over the features, new feature points are drawn
between pairs of minority levels, and each is kept, labelled as the minority, only where the process's
posterior puts its accuracy on the minority side of τ with confidence (mean more than ``z`` standard deviations
beyond τ). The distortion classifier is a logistic regression on standardised features
(:class:`DistortionClassifier`).

>>> x = np.linspace(0, 1, 20)[:, None]
>>> gp = GaussianProcess(length=0.3, noise=1e-3).fit(x, np.sin(3 * x[:, 0]))
>>> bool(abs(gp.predict(np.array([[0.5]]))[0][0] - np.sin(1.5)) < 0.01)
True
"""

from __future__ import annotations

import numpy as np

FEATURES = ("sigma", "saturated", "sharpness", "brightness", "blockiness")


def image_features(image: np.ndarray) -> np.ndarray:
    """Label-free features of one (H, W, 3) float [0, 1] image, in :data:`FEATURES` order."""
    import cv2

    from restora.engine.noise import estimate_sigma

    x = np.asarray(image, np.float32)
    grey = x.mean(axis=2)
    saturated = float(np.mean((x <= 1 / 255) | (x >= 254 / 255)))
    sharpness = float(np.log1p(cv2.Laplacian(grey * 255, cv2.CV_32F).var()))
    # 8×8 block edges against the other columns: JPEG's grid.
    d = np.abs(np.diff(grey * 255, axis=1))
    on_grid = d[:, 7::8].mean() if d.shape[1] > 8 else 0.0
    blockiness = float(np.log((on_grid + 1e-3) / (d.mean() + 1e-3)))
    return np.array(
        [float(np.mean(estimate_sigma(x, max_patches=2000))), saturated, sharpness, float(grey.mean()), blockiness]
    )


def level_features(images: list[np.ndarray]) -> np.ndarray:
    """One distortion level's features: the mean of its images' :func:`image_features`."""
    return np.mean([image_features(im) for im in images], axis=0)


class GaussianProcess:
    """GP regression with a squared-exponential kernel on standardised inputs (fixed length scale and noise)."""

    def __init__(self, length: float = 1.0, noise: float = 1e-2):
        self.length, self.noise = float(length), float(noise)

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return np.exp(-0.5 * d2 / self.length**2)

    def fit(self, x: np.ndarray, y: np.ndarray) -> GaussianProcess:
        self.x = np.asarray(x, float)
        self.mean = float(np.mean(y))
        k = self._kernel(self.x, self.x) + self.noise * np.eye(len(self.x))
        self.chol = np.linalg.cholesky(k)
        self.alpha = np.linalg.solve(self.chol.T, np.linalg.solve(self.chol, np.asarray(y, float) - self.mean))
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation at ``x``."""
        ks = self._kernel(np.asarray(x, float), self.x)
        v = np.linalg.solve(self.chol, ks.T)
        var = np.clip(1.0 - (v**2).sum(0), 1e-12, None)
        return self.mean + ks @ self.alpha, np.sqrt(var)


def _standardise(x: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (x - centre) / scale


def gp_rebalance(
    x: np.ndarray, accuracy: np.ndarray, threshold: float, z: float = 1.0, seed: int = 0, tries: int = 50
) -> tuple[np.ndarray, np.ndarray]:
    """(features, reliable labels) with minority levels added until the classes balance (or ``tries`` × the
    shortfall candidates are spent). ``x``: (N, F) level features, ``accuracy``: (N,) measured accuracies."""
    x = np.asarray(x, float)
    accuracy = np.asarray(accuracy, float)
    labels = accuracy >= threshold
    minority = bool(labels.sum() * 2 < len(labels))  # the label that is rarer
    members = x[labels == minority]
    shortfall = len(labels) - 2 * len(members)
    if shortfall <= 0 or len(members) < 2:
        return x, labels
    centre, scale = x.mean(0), x.std(0) + 1e-9
    gp = GaussianProcess(length=1.0, noise=1e-3).fit(_standardise(x, centre, scale), accuracy)
    rng = np.random.default_rng(seed)
    added = []
    for _ in range(tries * shortfall):
        if len(added) >= shortfall:
            break
        i, j = rng.choice(len(members), 2, replace=False)
        candidate = members[i] + rng.uniform(0, 1) * (members[j] - members[i])
        mean, sd = gp.predict(_standardise(candidate[None], centre, scale))
        margin = (mean[0] - threshold) if minority else (threshold - mean[0])
        if margin > z * sd[0]:
            added.append(candidate)
    if not added:
        return x, labels
    return np.vstack([x, added]), np.concatenate([labels, np.full(len(added), minority)])


class DistortionClassifier:
    """Logistic regression (L2, gradient descent) on standardised level features: reliable or not."""

    def __init__(self, l2: float = 1e-2, steps: int = 3000, rate: float = 0.5):
        self.l2, self.steps, self.rate = l2, steps, rate

    def fit(self, x: np.ndarray, reliable: np.ndarray) -> DistortionClassifier:
        x = np.asarray(x, float)
        self.centre, self.scale = x.mean(0), x.std(0) + 1e-9
        a = np.hstack([_standardise(x, self.centre, self.scale), np.ones((len(x), 1))])
        t = np.asarray(reliable, float)
        w = np.zeros(a.shape[1])
        for _ in range(self.steps):
            p = 1 / (1 + np.exp(-a @ w))
            w -= self.rate * (a.T @ (p - t) / len(t) + self.l2 * np.r_[w[:-1], 0.0])
        self.weights = w
        return self

    def probability(self, x: np.ndarray) -> np.ndarray:
        a = np.hstack([_standardise(np.atleast_2d(x), self.centre, self.scale), np.ones((len(np.atleast_2d(x)), 1))])
        return 1 / (1 + np.exp(-a @ self.weights))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.probability(x) >= 0.5


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean of the recall of each class present (the score for imbalanced labels).

    >>> balanced_accuracy(np.array([1, 1, 1, 0]), np.array([1, 1, 1, 1]))
    0.5
    """
    truth, predicted = np.asarray(truth, bool), np.asarray(predicted, bool)
    return float(np.mean([np.mean(predicted[truth == c] == c) for c in (False, True) if np.any(truth == c)]))


def classify_like(image: np.ndarray) -> np.ndarray:
    """A photo made to look like the classify set's: short side 224 (area), centre crop 224², JPEG quality 75."""
    import cv2

    x = np.asarray(image)
    h, w = x.shape[:2]
    s = 224 / min(h, w)
    x = cv2.resize(x, (max(224, round(w * s)), max(224, round(h * s))), interpolation=cv2.INTER_AREA)
    top, left = (x.shape[0] - 224) // 2, (x.shape[1] - 224) // 2
    x = np.ascontiguousarray(x[top : top + 224, left : left + 224])
    ok, data = cv2.imencode(".jpg", x[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 75])
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


def training_levels():
    """(name, operator) of the distortion levels the distortion classifier is fitted on (denser than the bench's)."""
    from restora.degrade import JPEG, Compose, GaussianBlur, GaussianNoise, get_pipeline

    out = [(f"gaussian-{s}", GaussianNoise(sigma=(s, s))) for s in (5, 10, 20, 30, 40, 60, 80)]
    out += [(f"salt-pepper-{p}", get_pipeline(f"salt-pepper-{p}")) for p in (5, 10, 20)]
    out += [(f"jpeg-{q}", JPEG(quality=(q, q))) for q in (5, 8, 15, 40)]
    out += [(f"blur-{b}", Compose([GaussianBlur(sigma=(b, b))])) for b in (0.8, 1.5, 2.5, 3.5)]
    out += [("camera", get_pipeline("camera")), ("lowlight", get_pipeline("lowlight-dark"))]
    return out


def agreement_levels(classifier, clean: list[np.ndarray], levels, classes=None, log=print) -> list[dict]:
    """Per level: its features and the share of images whose predicted class is the clean image's (label-free
    accuracy: no labels are needed, so any photos can be used)."""
    reference = classifier.predict(clean, classes)
    rows = []
    for name, op in levels:
        rng = np.random.default_rng(0)
        images = [np.rint(np.clip(op(x, rng), 0, 1) * 255).astype(np.float32) / 255.0 for x in clean]
        predicted = np.concatenate([classifier.predict(images[i : i + 25], classes) for i in range(0, len(images), 25)])
        rows.append(
            {
                "level": name,
                "features": level_features(images).tolist(),
                "accuracy": float(np.mean(predicted == reference)),
            }
        )
        log(f"  {name}: agreement {rows[-1]['accuracy']:.3f}")
    return rows


def run_distortion_reliability(data, threshold: float, per_set: int, limit: int, log=print) -> dict:
    """Fit on held-out ``train/`` photos (the last ``per_set`` of CBSD432, Urban100, DreamBooth158, made
    classify-like), with and without rebalancing; report on ``classify/imagenette-val500`` (first ``limit``)."""
    from pathlib import Path

    from restora.eval.classifier import Classifier
    from restora.eval.classify_bench import _degradations, load_set
    from restora.eval.datasets import read_rgb8
    from restora.eval.noise_type_bench import IMAGE_SUFFIXES, SETS

    data = Path(data)
    files = []
    for name in SETS:
        folder = data / "train" / name
        files += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[-per_set:]
    classifier = Classifier("cpu")
    log(f"fitting levels on {len(files)} held-out train/ photos")
    train = agreement_levels(classifier, [classify_like(read_rgb8(p)) for p in files], training_levels(), log=log)
    x = np.array([r["features"] for r in train])
    acc = np.array([r["accuracy"] for r in train])
    xb, yb = gp_rebalance(x, acc, threshold)
    plain, rebalanced = DistortionClassifier().fit(x, acc >= threshold), DistortionClassifier().fit(xb, yb)
    paths, _, _ = load_set(data, limit)
    log(f"reporting on {len(paths)} classify images")
    levels = [(name, d.make()) for name, d in _degradations().items()]
    report = agreement_levels(classifier, [read_rgb8(p).astype(np.float32) / 255.0 for p in paths], levels, log=log)
    xr = np.array([r["features"] for r in report])
    truth = np.array([r["accuracy"] >= threshold for r in report])
    for r, p0, p1 in zip(report, plain.predict(xr), rebalanced.predict(xr)):
        r.update(reliable=bool(r["accuracy"] >= threshold), plain=bool(p0), rebalanced=bool(p1))
    return {
        "threshold": threshold,
        "train_images": len(files),
        "train_levels": len(train),
        "train_reliable": int(np.sum(acc >= threshold)),
        "added_by_rebalancing": int(len(yb) - len(acc)),
        "train": train,
        "report_images": len(paths),
        "report": report,
        "balanced_accuracy": {
            "plain": balanced_accuracy(truth, plain.predict(xr)),
            "rebalanced": balanced_accuracy(truth, rebalanced.predict(xr)),
        },
    }


def write_reliability_markdown(path, payload: dict) -> None:
    lines = [
        f"# Distortion classifier: is the classifier's agreement with its clean prediction ≥ "
        f"{payload['threshold']:.2f}?",
        "",
        f"`{payload['command']}`",
        "",
        f"{payload['date']}, {payload['machine']}",
        "",
        f"Fitted on {payload['train_levels']} levels × {payload['train_images']} held-out train/ photos "
        f"({payload['train_reliable']} reliable); rebalancing added {payload['added_by_rebalancing']} levels.",
        "",
        f"Reported on {payload['report_images']} classify images: balanced accuracy plain "
        f"{payload['balanced_accuracy']['plain']:.2f}, GP-rebalanced {payload['balanced_accuracy']['rebalanced']:.2f}.",
        "",
        "| level | agreement | reliable | plain | rebalanced |",
        "|---|---:|---|---|---|",
    ]
    for r in payload["report"]:
        lines.append(f"| {r['level']} | {r['accuracy']:.3f} | {r['reliable']} | {r['plain']} | {r['rebalanced']} |")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
