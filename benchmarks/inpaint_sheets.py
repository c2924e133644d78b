"""Before/after sheets of the 12 scanned old photos (no references: for looking only), into docs/inpaint/.

    RESTORA_DATA=../shared/data nice -n 10 python benchmarks/inpaint_sheets.py

Each sheet: the scan, the damage found by restora-damage (red over the scan), and the repair by restora-inpaint
with that mask; each panel at most 320 px high, JPEG quality 80.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from restora.engine.inpaint import detect_damage, inpaint
from restora.io import read_image
from restora.settings import data_dir

OUT = Path(__file__).resolve().parent.parent / "docs" / "inpaint"
HEIGHT = 320


def panel(pixels: np.ndarray) -> PILImage.Image:
    im = PILImage.fromarray(np.clip(np.rint(pixels * 255), 0, 255).astype(np.uint8))
    scale = min(1.0, HEIGHT / im.height)
    return im.resize((round(im.width * scale), round(im.height * scale)), PILImage.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for folder in ("scratched", "old"):
        for f in sorted((data_dir() / "oldphotos" / folder).glob("*.png")):
            x = read_image(f).pixels
            mask = detect_damage(x)
            shown = np.where(mask[..., None], np.float32([1.0, 0.1, 0.1]), x)
            panels = [panel(x), panel(shown), panel(inpaint(x, mask, "fast"))]
            sheet = PILImage.new("RGB", (sum(p.width for p in panels) + 8 * 2, panels[0].height), "white")
            left = 0
            for p in panels:
                sheet.paste(p, (left, 0))
                left += p.width + 8
            sheet.save(OUT / f"{folder}-{f.stem}.jpg", quality=80)
            print(f"{folder}/{f.name}: damage found on {100 * mask.mean():.2f} % of the photo")


if __name__ == "__main__":
    main()
