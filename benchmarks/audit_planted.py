"""Calibration figures and the planted-defect evaluation of ``restora audit`` (benchmarks/RESULTS.md, docs/data-audit.md).

Uses only the training sets. Their images are split by sorted position: even positions calibrate (the
printed percentiles are what the thresholds in restora.audit were set from), odd positions are evaluated.
From the evaluation half the script builds, in a temporary folder:

* ``refs/``: references as PNG, a share of them given one planted defect each — residual-noise (Gaussian
  σ 15), blurred (Gaussian σ 2 px), jpeg-blocking (saved as JPEG quality 20), clipped (exposure pushed until
  60% of the pixels saturate) — plus duplicates (another reference rescaled ×0.9 and saved as JPEG 90);
* ``pairs/noisy`` + ``pairs/clean``: noisy = clean + Gaussian σ 15; planted exposure-offset (noisy ×0.85),
  colour-cast (noisy R ×1.08, B ×0.92), misaligned (noisy shifted by (0.9, 0.8) px), mismatched-pair (noisy
  made from another photo);
* ``other/``: untouched photos and leaks: a crop of 70% of a reference's area, rescaled ×0.8, saved as JPEG 85.

Then it audits ``refs other --pairs pairs/noisy:pairs/clean`` and counts a planted defect as found when a
finding with its code names the planted file (as ``path`` or, for duplicates and leaks, as ``other``), and a
clean file as flagged when any finding names it. Also times the single-image work and the index.

    OMP_NUM_THREADS=1 PYTHONPATH=src nice -n 10 python benchmarks/audit_planted.py
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import cv2
import numpy as np
import typer
from scipy.ndimage import shift as subpixel_shift

from restora.audit import image_checks, index
from restora.audit.runner import AuditItem, examine, list_images, run_audit
from restora.degrade.compression import GaussianBlur
from restora.degrade.noise import GaussianNoise
from restora.io import Image, read_image, write_image
from restora.settings import data_dir

SETS = ("train/CBSD432", "train/DreamBooth158", "train/Urban100")
SINGLE = ("residual-noise", "blurred", "jpeg-blocking", "clipped")
PAIR = ("exposure-offset", "colour-cast", "misaligned", "mismatched-pair")
PER_CODE = 15


def save(path: Path, pixels: np.ndarray, quality: int | None = None) -> None:
    pixels = np.clip(pixels, 0, 1).astype(np.float32)
    if quality is None:
        write_image(path, Image(pixels=pixels))
    else:
        write_image(path, Image(pixels=pixels), jpeg_quality=quality)


def clipped(pixels: np.ndarray) -> np.ndarray:
    gain = 1.0 / max(float(np.quantile(pixels.max(axis=2), 0.4)), 1e-3)
    return pixels * gain


def percentiles(name: str, values) -> None:
    v = np.asarray(values, np.float64)
    q = np.percentile(v, [1, 5, 50, 95, 99])
    print(
        f"  {name:12s} p1 {q[0]:.3f}  p5 {q[1]:.3f}  median {q[2]:.3f}  p95 {q[3]:.3f}  p99 {q[4]:.3f}  max {v.max():.3f}"
    )


def main(root: Path) -> None:
    files = {s: list_images(root / s) for s in SETS}
    calibration = [f for s in SETS for f in files[s][0::2]]
    evaluation = [f for s in SETS for f in files[s][1::2]]
    rng = np.random.default_rng(0)
    rng.shuffle(evaluation)

    print(f"calibration half: {len(calibration)} images of {', '.join(SETS)}")
    t, cpu = time.perf_counter(), time.process_time()
    measured = [examine(AuditItem(f, 0, True)) for f in calibration]
    single_s, single_cpu = time.perf_counter() - t, time.process_time() - cpu
    t, cpu = time.perf_counter(), time.process_time()
    for f in calibration:
        read_image(f)
    read_s, read_cpu = time.perf_counter() - t, time.process_time() - cpu
    m = [e.measures for e in measured]
    percentiles("sigma", [x.sigma for x in m])
    percentiles("sharpness", [x.sharpness for x in m])
    percentiles("blocking", [x.blocking for x in m])
    percentiles("clipped", [x.clipped for x in m])
    over = Counter()
    for x in m:
        over["residual-noise"] += x.sigma > image_checks.NOISE_SIGMA
        over["blurred"] += x.sharpness < image_checks.SHARPNESS
        over["jpeg-blocking"] += x.blocking > image_checks.BLOCKING
        over["clipped"] += x.clipped > image_checks.CLIPPED
    print("  over the thresholds:", dict(over), f"of {len(m)}")
    print(
        f"single-image checks (read, measure, fingerprint; 1 process): {len(m) / single_s:.1f} images/s wall, "
        f"{len(m) / single_cpu:.1f} images per CPU-second; peer in the same run, read_image alone: "
        f"{len(m) / read_s:.1f} images/s wall, {len(m) / read_cpu:.1f} per CPU-second"
    )

    prints = [e.prints[str(e.task.path)] for e in measured]
    for n in (len(prints) // 4, len(prints)):
        cpu = time.process_time()
        matches = index.find_matches(prints[:n])
        print(f"index of {n} fingerprints: {time.process_time() - cpu:.2f} CPU-s, {len(matches)} matches")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for d in ("refs", "other", "pairs/noisy", "pairs/clean"):
            (tmp / d).mkdir(parents=True)
        planted: list[tuple[str, str]] = []  # (code, planted file)
        clean_files: list[str] = []
        pool = iter(evaluation)

        def take():
            return read_image(next(pool)).pixels

        noise15 = GaussianNoise(sigma=(15, 15))
        blur2 = GaussianBlur(sigma=(2, 2))
        for n in range(len(SINGLE) * PER_CODE + 40):  # refs: 4 × PER_CODE planted, the rest clean
            x = take()
            code = SINGLE[n // PER_CODE] if n < len(SINGLE) * PER_CODE else None
            path = tmp / "refs" / f"r{n:03d}.png"
            if code == "residual-noise":
                save(path, noise15(x, rng))
            elif code == "blurred":
                save(path, blur2(x, rng))
            elif code == "jpeg-blocking":
                path = path.with_suffix(".jpg")
                save(path, x, quality=20)
            elif code == "clipped":
                save(path, clipped(x))
            else:
                save(path, x)
            (planted.append((code, str(path))) if code else clean_files.append(str(path)))
        for n in range(100, 100 + PER_CODE + 25):  # refs with a duplicate, and untouched ones
            x = take()
            path = tmp / "refs" / f"r{n:03d}.png"
            save(path, x)
            if n < 100 + PER_CODE:
                copy = tmp / "refs" / f"zz_copy_{n:03d}.jpg"
                save(copy, cv2.resize(x, None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA), quality=90)
                planted.append(("duplicate", f"{copy}|{path}"))
            else:
                clean_files.append(str(path))
        for n in range(PER_CODE):  # leaks: a reference's crop in other/
            x = take()
            path = tmp / "refs" / f"s{n:03d}.png"
            save(path, x)
            h, w = x.shape[:2]
            ch, cw = int(h * 0.84), int(w * 0.84)
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            crop = cv2.resize(x[top : top + ch, left : left + cw], None, fx=0.8, fy=0.8, interpolation=cv2.INTER_AREA)
            leak = tmp / "other" / f"o{n:03d}.jpg"
            save(leak, crop, quality=85)
            planted.append(("leak", f"{path}|{leak}"))
        for n in range(25):
            path = tmp / "other" / f"p{n:03d}.png"
            save(path, take())
            clean_files.append(str(path))
        for n in range(len(PAIR) * PER_CODE + 55):  # pairs
            x = take()
            code = PAIR[n // PER_CODE] if n < len(PAIR) * PER_CODE else None
            clean_path, noisy_path = tmp / "pairs/clean" / f"{n:03d}.png", tmp / "pairs/noisy" / f"{n:03d}.png"
            save(clean_path, x)
            y = x
            if code == "exposure-offset":
                y = x * 0.85
            elif code == "colour-cast":
                y = x * np.array([1.08, 1.0, 0.92], np.float32)
            elif code == "misaligned":
                y = subpixel_shift(x, (0.9, 0.8, 0), order=3, mode="reflect")
            elif code == "mismatched-pair":
                other = take()
                y = cv2.resize(other, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_AREA)
            save(noisy_path, noise15(y, rng))
            (planted.append((code, str(clean_path))) if code else clean_files.append(str(clean_path)))

        images = sum(1 for _ in tmp.rglob("*.*"))
        t = time.perf_counter()
        result = run_audit([tmp / "refs", tmp / "other"], [(tmp / "pairs/noisy", tmp / "pairs/clean")], workers=1)
        audit_s = time.perf_counter() - t
        print(
            f"planted audit: {images} images, {audit_s:.1f} s ({images / audit_s:.1f} images/s, 1 process, index included)"
        )

        by_file = defaultdict(set)
        for f in result.findings:
            by_file[f.path].add(f.code)
            if f.code in ("duplicate", "leak") and f.other:
                by_file[f.other].add(f.code)
        found, wrong = Counter(), Counter()
        total = Counter(code for code, _ in planted)
        for code, spec in planted:
            target = spec.split("|")[0]
            codes = by_file.get(target, set())
            if code in ("duplicate", "leak"):
                a, b = spec.split("|")
                hit = any(f.code == code and {f.path, f.other} == {a, b} for f in result.findings)
            else:
                hit = code in codes
            found[code] += hit
            if not hit:
                wrong[code] += 1
                print(f"  missed {code}: {target} (its findings: {sorted(codes) or 'none'})")
        print("planted defects found with the right code:")
        for code in SINGLE + PAIR + ("duplicate", "leak"):
            print(f"  {code:16s} {found[code]}/{total[code]}")
        all_found, all_total = sum(found.values()), sum(total.values())
        print(f"  all              {all_found}/{all_total} = {100 * all_found / all_total:.1f}%")
        flagged = [f for f in clean_files if f in by_file]
        for f in flagged:
            print(f"  clean file flagged: {f}: {sorted(by_file[f])}")
        print(f"clean files flagged: {len(flagged)}/{len(clean_files)} = {100 * len(flagged) / len(clean_files):.1f}%")


def command(root: Path | None = typer.Argument(None, help="data folder (default: RESTORA_DATA)")) -> None:
    """Audit the planted photos under ROOT."""
    cv2.setNumThreads(1)
    main(root if root is not None else data_dir())


if __name__ == "__main__":
    typer.run(command)
