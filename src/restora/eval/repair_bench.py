"""``restora bench --task repair``: old-photo damage repair on clean sets with synthetic damage.

Each image of each set (sorted order) is aged and damaged (:func:`restora.degrade.damage.age_photo`,
:mod:`restora.degrade.damage`) with the seed ``[0, set index, image index, hole kind]``, once per hole kind:
``thin`` (scratches and dust), ``crease`` (folds) and ``large`` (blotches and torn corners). Every method fills
the same true mask; scores inside the holes: PSNR (8-bit RGB, of the squared error pooled over every hole pixel of
the group: :func:`restora.eval.metrics.pooled_psnr`), SSIM and the feature distance (EfficientNet-
Lite0 features at blocks :data:`FEATURE_BLOCKS`, squared error relative to the clean image's, averaged over the
blocks; lower is better). Automatic repair (the damage detector's mask, then the fast fill) is scored on the whole
image against the clean one, beside the damaged input, with the detector's pixel F1. Speed: megapixels per second
of each fill, measured in the same run (Telea is the peer).

``restora bench --task repair-auto`` (:func:`bench_repair_auto`): whether ``--task auto`` sends old-photo damage
to repair and nothing else. Each image (sorted order) gives a seeded :data:`ROUTE_CROP`² crop (seed
``[0, set index, image index]``) and its routing samples (:func:`routing_samples`): aged and damaged once per
hole kind (should go to repair), and clean, aged, and each of the auto set's five degradations (should not);
each is routed by :func:`restora.engine.detect.detect` as ``restora restore --task auto`` routes it.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

HOLE_KINDS = ("thin", "crease", "large")
DEFAULT_METHODS = ("telea", "ns", "fast", "resshift")
DEFAULT_SETS = ("test/Kodak24",)
FEATURE_BLOCKS = (2, 4, 10)
CROP = 384  # centre crop of each image (px): enough for large holes, quick on the CPU
ROUTE_CROP = 512  # repair-auto: crop of each image (px), downscaled 2× for the detector as a larger photo is
NOT_DAMAGED = ("clean", "aged", "denoise", "deblur", "derain", "dehaze", "lowlight")  # the auto set's five last


def damage_of(kind: str):
    from restora.degrade.damage import Crease, RandomDamage, damage_kind

    return RandomDamage([Crease()], [1.0]) if kind == "crease" else damage_kind(kind)


def bench_cases(folder: Path, set_index: int, limit: int | None, crop: int = CROP):
    """(name, kind, clean, damaged, mask) for each image of ``folder`` and hole kind, seeded."""
    from restora.degrade.damage import age_photo
    from restora.eval.datasets import _images, read_rgb8

    for i, f in enumerate(_images(folder)[:limit]):
        im = read_rgb8(f)
        c = min(crop, *im.shape[:2])
        y, x = (im.shape[0] - c) // 2, (im.shape[1] - c) // 2
        base = np.ascontiguousarray(im[y : y + c, x : x + c], np.float32) / 255.0
        for k, kind in enumerate(HOLE_KINDS):
            rng = np.random.default_rng([0, set_index, i, k])
            clean = age_photo(base, rng)
            damaged, mask = damage_of(kind).damage(clean, rng)
            yield f.name, kind, clean, damaged, mask


def stored(x: np.ndarray) -> np.ndarray:
    """[0, 1] float → as an 8-bit photo, back on [0, 1]."""
    return (np.clip(np.rint(np.asarray(x, np.float64) * 255), 0, 255) / 255).astype(np.float32)


def routing_samples(clean: np.ndarray, rng: np.random.Generator):
    """(kind, is damaged, photo) of one clean photo, stored as 8-bit: aged and damaged once per hole kind, then the
    clean photo, the aged one and the auto set's five degradations (:data:`NOT_DAMAGED`)."""
    from restora.degrade.damage import age_photo
    from restora.eval.task_sets import auto_degradations

    for kind in HOLE_KINDS:
        damaged, _ = damage_of(kind).damage(age_photo(clean, rng), rng)
        yield kind, True, stored(damaged)
    yield "clean", False, stored(clean)
    yield "aged", False, stored(age_photo(clean, rng))
    for task, op in auto_degradations().items():
        yield task, False, stored(op(clean, rng))


