"""``restora bench --task classify``: what restoration does for a classifier (accuracy clean, degraded, restored).

Set: ``classify/imagenette-val500`` (reporting only: nothing is chosen on it): ``<wnid>/*.JPEG`` with
``classes.tsv`` mapping each wnid to its ImageNet-1k index. Images are visited class by class in turn (the first
image of every class, then the second, …; sorted names), so ``--limit N`` keeps the classes balanced.
Classifier: :class:`restora.eval.classifier.Classifier` (EfficientNet-Lite0, ImageNet weights); an image is
right when, of the set's 10 classes, its true one has the largest logit.

Degradations (``--degradations``, names of :data:`DEGRADATIONS`): one generator
``numpy.random.default_rng(0)`` per degradation, the images in the order above; the degraded image is clipped and
rounded to 8 bits (a stored photo) before the classifier or any method sees it.
Methods (``--methods``): ``ours`` (``restora denoise``'s default route: noise-kind detection, then the denoiser,
the switching median or the notch filter; for ``blur`` and ``lowlight``, ``restora restore --task auto``),
``ffdnet``, ``bm3d``, ``nlm`` (told σ for Gaussian noise, else the estimated σ) and ``median`` (3×3 median).
``denoiserep`` restores nothing: the degraded image goes to the classifier with its denoising layers folded in
(:class:`restora.eval.classifier.DenoisedClassifier`, the same cost); ``ours+denoiserep`` gives that classifier
``ours``'s restoration.

*Accuracy recovered* = (restored − degraded) / (clean − degraded), per degradation and method (undefined when
the degradation costs nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

SET = "classify/imagenette-val500"
SEED = 0
DEFAULT_METHODS = "ours,ffdnet,bm3d,nlm,median"
METHODS = ("ours", "ffdnet", "bm3d", "nlm", "median", "denoiserep", "ours+denoiserep")
DENOISED = "denoiserep"  # the suffix or name of a method that classifies with the denoised classifier


@dataclass(frozen=True)
class ClassifyDegradation:
    name: str
    family: str  # plotted against ``strength``: gaussian (σ), salt-pepper (%), jpeg (quality), or the name
    strength: float | None
    sigma: float | None  # the true σ told to peers (Gaussian noise only)
    make: Callable[[], object]


def _degradations() -> dict[str, ClassifyDegradation]:
    from restora.degrade import JPEG, Compose, GaussianBlur, GaussianNoise, get_pipeline

    out = {}
    for s in (15, 25, 50):
        out[f"gaussian-{s}"] = ClassifyDegradation(
            f"gaussian-{s}", "gaussian", s, s, lambda s=s: GaussianNoise(sigma=(s, s))
        )
    out["camera"] = ClassifyDegradation("camera", "camera", None, None, lambda: get_pipeline("camera"))
    for p in (5, 10, 20):
        out[f"salt-pepper-{p}"] = ClassifyDegradation(
            f"salt-pepper-{p}", "salt-pepper", p, None, lambda p=p: get_pipeline(f"salt-pepper-{p}")
        )
    out["periodic"] = ClassifyDegradation("periodic", "periodic", None, None, lambda: get_pipeline("periodic"))
    for q in (10, 20, 30):
        out[f"jpeg-{q}"] = ClassifyDegradation(f"jpeg-{q}", "jpeg", q, None, lambda q=q: JPEG(quality=(q, q)))
    out["blur"] = ClassifyDegradation("blur", "blur", None, None, lambda: Compose([GaussianBlur(sigma=(2.0, 2.0))]))
    out["lowlight"] = ClassifyDegradation("lowlight", "lowlight", None, None, lambda: get_pipeline("lowlight-dark"))
    return out


DEGRADATIONS = tuple(_degradations())


def accuracy_recovered(clean: float, degraded: float, restored: float) -> float | None:
    """(restored − degraded) / (clean − degraded); None when the degradation costs nothing.

    >>> accuracy_recovered(0.99, 0.87, 0.96)
    0.75
    """
    lost = clean - degraded
    if abs(lost) < 1e-12:
        return None
    return round((restored - degraded) / lost, 10)


def load_set(data: Path, limit: int | None = None) -> tuple[list[Path], list[int], list[int]]:
    """(image paths, true ImageNet index per image, the set's ImageNet indices) in the module's order."""
    from restora.errors import RestoraError

    root = data / SET
    table = root / "classes.tsv"
    if not table.is_file():
        raise RestoraError(f"classification set not found: {table}")
    lines = [line.split("\t") for line in table.read_text().splitlines()[1:] if line.strip()]
    index = {wnid: int(idx) for wnid, _, idx in lines}
    per_class = {
        w: sorted(p for p in (root / w).iterdir() if p.is_file()) for w in sorted(index) if (root / w).is_dir()
    }
    order: list[tuple[Path, int]] = []
    for k in range(max((len(v) for v in per_class.values()), default=0)):
        order += [(files[k], index[w]) for w, files in per_class.items() if k < len(files)]
    order = order[:limit] if limit else order
    return [p for p, _ in order], [i for _, i in order], sorted(index.values())


def _median3(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.medianBlur(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8), 3).astype(np.float32) / 255.0


def restore_with(method: str, degraded: np.ndarray, degradation: ClassifyDegradation, device: str) -> np.ndarray:
    """One method's restoration of one degraded image (float32 [0, 1])."""
    from restora.engine import run_restore

    method = method.removesuffix(f"+{DENOISED}")
    if method == DENOISED:
        return degraded
    if method == "median":
        return _median3(degraded)
    if method == "ours":
        task = "auto" if degradation.family in ("blur", "lowlight") else "denoise"
        return run_restore(degraded, task=task, device=device).image.pixels
    sigma = degradation.sigma if degradation.sigma is not None else "auto"
    return run_restore(degraded, task="denoise", model=method, sigma=sigma, device=device).image.pixels


@cache
def method_fingerprint(method: str) -> str:
    """A fingerprint that changes whenever ``method``'s restorations could (its code, library and weights)."""
    import hashlib
    import inspect

    h = hashlib.sha256(inspect.getsource(restore_with).encode())
    if method.endswith(DENOISED):  # the layers are in the classifier's fingerprint; add the restoration's
        base = method.removesuffix(DENOISED).removesuffix("+")
        if base:
            h.update(method_fingerprint(base).encode())
        return h.hexdigest()[:16]
    if method == "median":
        import cv2

        h.update(inspect.getsource(_median3).encode() + cv2.__version__.encode())
    elif method == "ours":
        import restora

        root = Path(restora.__file__).parent
        for path in sorted(
            [
                *(root / "engine").rglob("*.py"),
                *(root / "models").rglob("*.py"),
                *(root / "weights").glob("*.safetensors"),
            ]
        ):
            h.update(path.name.encode() + path.read_bytes())
    else:
        from restora.eval.peers import method_version

        h.update(method_version(method).encode())
    return h.hexdigest()[:16]


def _image_key(version: str, image: np.ndarray) -> str:
    import hashlib

    h = hashlib.sha256(version.encode())
    h.update(np.ascontiguousarray(image, dtype=np.float32).tobytes())
    return h.hexdigest()[:24]


def run_classify(
    data: Path,
    degradations: list[str],
    methods: list[str],
    limit: int | None,
    device: str = "auto",
    log=print,
    cache_dir: Path | None = None,
) -> dict:
    """Accuracies (clean, per degradation, per degradation and method) and the accuracy recovered.

    With ``cache_dir``, every image's predicted class is stored in ``<cache_dir>/<method>-imagenette-val500-
    <degradation>.json`` (``classifier`` for the clean and degraded images), keyed by the method's and the
    classifier's fingerprints and the input image, so an interrupted or larger run reuses what was done.
    """
    from restora.eval.classifier import Classifier, DenoisedClassifier
    from restora.eval.datasets import read_rgb8
    from restora.eval.runner import ScoreCache

    table = _degradations()
    paths, labels, classes = load_set(data, limit)
    plain = Classifier(device)
    denoised = DenoisedClassifier(device) if any(m.endswith(DENOISED) for m in methods) else None
    labels_a = np.asarray(labels)
    clean_images = [read_rgb8(p).astype(np.float32) / 255.0 for p in paths]
    set_name = SET.split("/")[-1]

    def accuracy(who: str, tag: str, images, restore=None) -> float:
        cache = ScoreCache(cache_dir, who, set_name, tag)
        classifier = denoised if denoised is not None and who.endswith(DENOISED) else plain
        version = classifier.fingerprint() + (method_fingerprint(who) if restore is not None else "")
        predicted = []
        for path, image in zip(paths, images):
            key = _image_key(version, image)
            hit = cache.get(key)
            if hit is None:
                x = image if restore is None else restore(image)
                hit = {
                    "image": f"{path.parent.name}/{path.name}",
                    "predicted": int(classifier.predict([x], classes)[0]),
                }
                cache.put(key, hit)
            predicted.append(hit["predicted"])
        return float(np.mean(np.asarray(predicted) == labels_a))

    restored: dict[tuple[str, int], np.ndarray] = {}

    def restore_once(x: np.ndarray, method: str, d: ClassifyDegradation) -> np.ndarray:
        key = (method.removesuffix(f"+{DENOISED}"), id(x))
        if key not in restored:
            restored[key] = restore_with(method, x, d, device)
        return restored[key]

    clean_acc = accuracy("classifier", "clean", clean_images)
    log(f"clean: {100 * clean_acc:.1f} % ({len(paths)} images)")
    rows = []
    for name in degradations:
        d = table[name]
        op, rng = d.make(), np.random.default_rng(SEED)
        degraded = [np.rint(np.clip(op(im, rng), 0, 1) * 255).astype(np.float32) / 255.0 for im in clean_images]
        deg_acc = accuracy("classifier", name, degraded)
        row = {"degradation": name, "family": d.family, "strength": d.strength, "degraded": deg_acc, "methods": {}}
        log(f"{name}: degraded {100 * deg_acc:.1f} %")
        restored.clear()  # `ours` and `ours+denoiserep` share one restoration of each image
        for method in methods:
            acc = accuracy(method, name, degraded, lambda x, m=method, d=d: restore_once(x, m, d))
            row["methods"][method] = {"accuracy": acc, "recovered": accuracy_recovered(clean_acc, deg_acc, acc)}
            rec = row["methods"][method]["recovered"]
            log(f"  {method}: {100 * acc:.1f} %" + ("" if rec is None else f", recovered {100 * rec:.0f} %"))
        rows.append(row)
    return {"set": SET, "n_images": len(paths), "clean": clean_acc, "rows": rows, "methods": methods}


def write_classify_markdown(path: Path, payload: dict) -> None:
    methods = payload["methods"]
    lines = [
        f"# Classifier accuracy clean, degraded and restored ({payload['set']}, {payload['n_images']} images)",
        "",
        f"`{payload['command']}`",
        "",
        f"{payload['date']}, {payload['machine']}",
        "",
        f"Clean accuracy: {100 * payload['clean']:.1f} %. Cells: accuracy (accuracy recovered).",
        "",
        "| degradation | degraded | " + " | ".join(methods) + " |",
        "|---" * (len(methods) + 2) + "|",
    ]
    for r in payload["rows"]:
        cells = []
        for m in methods:
            v = r["methods"][m]
            rec = "" if v["recovered"] is None else f" ({100 * v['recovered']:.0f} %)"
            cells.append(f"{100 * v['accuracy']:.1f}{rec}")
        lines.append(f"| {r['degradation']} | {100 * r['degraded']:.1f} | " + " | ".join(cells) + " |")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


def plot_accuracy(path: Path, payload: dict) -> bool:
    """Accuracy against degradation strength, one panel per family with levels (Gaussian σ, salt-and-pepper %,
    JPEG quality): degraded and each method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = [f for f in ("gaussian", "salt-pepper", "jpeg") if sum(r["family"] == f for r in payload["rows"]) >= 1]
    if not families:
        return False
    fig, axes = plt.subplots(1, len(families), figsize=(4.5 * len(families), 3.6), squeeze=False)
    labels = {"gaussian": "Gaussian σ", "salt-pepper": "salt-and-pepper %", "jpeg": "JPEG quality"}
    for ax, fam in zip(axes[0], families):
        rows = sorted((r for r in payload["rows"] if r["family"] == fam), key=lambda r: r["strength"])
        xs = [r["strength"] for r in rows]
        ax.plot(xs, [100 * r["degraded"] for r in rows], "k--o", label="degraded")
        for m in payload["methods"]:
            ax.plot(xs, [100 * r["methods"][m]["accuracy"] for r in rows], "-o", label=m)
        ax.axhline(100 * payload["clean"], color="grey", lw=0.8, label="clean")
        ax.set_xlabel(labels[fam])
        ax.set_ylabel("top-1 accuracy over 10 classes (%)")
        if fam == "jpeg":
            ax.invert_xaxis()
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return True
