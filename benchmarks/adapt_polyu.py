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

import argparse
import json
import os
from pathlib import Path


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="base model (name or .safetensors)")
    parser.add_argument("--minutes", type=float, default=2.0, help="adaptation budget per camera")
    parser.add_argument("--steps", type=int, default=None,
                        help="fixed step budget per camera instead of minutes (reproducible comparisons on a busy machine)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cameras", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--split", action="store_true", help="adapt on half of each camera's photos, score on the rest")
    parser.add_argument("--out", type=Path, help="write every number here (JSON)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from restora.adapt import AdaptConfig
    from restora.adapt.evaluate import evaluate_adaptation, markdown_table
    from restora.models.modelfile import read_metadata
    from restora.engine.catalogue import get_spec
    from restora.settings import data_dir

    spec = get_spec(args.model)
    cfg = AdaptConfig(minutes=0.0, steps=args.steps) if args.steps else AdaptConfig(minutes=args.minutes)
    summary = evaluate_adaptation(args.model, data_dir() / "real" / "PolyU50", cfg,
                                  [c for c in args.cameras.split(",") if c] or None, args.split,
                                  log=lambda line: print(line, flush=True))
    summary.update(model=spec.name, model_steps=read_metadata(spec.path)["card"].get("steps") if spec.path else None,
                   minutes_per_camera=None if args.steps else args.minutes, steps_per_camera=args.steps,
                   threads=args.threads)
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1))
    print()
    print(markdown_table(summary))


if __name__ == "__main__":
    main()
