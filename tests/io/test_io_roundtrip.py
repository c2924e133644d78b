"""Write then read every format: values, bit depth, grey, alpha."""

import numpy as np
import pytest
import tifffile
from PIL import Image as PILImage

from restora.io import Image, read_image, write_image

LOSSLESS = [".png", ".tif", ".tiff", ".bmp"]
LOSSY = {
    ".jpg": 2.5 / 255,
    ".jpeg": 2.5 / 255,
    ".webp": 3.5 / 255,
    ".heic": 3.5 / 255,
}  # mean abs error allowed (WebP, HEIC: 4:2:0)


@pytest.mark.parametrize("ext", LOSSLESS)
def test_lossless_8bit_round_trip_is_exact(tmp_path, photo, ext):
    out = tmp_path / f"a{ext}"
    write_image(out, photo)
    back = read_image(out)
    assert back.bit_depth == 8 and not back.grayscale and back.alpha is None
    assert np.array_equal(np.rint(back.pixels * 255), np.rint(photo.pixels * 255))


@pytest.mark.parametrize("ext", sorted(LOSSY))
def test_lossy_round_trip_is_close(tmp_path, smooth_photo, ext):
    out = tmp_path / f"a{ext}"
    write_image(out, smooth_photo)
    back = read_image(out)
    assert back.pixels.shape == smooth_photo.pixels.shape and back.bit_depth == 8
    assert np.abs(back.pixels - smooth_photo.pixels).mean() < LOSSY[ext]


def test_jpeg_quality_and_subsampling_change_the_file(tmp_path, photo):
    sizes = {}
    for name, options in {"q95": {}, "q50": {"jpeg_quality": 50}, "420": {"subsampling": "4:2:0"}}.items():
        write_image(tmp_path / f"{name}.jpg", photo, **options)
        sizes[name] = (tmp_path / f"{name}.jpg").stat().st_size
    assert sizes["q50"] < sizes["q95"] and sizes["420"] < sizes["q95"]
    with PILImage.open(tmp_path / "q95.jpg") as im:  # 4:4:4: every component sampled 1x1
        assert {c[1:3] for c in im.layer} == {(1, 1)}


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16bit_keeps_every_bit(tmp_path, ext):
    rng = np.random.default_rng(1)
    values = rng.integers(0, 65536, (24, 32, 3), dtype=np.uint16)  # not multiples of 257
    image = Image.from_array(values)
    out = tmp_path / f"a{ext}"
    write_image(out, image)
    back = read_image(out)
    assert back.bit_depth == 16
    assert np.array_equal(np.rint(back.pixels * 65535).astype(np.uint16), values)


def test_16bit_png_file_is_really_16bit(tmp_path):
    image = Image.from_array(np.full((4, 5, 3), 1000, np.uint16))
    write_image(tmp_path / "a.png", image)
    with PILImage.open(tmp_path / "a.png") as im:  # IHDR says 16 bits per sample
        assert "16" in im.tile[0][3]


def test_float_tiff_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(2)
    values = rng.random((24, 32, 3), dtype=np.float32)
    write_image(tmp_path / "a.tif", Image.from_array(values))
    back = read_image(tmp_path / "a.tif")
    assert back.bit_depth == 32 and np.array_equal(back.pixels, values)
    assert tifffile.imread(tmp_path / "a.tif").dtype == np.float32


def test_float_tiff_from_other_software_is_clipped(tmp_path):
    values = np.array([[[-0.5, 0.25, 1.5]]], np.float32).repeat(4, 0).repeat(4, 1)
    tifffile.imwrite(tmp_path / "hdr.tif", values, photometric="rgb")
    back = read_image(tmp_path / "hdr.tif")
    assert np.allclose(back.pixels[0, 0], [0.0, 0.25, 1.0])


def test_bit_depth_override(tmp_path, photo):
    write_image(tmp_path / "a16.png", photo, bit_depth=16)
    assert read_image(tmp_path / "a16.png").bit_depth == 16
    deep = Image.from_array(np.full((4, 4, 3), 40000, np.uint16))
    write_image(tmp_path / "a8.png", deep, bit_depth=8)
    back = read_image(tmp_path / "a8.png")
    assert back.bit_depth == 8 and np.allclose(back.pixels, round(40000 / 65535 * 255) / 255)
    write_image(tmp_path / "a.jpg", deep)  # JPEG cannot hold 16 bits: written with 8
    assert read_image(tmp_path / "a.jpg").bit_depth == 8


