"""Error of restora.engine.noise.measure_noise against the truth std(noisy - clean) per channel.

Usage: python benchmarks/noise_std_eval.py CC52|PolyU50|white|corr|sigdep QUANTILES (e.g. 0.2).
Synthetic sets: the held-out last 16 CBSD432 images with white, Gaussian-correlated or signal-dependent noise, σ 5-50."""

import os
import time

import cv2
import numpy as np
import typer
from PIL import Image

from restora.engine.noise import measure_noise


def load(path):
    return np.asarray(Image.open(path).convert("RGB"), np.float32) / 255


def noise_pairs(which):
    data = os.environ.get("RESTORA_DATA", "../shared/data")
    pairs = []
    if which in ("CC52", "PolyU50"):
        root = f"{data}/real/{which}"
        for f in sorted(os.listdir(root + "/noisy")):
            pairs.append((f, load(f"{root}/noisy/{f}"), load(f"{root}/clean/{f}")))
        return pairs
    # synthetic on the held-out train slice: last images of CBSD432 (val_count 16)
    files = sorted(os.listdir(data + "/train/CBSD432"))[-16:]
    rng = np.random.default_rng(0)
    for i, f in enumerate(files):
        c = load(data + "/train/CBSD432/" + f)
        s = [5, 10, 15, 25, 35, 50][i % 6]
        w = rng.normal(0, 1, c.shape).astype(np.float32)
        if which == "corr":
            w = cv2.GaussianBlur(w, (0, 0), [0.6, 0.8, 1.0, 1.2][i % 4])
            w /= w.std()
        if which == "sigdep":
            w = w * np.sqrt(0.2 + 1.6 * c)  # std ∝ sqrt(0.2+1.6μ)
        pairs.append((f"{f}:{s}", c + w * s / 255, c))
    return pairs


def main(
    which: str = typer.Argument(..., help="CC52|PolyU50|white|corr|sigdep"),
    quantiles: str = typer.Argument(..., help="comma-separated quantiles, e.g. 0.2"),
):
    qs = [float(q) for q in quantiles.split(",")]
    pairs = noise_pairs(which)
    errs = {q: [] for q in qs}
    t = 0
    for f, n, c in pairs:
        truth = (n - c).reshape(-1, 3).std(0) * 255
        out = []
        for q in qs:
            t0 = time.perf_counter()
            p = measure_noise(n, q)
            t += time.perf_counter() - t0
            e = p.sigma / truth - 1
            errs[q].append(e)
            out.append("%+.2f" % e.mean())
        print(
            f[:34],
            "truth %.2f" % truth.mean(),
            " ".join(out),
            "rho1 %.2f stride(.2) %d ratio %.2f"
            % (p.neighbour_correlation, p.decorrelating_stride(0.2), p.stride_ratio.mean()),
            flush=True,
        )
    for q in qs:
        e = np.array(errs[q])
        print(
            "q",
            q,
            "median err %+.3f  max|err| %.3f  within20 %.3f within15 %.3f"
            % (np.median(e), np.abs(e).max(), np.mean(np.abs(e) < 0.2), np.mean(np.abs(e) < 0.15)),
        )
    print("sec per call %.3f" % (t / len(pairs) / len(qs)))


if __name__ == "__main__":
    typer.run(main)
