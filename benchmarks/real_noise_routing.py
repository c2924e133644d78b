"""Where ``--task auto`` sends real noisy photos: the task chosen per photo of a folder, with and without the
routing head (restora.engine.routing), by restora.engine.detect.detect on the whole photo as `restora restore`
runs it. `python benchmarks/real_noise_routing.py real/CC52/noisy real-noisy/DND32`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Annotated

import torch
import typer

from restora.engine import detect as detect_module
from restora.engine.detect import detect, detector_name
from restora.engine.restore import get_method
from restora.io import read_image
from restora.settings import data_dir


def main(
    folders: Annotated[list[str], typer.Argument(help="Folders under the data root.")],
    out: Annotated[Path | None, typer.Option(help="Per-photo JSON lines.")] = None,
) -> None:
    torch.set_num_threads(1)
    detector = detector_name()
    method = get_method(detector, "cpu", "torch")
    own_head = detect_module.routing_head
    lines = []
    for folder in folders:
        files = sorted(p for p in (data_dir() / folder).iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
        for label, head in (("classifier", lambda path: None), ("routing head", own_head)):
            detect_module.routing_head = head
            tasks, seconds = Counter(), 0.0
            for f in files:
                x = read_image(f).pixels[..., :3]
                start = time.perf_counter()
                d = detect(method, method.context_input(x), detector, x)
                seconds += time.perf_counter() - start
                tasks[d.task] += 1
                lines.append({"set": folder, "probabilities": label, "file": f.name, "task": d.task})
            detect_module.routing_head = own_head
            print(
                f"{folder} ({len(files)} photos), {label}: {dict(tasks.most_common())}; "
                f"to denoise {tasks['denoise']}/{len(files)} = {tasks['denoise'] / len(files):.1%}; "
                f"{seconds / len(files):.2f} s per photo"
            )
    if out is not None:
        out.write_text("".join(json.dumps(line) + "\n" for line in lines))


if __name__ == "__main__":
    typer.run(main)
