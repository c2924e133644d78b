"""Real-noise path vs plain path of restora-denoise on real pairs, side by side (PSNR, seconds per image).

Usage: python benchmarks/real_noise_pd.py CC52|PolyU50 STEP  (every STEP-th pair; 1 for the whole set).
PSNR on 8-bit RGB as restora bench; times are of the whole restore call, 1 thread."""

import os
import time

import numpy as np
import torch
import typer
from PIL import Image

from restora.engine.restore import run_restore
from restora.eval.metrics import psnr


def load(path):
    return np.asarray(Image.open(path).convert("RGB"))


def to_u8(a):
    return np.clip(np.rint(a * 255), 0, 255).astype(np.uint8)


def main(
    which: str = typer.Argument(..., help="CC52|PolyU50"),
    step: int = typer.Argument(..., help="every STEP-th pair; 1 for the whole set"),
):
    torch.set_num_threads(1)
    root = os.environ.get("RESTORA_DATA", "../shared/data") + f"/real/{which}"
    res = []
    for f in sorted(os.listdir(root + "/noisy"))[::step]:
        nu = load(f"{root}/noisy/{f}")
        c = load(f"{root}/clean/{f}")
        n = nu.astype(np.float32) / 255
        row = [psnr(c, nu)]
        ts = []
        st = 1
        for mode in ("off", "auto"):
            t = time.perf_counter()
            r = run_restore(n, "denoise", "restora-denoise", real_noise=mode, runtime="torch")
            ts.append(time.perf_counter() - t)
            row.append(psnr(c, to_u8(r.image.pixels)))
            st = max(st, r.pd_stride)
        res.append(row + ts)
        print(f[:36], " ".join("%.2f" % v for v in row), "stride", st, "t %.2f %.2f" % tuple(ts), flush=True)
    r = np.array(res)
    print(
        which,
        "n",
        len(r),
        "mean noisy/plain/auto",
        r[:, :3].mean(0).round(3),
        "gain %.3f" % (r[:, 2] - r[:, 1]).mean(),
        "worse",
        int(((r[:, 2] - r[:, 1]) < 0).sum()),
        "time ratio auto/plain %.2f" % (r[:, 4].sum() / r[:, 3].sum()),
    )


if __name__ == "__main__":
    typer.run(main)
