"""A corpus of odd and broken files through one batch: each ends as a restored file or one clear line.

Made in the test: every colour mode Pillow writes (per format), sizes 1–32 px, files cut short at many points,
wrong extensions, headers claiming huge sizes (decompression bombs), animated GIF/APNG/WebP. The batch runs
with ``--model identity`` (the fastest) and the reliability analysis on, so the analysis meets every size.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image as PILImage

MODES = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "I;16", "I", "F", "CMYK", "YCbCr")
FORMATS = {"png": "PNG", "tif": "TIFF", "jpg": "JPEG", "webp": "WEBP", "bmp": "BMP", "gif": "GIF"}
CUTS = (0.01, 0.05, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 0.97)


def _picture(mode: str, height: int = 24, width: int = 32, seed: int = 0) -> PILImage.Image:
    rng = np.random.default_rng(seed)
    rgb = PILImage.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    if mode in ("I;16", "I", "F"):
        values = rng.integers(0, 65536, (height, width))
        dtype = {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]
        scale = 1 / 65535 if mode == "F" else 1
        return PILImage.fromarray((values * scale).astype(dtype), mode if mode != "I;16" else None)
    return rgb.convert(mode)


def _encoded(im: PILImage.Image, fmt: str, **params) -> bytes | None:
    buffer = io.BytesIO()
    try:
        im.save(buffer, format=fmt, **params)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # Pillow does not write this mode in this format
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def make_corpus(root: Path) -> dict[str, str]:
    """Write the corpus under ``root``; returns name → what must happen: 'restored', 'fails' or 'either'."""
    cases: dict[str, str] = {}

    def put(name: str, data: bytes | None, outcome: str) -> None:
        if data is not None:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(data)
            cases[name] = outcome

    for mode in MODES:
        for ext, fmt in FORMATS.items():
            put(f"modes/{mode.replace(';', '_')}.{ext}", _encoded(_picture(mode), fmt), "restored")
    for side in range(1, 33):
        put(f"sizes/{side:02d}x{side:02d}.png", _encoded(_picture("RGB", side, side, side), "PNG"), "restored")
    for height, width in ((1, 32), (32, 1), (8, 200), (3, 17)):
        put(f"sizes/{height}x{width}.png", _encoded(_picture("RGB", height, width), "PNG"), "restored")
    for ext, fmt in FORMATS.items():
        whole = _encoded(_picture("RGB", 48, 64), fmt)
        for cut in CUTS:
            put(f"cut/{int(cut * 100):02d}.{ext}", whole[: int(len(whole) * cut)], "fails")
    png, jpeg = _encoded(_picture("RGB"), "PNG"), _encoded(_picture("RGB"), "JPEG")
    put("named/png_named.jpg", png, "restored")
    put("named/jpeg_named.png", jpeg, "restored")
    put("named/jpeg_named.tif", jpeg, "restored")
    put("named/jpeg_as_raw.cr2", jpeg, "restored")
    put("named/text.png", b"these are not pixels\n" * 20, "fails")
    put("named/noise.tif", np.random.default_rng(1).bytes(3000), "fails")
    put("named/empty.jpg", b"", "fails")
    put("bombs/png_100000x100000.png", _png_claiming(100_000, 100_000), "fails")
    put("bombs/png_3x100000.png", _png_claiming(3, 100_000), "fails")  # data cut short
    put(
        "bombs/gif_65535x65535.gif",
        b"GIF89a"
        + struct.pack("<HH", 65535, 65535)
        + b"\x00\x00\x00"
        + b",\x00\x00\x00\x00"
        + struct.pack("<HH", 65535, 65535)
        + b"\x00\x02\x02\x44\x01\x00;",
        "fails",
    )
    bmp = bytearray(_encoded(_picture("RGB"), "BMP"))
    bmp[18:26] = struct.pack("<ii", 60_000, 60_000)
    put("bombs/bmp_60000x60000.bmp", bytes(bmp), "fails")
    frames = [_picture("RGB", 20, 24, seed) for seed in range(3)]
    for ext, fmt in (("gif", "GIF"), ("png", "PNG"), ("webp", "WEBP")):
        put(f"animated/three.{ext}", _encoded(frames[0], fmt, save_all=True, append_images=frames[1:]), "restored")
    return cases


def test_every_odd_file_ends_restored_or_as_one_line_and_the_batch_finishes(cli, tmp_path):
    cases = make_corpus(tmp_path / "corpus")
    assert len(cases) > 150
    names = sorted(cases)
    run = cli("denoise", *[f"corpus/{n}" for n in names], "-o", "out", "--model", "identity")
    assert "Traceback" not in run.out + run.err
    failed_lines = {}
    for line in run.err.splitlines():
        name, sep, reason = line.partition(": ")
        assert sep and name.startswith("corpus/") and reason, f"not a one-line failure: {line!r}"
        failed_lines[name.removeprefix("corpus/")] = reason
    restored = {n for n in names if any((tmp_path / "out" / n).parent.glob(Path(n).stem + ".*"))}
    for name in names:
        ended = (name in restored) + (name in failed_lines)
        assert ended == 1, f"{name}: restored={name in restored}, failed={failed_lines.get(name)}"
        if cases[name] == "restored":
            assert name in restored, f"{name}: {failed_lines.get(name)}"
        elif cases[name] == "fails":
            assert name in failed_lines, f"{name} was accepted"
    assert f"{len(restored)} done, 0 skipped, {len(failed_lines)} failed" in run.out
    assert run.code == (1 if failed_lines else 0)
    for name in ("bombs/png_100000x100000.png", "bombs/gif_65535x65535.gif", "bombs/bmp_60000x60000.bmp"):
        assert "too large" in failed_lines[name], failed_lines[name]
    assert "truncated PNG" in failed_lines["bombs/png_3x100000.png"]
    for ext in ("gif", "png", "webp"):
        assert (
            "only the first of its 3 frames" in run.out.split(f"corpus/animated/three.{ext} →")[1].split("\n corpus")[0]
        )
