"""Reading photo files into :class:`restora.io.Image`.

The format is found from the content, not the extension: a PNG named ``.jpg`` reads as a PNG. The
extension only makes a file be tried as camera RAW first. Pixels are decoded by the library that
keeps them whole:

* Pillow: JPEG, PNG (8-bit and 16-bit grey), WebP, BMP, GIF, CMYK and palette images;
* OpenCV: 16-bit colour PNG (Pillow reduces it to 8 bits);
* tifffile: grey and RGB TIFF of 8/16 bits and float (Pillow cannot hold 16-bit or float colour);
* pillow-heif: HEIC/HEIF, 8 to 12 bits;
* rawpy (LibRaw): camera RAW, demosaiced to 16 bits.

Every reader first reads the header alone, so the size guard (``max_pixels``) refuses a
decompression bomb before any pixel is decoded. ``probe`` stops there.

Pixels become float32 RGB in [0, 1]: an integer value ``v`` of a ``b``-bit source maps to
``v / (2**b - 1)``; float TIFF is taken as already in [0, 1] and clipped. The EXIF orientation is
applied to the pixels (the EXIF then says 1); HEIF and RAW decoders apply it themselves.
"""

from __future__ import annotations

import contextlib
import io
import struct
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

import numpy as np
from PIL import Image as PILImage
from PIL import ImageCms, ImageFile

from restora.errors import BadInputError, RestoraError
from restora.io.formats import ANIMATED_FORMATS, RAW_EXTENSIONS, is_tiff_header
from restora.io.image import Image
from restora.io.png import SIGNATURE as PNG_SIGNATURE
from restora.io.png import scan_png
from restora.io.metadata import (
    apply_orientation,
    exif_facts,
    exif_from_bytes,
    exif_from_tiff_file,
    exif_to_bytes,
    format_exposure,
    icc_description,
    orientation_of,
    srgb_icc,
)
from restora.settings import get_settings

if TYPE_CHECKING:
    import tifffile
    from PIL import TiffImagePlugin

RAW_OUTPUTS = ("srgb", "linear")

# Pillow modes read as they are; anything else is converted to RGB(A) first.
_GREY_MODES = {"L", "LA", "I;16", "I;16L", "I;16B", "I;16N", "I", "F"}
_KEPT_MODES = _GREY_MODES | {"RGB", "RGBA"}
_PILLOW_GUARD_LOCK = threading.Lock()


@dataclass
class _Pixels:
    """Decoded pixels as stored in the file (before orientation), with how to scale them to [0, 1]."""

    colour: np.ndarray  # (H, W) grey or (H, W, 3) RGB; integer or float
    alpha: np.ndarray | None  # (H, W), same type and scale as colour
    full_scale: float  # the value that means 1.0 (255, 65535, ...; 1.0 for float)
    bit_depth: int  # 8, 16, or 32 (float)
    icc: bytes | None = None  # replaces the header's profile when decoding changed the colour space
    mode: str | None = None  # replaces the header's mode description when decoding learnt more


