"""EXIF and ICC handling shared by the readers and writers.

``Image.exif`` always holds EXIF in the form Pillow reads and writes (``b"Exif\\0\\0"`` followed by a
little TIFF file: IFD0 plus the Exif and GPS sub-IFDs), serialised by :class:`PIL.Image.Exif` with the
orientation already applied to the pixels (tag 274 = 1). The EXIF thumbnail (IFD1) is dropped: it
would show the unrestored photo.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any, BinaryIO

import numpy as np
from PIL import ExifTags, ImageCms
from PIL import Image as PILImage

log = logging.getLogger(__name__)

ORIENTATION = int(ExifTags.Base.Orientation)
SOFTWARE = int(ExifTags.Base.Software)
IMAGE_DESCRIPTION = int(ExifTags.Base.ImageDescription)
EXIF_IFD = int(ExifTags.IFD.Exif)
GPS_IFD = int(ExifTags.IFD.GPSInfo)
INTEROP_IFD = int(ExifTags.IFD.Interop)
MAKER_NOTE = int(ExifTags.Base.MakerNote)

# IFD0 tags worth carrying from a TIFF or camera RAW file into EXIF; the rest of a TIFF's IFD0
# describes its own pixel layout (strips, compression, ...) and must not travel.
TIFF_IFD0_EXIF_TAGS: tuple[int, ...] = tuple(
    int(t)
    for t in (
        ExifTags.Base.ImageDescription,
        ExifTags.Base.Make,
        ExifTags.Base.Model,
        ExifTags.Base.Software,
        ExifTags.Base.DateTime,
        ExifTags.Base.Artist,
        ExifTags.Base.HostComputer,
        ExifTags.Base.Copyright,
    )
)


def apply_orientation(array: np.ndarray, orientation: int | None) -> np.ndarray:
    """Turn stored pixels (H, W[, C]) into display orientation for EXIF orientation 1-8.

    Returns a view (no copy); the caller's float conversion makes the one contiguous copy.
    The cases follow the EXIF 2.3 table (same result as Pillow's ``ImageOps.exif_transpose``).
    """
    if orientation == 2:  # mirrored left-right
        return array[:, ::-1]
    if orientation == 3:  # upside down
        return array[::-1, ::-1]
    if orientation == 4:  # mirrored top-bottom
        return array[::-1, :]
    if orientation == 5:  # transposed
        return array.swapaxes(0, 1)
    if orientation == 6:  # needs 90° clockwise
        return array.swapaxes(0, 1)[:, ::-1]
    if orientation == 7:  # transverse
        return array.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:  # needs 90° anticlockwise
        return array.swapaxes(0, 1)[::-1, :]
    return array


def orientation_of(exif: PILImage.Exif | None) -> int:
    """The EXIF orientation (1 when absent or invalid)."""
    if exif is None:
        return 1
    value = exif.get(ORIENTATION, 1)
    try:
        value = int(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def exif_from_bytes(data: bytes | None) -> PILImage.Exif | None:
    """Parse EXIF bytes (with or without the ``Exif\\0\\0`` prefix); None when absent or unreadable."""
    if not data:
        return None
    exif = PILImage.Exif()
    try:
        with warnings.catch_warnings():  # Pillow skips damaged entries with a warning: keep the rest quietly
            warnings.simplefilter("ignore")
            exif.load(data if data.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + data)
    except Exception as e:  # malformed EXIF must never stop a photo from loading
        log.warning("ignoring unreadable EXIF: %s", e)
        return None
    return exif if len(exif) else None  # an empty IFD0 holds nothing (sub-IFDs hang from it)


def exif_from_tiff_file(fp: BinaryIO) -> PILImage.Exif | None:
    """The photo metadata of a TIFF-structured file (TIFF, DNG, NEF, CR2, ...) as clean EXIF.

    Only the descriptive IFD0 tags and the Exif and GPS sub-IFDs are kept; the maker note is
    dropped because its internal offsets point into the original file.
    """
    source = PILImage.Exif()
    try:
        fp.seek(0)
        source.load_from_fp(fp)
        exif = PILImage.Exif()
        exif.endian = source.endian
        for tag in TIFF_IFD0_EXIF_TAGS:
            if tag in source:
                exif[tag] = source[tag]
        for ifd_tag in (EXIF_IFD, GPS_IFD):
            if ifd_tag in source:
                entries = {k: v for k, v in source.get_ifd(ifd_tag).items() if k not in (INTEROP_IFD, MAKER_NOTE)}
                if entries:
                    exif.get_ifd(ifd_tag).update(entries)
        # A round trip through bytes gives an ordinary loaded Exif (sub-IFDs referenced from IFD0).
        return exif_from_bytes(exif.tobytes()) if len(exif) or exif.get_ifd(EXIF_IFD) else None
    except Exception as e:
        log.warning("ignoring unreadable TIFF metadata: %s", e)
        return None


def exif_to_bytes(exif: PILImage.Exif | None, *, software: str | None = None) -> bytes | None:
    """Serialise EXIF for an output: orientation reset to 1 and, when given, Software set."""
    if exif is None:
        if software is None:
            return None
        exif = PILImage.Exif()
    if ORIENTATION in exif:
        exif[ORIENTATION] = 1
    if software is not None:
        exif[SOFTWARE] = software
    try:
        return exif.tobytes()
    except Exception as e:
        log.warning("dropping EXIF that cannot be re-written: %s", e)
        return exif_to_bytes(None, software=software)


def without_maker_note(exif_bytes: bytes) -> bytes:
    """The same EXIF without the maker note (often what pushes EXIF past JPEG's 64 KiB limit)."""
    exif = exif_from_bytes(exif_bytes)
    if exif is None:
        return exif_bytes
    if EXIF_IFD in exif:
        exif.get_ifd(EXIF_IFD).pop(MAKER_NOTE, None)
    return exif.tobytes()


def icc_description(icc: bytes | None) -> str | None:
    """The profile's description (e.g. 'sRGB IEC61966-2.1'), or None."""
    if not icc:
        return None
    try:
        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc))).strip() or None
    except Exception:  # a damaged profile is reported, not fatal
        return "unreadable ICC profile"


