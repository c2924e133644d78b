"""Write ``restora bench`` outputs: results.json, results.md, quality_vs_speed.png and crops/."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from restora.eval.metrics import PSNR_CAP

MODE_HELP = {
    "blind": "blind: not told σ (sigma=auto)",
    "told σ": "told the true σ",
    "est. σ": "given the σ our estimator reads from the noisy photo",
    "input": "the noisy input itself",
}


def machine_info() -> dict:
    """CPU model (as lscpu prints it), core count, OS and library versions."""
    import cv2
    import torch

    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, ensure_ascii=False))
    tmp.replace(path)


def _row_label(entry: dict) -> str:
    return f"{entry['method']} ({entry['mode']})"


def quality_tables(entries: list[dict]) -> list[str]:
    """One markdown table per (set, σ): methods as rows, best value of each column in bold."""
    lines: list[str] = []
    groups: dict[tuple, list[dict]] = {}
    for e in entries:
        groups.setdefault((e["set"], e["sigma"]), []).append(e)
    for (set_name, sigma), group in groups.items():
        title = f"### {set_name}, σ = {sigma:g}" if sigma is not None else f"### {set_name} (real noise)"
        lines += [
            title,
            "",
            f"{group[0]['n_images']} images.",
            "",
            "| method | σ given | PSNR (dB) | SSIM | detail |",
            "|---|---|---:|---:|---:|",
        ]
        best = {k: max(e[k] for e in group) for k in ("psnr", "ssim", "detail")}
        for e in group:
            cells = []
            for key, fmt in (("psnr", "{:.2f}"), ("ssim", "{:.4f}"), ("detail", "{:.4f}")):
                text = fmt.format(e[key])
                cells.append(f"**{text}**" if e[key] == best[key] and len(group) > 1 else text)
            lines.append(f"| {e['method']} | {e['mode']} | " + " | ".join(cells) + " |")
        grids = [e for e in group if "oracle_grid" in e]
        for e in grids:
            grid = ", ".join(f"σ={s}: {v:.2f}" for s, v in e["oracle_grid"].items())
            lines.append("")
            lines.append(f"{e['method']} oracle grid (mean PSNR, dB): {grid}.")
        lines.append("")
    return lines


def speed_table(speed: list[dict]) -> list[str]:
    if not speed:
        return []
    lines = [
        "| method | size | MP/s | s / image | MP per CPU-s | peak RSS (MB) | after warm-up (MB) | runtime | threads | tile "
        "| load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in speed:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['size']}² | — | {r['error']} | | | | | | | |")
            continue
        peak, base = (("—" if r[k] is None else f"{r[k]:.0f}") for k in ("peak_rss_mb", "base_rss_mb"))
        lines.append(
            f"| {r['method']} | {r['size']}² | {r['mp_per_s']:.3g} | {r['seconds']:.2f} | {r['mp_per_cpu_s']:.3g} | "
            f"{peak} | {base} | {r['runtime']} | {r['threads']} | {r['tile'] or 'whole'} | {r['load_average']:.1f} |"
        )
    return lines


def speed_section(how: str, speed: list[dict]) -> list[str]:
    """The results.md section "Speed and memory (CPU)": how the rows were measured, then their table."""
    return ["## Speed and memory (CPU)", "", how, ""] + speed_table(speed) + [""]


def _run_lines(title: str, payload: dict) -> list[str]:
    """The head of a results.md: the title, then the command, date and machine of the run."""
    m = payload["machine"]
    return [
        f"# {title}",
        "",
        f"Command: `{payload['command']}`  ",
        f"Date: {payload['date']}  ",
        f"Machine: {m['cpu']}, {m['cores']} cores; torch {m['torch']}, numpy {m['numpy']}, OpenCV {m['opencv']}; "
        f"{payload['threads']} thread(s).",
        "",
    ]


def write_markdown(path: Path, payload: dict, extra_sections: Sequence[str] = ()) -> None:
    """``results.md`` of a quality (and speed) run; ``extra_sections``: Markdown lines after the quality tables."""
    lines = _run_lines("Restora benchmark", payload) + [
        "Protocol: synthetic sets get Gaussian noise of the given σ (0–255 scale), drawn with "
        "`numpy.random.default_rng(0)` once per (set, σ), one draw per image in sorted file order, added in "
        "float and not clipped before the method sees it. Outputs are clipped and rounded to 8 bits; PSNR and "
        "SSIM over all RGB pixels, no border crop, mean over images; SSIM is scikit-image's Gaussian-window SSIM "
        f"(σ=1.5, as Wang et al. 2004); identical images score the {PSNR_CAP:g} dB cap. Detail is the gradient "
        "similarity inside the clean image's most textured 25% (1 = perfect; it falls for blur and for "
        "leftover noise; see docs/benchmark.md).",
        "",
        "σ given: "
        + "; ".join(f"*{k}* = {v}" for k, v in MODE_HELP.items())
        + "; *oracle σ=X* = the single σ of 5, 10, 15, 25, 40, 50 that is best for the whole set, chosen "
        "knowing the clean images (an upper bound, not a usable setting).",
        "",
    ]
    if payload["unavailable"]:
        lines += ["Unavailable: " + "; ".join(f"{k}: {v}" for k, v in payload["unavailable"].items()), ""]
    lines += ["## Quality", ""] + quality_tables(payload["quality"])
    lines += list(extra_sections)
    if payload["speed"]:
        lines += speed_section(
            "Whole `run_restore` call on a square noisy photo, median of "
            f"{payload['speed_repeats']} runs after a warm-up; each method, runtime and thread count in a fresh "
            "process, sizes in increasing order (peak RSS = its high-water mark at the size). BM3D is timed at 512² only (≈0.01 MP/s); 4096² only for "
            "methods faster than 0.2 MP/s. *load avg*: the machine's 1-minute load average when the "
            "measurement ended (above the thread count, other work was competing for the cores, and MP/s "
            "counts the waiting; *MP per CPU-s* counts only the method's own CPU time).",
            payload["speed"],
        )
    path.write_text("\n".join(lines) + "\n")


def plot_quality_vs_speed(path: Path, entries: list[dict], speed: list[dict]) -> bool:
    """PSNR against MP/s (log x): per method, one point per σ (mean over synthetic sets) and per real set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates: dict[str, list[float]] = {}
    for r in speed:
        if "error" not in r:
            rates.setdefault(r["method"], []).append(r["mp_per_s"])
    if not rates:
        return False
    points: dict[tuple[str, str], list[float]] = {}
    for e in entries:
        if e["method"] not in rates or e["mode"].startswith("oracle"):
            continue
        where = f"σ={e['sigma']:g}" if e["sigma"] is not None else e["set"]
        points.setdefault((e["method"], where), []).append(e["psnr"])
    markers = "osD^vP*X"
    wheres = sorted({w for _, w in points})
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    methods = sorted({m for m, _ in points})
    colours = plt.get_cmap("tab10")
    for i, method in enumerate(methods):
        speed_mp = float(np.median(rates[method]))
        for j, where in enumerate(wheres):
            if (method, where) in points:
                ax.scatter(
                    speed_mp,
                    np.mean(points[(method, where)]),
                    color=colours(i % 10),
                    marker=markers[j % len(markers)],
                    s=50,
                    label=f"{method}, {where}",
                )
        ax.annotate(
            method,
            (speed_mp, max(np.mean(v) for (m, _), v in points.items() if m == method)),
            textcoords="offset points",
            xytext=(5, 5),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel("speed (MP/s, median over sizes, CPU)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Quality against speed")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def write_crops(folder: Path, crop_panels: dict, entries: list[dict]) -> list[Path]:
    """One labelled PNG per image: the same textured crop of clean, noisy and every method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    scores = {
        (e["set"], e["sigma"], e["method"], r["image"]): r["psnr"]
        for e in entries
        if not e["mode"].startswith("oracle")
        for r in e["images"]
    }
    written = []
    for (set_name, tag), images in crop_panels.items():
        # Tags: "s25" (σ = 25), "real" (real noise) or a task name (restoration benchmarks of other tasks).
        sigma = float(tag[1:]) if tag[:1] == "s" and tag[1:].replace(".", "", 1).isdigit() else None
        caption = f"σ={sigma:g}" if sigma is not None else ("real noise" if tag == "real" else tag)
        for image_name, panels in images.items():
            fig, axes = plt.subplots(1, len(panels), figsize=(2.2 * len(panels), 2.6), dpi=110)
            for ax, (label, crop) in zip(np.atleast_1d(axes), panels.items()):
                ax.imshow(crop, interpolation="nearest")
                p = scores.get((set_name, sigma, "identity" if label in ("noisy", "input") else label, image_name))
                ax.set_title(label if p is None else f"{label}\n{p:.2f} dB", fontsize=8)
                ax.axis("off")
            fig.suptitle(f"{set_name} {image_name} ({caption})", fontsize=9)
            fig.tight_layout()
            out = folder / f"{set_name}-{tag}-{Path(image_name).stem}.png"
            fig.savefig(out)
            plt.close(fig)
            written.append(out)
    return written


# ---------------------------------------------------------------------------------------------------
# Restoration tasks other than denoising (restora.eval.task_bench)

TASK_COLUMNS = (
    ("psnr", "PSNR (dB)", "{:.2f}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("detail", "detail", "{:.4f}"),
    ("psnr_y", "PSNR-Y (dB)", "{:.2f}"),
    ("ssim_y", "SSIM-Y", "{:.4f}"),
    ("psnr_aligned", "aligned PSNR (dB)", "{:.2f}"),
    ("ssim_aligned", "aligned SSIM", "{:.4f}"),
    ("psnr_gtmean", "GT-mean PSNR (dB)", "{:.2f}"),
    ("ssim_gtmean", "GT-mean SSIM", "{:.4f}"),
)
TASK_MODE_HELP = {
    "blind": "not told anything about the degradation (our models and the classical peers)",
    "true kernel": "given the true blur kernel: an upper reference, not a usable setting",
    "input": "the degraded input itself",
}


def task_tables(entries: list[dict]) -> list[str]:
    """One markdown table per set: methods as rows, the metrics the set has as columns, best in bold."""
    lines: list[str] = []
    groups: dict[str, list[dict]] = {}
    for e in entries:
        groups.setdefault(e["set"], []).append(e)
    for set_name, group in groups.items():
        columns = [c for c in TASK_COLUMNS if all(c[0] in e for e in group)]
        lines += [
            f"### {set_name}",
            "",
            f"{group[0]['n_images']} images ({group[0]['kind']}).",
            "",
            "| method | given | " + " | ".join(c[1] for c in columns) + " |",
            "|---|---|" + "---:|" * len(columns),
        ]
        best = {k: max(e[k] for e in group) for k, _, _ in columns}
        for e in group:
            cells = []
            for key, _, fmt in columns:
                text = fmt.format(e[key])
                cells.append(f"**{text}**" if e[key] == best[key] and len(group) > 1 else text)
            lines.append(f"| {e['method']} | {e['mode']} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def detection_tables(entries: list[dict]) -> list[str]:
    """Accuracy, confusion matrix and per-type restoration quality of each all-in-one model (--task auto)."""
    lines: list[str] = []
    for e in entries:
        labels = e["labels"]
        lines += [
            f"### {e['method']}",
            "",
            f"Detection accuracy **{100 * e['accuracy']:.1f}%** on {e['n_images']} images "
            f"({', '.join(e['sets'])}); mean time to describe an image {1000 * e['detect_seconds']:.0f} ms.",
            "",
            "Confusion matrix (rows: degradation applied, columns: detected):",
            "",
            "| applied \\ detected | " + " | ".join(labels) + " |",
            "|---|" + "---:|" * len(labels),
        ]
        for a in labels:
            lines.append(f"| {a} | " + " | ".join(str(e["confusion"][a][b]) for b in labels) + " |")
        lines += [
            "",
            "Restoration by `--task auto` per degradation applied:",
            "",
            "| applied | images | detected right | input PSNR (dB) | output PSNR (dB) | output SSIM |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for a, r in e["per_label"].items():
            lines.append(
                f"| {a} | {r['n']} | {100 * r['accuracy']:.0f}% | {r['input_psnr']:.2f} | {r['psnr']:.2f} | "
                f"{r['ssim']:.4f} |"
            )
        lines.append("")
    return lines


def write_task_markdown(path: Path, payload: dict) -> None:
    proto = payload["protocol"]
    lines = _run_lines(f"Restora benchmark: {payload['task']}", payload) + [
        f"Synthetic sets: {proto['synthetic']}.  ",
        f"Pairs: {proto['pairs']}.  ",
        f"Scoring: {proto['scoring']}; SSIM is scikit-image's Gaussian-window SSIM (σ=1.5); detail as in "
        "docs/benchmark.md.",
        "",
    ]
    if payload["task"] == "derain":
        lines += [f"{proto['derain_y']}.", ""]
    if payload["task"] == "deblur":
        lines += [f"{proto['levin_aligned']}.", ""]
    if payload["task"] == "lowlight":
        lines += [f"{proto['lowlight_gtmean']}.", ""]
    if payload["task"] != "auto":
        lines += ["Given: " + "; ".join(f"*{k}* = {v}" for k, v in TASK_MODE_HELP.items()) + ".", ""]
    if payload["unavailable"]:
        lines += ["Unavailable: " + "; ".join(f"{k}: {v}" for k, v in payload["unavailable"].items()), ""]
    if payload["task"] == "auto":
        lines += ["## Detection", ""] + detection_tables(payload["detection"])
    else:
        lines += ["## Quality", ""] + task_tables(payload["quality"])
    if payload.get("published"):
        lines += [
            "## Published figures (Rain100H, Y channel)",
            "",
            "Not comparable one to one: all 100 test images (ours: the first 50), and trained on real "
            "Rain100H training pairs (ours: synthetic rain only).",
            "",
            "| method | PSNR-Y (dB) | SSIM-Y | trained on | source |",
            "|---|---:|---:|---|---|",
        ]
        for r in payload["published"]:
            p = "—" if r["psnr_y"] is None else f"{r['psnr_y']:.2f}"
            s = "—" if r["ssim_y"] is None else f"{r['ssim_y']:.3f}"
            lines.append(f"| {r['method']} | {p} | {s} | {r['training']} | {r['source']} |")
        lines.append("")
    if payload["speed"]:
        lines += speed_section(
            "Whole `run_restore` call on a square photo (the first image of the first set resized, σ=25 noise "
            f"added; speed does not depend on the content), median of {payload['speed_repeats']} runs after a "
            "warm-up, each registered method and thread count in a fresh process (peak RSS = its high-water mark at "
            "the size). "
            "Kernel-given peers cannot be loaded by name in a fresh process: they are timed in the benchmark's "
            "own process with a 19×19 kernel, without a memory figure (—). *tile* `whole`: the method sees the "
            "whole image at once.",
            payload["speed"],
        )
    path.write_text("\n".join(lines) + "\n")