class _Source:
    """An opened file whose header has been read; ``decode`` reads the pixels."""

    format: str
    width: int
    height: int
    mode: str
    bit_depth: int
    exif: PILImage.Exif | None = None
    icc: bytes | None = None
    orientation: int = 1  # EXIF orientation still to apply to decoded pixels
    facts: dict[str, Any]

    def decode(self) -> _Pixels:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _PillowSource(_Source):
    def __init__(self, path: Path, limit: int, data: bytes | None = None):
        """``data``: the file's bytes to decode instead of the file (a PNG with chunks left out)."""
        _register_heif()
        self.data = data
        # Pillow's own guard, set to our limit for this open only (it is a module global, hence the
        # lock); its warning becomes an error: we refuse, we do not warn.
        with _PILLOW_GUARD_LOCK, warnings.catch_warnings():
            previous = PILImage.MAX_IMAGE_PIXELS
            PILImage.MAX_IMAGE_PIXELS = limit
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            try:
                self.im = PILImage.open(path if data is None else io.BytesIO(data))
            finally:
                PILImage.MAX_IMAGE_PIXELS = previous
        self.format = self.im.format or "unknown"
        self.width, self.height = self.im.size
        self.mode = self.im.mode
        rawmode = self.im.tile[0][3] if self.im.tile else ""
        rawmode = rawmode[0] if isinstance(rawmode, tuple) else rawmode
        # Pillow decodes 16-bit colour PNG to 8 bits; those go through OpenCV.
        self.wide_png = self.format == "PNG" and ";16" in str(rawmode) and self.mode in ("RGB", "RGBA", "LA")
        if self.wide_png or self.mode.startswith("I;16") or self.mode == "I":
            self.bit_depth = 16
        else:
            self.bit_depth = 32 if self.mode == "F" else 8
        self.facts = {}
        self.path = path
        if self.format in ANIMATED_FORMATS and (frames := _frame_count(self.im)) != 1:
            self.facts["warnings"] = [
                f"animated {self.format}: only the first of its {frames} frames is read and "
                "restored; the others are not in the output"
            ]
        if self.format == "TIFF":  # a TIFF's IFD0 is mostly pixel layout: keep only photo metadata
            with open(path, "rb") as fp:
                self.exif = exif_from_tiff_file(fp)
            self.orientation = int(cast("TiffImagePlugin.TiffImageFile", self.im).tag_v2.get(274, 1) or 1)
            self.icc = self.im.info.get("icc_profile") or None
        else:
            self._read_metadata()

    def _read_metadata(self) -> None:
        """EXIF, orientation and ICC from Pillow's info (PNG may add chunks found after the pixels)."""
        exif = exif_from_bytes(self.im.info.get("exif"))
        self.orientation = orientation_of(exif)
        if exif is None and self.im.info.get("XML:com.adobe.xmp"):
            self.orientation = orientation_of(self.im.getexif())  # orientation given only in XMP
        self.exif = exif
        self.icc = self.im.info.get("icc_profile") or None

    def decode(self) -> _Pixels:
        im: PILImage.Image = self.im
        ImageFile.LOAD_TRUNCATED_IMAGES = False  # full decode: a truncated file must fail here
        im.load()
        if self.format != "TIFF":
            self._read_metadata()
        if self.wide_png:
            return _decode_png16(self.path if self.data is None else self.data, self.path, self.mode)
        icc = None
        if im.mode == "CMYK":
            im, icc = _cmyk_to_rgb(im, self.icc)
        elif im.mode in ("P", "PA"):
            has_alpha = im.mode == "PA" or "transparency" in im.info
            im = im.convert("RGBA" if has_alpha else "RGB")
        elif im.mode == "1":
            im = im.convert("L")
        elif im.mode not in _KEPT_MODES:  # La, RGBa, RGBX, YCbCr, LAB, HSV, ...
            has_alpha = "A" in im.getbands() or "a" in im.getbands()
            grey = im.mode in ("La",)
            im = im.convert(("LA" if grey else "RGBA") if has_alpha else ("L" if grey else "RGB"))
        array = np.asarray(im)  # a copy: Pillow's own buffer can go now
        mode = im.mode
        im.close()
        self.im.close()
        alpha = None
        if mode in ("LA", "RGBA"):
            array, alpha = array[..., :-1], array[..., -1]
            if mode == "LA":
                array = array[..., 0]
        if mode == "F":
            full_scale = 1.0
        elif mode == "I":  # 32-bit integer grey: taken as 16-bit data
            array, full_scale = np.clip(array, 0, 65535), 65535.0
        else:
            full_scale = 65535.0 if array.dtype.itemsize == 2 else 255.0
        return _Pixels(array, alpha, full_scale, self.bit_depth, icc=icc)

    def close(self) -> None:
        self.im.close()


def _frame_count(im: PILImage.Image) -> int | str:
    """How many frames an image has (Pillow counts them by seeking; "several" when a later one is damaged)."""
    try:
        return int(getattr(im, "n_frames", 1))
    except (OSError, EOFError, ValueError, SyntaxError, struct.error):
        with contextlib.suppress(OSError, EOFError, ValueError, SyntaxError, struct.error):
            im.seek(0)
        return "several"


