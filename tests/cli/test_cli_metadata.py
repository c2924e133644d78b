"""Metadata survives a restore: 16-bit TIFF with an ICC profile and EXIF orientation."""

from __future__ import annotations

import numpy as np
import tifffile
from PIL import ImageCms

from restora import __version__

MAKE, ORIENTATION, ICC_PROFILE, SOFTWARE = 271, 274, 34675, 305


def test_16_bit_tiff_keeps_depth_and_icc_and_is_written_upright(cli, tmp_path):
    rng = np.random.default_rng(3)
    stored = rng.integers(0, 65536, size=(24, 40, 3), dtype=np.uint16)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    tifffile.imwrite(
        tmp_path / "scan.tif",
        stored,
        photometric="rgb",
        extratags=[
            (MAKE, "s", 0, "TestCam", True),
            (ORIENTATION, "H", 1, 6, True),
            (ICC_PROFILE, "B", len(icc), icc, True),
        ],
    )

    run = cli("denoise", "scan.tif", "-o", "out/scan.tif", "--model", "identity")
    assert run.code == 0, run

    with tifffile.TiffFile(tmp_path / "out" / "scan.tif") as tif:
        page = tif.pages[0]
        out = page.asarray()
        tags = {tag.code: tag.value for tag in page.tags.values()}
    assert out.dtype == np.uint16
    # Orientation 6: the stored rows are the picture's right-hand column; upright is 90° clockwise.
    np.testing.assert_array_equal(out, np.rot90(stored, k=-1))
    assert int(tags.get(ORIENTATION, 1)) == 1
    assert bytes(tags[ICC_PROFILE]) == icc
    assert tags[MAKE] == "TestCam"  # the photo's EXIF travels
    assert tags[SOFTWARE] == f"Restora {__version__} (identity)"

    run = cli("info", "scan.tif")
    assert run.code == 0, run
    assert "24 × 40" in run.out and "16 bits" in run.out and "sRGB" in run.out and "TestCam" in run.out
