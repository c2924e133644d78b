"""Validation against training compute for a line of models: has the recipe flattened?

Each model (a registered name or a ``.safetensors`` file, e.g. a model's earlier versions taken from git) is scored
on one config's validation with ``restora.train.validation.validate_models`` (the held-out CBSD432 crops, never
``test/``), and placed at the total CPU-hours its card records (``total_cpu_hours``, else ``cpu_hours``). The
table and the plot show what each further CPU-hour bought.

    python benchmarks/validation_vs_compute.py configs/denoise-quality-warm-192px.yaml A.safetensors B.safetensors \
        --labels "9,500 steps,20,500 steps" --out benchmarks/denoise-validation-vs-compute.png
"""

from __future__ import annotations

from pathlib import Path

import typer


def main(
    config: Path = typer.Argument(...),
    models: list[str] = typer.Argument(...),
    labels: str | None = typer.Option(None, help="comma-separated, one per model (default: the file names)"),
    threads: int = typer.Option(2),
    out: Path | None = typer.Option(None, help="plot (PNG); the table goes to stdout"),
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from restora.models.modelfile import read_metadata
    from restora.engine.catalogue import get_spec
    from restora.train.config import TrainConfig
    from restora.train.validation import validate_models

    labels = labels.split(",") if labels else [Path(m).stem for m in models]
    if len(labels) != len(models):
        raise typer.BadParameter("give one label per model", param_hint="--labels")

    torch.set_num_threads(threads)
    cfg = TrainConfig.from_yaml(config)
    cards = [
        read_metadata(get_spec(m).path)["card"] for m in models
    ]  # the card only; validate_models loads the weights
    hours = [float(c.get("total_cpu_hours", c.get("cpu_hours", 0.0))) for c in cards]
    steps = [int(c.get("total_steps", c.get("steps", 0))) for c in cards]
    results = validate_models(cfg, models)
    columns = [k for k in results[0] if k.startswith("val_")]

    print("| model | steps | CPU-hours | " + " | ".join(columns) + f" | {cfg.select or 'val_psnr'} |")
    print("|---|---:|---:|" + "---:|" * (len(columns) + 1))
    for label, n, h, r in zip(labels, steps, hours, results):
        print(
            f"| {label} | {n:,} | {h:.2f} | " + " | ".join(f"{r[c]:.3f}" for c in columns) + f" | {r['selected']:.3f} |"
        )

    if out:
        order = sorted(range(len(hours)), key=hours.__getitem__)
        fig, ax = plt.subplots(figsize=(6, 4))
        for c in columns:
            ax.plot([hours[i] for i in order], [results[i][c] for i in order], marker="o", label=c)
        for i in order:
            ax.annotate(
                labels[i], (hours[i], results[i][columns[0]]), textcoords="offset points", xytext=(3, 5), fontsize=7
            )
        ax.set_xlabel("training CPU-hours (total)")
        ax.set_ylabel("validation PSNR (dB)")
        ax.set_title(f"{cfg.name} validation (held-out CBSD432, seed {cfg.seed})", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out, dpi=110)


if __name__ == "__main__":
    typer.run(main)