def _cmyk_to_rgb(im: PILImage.Image, icc: bytes | None) -> tuple[PILImage.Image, bytes | None]:
    """CMYK to sRGB through the embedded profile when there is one (then sRGB is embedded instead)."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            return cast(PILImage.Image, converted), srgb_icc()  # a new image (None only for inPlace=True)
        except (ImageCms.PyCMSError, OSError):
            pass  # damaged or non-CMYK profile: the plain conversion below
    return im.convert("RGB"), None


def _decode_png16(data: Path | bytes, path: Path, mode: str) -> _Pixels:
    """16-bit colour PNG, whole, through OpenCV (BGR order, alpha last); ``data``: the file or its bytes."""
    import cv2

    encoded = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else np.fromfile(data, dtype=np.uint8)
    array = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise BadInputError(f"{path}: cannot decode 16-bit PNG")
    alpha = None
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array, alpha = array[..., :-1], array[..., -1]
    if mode == "LA" or array.ndim == 2 or array.shape[2] == 1:
        colour = array[..., 0] if array.ndim == 3 else array
    else:
        colour = array[..., ::-1]  # BGR -> RGB
    return _Pixels(colour, alpha, 65535.0, 16)


class _TiffSource(_Source):
    """Grey and RGB TIFF (any bit depth, float included) through tifffile; other layouts via Pillow."""

    HANDLED_PHOTOMETRIC = (0, 1, 2)  # MINISWHITE, MINISBLACK, RGB

    def __init__(self, path: Path):
        import tifffile

        self.tif = tifffile.TiffFile(path)
        self.page = self.tif.pages.first
        page = self.page
        self.format = "TIFF"
        self.width, self.height = int(page.imagewidth), int(page.imagelength)
        samples = int(page.samplesperpixel)
        photometric = int(page.photometric)
        named = {0: "L (white is zero)", 1: "L", 2: "RGB"}.get(photometric)
        # tifffile holds a known photometric tag as its enum (typed int).
        self.mode = named if named is not None else cast("tifffile.PHOTOMETRIC", page.photometric).name
        if page.extrasamples and page.extrasamples[0] in (1, 2):
            self.mode += "A"
        self.handled = (
            photometric in self.HANDLED_PHOTOMETRIC
            and page.dtype is not None
            and (page.dtype.kind == "f" or (page.dtype.kind == "u" and page.dtype.itemsize <= 2))
            and samples >= (3 if photometric == 2 else 1)
            and page.bitspersample > 1
        )
        bits = int(page.bitspersample)
        self.bit_depth = 32 if page.dtype is not None and page.dtype.kind == "f" else (8 if bits <= 8 else 16)
        orientation_tag = page.tags.get(274)
        self.orientation = int(orientation_tag.value) if orientation_tag is not None else 1
        icc_tag = page.tags.get(34675)
        self.icc = bytes(icc_tag.value) if icc_tag is not None else None
        self.exif = exif_from_tiff_file(cast(BinaryIO, self.tif.filehandle))  # FileHandle reads and seeks as one
        self.facts = {}

    @property
    def looks_like_raw(self) -> bool:
        """A camera RAW in TIFF clothing: DNG, or a first page that is only a preview (NEF, CR2, ...)."""
        return 50706 in self.page.tags or bool(int(self.page.subfiletype) & 1) or int(self.page.photometric) == 32803

    def decode(self) -> _Pixels:
        page = self.page
        array = page.asarray()
        if page.planarconfig == 2 and array.ndim == 3:  # separate planes (S, H, W) -> (H, W, S)
            array = np.moveaxis(array, 0, -1)
        if array.ndim == 2:
            array = array[..., None]
        colours = 3 if int(page.photometric) == 2 else 1
        extra = page.extrasamples or ()
        has_alpha = array.shape[2] > colours and bool(extra) and extra[0] in (1, 2)
        alpha = array[..., colours] if has_alpha else None
        colour = array[..., :colours] if colours == 3 else array[..., 0]
        if array.dtype.kind == "f":
            full_scale = 1.0
            colour = np.nan_to_num(colour, nan=0.0, posinf=1.0, neginf=0.0)
        else:
            full_scale = float(2 ** int(page.bitspersample) - 1)
        if int(page.photometric) == 0:  # MINISWHITE: 0 is white
            colour = full_scale - colour if array.dtype.kind == "f" else (full_scale - colour).astype(array.dtype)
        if alpha is not None and extra[0] == 1:  # associated (premultiplied) alpha: undo it
            a = alpha.astype(np.float32) / full_scale
            shape = a[..., None] if colours == 3 else a
            colour = np.where(shape > 0, colour.astype(np.float32) / np.maximum(shape, 1e-12), 0)
            colour = np.clip(colour, 0, full_scale)
        return _Pixels(colour, alpha, full_scale, self.bit_depth)

    def close(self) -> None:
        self.tif.close()


class _HeifSource(_Source):
    """HEIC/HEIF through pillow-heif, at the file's own bit depth (10/12-bit kept as 16)."""

    def __init__(self, path: Path):
        import pillow_heif

        self.heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False)
        self.format = "HEIF"
        self.width, self.height = self.heif.size  # libheif applies the container's rotation
        self.source_bits = int(self.heif.info.get("bit_depth", 8))
        self.bit_depth = 8 if self.source_bits <= 8 else 16
        self.mode = self.heif.mode.replace(";16", "") + (f" ({self.source_bits}-bit)" if self.source_bits > 8 else "")
        self.exif = exif_from_bytes(self.heif.info.get("exif"))
        self.orientation = 1  # already applied by libheif; the EXIF tag is reset on write
        self.icc = self.heif.info.get("icc_profile") or None
        self.facts = {}

    def decode(self) -> _Pixels:
        array = np.asarray(self.heif)
        if array.dtype == np.uint16:
            # pillow-heif shifts n-bit samples to the top of 16 bits: v16 = v << (16 - n)
            full_scale = float(((1 << self.source_bits) - 1) << (16 - self.source_bits))
        else:
            full_scale = 255.0
        alpha = None
        if array.ndim == 3 and array.shape[2] in (2, 4):
            array, alpha = array[..., :-1], array[..., -1]
        if array.ndim == 3 and array.shape[2] == 1:
            array = array[..., 0]
        return _Pixels(array, alpha, full_scale, self.bit_depth)


