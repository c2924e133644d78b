"""EXIF orientation, EXIF and ICC carried to the output, CMYK, and the facts for `restora info`."""

import numpy as np
import pytest
import tifffile
from PIL import ExifTags, ImageOps
from PIL import Image as PILImage
from PIL.TiffImagePlugin import IFDRational

from restora.errors import BadInputError
from restora.io import Image, probe, read_image, write_image

METADATA_OUTPUTS = [(".png", 8), (".png", 16), (".jpg", 8), (".tif", 8), (".tif", 16), (".webp", 8), (".heic", 8)]


def _camera_exif(orientation: int = 1) -> PILImage.Exif:
    exif = PILImage.Exif()
    exif[ExifTags.Base.Make] = "Canon"
    exif[ExifTags.Base.Model] = "Canon EOS R5"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Software] = "Camera firmware 1.0"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[ExifTags.Base.ISOSpeedRatings] = 800
    sub[ExifTags.Base.ExposureTime] = IFDRational(1, 250)  # cameras store rationals
    sub[ExifTags.Base.FNumber] = IFDRational(28, 10)
    sub[ExifTags.Base.FocalLength] = IFDRational(50, 1)
    sub[ExifTags.Base.DateTimeOriginal] = "2024:05:01 10:11:12"
    return exif


def _exif_of_file(path) -> tuple[dict, dict]:
    """(IFD0, Exif sub-IFD) as Pillow reads them from the file."""
    with PILImage.open(path) as im:
        exif = im.getexif()
        return dict(exif), exif.get_ifd(ExifTags.IFD.Exif)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_applied_like_pillow(tmp_path, photo_u8, orientation):
    path = tmp_path / f"o{orientation}.jpg"
    PILImage.fromarray(photo_u8).save(path, exif=_camera_exif(orientation), quality=95)
    with PILImage.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im)).astype(np.float32) / 255
    image = read_image(path)
    assert np.array_equal(image.pixels, expected)
    if orientation > 1:
        assert image.info["orientation"] == orientation
    exif = PILImage.Exif()
    exif.load(image.exif)
    assert exif[ExifTags.Base.Orientation] == 1


def test_orientation_six_rotates_and_written_as_one(tmp_path, photo_u8):
    path = tmp_path / "six.jpg"
    PILImage.fromarray(photo_u8).save(path, exif=_camera_exif(6), quality=100, subsampling=0)
    image = read_image(path)
    assert image.pixels.shape == (32, 24, 3)  # 90° clockwise: width and height swap
    assert (image.width, image.height) == (24, 32) and (image.info["width"], image.info["height"]) == (24, 32)
    for ext in (".jpg", ".png", ".tif"):
        out = tmp_path / f"out{ext}"
        write_image(out, image)
        assert _exif_of_file(out)[0].get(ExifTags.Base.Orientation) == 1
        back = read_image(out)
        assert back.pixels.shape == (32, 24, 3) and np.abs(back.pixels - image.pixels).mean() < 4 / 255


def test_tiff_orientation_applied(tmp_path, photo_u8):
    tifffile.imwrite(tmp_path / "r.tif", photo_u8, photometric="rgb", extratags=[(274, "H", 1, 6, True)])
    image = read_image(tmp_path / "r.tif")
    assert np.array_equal(np.rint(image.pixels * 255).astype(np.uint8), np.rot90(photo_u8, k=-1))


@pytest.mark.parametrize("ext,depth", METADATA_OUTPUTS)
def test_exif_and_icc_written_back(tmp_path, photo_u8, srgb_profile, ext, depth):
    source = tmp_path / "in.jpg"
    PILImage.fromarray(photo_u8).save(source, exif=_camera_exif(), icc_profile=srgb_profile)
    image = read_image(source)
    assert image.icc == srgb_profile and "sRGB" in image.info["colour_profile"]
    out = tmp_path / f"out{ext}"
    write_image(out, image, bit_depth=depth, software="Restora 0.1.0 (nlm)")

    exif, sub = _exif_of_file(out)
    assert exif[ExifTags.Base.Software] == "Restora 0.1.0 (nlm)"
    assert exif[ExifTags.Base.Make] == "Canon" and exif[ExifTags.Base.Model] == "Canon EOS R5"
    assert sub[ExifTags.Base.ISOSpeedRatings] == 800 and float(sub[ExifTags.Base.FNumber]) == 2.8
    back = read_image(out)
    assert back.icc == srgb_profile
    assert back.info["camera_model"] == "Canon EOS R5" and back.info["iso"] == 800
    assert back.info["bit_depth"] == depth


def test_tiff_exif_readable_by_tifffile(tmp_path, photo):
    photo.exif = _camera_exif().tobytes()
    write_image(tmp_path / "a.tif", photo, bit_depth=16, software="Restora 0.1.0 (bm3d)")
    with tifffile.TiffFile(tmp_path / "a.tif") as tif:
        tags = tif.pages.first.tags
        assert tags["Software"].value == "Restora 0.1.0 (bm3d)" and tags["Make"].value == "Canon"
        exif_ifd = tags["ExifTag"].value
        assert exif_ifd["ISOSpeedRatings"] == 800 and exif_ifd["ExposureTime"] == (1, 250)


