"""restora-style-mosaic: speed per network width, perceptual losses on held-out photos, and the gallery.

    RESTORA_DATA=../shared/data nice -n 10 python benchmarks/stylize_bench.py speed --threads 2
    nice -n 10 python benchmarks/stylize_bench.py forward --threads 2 --widths 8 12 16 24 32
    RESTORA_DATA=../shared/data nice -n 10 python benchmarks/stylize_bench.py losses
    RESTORA_DATA=../shared/data nice -n 10 python benchmarks/stylize_bench.py gallery

speed: the whole restore call (``run_restore``, default tile) on a 1024² image, median of 3 runs after a
warm-up on a 256² crop, for the style network at several widths (random weights: speed does not depend on them; the shipped
style is width 8) and restora-denoise-fast as the peer measured in the same run. losses: content and style loss of
restora.losses.style (the training config's weights and style image) on the held-out photos of the training
config (the last 16 of train/CBSD432, whole photos), for the input itself and for the stylised photo at
strengths 1 and 0.5. gallery: Kodak photos and two old photos, input beside result, into docs/stylize/.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

import typer

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "style-mosaic.yaml"
MODEL = "restora-style-mosaic"
GALLERY = [
    ("test/Kodak24", "kodim03.png"),
    ("test/Kodak24", "kodim05.png"),
    ("test/Kodak24", "kodim15.png"),
    ("test/Kodak24", "kodim23.png"),
    ("oldphotos/old", "a.png"),
    ("oldphotos/old", "c.png"),
]


def speed(threads: int, widths: list[int], size: int = 1024) -> None:
    from restora.eval.speed import set_threads, speed_input

    set_threads(threads)
    import torch

    torch.set_num_threads(threads)
    from restora.models.modelfile import save_model
    from restora.engine.restore import get_method, run_restore
    from restora.models.stylenet import StyleNet

    x = speed_input(size, None).astype("float32")
    with tempfile.TemporaryDirectory() as tmp:
        models = []
        for w in widths:
            path = Path(tmp) / f"stylenet-w{w}.safetensors"
            save_model(StyleNet(width=w), path, {"name": path.stem, "task": "stylize", "tasks": ["stylize"]})
            models.append(
                (
                    f"stylenet width {w} ({sum(p.numel() for p in StyleNet(width=w).parameters()) / 1e6:.2f} M)",
                    "stylize",
                    str(path),
                )
            )
        models.append(("restora-denoise-fast (peer)", "denoise", "restora-denoise-fast"))
        rows = []
        for label, task, name in models:
            get_method(name, "cpu", "torch")
            run_restore(x[:256, :256], task, name, device="cpu", runtime="torch", sigma=25.0)  # warm-up
            times = [run_restore(x, task, name, device="cpu", runtime="torch", sigma=25.0).seconds for _ in range(3)]
            rows.append((label, statistics.median(times)))
            print(
                f"{label}: median {statistics.median(times):.2f} s, {size * size / 1e6 / statistics.median(times):.2f} MP/s",
                flush=True,
            )
    peer = rows[-1][1]
    print(f"\n{size}² image, torch, {threads} threads, default tile 512, median of 3 after a warm-up")
    print("| network | s per image | MP/s | time / peer's |\n|---|---|---|---|")
    for label, t in rows:
        print(f"| {label} | {t:.2f} | {size * size / 1e6 / t:.2f} | {t / peer:.2f} |")


def forward_speed(threads: int, widths: list[int], size: int = 1024) -> None:
    """The network's forward pass alone on a (1, 3, size, size) tensor (channels-last), best of 3 after a warm-up."""
    import torch

    torch.set_num_threads(threads)
    from restora.models.stylenet import StyleNet

    x = torch.rand(1, 3, size, size).contiguous(memory_format=torch.channels_last)
    for w in widths:
        net = StyleNet(width=w).eval().to(memory_format=torch.channels_last)
        with torch.inference_mode():
            net(x[..., :256, :256])
            times = []
            for _ in range(3):
                start = time.perf_counter()
                net(x)
                times.append(time.perf_counter() - start)
        n = sum(p.numel() for p in net.parameters()) / 1e6
        print(
            f"width {w}: {n:.3f} M params, best {min(times):.3f} s, {size * size / 1e6 / min(times):.2f} MP/s",
            flush=True,
        )


