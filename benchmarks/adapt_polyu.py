"""Measure ``restora adapt`` honestly on real noisy/clean pairs (PolyU50): see ``restora.adapt.evaluate``.

Per camera: adapt on that camera's noisy photos only (the clean ones are read only to score), then score the
unadapted and the adapted model on the same photos against the clean ones; ``--split`` adapts on every
other photo and scores on the rest.

    OMP_NUM_THREADS=1 python benchmarks/adapt_polyu.py --model restora-denoise --minutes 2 --threads 1
    OMP_NUM_THREADS=1 python benchmarks/adapt_polyu.py --model restora-denoise --steps 200 --cameras Sony

``--steps N`` replaces the time budget by a fixed number of steps (the run can still stop earlier on its
held-out criterion), so variants can be compared reproducibly on a busy machine.

Prints a Markdown table for benchmarks/RESULTS.md; ``--out`` writes every number as JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import typer


adaptation = typer.Typer(add_completion=False)


@adaptation.command()
def adapt(
    model: str = typer.Option(..., help="base model (name or .safetensors)"),
    minutes: float = typer.Option(2.0, help="adaptation budget per camera"),
    steps: int | None = typer.Option(
        None, help="fixed step budget per camera instead of minutes (reproducible comparisons on a busy machine)"
    ),
    threads: int = typer.Option(1),
    cameras: str = typer.Option("", help="comma-separated subset (default: all)"),
    split: bool = typer.Option(False, "--split", help="adapt on half of each camera's photos, score on the rest"),
    out: Path | None = typer.Option(None, help="write every number here (JSON)"),
) -> None:
    """Adapt MODEL per PolyU50 camera and score it; optional JSON to --out."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(threads)
    from restora.adapt import AdaptConfig
    from restora.adapt.evaluate import evaluate_adaptation, markdown_table
    from restora.models.modelfile import read_metadata
    from restora.engine.catalogue import get_spec
    from restora.settings import data_dir

    spec = get_spec(model)
    cfg = AdaptConfig(minutes=0.0, steps=steps) if steps else AdaptConfig(minutes=minutes)
    summary = evaluate_adaptation(
        model,
        data_dir() / "real" / "PolyU50",
        cfg,
        [c for c in cameras.split(",") if c] or None,
        split,
        log=lambda line: print(line, flush=True),
    )
    summary.update(
        model=spec.name,
        model_steps=read_metadata(spec.path)["card"].get("steps") if spec.path else None,
        minutes_per_camera=None if steps else minutes,
        steps_per_camera=steps,
        threads=threads,
    )
    if out:
        out.write_text(json.dumps(summary, indent=1))
    print()
    print(markdown_table(summary))


def main(argv: list[str] | None = None) -> None:
    """Run as a command; with ``argv`` (tests), in process: errors raise instead of exiting."""
    adaptation(argv, prog_name="python benchmarks/adapt_polyu.py", standalone_mode=argv is None)


if __name__ == "__main__":
    main()
