"""What is particular to ``restora bench --task deblur|derain|dehaze|lowlight|auto``: our models beside classical peers.

The sets are run by the benchmark's one quality loop (:func:`restora.eval.runner.run_task_quality`, and
:func:`restora.eval.runner.run_detection` for ``auto``): every method through :func:`restora.engine.run_restore`
on the degraded image as a float array on [0, 1] with the engine's default tile, as users run it; the output is
clipped and rounded to 8 bits and scored by :mod:`restora.eval.metrics` against the clean image (RGB PSNR, SSIM,
detail; docs/conventions.md). This module holds what differs per task: beside the RGB scores, labelled, the
protocols of published figures (:func:`task_score`: Y-channel PSNR/SSIM for deraining, Levin et al.'s aligned
greyscale PSNR/SSIM (15-px border, best sub-pixel shift) on ``test/Levin``, GT-mean PSNR/SSIM for low light),
the default methods, the peers' fingerprints, the speed of the kernel-given peers and the protocol text.

Methods (``--methods``): ``ours`` (every registered model of ours for the task; for ``auto`` every all-in-one
model), ``ours:NAME`` / a ``.safetensors`` path, a registered classical method of the task (``deconv-blind``,
``median``, ``guided``, ``dcp``, ``gamma``, ``clahe``, ``retinex``), the deblurring upper references
``rl-oracle`` and ``wiener-oracle`` (Richardson–Lucy / Wiener *given the true kernel*: run only where it is
known, never a usable setting) and ``identity`` (the degraded input). Classical peers' per-image scores are
cached as in the denoising benchmark (``<cache>/<method>-<set>-<task>.json``, keyed by the method's code and
library versions, the metrics, the clean and degraded images and the kernel).

``--task auto`` scores detection instead: each all-in-one model describes every image of a seeded mixed set of
single degradations (:mod:`restora.eval.task_sets`); the detected type is right when it is the one applied.
Results: accuracy, a confusion matrix (rows: applied, columns: detected) and the quality of ``--task auto``'s
restoration per applied type.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import time
from functools import cache

import numpy as np

from restora.eval.metrics import aligned_grey, gt_mean_psnr_ssim, psnr_ssim_y, score
from restora.eval.peers import ORACLES
from restora.eval.task_sets import AUTO_DEGRADATIONS, BLUR_NOISE_SIGMA, TASK_SEED, TaskSample, TaskSet
from restora.degrade.blur import shake_kernel
from restora.engine import deblur, filters, methods, run_restore
from restora.engine.catalogue import get_spec
from restora.engine.deblur import KernelGivenMethod
from restora.eval.speed import FAST_MP_PER_S, LARGE_SIZE, WARMUP_SIZE, speed_input

DEFAULT_METHODS = {
    "deblur": "ours,deconv-blind,rl-oracle,wiener-oracle,identity",
    "derain": "ours,median,guided,identity",
    "dehaze": "ours,dcp,identity",
    "lowlight": "ours,gamma,clahe,retinex,identity",
    "auto": "ours",
}
MODE = {"ours": "blind", "peer": "blind", "oracle": "true kernel", "baseline": "input"}
# Published Rain100H figures (Y channel; all 100 test images; trained on real Rain100H training pairs, which we
# do not have). Only figures we could check against a public source are given a number.
PUBLISHED_RAIN100H = (
    {
        "method": "PReNet",
        "psnr_y": 29.46,
        "ssim_y": 0.899,
        "training": "RainTrainH: 1,254 of the 1,800 Rain100H training pairs (546 sharing backgrounds with the test set removed)",
        "source": "Ren et al., 'Progressive Image Deraining Networks: A Better and Simpler Baseline', CVPR 2019; "
        "github.com/csdwren/PReNet (figure as quoted in github.com/Algolzw/image-restoration-sde)",
    },
    {
        "method": "MSPFN",
        "psnr_y": None,
        "ssim_y": None,
        "training": "13,712 synthetic pairs from several sets",
        "source": "Jiang et al., 'Multi-Scale Progressive Fusion Network for Single Image Deraining', CVPR 2020 "
        "(arXiv:2003.10985), Rain100H row of its comparison table — not found in our reference corpus",
    },
    {
        "method": "RCDNet",
        "psnr_y": None,
        "ssim_y": None,
        "training": "Rain100H training pairs",
        "source": "Wang et al., 'A Model-Driven Deep Neural Network for Single Image Rain Removal', CVPR 2020 "
        "(arXiv:2005.01333), Rain100H row — not found in our reference corpus",
    },
)


def oracle_method(name: str, kernel: np.ndarray):
    return KernelGivenMethod(name.removesuffix("-oracle"), kernel)


@cache
def peer_version(engine_name: str) -> str:
    """Fingerprint of a classical peer: its module's code and the versions of the libraries it calls."""
    from importlib.metadata import version

    import cv2

    if engine_name in ORACLES:
        modules = [deblur, filters, methods]
    else:
        method = get_spec(engine_name).load("cpu")
        modules = [sys.modules[type(method).__module__], filters, methods]
    h = hashlib.sha256(engine_name.encode())
    for module in modules:
        h.update(inspect.getsource(module).encode())
    h.update(f"{cv2.__version__}|{version('scikit-image')}|{np.__version__}".encode())
    return h.hexdigest()[:16]