def route_rates(rows: list[dict], key: str = "repair") -> dict:
    """Per kind, the share routed correctly (damaged to repair, the others not), from each row's ``key``
    (True: sent to repair); then ``damaged_to_repair``, ``others_not_to_repair`` and their mean."""
    out = {}
    for kind in (*HOLE_KINDS, *NOT_DAMAGED):
        mine = [r[key] == r["damaged"] for r in rows if r["kind"] == kind]
        if mine:
            out[kind] = round(float(np.mean(mine)), 4)
    out["damaged_to_repair"] = round(float(np.mean([r[key] for r in rows if r["damaged"]])), 4)
    out["others_not_to_repair"] = round(float(np.mean([not r[key] for r in rows if not r["damaged"]])), 4)
    out["balanced_accuracy"] = round((out["damaged_to_repair"] + out["others_not_to_repair"]) / 2, 4)
    return out


def run_repair_auto(data: Path, sets: list[str], limit: int | None, log=print) -> dict:
    """``--task auto``'s routing of each routing sample of each set (module docstring)."""
    from restora.engine.detect import detect, detector_name
    from restora.engine.restore import get_method
    from restora.eval.datasets import _images, read_rgb8

    detector = detector_name()
    method = get_method(detector, "cpu", "torch")
    rows = []
    for s, name in enumerate(sets):
        for i, f in enumerate(_images(Path(data) / name)[:limit]):
            rng = np.random.default_rng([0, s, i])
            im = read_rgb8(f)
            c = min(ROUTE_CROP, *im.shape[:2])
            y, x = int(rng.integers(0, im.shape[0] - c + 1)), int(rng.integers(0, im.shape[1] - c + 1))
            clean = np.ascontiguousarray(im[y : y + c, x : x + c], np.float32) / 255.0
            for kind, damaged, photo in routing_samples(clean, rng):
                found = detect(method, method.context_input(photo), detector, photo)
                rows.append(
                    {
                        "set": name,
                        "image": f.name,
                        "kind": kind,
                        "damaged": damaged,
                        "task": found.task,
                        "repair": found.task == "repair",
                        "damaged_share": found.extra.get("damaged_share"),
                    }
                )
            log(
                f"{name} {f.name}: "
                + ", ".join(f"{r['kind']} → {r['task']}" for r in rows[-len(HOLE_KINDS) - len(NOT_DAMAGED) :])
            )
    return {"detector": detector, "rows": rows, "rates": route_rates(rows), "photos": len(rows)}


def _recorded(task: str, options: list[str], threads: int | None, out: Path, limit: int | None, models: str) -> dict:
    """The first keys of a repair bench's results.json: the command (``options`` after the task), the machine,
    the models and the date."""
    import datetime
    import platform

    args = ["restora", "bench", "--task", task, *options, "--threads", str(threads or 2), "--out", str(out)]
    return {
        "command": " ".join(args + (["--limit", str(limit)] if limit else [])),
        "machine": f"{platform.processor() or platform.machine()}, {threads or 2} threads",
        "models": models,
        "date": datetime.date.today().isoformat(),
    }


def _markdown_head(task: str, payload: dict) -> list[str]:
    """The title and the run's record (command, machine, date and models), first in a repair bench's Markdown."""
    return [
        f"# restora bench --task {task}",
        "",
        f"- command: `{payload['command']}`",
        f"- machine: {payload['machine']}",
        f"- date: {payload['date']}",
        f"- models: {payload['models']}",
    ]


def _write_results(out: Path, payload: dict, write_markdown, log) -> None:
    import json

    from restora.io.write import write_bytes

    out.mkdir(parents=True, exist_ok=True)
    write_bytes(out / "results.json", json.dumps(payload, indent=1).encode())
    write_markdown(out / "results.md", payload)
    log(f"wrote {out / 'results.md'}")


