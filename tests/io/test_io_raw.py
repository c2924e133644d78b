"""Camera RAW through rawpy/LibRaw, on a synthetic DNG made by the fixtures (LibRaw really decodes it)."""

import numpy as np
import pytest

from restora.errors import BadInputError, OutputError
from restora.io import RAW_EXTENSIONS, SUPPORTED_READ_EXTENSIONS, probe, read_image, write_image


def _centre(image):
    """Mean of the inner pixels (demosaicing borders are less exact)."""
    return image.pixels[4:-4, 4:-4].reshape(-1, 3).mean(axis=0)


def test_linear_output_matches_the_scene(tmp_path, make_dng):
    scene = make_dng(tmp_path / "a.dng")
    image = read_image(tmp_path / "a.dng", raw_output="linear")
    assert image.format == "RAW" and image.bit_depth == 16 and not image.grayscale
    assert image.pixels.shape == (24, 32, 3)
    assert np.allclose(_centre(image), scene, atol=2e-3)
    assert image.info["raw_format"] == "DNG" and image.info["raw_output"] == "linear"
    assert image.info["mode"].startswith("RAW (RGBG)")


def test_srgb_output_is_tone_mapped(tmp_path, make_dng):
    scene = make_dng(tmp_path / "a.dng")
    srgb = _centre(read_image(tmp_path / "a.dng"))
    assert srgb[0] > srgb[1] > srgb[2]  # same colour order as the scene
    assert np.all(srgb > scene + 0.1)  # the sRGB curve (and auto exposure) lift linear values

    def decode(v):  # sRGB -> linear
        return ((v + 0.055) / 1.055) ** 2.4

    def encode(v):  # linear -> sRGB
        return 1.055 * v ** (1 / 2.4) - 0.055

    # Whatever exposure LibRaw chose, blue relates to green as in the scene, through the sRGB curve.
    assert abs(srgb[2] - encode(decode(srgb[1]) * scene[2] / scene[1])) < 0.01


def test_raw_metadata_and_orientation(tmp_path, make_dng):
    make_dng(tmp_path / "r.dng", orientation=6)
    image = read_image(tmp_path / "r.dng")
    assert image.pixels.shape == (32, 24, 3)  # LibRaw turned it upright
    assert image.info["camera_make"] == "Restora" and image.info["camera_model"] == "TestCam"
    facts = probe(tmp_path / "r.dng")
    assert (facts["width"], facts["height"]) == (24, 32) and facts["format"] == "RAW"


def test_raw_written_as_16bit_tiff_not_as_raw(tmp_path, make_dng):
    make_dng(tmp_path / "a.dng")
    image = read_image(tmp_path / "a.dng")
    with pytest.raises(OutputError, match="RAW"):
        write_image(tmp_path / "out.dng", image)
    write_image(tmp_path / "out.tif", image, software="Restora 0.1.0 (nlm)")
    back = read_image(tmp_path / "out.tif")
    assert back.bit_depth == 16 and back.info["camera_make"] == "Restora"
    assert np.array_equal(back.pixels, image.pixels)


def test_raw_extension_with_other_content(tmp_path, photo):
    write_image(tmp_path / "a.png", photo)
    (tmp_path / "a.png").rename(tmp_path / "not_really.nef")
    assert read_image(tmp_path / "not_really.nef").format == "PNG"


def test_dng_named_tif_still_reads_as_raw(tmp_path, make_dng):
    make_dng(tmp_path / "a.tif")
    assert read_image(tmp_path / "a.tif").format == "RAW"


def test_damaged_raw_is_refused(tmp_path, make_dng):
    make_dng(tmp_path / "a.dng")
    data = (tmp_path / "a.dng").read_bytes()
    (tmp_path / "cut.nef").write_bytes(data[:200])
    with pytest.raises(BadInputError, match="cut.nef"):
        read_image(tmp_path / "cut.nef")


def test_raw_size_guard(tmp_path, make_dng):
    make_dng(tmp_path / "a.dng")
    with pytest.raises(BadInputError, match="limit"):
        read_image(tmp_path / "a.dng", max_pixels=100)


def test_extension_lists():
    assert {".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"} == set(RAW_EXTENSIONS)
    assert RAW_EXTENSIONS <= SUPPORTED_READ_EXTENSIONS and ".heic" in SUPPORTED_READ_EXTENSIONS
