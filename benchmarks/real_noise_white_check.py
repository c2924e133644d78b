"""Does the real-noise path stay off on white Gaussian noise? CBSD68 at σ=25 (bench protocol: rng 0, sorted order)."""

import os

import numpy as np
from PIL import Image

from restora.engine.noise import measure_noise
from restora.engine.restore import pd_stride_for

root = os.environ.get("RESTORA_DATA", "../shared/data") + "/test/CBSD68"
rng = np.random.default_rng(0)
strides = []
rhos = []
for f in sorted(os.listdir(root)):
    c = np.asarray(Image.open(f"{root}/{f}").convert("RGB"), np.float64)
    n = ((c + rng.normal(0, 25, c.shape)) / 255.0).astype(np.float32)
    rhos.append(measure_noise(n).neighbour_correlation)
    strides.append(pd_stride_for(n))
print(
    "CBSD68 sigma25: images",
    len(strides),
    "PD triggered",
    sum(s > 1 for s in strides),
    "max neighbour corr %.3f median %.3f" % (max(rhos), np.median(rhos)),
)
