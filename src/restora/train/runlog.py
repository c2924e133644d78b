"""A run's log: the CSV columns, reading and extending ``log.csv``, and the validation curve ``curve.png``."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from restora.losses import RESTORATION_TERMS
from restora.train.config import TrainConfig

LOG_FIELDS = [
    "step",
    "loss",
    *RESTORATION_TERMS,
    "distill_out",
    "distill_feat",
    "lr",
    "val_psnr",
    "seconds",
    "wall_seconds",
    "steps_per_s",
]


AUX_FIELDS = ["classify", "severity", "contrastive", "accuracy"]


def log_fields(cfg: TrainConfig, describes: bool) -> list[str]:
    """CSV columns of a new run: the classic ones, plus the auxiliary losses of a describing model and
    the per-task validation PSNR and accuracy of a mixture, and the extra validation figures."""
    fields = list(LOG_FIELDS)
    if describes:
        fields[fields.index("lr") : fields.index("lr")] = AUX_FIELDS
    extra = [f"val_{t}" for t in cfg.data.tasks] + (["val_acc"] if describes and cfg.data.mixture else [])
    if cfg.data.mixture and "lowlight" in cfg.data.tasks:
        extra.insert(extra.index("val_lowlight") + 1, "val_lowlight_gtmean")
    extra += [f"val_{s}" for s in cfg.data.set_names]
    extra += [f"val_psnr_{n}" for n in cfg.data.extra_names]
    at = fields.index("val_psnr") + 1
    return fields[:at] + extra + fields[at:]


def extend_log(log_path: Path, wanted: list[str]) -> list[str] | None:
    """An existing log's columns, plus any of ``wanted`` it lacks (appended; earlier rows left blank)."""
    with open(log_path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return None
    header = rows[0]
    missing = [c for c in wanted if c not in header]
    if missing:
        tmp = log_path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows([header + missing, *(r + [""] * len(missing) for r in rows[1:])])
        os.replace(tmp, log_path)
    return header + missing


def validation_title(cfg: TrainConfig) -> str:
    d = cfg.data
    if cfg.style is not None:
        return f"validation perceptual loss (held-out {Path(d.train_dir).name}, {d.val_crop}² crops)"
    plus = "".join(f" + {n}" for n in d.extra_names)
    if d.sets:
        return f"validation PSNR per set (held-out {', '.join(d.set_names)}, σ={d.val_sigma:g} blind{plus})"
    if d.mixture:
        return f"validation PSNR per task (held-out {Path(d.train_dir).name}, the run's degradations{plus})"
    if d.val_pipeline:
        return f"validation PSNR (held-out {Path(d.train_dir).name}, {d.val_pipeline}{plus})"
    return f"validation PSNR (held-out {Path(d.train_dir).name}, σ={d.val_sigma:g} blind{plus})"


def read_log(log_path: Path) -> list[dict]:
    """A run's log.csv as rows of column → text (empty where a row has no figure); [] without a log."""
    if not Path(log_path).exists():
        return []
    with open(log_path, newline="") as fh:
        return list(csv.DictReader(fh))


def plot_curve(log_path: Path, out: Path, title: str = "validation PSNR (held-out CBSD432, σ=25 blind)") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(log_path)
    if not rows:
        return
    steps = np.array([int(r["step"]) for r in rows])
    loss = np.array([float(r["loss"]) for r in rows])
    extra = [c for c in rows[0] if c.startswith("val_psnr_")]  # data.val_extra
    columns = [c for c in rows[0] if c.startswith("val_") and c not in ("val_acc", "val_psnr", *extra)] or ["val_psnr"]
    columns += extra
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.5))
    ax[0].plot(steps, loss, lw=0.6)
    # A log axis where the loss is positive; a PSNR loss (negative dB) is plotted on a linear one.
    ax[0].set(xlabel="step", ylabel="training loss", yscale="log" if (loss > 0).all() else "linear", title="loss")
    for col in columns:
        vrows = [(int(r["step"]), float(r[col])) for r in rows if r.get(col)]
        if vrows:
            v = np.array(vrows)
            label = "main" if col == "val_psnr" else col.removeprefix("val_psnr_").removeprefix("val_")
            ax[1].plot(v[:, 0], v[:, 1], "o-", ms=3, label=label if len(columns) > 1 else None)
    if len(columns) > 1:
        ax[1].legend(fontsize=7)
    ax[1].set(xlabel="step", ylabel="PSNR (dB)" if "val_psnr" in rows[0] else "validation loss")
    ax[1].set_title(title, fontsize=8)
    fig.tight_layout()
    tmp = out.with_name(f".{out.name}.tmp.png")
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out)