def write_repair_auto_markdown(path: Path, payload: dict) -> None:
    """The repair-auto table as Markdown (command, machine, date and models first)."""
    from restora.io.write import write_bytes

    r = payload["result"]
    lines = [
        *_markdown_head("repair-auto", payload),
        f"- share threshold: {payload['share_threshold']}",
        "",
        "| samples | photos | routed as they should |",
        "|---|---|---|",
    ]
    for kind, rate in r["rates"].items():
        if kind in (*HOLE_KINDS, *NOT_DAMAGED):
            what = f"{kind} (damaged → repair)" if kind in HOLE_KINDS else f"{kind} (→ not repair)"
            lines.append(f"| {what} | {sum(row['kind'] == kind for row in r['rows'])} | {rate:.3f} |")
    lines += [
        "",
        f"- damaged photos routed to repair: {r['rates']['damaged_to_repair']:.3f}",
        f"- clean or otherwise degraded photos not routed to repair: {r['rates']['others_not_to_repair']:.3f}",
        f"- balanced accuracy: {r['rates']['balanced_accuracy']:.3f}",
    ]
    write_bytes(path, ("\n".join(lines) + "\n").encode())


def bench_repair_auto(
    data: Path, sets: str | None, limit: int | None, threads: int | None, out: Path, log=print
) -> None:
    """``restora bench --task repair-auto``: runs :func:`run_repair_auto`, writes results.json and results.md."""
    import torch

    from restora.engine.inpaint import DETECTOR
    from restora.engine.repair_share import share_threshold

    torch.set_num_threads(threads or 2)
    set_list = sets.split(",") if sets else list(DEFAULT_SETS)
    fitted = share_threshold()
    result = run_repair_auto(data, set_list, limit, log)
    payload = {
        **_recorded(
            "repair-auto", ["--sets", ",".join(set_list)], threads, out, limit, f"{result['detector']}, {DETECTOR}"
        ),
        "share_threshold": None if fitted is None else fitted.threshold,
        "result": result,
    }
    _write_results(out, payload, write_repair_auto_markdown, log)


class FeatureDistance:
    """EfficientNet-Lite0 feature distance (the style loss network's features, :mod:`restora.losses.style`)."""

    def __init__(self):
        from restora.losses.style import LossNetwork

        self.net = LossNetwork(FEATURE_BLOCKS)

    def __call__(self, clean: np.ndarray, output: np.ndarray) -> float:
        import torch

        from restora.losses.style import content_loss

        t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32)).permute(2, 0, 1)[None]  # noqa: E731
        with torch.inference_mode():
            fc, fo = self.net(t(clean)), self.net(t(output))
            return float(np.mean([float(content_loss(fo[b], fc[b])) for b in FEATURE_BLOCKS]))


def bench_repair(
    data: Path,
    sets: str | None,
    methods: str | None,
    limit: int | None,
    threads: int | None,
    out: Path,
    log=print,
) -> None:
    """``restora bench --task repair``: runs :func:`run_repair`, writes results.json and results.md."""
    import torch

    from restora.engine.inpaint import DETECTOR, INPAINTERS, load_repair_model

    torch.set_num_threads(threads or 2)
    set_list = sets.split(",") if sets else list(DEFAULT_SETS)
    method_list = methods.split(",") if methods else list(DEFAULT_METHODS)
    models = ", ".join(
        f"{n} ({load_repair_model(n, a).card.get('steps', '?')} steps)"
        for n, a in ((DETECTOR, "damagenet"), (INPAINTERS["fast"], "inpaintnet"), (INPAINTERS["resshift"], "resshift"))
    )
    result = run_repair(data, set_list, method_list, limit, log)
    options = ["--sets", ",".join(set_list), "--methods", ",".join(method_list)]
    payload = {**_recorded("repair", options, threads, out, limit, models), "result": result}
    _write_results(out, payload, write_repair_markdown, log)