def losses() -> None:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from restora.engine.restore import run_restore
    from restora.losses.style import PerceptualStyleLoss
    from restora.train.config import TrainConfig
    from restora.train.data import load_rgb, split_train_val
    from restora.train.style import load_style_image

    cfg = TrainConfig.from_yaml(CONFIG)
    loss = PerceptualStyleLoss(load_style_image(cfg.style.image, cfg.style.side), cfg.style.loss)
    _, val_files = split_train_val(cfg.data)
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32)).permute(2, 0, 1)[None]  # noqa: E731
    results: dict[str, list] = {"input": [], "strength 1": [], "strength 0.5": []}
    for f in val_files:
        x = load_rgb(f).astype(np.float32) / 255.0
        with torch.no_grad():
            for key, strength in (("input", 0.0), ("strength 1", 1.0), ("strength 0.5", 0.5)):
                y = (
                    x
                    if strength == 0
                    else run_restore(x, "stylize", MODEL, strength=strength, device="cpu", runtime="torch").image.pixels
                )
                _, parts = loss(to_t(y), to_t(x))
                results[key].append((parts["content"], parts["style"]))
    print(
        f"held-out: last {cfg.data.val_count} of {cfg.data.train_dir}, whole photos; weights content "
        f"{cfg.style.loss.content}, style {cfg.style.loss.style}"
    )
    print("| output | content loss | style loss | weighted |\n|---|---|---|---|")
    for key, vals in results.items():
        c, s = np.mean(vals, axis=0)
        print(f"| {key} | {c:.4f} | {s:.4f} | {cfg.style.loss.content * c + cfg.style.loss.style * s:.4f} |")


def gallery(out: Path) -> None:
    import numpy as np
    import torch
    from PIL import Image

    torch.set_num_threads(1)
    from restora.engine.restore import run_restore
    from restora.settings import data_dir
    from restora.train.data import load_rgb

    out.mkdir(parents=True, exist_ok=True)
    for folder, name in GALLERY:
        x = load_rgb(data_dir() / folder / name).astype(np.float32) / 255.0
        y = run_restore(x, "stylize", MODEL, device="cpu", runtime="torch").image.pixels
        pair = np.concatenate([x, np.ones((x.shape[0], 8, 3), np.float32), y], axis=1)
        im = Image.fromarray(np.round(pair * 255).astype(np.uint8))
        if im.width > 1100:
            im = im.resize((1100, round(im.height * 1100 / im.width)), Image.Resampling.LANCZOS)
        target = out / f"{Path(folder).name.lower()}-{Path(name).stem}.jpg"
        im.save(target, quality=85)
        print(f"wrote {target.relative_to(ROOT)}")


def main(
    what: Literal["speed", "forward", "losses", "gallery"] = typer.Argument(...),
    threads: int = typer.Option(2),
    widths: str = typer.Option("8,12,16,32", help="comma-separated widths"),
) -> None:
    """Speed, forward speed, held-out losses or the gallery of the stylize model."""
    width_list = [int(w) for w in widths.split(",")]
    sys.path.insert(0, str(ROOT / "src"))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads if what in ("speed", "forward") else 1))
    start = time.perf_counter()
    if what == "speed":
        speed(threads, width_list)
    elif what == "forward":
        forward_speed(threads, width_list)
    elif what == "losses":
        losses()
    else:
        gallery(ROOT / "docs" / "stylize")
    print(f"({time.perf_counter() - start:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    typer.run(main)