class _RawSource(_Source):
    """Camera RAW through rawpy/LibRaw: demosaiced (AHD) to 16-bit sRGB primaries, camera white balance.

    ``raw_output="srgb"``: sRGB tone curve (LibRaw gamma 2.4 / slope 12.92) with LibRaw's default
    exposure (auto brightness, 1% of pixels may clip) — what a RAW developer shows.
    ``raw_output="linear"``: no tone curve, no auto brightness: values proportional to scene light.
    """

    def __init__(self, path: Path, raw_output: str):
        import rawpy

        self.raw = rawpy.imread(str(path))  # header only; LibRaw unpacks in postprocess
        self.raw_output = raw_output
        sizes = self.raw.sizes
        swapped = sizes.flip in (5, 6)  # LibRaw rotates by 90° on output
        self.width, self.height = (sizes.height, sizes.width) if swapped else (sizes.width, sizes.height)
        self.format = "RAW"
        self.mode = f"RAW ({self.raw.color_desc.decode('ascii', 'replace')})"
        self.bit_depth = 16
        self.orientation = 1  # LibRaw applies the camera's orientation
        with open(path, "rb") as fp:
            self.exif = exif_from_tiff_file(fp) if is_tiff_header(fp.read(4)) else None
        self.icc = None
        self.facts = {"raw_format": path.suffix.lstrip(".").upper(), "raw_output": raw_output}
        other = self.raw.other
        if other.iso_speed > 0:
            self.facts["iso"] = int(other.iso_speed)
        if other.shutter_speed > 0:
            self.facts["exposure_time"] = format_exposure(float(other.shutter_speed))
        if other.aperture > 0:
            self.facts["f_number"] = round(float(other.aperture), 1)
        if other.focal_length > 0:
            self.facts["focal_length_mm"] = round(float(other.focal_length), 1)

    def decode(self) -> _Pixels:
        import rawpy

        tone: dict[str, Any]
        if self.raw_output == "linear":
            tone = {"gamma": (1.0, 1.0), "no_auto_bright": True}
        else:
            tone = {"gamma": (2.4, 12.92)}
        rgb = self.raw.postprocess(output_bps=16, use_camera_wb=True, output_color=rawpy.ColorSpace.sRGB, **tone)
        return _Pixels(rgb, None, 65535.0, 16, mode=f"{self.mode}, {self.raw_output}")

    def close(self) -> None:
        self.raw.close()


_heif_registered = False