def test_rounding_is_rint_after_clip(tmp_path):
    values = np.array([[[-0.2, 1.7, 0.5 / 255], [2.5 / 255, 3.5 / 255, 0.999]]], np.float32)
    write_image(tmp_path / "a.png", Image(pixels=values))
    stored = np.asarray(PILImage.open(tmp_path / "a.png"))
    assert stored.tolist() == [[[0, 255, 0], [2, 4, 255]]]  # half to even: 0.5 -> 0, 2.5 -> 2, 3.5 -> 4


GREY_FILE_MODES = {".png": "L", ".jpg": "L", ".bmp": "L", ".heic": "L"}


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".heic", ".tif"])
def test_grey_stays_grey(tmp_path, photo_u8, ext):
    grey = photo_u8[..., 0]
    out = tmp_path / f"g{ext}"
    write_image(out, Image.from_array(grey))
    if ext == ".tif":
        assert tifffile.imread(out).shape == grey.shape
    else:
        with PILImage.open(out) as im:
            assert im.mode == GREY_FILE_MODES[ext]
    back = read_image(out)
    assert back.grayscale and back.pixels.shape == (*grey.shape, 3)
    assert np.array_equal(back.pixels[..., 0], back.pixels[..., 2])
    tolerance = 0 if ext in (".png", ".bmp", ".tif") else 6
    assert np.abs(back.pixels[..., 0] * 255 - grey).mean() <= tolerance


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_grey_16bit_and_float(tmp_path, ext):
    values = np.random.default_rng(3).integers(0, 65536, (24, 32), dtype=np.uint16)
    write_image(tmp_path / f"g{ext}", Image.from_array(values))
    back = read_image(tmp_path / f"g{ext}")
    assert back.grayscale and back.bit_depth == 16
    assert np.array_equal(np.rint(back.pixels[..., 1] * 65535), values)
    if ext == ".tif":
        floats = values.astype(np.float32) / 65535
        write_image(tmp_path / "gf.tif", Image.from_array(floats))
        back = read_image(tmp_path / "gf.tif")
        assert back.grayscale and back.bit_depth == 32 and np.array_equal(back.pixels[..., 0], floats)


@pytest.mark.parametrize(
    "ext,depth", [(".png", 8), (".png", 16), (".tif", 8), (".tif", 16), (".webp", 8), (".heic", 8)]
)
def test_alpha_carried_through(tmp_path, photo_u8, ext, depth):
    alpha = np.tile(np.linspace(0, 255, 32).astype(np.uint8), (24, 1))
    image = Image.from_array(np.dstack([photo_u8, alpha]))
    out = tmp_path / f"a{ext}"
    write_image(out, image, bit_depth=depth)
    back = read_image(out)
    assert back.alpha is not None and back.alpha.shape == (24, 32)
    error = np.abs(back.alpha * 255 - alpha)
    if ext in (".png", ".tif", ".webp"):  # lossless alpha (WebP keeps alpha lossless by default)
        assert error.max() < 1e-3
    else:
        assert error.mean() < 3


def test_grey_with_alpha_png(tmp_path, photo_u8):
    grey = photo_u8[..., :1].repeat(3, axis=2).astype(np.float32) / 255
    image = Image(pixels=grey, alpha=photo_u8[..., 1].astype(np.float32) / 255, grayscale=True)
    write_image(tmp_path / "la.png", image)
    with PILImage.open(tmp_path / "la.png") as im:
        assert im.mode == "LA"
    back = read_image(tmp_path / "la.png")
    assert back.grayscale and np.array_equal(np.rint(back.alpha * 255), photo_u8[..., 1])


def test_jpeg_and_bmp_drop_alpha(tmp_path, photo_u8):
    image = Image.from_array(np.dstack([photo_u8, np.full((24, 32), 128, np.uint8)]))
    for ext in (".jpg", ".bmp"):
        write_image(tmp_path / f"a{ext}", image)
        assert read_image(tmp_path / f"a{ext}").alpha is None