def run_repair(
    data: Path,
    sets: list[str],
    methods: list[str],
    limit: int | None,
    log=print,
    features: FeatureDistance | None = None,
) -> dict:
    """Scores per (set, hole kind, method) and for automatic repair; see the module docstring."""
    from restora.engine.inpaint import DEFAULT_GROW, damage_probability, detection_threshold, inpaint
    from restora.degrade.damage import dilate
    from restora.eval.metrics import hole_error, mask_f1, masked_ssim, pooled_psnr, psnr, to_uint8

    features = features or FeatureDistance()
    rows: dict[tuple[str, str, str], list[dict]] = {}
    auto: dict[str, list[dict]] = {}
    seconds: dict[str, float] = {m: 0.0 for m in methods}
    megapixels = 0.0
    threshold = detection_threshold()
    for s, name in enumerate(sets):
        folder = Path(data) / name
        for image, kind, clean, damaged, mask in bench_cases(folder, s, limit):
            c8 = to_uint8(clean, 1.0)
            megapixels += clean.shape[0] * clean.shape[1] / 1e6
            for m in methods:
                start = time.perf_counter()
                out = inpaint(damaged, mask, m)
                seconds[m] += time.perf_counter() - start
                o8 = to_uint8(out, 1.0)
                rows.setdefault((name, kind, m), []).append(
                    {
                        "error": hole_error(c8, o8, mask),
                        "ssim": masked_ssim(c8, o8, mask),
                        "feature": features(clean, o8.astype(np.float32) / 255),
                    }
                )
            found = damage_probability(damaged) > threshold
            repaired = to_uint8(inpaint(damaged, dilate(found, DEFAULT_GROW), "fast"), 1.0)
            scores = mask_f1(mask, found)
            auto.setdefault(f"{name} {kind}", []).append(
                {
                    "damaged": psnr(c8, to_uint8(damaged, 1.0)),
                    "repaired": psnr(c8, repaired),
                    "true_mask": psnr(c8, to_uint8(inpaint(damaged, mask, "fast"), 1.0)),
                    "f1": scores["f1"],
                }
            )
            log(f"{name} {image} {kind}: done")
    mean = lambda xs, k: round(float(np.nanmean([x[k] for x in xs])), 4)  # noqa: E731
    table = [
        {
            "set": k[0],
            "holes": k[1],
            "method": k[2],
            "images": len(v),
            "psnr_hole": round(pooled_psnr([x["error"] for x in v]), 4),
            "ssim_hole": mean(v, "ssim"),
            "feature_distance": mean(v, "feature"),
        }
        for k, v in rows.items()
    ]
    auto_table = [
        {
            "case": k,
            "images": len(v),
            "psnr_damaged": mean(v, "damaged"),
            "psnr_auto": mean(v, "repaired"),
            "psnr_true_mask": mean(v, "true_mask"),
            "detector_f1": mean(v, "f1"),
        }
        for k, v in auto.items()
    ]
    speed = {m: round(megapixels / seconds[m], 3) if seconds[m] else None for m in methods}
    return {
        "table": table,
        "auto": auto_table,
        "speed_mp_per_s": speed,
        "megapixels": round(megapixels, 3),
        "threshold": threshold,
    }


def write_repair_markdown(path: Path, payload: dict) -> None:
    """The bench's tables as Markdown (command, machine, date and models first)."""
    from restora.io.write import write_bytes

    r = payload["result"]
    lines = [
        *_markdown_head("repair", payload),
        "",
        "## Filling the true mask (inside the holes; feature distance: lower is better)",
        "",
        "| set | holes | method | images | PSNR dB | SSIM | feature distance |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in r["table"]:
        lines.append(
            f"| {row['set']} | {row['holes']} | {row['method']} | {row['images']} | {row['psnr_hole']:.2f} | "
            f"{row['ssim_hole']:.4f} | {row['feature_distance']:.4f} |"
        )
    lines += [
        "",
        "## Automatic repair (whole image)",
        "",
        "| case | images | damaged PSNR | found mask + fast | true mask + fast | detector F1 |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["auto"]:
        lines.append(
            f"| {row['case']} | {row['images']} | {row['psnr_damaged']:.2f} | {row['psnr_auto']:.2f} | "
            f"{row['psnr_true_mask']:.2f} | {row['detector_f1']:.3f} |"
        )
    speed = r["speed_mp_per_s"]
    peer = speed.get("telea")
    lines += ["", "## Speed (MP/s, same run)", "", "| method | MP/s | × Telea |", "|---|---|---|"]
    for m, v in speed.items():
        ratio = f"{v / peer:.2f}" if v and peer else "–"
        lines.append(f"| {m} | {v} | {ratio} |")
    write_bytes(path, ("\n".join(lines) + "\n").encode())