def _register_heif() -> None:
    """Let Pillow open (and save) HEIF; done on first use to keep ``import restora`` light."""
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def _decode_errors() -> tuple[type[BaseException], ...]:
    """What the decoders raise for damaged or unsupported content."""
    errors: list[type[BaseException]] = [
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        struct.error,
        MemoryError,
        RuntimeError,
        KeyError,
        IndexError,
        TypeError,
        ZeroDivisionError,
    ]
    with contextlib.suppress(ImportError):
        import rawpy

        errors.append(rawpy.LibRawError)
    with contextlib.suppress(ImportError):
        import cv2

        errors.append(cv2.error)
    return tuple(errors)


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _check_file(path: Path) -> None:
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if path.is_dir():
        raise BadInputError(f"{path}: is a folder, not an image file")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise BadInputError(f"{path}: cannot open ({e.strerror or e})") from None
    if size == 0:
        raise BadInputError(f"{path}: empty file (0 bytes)")


def _too_large(path: Path, limit: int, size: str = "") -> BadInputError:
    return BadInputError(
        f"{path}: image too large{size}, over the limit of {limit / 1e6:.4g} megapixels (RESTORA_MAX_PIXELS)"
    )


def _refuse_bomb(path: Path, width: int, height: int, limit: int) -> None:
    if width * height > limit:
        raise _too_large(path, limit, f" ({width}x{height}, {width * height / 1e6:.4g} megapixels)")


def _open_source(path: Path, limit: int, raw_output: str) -> _Source:
    """Sniff the content and open the right reader (header only)."""
    try:
        with open(path, "rb") as fp:
            head = fp.read(16)
    except OSError as e:
        raise BadInputError(f"{path}: cannot open ({e.strerror or e})") from None
    raw_error: BaseException | None = None
    if path.suffix.lower() in RAW_EXTENSIONS:
        try:
            return _RawSource(path, raw_output)
        except _decode_errors() as e:
            raw_error = e
            if is_tiff_header(head):  # a damaged RAW would otherwise read as its small preview
                raise BadInputError(f"{path}: cannot read camera RAW ({_one_line(e)})") from None
    if is_tiff_header(head):
        tiff = _TiffSource(path)
        if tiff.looks_like_raw:
            tiff.close()
            try:
                return _RawSource(path, raw_output)
            except _decode_errors() as e:
                raise BadInputError(f"{path}: cannot read camera RAW ({_one_line(e)})") from None
        if tiff.handled:
            return tiff
        tiff.close()  # palette, CMYK, YCbCr, bilevel...: Pillow knows these layouts
    png = scan_png(path, limit) if head.startswith(PNG_SIGNATURE) else None
    if png is not None and png.truncated:
        where = "holds about" if png.interlaced else "ends after"  # interlaced rows come in seven passes
        raise BadInputError(
            f"{path}: truncated PNG: the pixel data {where} {png.rows_present} of its {png.height} rows"
        )
    try:
        source = _PillowSource(path, limit, data=png.cleaned if png is not None else None)
    except _decode_errors() as e:  # Pillow's UnidentifiedImageError among them (an OSError)
        if raw_error is None and path.suffix.lower() not in RAW_EXTENSIONS:
            with contextlib.suppress(*_decode_errors()):
                return _RawSource(path, raw_output)  # a RAW under another name
        detail = "" if isinstance(e, PILImage.UnidentifiedImageError) else f" ({_one_line(e)})"
        raise BadInputError(f"{path}: not an image in a supported format{detail}") from None
    if source.format == "HEIF":
        source.close()
        return _HeifSource(path)
    if png is not None and png.dropped:
        source.facts["warnings"] = [*source.facts.get("warnings", ()), *png.dropped]
    return source


@contextlib.contextmanager
def _opened(path: Path, limit: int, raw_output: str) -> Iterator[_Source]:
    """An opened, size-checked source; any decoder failure becomes a one-line BadInputError."""
    _check_file(path)
    source = None
    try:
        source = _open_source(path, limit, raw_output)
        _refuse_bomb(path, source.width, source.height, limit)
        yield source
    except RestoraError:
        raise
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise _too_large(path, limit) from None  # Pillow's own guard, from the header
    except _decode_errors() as e:
        kind = source.format if source is not None else "image"
        raise BadInputError(f"{path}: cannot decode {kind} ({_one_line(e)})") from None
    finally:
        if source is not None:
            source.close()