def test_palette_with_transparency(tmp_path):
    indices = np.arange(24 * 32, dtype=np.uint8).reshape(24, 32) % 4
    im = PILImage.fromarray(indices, mode="P")
    im.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 9, 9, 9])
    im.save(tmp_path / "p.png", transparency=3)
    back = read_image(tmp_path / "p.png")
    assert back.info["mode"] == "P" and not back.grayscale
    assert np.array_equal(back.alpha == 0, indices == 3)
    assert np.array_equal(back.pixels[indices == 1], np.tile([0.0, 1.0, 0.0], ((indices == 1).sum(), 1)))


def test_heic_keeps_ten_bits_scaled_to_full_range(tmp_path):
    pillow_heif = pytest.importorskip("pillow_heif")
    values = np.zeros((16, 16, 3), np.uint16)
    values[:8] = 65535  # white
    values[8:] = 32768  # mid grey
    heif = pillow_heif.from_bytes(mode="RGB;16", size=(16, 16), data=values.tobytes())
    heif.save(tmp_path / "ten.heic", quality=-1)
    back = read_image(tmp_path / "ten.heic")
    assert back.bit_depth == 16 and "10-bit" in back.info["mode"]
    assert back.pixels[:6].min() > 0.998  # 1023 << 6 means 1.0, not 65472 / 65535
    assert abs(back.pixels[10:].mean() - 0.5) < 0.01


@pytest.mark.parametrize(
    "layout",
    ["planar", "miniswhite", "premultiplied", "lzw", "lzw16", "jpeg", "pillow_lzw", "twelve_bit"],
)
def test_other_tiff_layouts(tmp_path, photo_u8, layout):
    """TIFFs as other programs write them: planar, inverted grey, premultiplied alpha, compressed."""
    path = tmp_path / f"{layout}.tif"
    expected = photo_u8.astype(np.float32) / 255
    tolerance = 1e-6
    if layout == "planar":
        tifffile.imwrite(path, np.moveaxis(photo_u8, -1, 0), photometric="rgb", planarconfig="separate")
    elif layout == "miniswhite":
        tifffile.imwrite(path, 255 - photo_u8[..., 0], photometric="miniswhite")
        expected = np.repeat(expected[..., :1], 3, axis=2)
    elif layout == "premultiplied":
        alpha = np.full((24, 32, 1), 128, np.uint8)
        premultiplied = np.rint(photo_u8 * (128 / 255)).astype(np.uint8)
        tifffile.imwrite(path, np.dstack([premultiplied, alpha]), photometric="rgb", extrasamples=["assocalpha"])
        tolerance = 1.5 / 255  # premultiplying to 8 bits lost up to half a level of 128
    elif layout == "lzw":
        tifffile.imwrite(path, photo_u8, photometric="rgb", compression="lzw")
    elif layout == "lzw16":
        tifffile.imwrite(path, photo_u8.astype(np.uint16) * 257, photometric="rgb", compression="lzw", predictor=True)
    elif layout == "jpeg":
        tifffile.imwrite(path, photo_u8, photometric="rgb", compression="jpeg", compressionargs={"level": 95})
        expected = tifffile.imread(path).astype(np.float32) / 255  # YCbCr 4:2:0: compare decoders, not codecs
        tolerance = 2 / 255
    elif layout == "pillow_lzw":
        PILImage.fromarray(photo_u8).save(path, compression="tiff_lzw")
    elif layout == "twelve_bit":
        tifffile.imwrite(path, (photo_u8.astype(np.uint16) * 4095 // 255), photometric="rgb", bitspersample=12)
        expected = (photo_u8.astype(np.uint16) * 4095 // 255).astype(np.float32) / 4095
    image = read_image(path)
    assert image.pixels.shape == (24, 32, 3)
    assert np.abs(image.pixels - expected).max() <= tolerance
    if layout == "premultiplied":
        assert np.allclose(image.alpha, 128 / 255)
    if layout == "miniswhite":
        assert image.grayscale