def test_software_written_without_source_exif(tmp_path, photo):
    write_image(tmp_path / "a.jpg", photo, software="Restora 0.1.0 (nlm)")
    assert _exif_of_file(tmp_path / "a.jpg")[0][ExifTags.Base.Software] == "Restora 0.1.0 (nlm)"
    write_image(tmp_path / "b.png", photo)
    assert read_image(tmp_path / "b.png").exif is None


def test_info_facts(tmp_path, photo_u8, srgb_profile):
    path = tmp_path / "in.jpg"
    PILImage.fromarray(photo_u8).save(path, exif=_camera_exif(6), icc_profile=srgb_profile)
    facts = probe(path)
    assert facts["format"] == "JPEG" and facts["mode"] == "RGB" and facts["bit_depth"] == 8
    assert (facts["width"], facts["height"]) == (32, 24)  # as stored; orientation below
    assert facts["orientation"] == 6
    assert facts["camera_make"] == "Canon" and facts["camera_model"] == "Canon EOS R5"
    assert facts["iso"] == 800 and facts["exposure_time"] == "1/250 s" and facts["f_number"] == 2.8
    assert facts["focal_length_mm"] == 50.0 and facts["date_taken"] == "2024:05:01 10:11:12"
    assert facts["colour_profile"].startswith("sRGB")
    info = read_image(path).info
    assert {k: v for k, v in info.items() if k not in ("width", "height")} == {
        k: v for k, v in facts.items() if k not in ("width", "height")
    }


def test_probe_reads_only_the_header(tmp_path):
    path = tmp_path / "cut.jpg"
    noise = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    PILImage.fromarray(noise).save(path, exif=_camera_exif())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])  # pixel data cut short, header whole
    assert probe(path)["camera_make"] == "Canon"
    with pytest.raises(BadInputError, match="truncated"):
        read_image(path)


def test_cmyk_jpeg_without_profile_plain_conversion(tmp_path):
    cmyk = PILImage.new("CMYK", (32, 24), (0, 0, 0, 128))
    cmyk.save(tmp_path / "c.jpg", quality=100)
    image = read_image(tmp_path / "c.jpg")
    assert image.info["mode"] == "CMYK" and image.icc is None
    assert np.abs(image.pixels * 255 - 127).max() <= 1


@pytest.mark.parametrize("ext", [".jpg", ".tif"])
def test_cmyk_converted_through_embedded_profile(tmp_path, cmyk_profile, ext):
    cmyk = PILImage.new("CMYK", (32, 24), (0, 0, 0, 128))
    cmyk.paste((255, 0, 0, 0), (0, 0, 16, 24))  # left half pure cyan
    cmyk.save(tmp_path / f"c{ext}", icc_profile=cmyk_profile, **({"quality": 100} if ext == ".jpg" else {}))
    image = read_image(tmp_path / f"c{ext}")
    # The profile's inks filter linear light: 50% black is linear grey 0.5, i.e. sRGB 188 (plain: 127).
    assert np.abs(image.pixels[:, 20:] * 255 - 187.5).max() <= 2
    assert np.abs(image.pixels[4:20, 2:12] - [0, 1, 1]).max() <= 2 / 255
    assert image.info["colour_profile"] == "sRGB built-in" and image.info["mode"] == "CMYK"


def test_damaged_cmyk_profile_falls_back_to_plain_conversion(tmp_path):
    PILImage.new("CMYK", (8, 8), (0, 0, 0, 128)).save(tmp_path / "c.tif", icc_profile=b"not a profile")
    image = read_image(tmp_path / "c.tif")
    assert np.abs(image.pixels * 255 - 127).max() <= 1


def test_png_named_jpg_reads_by_content(tmp_path, photo):
    write_image(tmp_path / "a.png", photo)
    (tmp_path / "a.png").rename(tmp_path / "really_png.jpg")
    image = read_image(tmp_path / "really_png.jpg")
    assert image.format == "PNG" and np.array_equal(image.pixels, photo.pixels)


def test_unreadable_exif_does_not_stop_reading(tmp_path, photo_u8):
    PILImage.fromarray(photo_u8).save(tmp_path / "bad.png", exif=b"Exif\x00\x00MM\x00*garbage")
    image = read_image(tmp_path / "bad.png")
    assert image.exif is None and image.pixels.shape == (24, 32, 3)


def test_exif_written_for_grey_and_rgb_float(tmp_path):
    image = Image.from_array(np.full((8, 8), 0.5, np.float32), exif=_camera_exif().tobytes())
    write_image(tmp_path / "g.tif", image, software="Restora")
    back = read_image(tmp_path / "g.tif")
    assert back.grayscale and back.bit_depth == 32 and back.info["camera_make"] == "Canon"


def test_orientation_applied_to_16bit_png(tmp_path):
    import restora.io.write as write_module

    values = np.random.default_rng(4).integers(0, 65536, (24, 32, 3), dtype=np.uint16)
    with open(tmp_path / "o.png", "wb") as fp:  # the writer always says 1, so build the file by hand
        write_module._encode_png16(fp, values, None, exif=_camera_exif(8).tobytes(), icc=None)
    image = read_image(tmp_path / "o.png")
    assert image.bit_depth == 16 and image.info["orientation"] == 8
    assert np.array_equal(np.rint(image.pixels * 65535).astype(np.uint16), np.rot90(values, k=1))