def _to_unit_float(colour: np.ndarray, full_scale: float, grey: bool) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] in one allocation (grey is broadcast to three channels)."""
    out = np.empty((*colour.shape[:2], 3), dtype=np.float32)
    out[...] = colour[..., None] if grey else colour  # cast in place (np.divide with dtype= is 30x slower)
    out /= np.float32(full_scale)
    if colour.dtype.kind == "f" or full_scale < np.iinfo(colour.dtype).max:
        np.clip(out, 0.0, 1.0, out=out)  # float data, or integers below their type's full range
    return out


def _limit(max_pixels: int | None) -> int:
    return int(max_pixels) if max_pixels is not None else int(get_settings().max_pixels)


def _facts(path: Path, source: _Source, *, bit_depth: int, mode: str, icc: bytes | None) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "file": str(path),
        "format": source.format,
        "width": source.width,
        "height": source.height,
        "megapixels": round(source.width * source.height / 1e6, 2),
        "bit_depth": bit_depth,
        "mode": mode,
        "file_bytes": path.stat().st_size,
    }
    if (description := icc_description(icc)) is not None:
        facts["colour_profile"] = description
    if source.orientation != 1:
        facts["orientation"] = source.orientation
    facts.update(source.facts)
    facts.update(exif_facts(source.exif))
    return facts


def probe(path: str | Path, *, max_pixels: int | None = None) -> dict[str, Any]:
    """Header facts for ``restora info`` without decoding pixels.

    Keys (present when known): file, format, width, height, megapixels, bit_depth, mode, file_bytes,
    colour_profile, orientation (as stored, before it is applied), camera_make, camera_model, lens,
    date_taken, iso, exposure_time (e.g. '1/250 s'), f_number, focal_length_mm; for RAW also
    raw_format. Width and height are as displayed for RAW and HEIF (rotation applied by the decoder)
    and as stored for others. Raises BadInputError like :func:`read_image`, the size guard included.
    """
    path = Path(path)
    with _opened(path, _limit(max_pixels), "srgb") as source:
        return _facts(path, source, bit_depth=source.bit_depth, mode=source.mode, icc=source.icc)


def read_image(path: str | Path, *, raw_output: str = "srgb", max_pixels: int | None = None) -> Image:
    """Read a photo file into an :class:`Image` (float32 RGB in [0, 1], display orientation).

    ``raw_output``: for camera RAW, "srgb" (tone-mapped like a RAW developer) or "linear".
    ``max_pixels``: refuse larger images before decoding (default: settings, RESTORA_MAX_PIXELS).
    Grey sources keep ``grayscale=True`` (pixels replicated to RGB); alpha goes to ``Image.alpha``;
    CMYK becomes sRGB (through its ICC profile when it has one); ``Image.info`` holds :func:`probe`'s facts.
    Raises BadInputError (one line naming the file) for anything that is not a readable image.
    """
    if raw_output not in RAW_OUTPUTS:
        raise RestoraError(f"raw_output must be one of {', '.join(RAW_OUTPUTS)}, not '{raw_output}'")
    path = Path(path)
    with _opened(path, _limit(max_pixels), raw_output) as source:
        decoded = source.decode()
        grey = decoded.colour.ndim == 2
        pixels = _to_unit_float(apply_orientation(decoded.colour, source.orientation), decoded.full_scale, grey)
        alpha = None
        if decoded.alpha is not None:
            alpha = apply_orientation(decoded.alpha, source.orientation).astype(np.float32)
            alpha /= np.float32(decoded.full_scale)
            np.clip(alpha, 0.0, 1.0, out=alpha)
        icc = decoded.icc if decoded.icc is not None else source.icc
        mode = decoded.mode or source.mode
        info = _facts(path, source, bit_depth=decoded.bit_depth, mode=mode, icc=icc)
        info["width"], info["height"] = int(pixels.shape[1]), int(pixels.shape[0])  # as displayed
        del decoded
        return Image(
            pixels=pixels,
            alpha=alpha,
            bit_depth=info["bit_depth"],
            grayscale=grey,
            exif=exif_to_bytes(source.exif),
            icc=icc,
            format=source.format,
            source=path,
            info=info,
        )