# Bumped per task when its scoring gains a protocol (cached peer scores then lack it and are recomputed).
TASK_PROTOCOL = {"lowlight": 2}  # 2: GT-mean PSNR/SSIM


def task_score(task_set: TaskSet, sample: TaskSample, output: np.ndarray) -> dict:
    """RGB metrics plus the labelled protocols of published figures for this set."""
    row = score(sample.clean, output)
    if task_set.task == "derain":
        row.update(psnr_ssim_y(sample.clean, output))
    if task_set.task == "deblur" and task_set.kind == "pairs":
        row.update(aligned_grey(sample.clean, output))
    if task_set.task == "lowlight":
        row.update(gt_mean_psnr_ssim(sample.clean, output))
    return row


def oracle_speed(
    name: str, sizes: list[int], threads: int, repeats: int, image_path: str | None, log=print
) -> list[dict]:
    """Speed of a kernel-given peer, timed in this process (it cannot be loaded by name in a fresh one)."""
    import os
    import statistics

    method = oracle_method(name, shake_kernel(19, np.random.default_rng(0)))
    rows, last = [], None
    for size in sorted(sizes):
        if size >= LARGE_SIZE and (last is None or last <= FAST_MP_PER_S):
            log(f"speed {name} {size}²: skipped (slower than {FAST_MP_PER_S} MP/s)")
            continue
        x = speed_input(size, image_path)
        run_restore(x[:WARMUP_SIZE, :WARMUP_SIZE], task="deblur", model=method)
        seconds, cpu = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            run_restore(x, task="deblur", model=method)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
        median, cpu_median = statistics.median(seconds), statistics.median(cpu)
        last = size * size / 1e6 / median
        rows.append(
            {
                "method": name,
                "size": size,
                "megapixels": size * size / 1e6,
                "seconds": median,
                "mp_per_s": last,
                "runs": seconds,
                "cpu_seconds": cpu_median,
                "mp_per_cpu_s": size * size / 1e6 / max(cpu_median, 1e-9),
                "peak_rss_mb": None,
                "base_rss_mb": None,
                "runtime": "numpy/scipy (scikit-image)",
                "threads": threads,
                "device": "cpu",
                "tile": 0,
                "sigma": None,
                "kernel": "19×19 camera shake (seed 0)",
                "load_average": os.getloadavg()[0],
            }
        )
        log(f"speed {name} {size}²: {last:.3f} MP/s (in-process, 19×19 kernel)")
    return rows


def protocol(task: str, limit: int | None) -> dict:
    generators = {
        "deblur": f"MotionBlur() kernel (random camera-shake trajectory, 7–31 px), true convolution with reflected "
        f"borders, then Gaussian noise σ={BLUR_NOISE_SIGMA} (0–255 scale)",
        "derain": "the 'rain' pipeline: Rain() streak layers and veil, JPEG with probability 0.3",
        "dehaze": "Haze(): I = J·t + A·(1 − t), smooth random t in [0.2, 0.95], airlight 0.7–1",
        "lowlight": "LowLight() then Underexpose() (the 'lowlight-dark' pipeline without JPEG)",
        "auto": f"256² crop at a seeded position per image, then each of: {AUTO_DEGRADATIONS}",
    }
    return {
        "synthetic": f"numpy.random.default_rng({TASK_SEED}) per (set, task); images in sorted file order; "
        f"{generators[task]}; clipped and rounded to 8 bits",
        "pairs": "test/Levin: blurred/imI_kernelK_img.png against sharp/imI.png, kernel kK of kernels/levin09.npz "
        "(flipped: convolution orientation); test/Rain100H: rainy/ against clean/",
        "scoring": "output clipped and rounded to 8 bits; RGB PSNR/SSIM/detail, no border crop, mean over images",
        "derain_y": "psnr_y/ssim_y: Y of MATLAB rgb2ycbcr (16–235), PSNR peak 255, the deraining papers' protocol",
        "levin_aligned": "psnr_aligned/ssim_aligned: Levin et al.'s comp_upto_shift protocol: BT.601 grey, 15-px "
        "border cut, output shifted by the best dy, dx (integers in [−10, 10], then 0.25-px steps within ±1; bilinear)",
        "lowlight_gtmean": "psnr_gtmean/ssim_gtmean: the output scaled so its mean BT.601 grey equals the reference's "
        "(the low-light papers' GT-mean protocol): restoration apart from the exposure guess",
        "limit": limit,
    }