def srgb_icc() -> bytes:
    """LittleCMS's built-in sRGB profile, embedded after converting other colour spaces to sRGB."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _number(value: Any) -> float | None:
    if isinstance(value, tuple):
        value = value[0] if len(value) == 1 else (value[0] / value[1] if len(value) == 2 and value[1] else None)
    try:
        return float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if value is None:
        return None
    text = str(value).strip("\x00 ").strip()
    return text or None


def format_exposure(seconds: float) -> str:
    """Shutter speed as cameras show it: '1/250 s' below a second, '2.5 s' above."""
    return f"1/{round(1 / seconds)} s" if seconds < 1 else f"{seconds:g} s"


def exif_facts(exif: PILImage.Exif | None) -> dict[str, Any]:
    """What ``restora info`` shows from EXIF: camera, lens, date and exposure settings (only those present)."""
    if exif is None:
        return {}
    facts: dict[str, Any] = {}
    for key, tag in (("camera_make", ExifTags.Base.Make), ("camera_model", ExifTags.Base.Model)):
        if (text := _text(exif.get(tag))) is not None:
            facts[key] = text
    sub = exif.get_ifd(EXIF_IFD) if EXIF_IFD in exif else {}
    if (text := _text(sub.get(ExifTags.Base.LensModel))) is not None:
        facts["lens"] = text
    if (text := _text(sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime))) is not None:
        facts["date_taken"] = text
    iso = sub.get(ExifTags.Base.ISOSpeedRatings)
    if (iso_value := _number(iso)) is not None and iso_value > 0:
        facts["iso"] = int(iso_value)
    if (seconds := _number(sub.get(ExifTags.Base.ExposureTime))) is not None and seconds > 0:
        facts["exposure_time"] = format_exposure(seconds)
    if (f_number := _number(sub.get(ExifTags.Base.FNumber))) is not None and f_number > 0:
        facts["f_number"] = round(f_number, 1)
    if (focal := _number(sub.get(ExifTags.Base.FocalLength))) is not None and focal > 0:
        facts["focal_length_mm"] = round(focal, 1)
    return facts
