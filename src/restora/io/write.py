"""Writing :class:`restora.io.Image` to files, atomically.

The format comes from the output extension. Bit depth follows ``Image.bit_depth`` unless asked:
PNG and TIFF hold 16 bits (TIFF also float32 for float sources), every other format 8. Values
are clipped to [0, 1] and rounded to the nearest integer level: ``rint(clip(x, 0, 1) * (2**b - 1))``.
Grey images are written grey (the mean of the three channels) where the format has grey; alpha
where the format has it (not JPEG or BMP; GIF: transparent where alpha is under half). GIF gets an
adaptive palette of 256 colours (255 and a transparent one with alpha). EXIF (orientation 1, Software set when given) and the
ICC profile go into PNG, JPEG, TIFF, WebP and HEIC.

The file appears all at once: it is written to a hidden temporary file in the target folder
(``.<name>.<random>.tmp``), flushed to disk, then renamed over the target. On any failure the
temporary file is removed and an existing target is left as it was.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image as PILImage
from PIL import PngImagePlugin

from restora.errors import OutputError, RestoraError
from restora.io.formats import (
    ALPHA_FORMATS,
    GREY_FORMATS,
    METADATA_FORMATS,
    RAW_EXTENSIONS,
    SIXTEEN_BIT_FORMATS,
    SUPPORTED_WRITE_EXTENSIONS,
    WRITE_FORMATS,
)
from restora.io.image import Image
from restora.io.metadata import (
    EXIF_IFD,
    GPS_IFD,
    INTEROP_IFD,
    IMAGE_DESCRIPTION,
    ORIENTATION,
    SOFTWARE,
    TIFF_IFD0_EXIF_TAGS,
    exif_from_bytes,
    exif_to_bytes,
    without_maker_note,
)
from restora.io.read import _register_heif

SUBSAMPLINGS = ("4:4:4", "4:2:2", "4:2:0")
_JPEG_MAX_EXIF = 65533  # one JPEG APP1 segment

# The permissions a newly created file gets (mkstemp alone would give 0600).
_UMASK = os.umask(0)
os.umask(_UMASK)
_NEW_FILE_MODE = 0o666 & ~_UMASK


def _output_depth(fmt: str, source_depth: int, requested: int | None) -> int:
    """8, 16, or 32 (float TIFF, only when the source was float and no depth was asked)."""
    depth = requested if requested is not None else source_depth
    if fmt not in SIXTEEN_BIT_FORMATS or depth <= 8:
        return 8
    if depth == 32 and fmt == "TIFF" and requested is None:
        return 32
    return 16


def _quantise(x: np.ndarray, depth: int) -> np.ndarray:
    """Float [0, 1] to the stored type: clip, scale, round half to even (np.rint).

    Done in blocks of rows so that no second full-size float copy of the image is made.
    """
    if depth == 32:
        return np.clip(x, 0.0, 1.0).astype(np.float32, copy=False)
    scale, dtype = (255.0, np.uint8) if depth == 8 else (65535.0, np.uint16)
    out = np.empty(x.shape, dtype)
    rows = max(1, (1 << 22) // max(1, x[0].size))  # about 4 M values (16 MB of float32) a block
    for start in range(0, x.shape[0], rows):
        block = np.clip(x[start : start + rows], 0.0, 1.0).astype(np.float32, copy=False)
        block *= scale
        out[start : start + rows] = np.rint(block, out=block)
    return out


def _encode_pillow(fp: BinaryIO, fmt: str, colour: np.ndarray, alpha: np.ndarray | None, **options) -> None:
    """8-bit PNG, JPEG, WebP, BMP and HEIC through Pillow (pillow-heif for HEIC)."""
    if fmt == "HEIF":
        _register_heif()
    array = colour if alpha is None else np.dstack([colour, alpha])
    if fmt == "WEBP" and colour.ndim == 2:  # WebP has no grey: store it as colour
        array = np.dstack([colour] * 3 + ([alpha] if alpha is not None else []))
    PILImage.fromarray(array).save(fp, format=fmt, **{k: v for k, v in options.items() if v is not None})


def _encode_gif(fp: BinaryIO, colour: np.ndarray, alpha: np.ndarray | None) -> None:
    """GIF: an adaptive palette of the restored colours (median cut, not dithered: dithering would put grain
    back); grey keeps its 256 levels exactly. Pixels with alpha under half are GIF's one transparent colour."""
    if colour.ndim == 2 and alpha is None:
        PILImage.fromarray(colour).save(fp, format="GIF")
        return
    rgb = PILImage.fromarray(colour).convert("RGB")
    paletted = rgb.quantize(
        256 if alpha is None else 255, method=PILImage.Quantize.MEDIANCUT, dither=PILImage.Dither.NONE
    )
    if alpha is None:
        paletted.save(fp, format="GIF")
        return
    palette = (paletted.getpalette() or [])[: 255 * 3]
    index = np.asarray(paletted).copy()
    index[alpha < 128] = 255
    with_transparency = PILImage.fromarray(index, "P")
    with_transparency.putpalette(palette + [0] * (256 * 3 - len(palette)))
    with_transparency.save(fp, format="GIF", transparency=255)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    buffer = io.BytesIO()
    PngImagePlugin.putchunk(buffer, kind, data)
    return buffer.getvalue()


def _encode_png16(fp: BinaryIO, colour: np.ndarray, alpha: np.ndarray | None, *, exif, icc) -> None:
    """16-bit PNG through OpenCV (Pillow cannot hold 16-bit colour); iCCP and eXIf added after IHDR."""
    import cv2

    if colour.ndim == 2 and alpha is not None:  # OpenCV has no grey+alpha PNG: keep 16 bits as RGBA
        colour = np.dstack([colour] * 3)
    array = colour if colour.ndim == 2 else colour[..., ::-1]  # RGB -> BGR
    if alpha is not None:
        array = np.dstack([array, alpha])
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(array), [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise RuntimeError("OpenCV could not encode the 16-bit PNG")
    data = encoded.tobytes()
    ihdr_end = 8 + 8 + 13 + 4  # signature, then IHDR: length, type, 13 bytes of data, CRC
    chunks = b""
    if icc:
        chunks += _png_chunk(b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(icc))
    if exif:
        chunks += _png_chunk(b"eXIf", exif.removeprefix(b"Exif\x00\x00"))
    fp.write(data[:ihdr_end] + chunks + data[ihdr_end:])


def _ascii(value) -> str | None:
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = text.strip("\x00")
    return text if text and text.isascii() else None


def _encode_tiff(fp: BinaryIO, colour: np.ndarray, alpha: np.ndarray | None, *, exif, icc, software) -> None:
    """TIFF through tifffile (8/16-bit or float, Deflate); the EXIF sub-IFDs through Pillow's IFD writer.

    tifffile writes IFD0: pixels, ICC, the descriptive EXIF tags (Make, Model, ...) and, because it
    refuses to write the Exif and GPS pointer tags itself, a placeholder entry for each with the
    code just below the real one (so IFD0 stays sorted). Each sub-IFD is then serialised at the end
    of the file and its placeholder turned into the real pointer (code and offset).
    """
    import tifffile
    from PIL.TiffImagePlugin import ImageFileDirectory_v2

    array = colour if alpha is None else np.dstack([colour, alpha])
    parsed = exif_from_bytes(exif)
    extratags: list[tuple] = [(ORIENTATION, "H", 1, 1, True)]
    description = None
    sub_ifds: dict[int, dict] = {}
    if parsed is not None:
        for tag in TIFF_IFD0_EXIF_TAGS:
            value = _ascii(parsed.get(tag)) if tag in parsed else None
            if value is None or tag == SOFTWARE:  # Software goes through tifffile's own argument
                continue
            if tag == IMAGE_DESCRIPTION:
                description = value
            else:
                extratags.append((tag, "s", 0, value, True))
        if software is None and SOFTWARE in parsed:
            software = _ascii(parsed.get(SOFTWARE))
        for tag in (EXIF_IFD, GPS_IFD):
            entries = {k: v for k, v in parsed.get_ifd(tag).items() if k != INTEROP_IFD} if tag in parsed else {}
            if entries:
                sub_ifds[tag] = entries
                extratags.append((tag - 1, "I", 1, 0, True))  # placeholder, see above
    tifffile.imwrite(
        fp,
        array,
        byteorder="<",
        photometric="minisblack" if colour.ndim == 2 else "rgb",
        planarconfig="contig",
        extrasamples=("unassalpha",) if alpha is not None else None,
        compression="zlib",
        predictor=array.dtype.kind != "f",
        iccprofile=icc or None,
        software=software if software is not None else False,
        description=description,
        metadata=None,
        extratags=extratags,
    )
    if not sub_ifds:
        return
    head = b"II*\x00" + (8).to_bytes(4, "little")
    fp.seek(0)  # tifffile takes the handle's position as the start of the TIFF
    with tifffile.TiffFile(fp) as written:
        placeholders = written.pages.first.tags
        for tag, entries in sub_ifds.items():
            ifd = ImageFileDirectory_v2(ifh=head, group=tag)
            for key, value in entries.items():
                ifd[key] = value
            fp.seek(0, os.SEEK_END)
            if fp.tell() % 2:  # IFDs start on a word boundary
                fp.write(b"\x00")
            offset = fp.tell()
            fp.write(ifd.tobytes(offset))
            entry = placeholders[tag - 1]
            entry.overwrite(offset)
            fp.seek(entry.offset)
            fp.write(tag.to_bytes(2, "little"))  # the entry's tag code


def _encoder(fmt: str, depth: int, *, exif, icc, jpeg_quality, subsampling, software) -> Callable:
    """A function(fp, colour, alpha) writing one format."""
    if fmt == "TIFF":
        return lambda fp, c, a: _encode_tiff(fp, c, a, exif=exif, icc=icc, software=software)
    if fmt == "PNG" and depth == 16:
        return lambda fp, c, a: _encode_png16(fp, c, a, exif=exif, icc=icc)
    if fmt == "GIF":
        return _encode_gif
    options: dict = {"exif": exif, "icc_profile": icc}
    if fmt == "PNG":
        options["compress_level"] = 6
    elif fmt == "JPEG":
        if exif is not None and len(exif) > _JPEG_MAX_EXIF:
            exif = without_maker_note(exif)
            options["exif"] = exif if len(exif) <= _JPEG_MAX_EXIF else None
        options.update(quality=jpeg_quality, subsampling=subsampling)
    elif fmt == "WEBP":
        options["quality"] = jpeg_quality
    elif fmt == "HEIF":
        # 4:2:0 (HEVC Main profile) is what every HEIC decoder reads, 4:4:4 is not; x265's "medium"
        # preset encodes about twice as fast as libheif's default "slow" for a slightly larger file.
        options.update(quality=jpeg_quality, chroma=420, enc_params={"preset": "medium"})
    elif fmt == "BMP":
        options = {}
    return lambda fp, c, a: _encode_pillow(fp, fmt, c, a, **options)


def _write_atomically(path: Path, encode: Callable[[BinaryIO], object]) -> None:
    """Encode into a hidden temporary file beside ``path``, fsync, then rename it into place."""
    folder = path.parent
    mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else _NEW_FILE_MODE  # a replaced file keeps its mode
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OutputError(f"{path}: cannot write in {folder} ({e.strerror or e})") from None
    os.close(fd)  # reopened by name: some encoders (tifffile) want a file object with a real name
    tmp = Path(tmp_name)
    try:
        with open(tmp, "w+b") as fp:
            encode(fp)
            fp.flush()
            os.fchmod(fp.fileno(), mode)
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, RestoraError) or not isinstance(e, Exception):
            raise
        reason = e.strerror if isinstance(e, OSError) and e.strerror else (str(e).splitlines() or [type(e).__name__])[0]
        raise OutputError(f"{path}: cannot write ({reason})") from e
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every platform can open a folder)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_image(
    path: str | Path,
    image: Image,
    *,
    bit_depth: int | None = None,
    jpeg_quality: int = 95,
    subsampling: str = "4:4:4",
    software: str | None = None,
) -> None:
    """Write ``image`` to ``path`` atomically, in the format named by the extension.

    ``bit_depth``: 8 or 16 to override ``image.bit_depth`` (formats without 16 bits write 8).
    ``jpeg_quality`` (1-100) also sets the WebP and HEIC quality; ``subsampling`` (JPEG chroma) is
    "4:4:4", "4:2:2" or "4:2:0" (HEIC is always 4:2:0, WebP's lossy mode always 4:2:0). ``software`` (e.g. "Restora 0.1.0 (nlm)") goes into
    EXIF Software. Raises OutputError (one line) for an unsupported extension, a camera RAW
    extension, a missing or unwritable folder, or a failed encode.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext in RAW_EXTENSIONS:
        raise OutputError(f"{path}: camera RAW cannot be written; write .tif (16-bit TIFF) instead")
    if ext not in WRITE_FORMATS:
        supported = " ".join(sorted(SUPPORTED_WRITE_EXTENSIONS))
        raise OutputError(f"{path}: cannot write '{ext or 'no extension'}' files (supported: {supported})")
    if bit_depth not in (None, 8, 16):
        raise OutputError(f"{path}: bit depth must be 8 or 16, not {bit_depth}")
    if not (isinstance(jpeg_quality, int) and 1 <= jpeg_quality <= 100):
        raise OutputError(f"{path}: JPEG quality must be an integer from 1 to 100, not {jpeg_quality}")
    if subsampling not in SUBSAMPLINGS:
        raise OutputError(f"{path}: subsampling must be one of {', '.join(SUBSAMPLINGS)}, not '{subsampling}'")
    if not path.parent.is_dir():
        raise OutputError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder")

    fmt = WRITE_FORMATS[ext]
    depth = _output_depth(fmt, image.bit_depth, bit_depth)
    grey = image.grayscale and fmt in GREY_FORMATS
    # float64 mean: exactly the input value when the three channels are equal
    colour = _quantise(image.pixels.mean(axis=2, dtype=np.float64) if grey else image.pixels, depth)
    alpha = _quantise(image.alpha, depth) if image.alpha is not None and fmt in ALPHA_FORMATS else None
    with_metadata = fmt in METADATA_FORMATS
    exif = exif_to_bytes(exif_from_bytes(image.exif), software=software) if with_metadata else None
    icc = image.icc if with_metadata else None
    encode = _encoder(
        fmt, depth, exif=exif, icc=icc, jpeg_quality=jpeg_quality, subsampling=subsampling, software=software
    )
    _write_atomically(path, lambda fp: encode(fp, colour, alpha))


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` (a report, a JSON file) to ``path`` atomically, as images are written (hidden temporary
    file, fsync, rename): a reader sees the old file or the whole new one. The folder must exist."""
    path = Path(path)
    if not path.parent.is_dir():
        raise OutputError(f"{path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise OutputError(f"{path}: is a folder")
    _write_atomically(path, lambda fp: fp.write(data))
