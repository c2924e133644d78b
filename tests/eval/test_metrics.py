import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from restora.eval.metrics import PSNR_CAP, detail, psnr, score, ssim, to_uint8


@pytest.fixture
def clean(make_textured):
    return make_textured(np.random.default_rng(3), 64, 64)


def test_psnr_of_identical_images_is_capped(clean):
    assert psnr(clean, clean.copy()) == PSNR_CAP


def test_psnr_matches_its_definition(clean):
    other = clean.copy()
    other[0, 0, 0] ^= 8
    other[5, 7, 2] ^= 1
    mse = np.mean((clean.astype(float) - other.astype(float)) ** 2)
    assert psnr(clean, other) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)
    assert psnr(clean, other) < PSNR_CAP


def test_ssim_is_one_for_identical_and_lower_for_noisy(clean):
    noisy = to_uint8(clean + np.random.default_rng(0).normal(0, 20, clean.shape))
    assert ssim(clean, clean) == pytest.approx(1.0)
    assert ssim(clean, noisy) < 0.9


def test_to_uint8_clips_and_rounds():
    out = to_uint8(np.array([-0.2, 0.5004 / 255, 1.6 / 255, 1.3]), scale=1.0)
    assert out.tolist() == [0, 1, 2, 255]


def test_detail_falls_for_blur_and_for_leftover_noise(clean):
    rng = np.random.default_rng(1)
    near_perfect = to_uint8(clean + rng.normal(0, 1.0, clean.shape))
    blurred = to_uint8(gaussian_filter(clean.astype(float), sigma=(1.2, 1.2, 0)))
    noisy = to_uint8(clean + rng.normal(0, 15.0, clean.shape))
    d_good, d_blur, d_noisy = detail(clean, near_perfect), detail(clean, blurred), detail(clean, noisy)
    assert detail(clean, clean) == pytest.approx(1.0)
    assert d_blur < d_good - 0.03
    assert d_noisy < d_good - 0.03


def test_score_rejects_a_different_shape(clean):
    with pytest.raises(ValueError):
        score(clean, clean[:-1])


def test_gt_mean_scores_restoration_apart_from_global_brightness(clean):
    from restora.eval.metrics import gt_mean_psnr_ssim, psnr

    darker = np.clip(np.rint(clean * 0.8), 0, 255).astype(np.uint8)
    scores = gt_mean_psnr_ssim(clean, darker)
    assert scores["psnr_gtmean"] > psnr(clean, darker) + 10  # a global gain error is forgiven ...
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(darker + rng.normal(0, 10, clean.shape)), 0, 255).astype(np.uint8)
    assert gt_mean_psnr_ssim(clean, noisy)["psnr_gtmean"] < scores["psnr_gtmean"] - 10  # ... noise is not
    assert gt_mean_psnr_ssim(clean, noisy)["ssim_gtmean"] < scores["ssim_gtmean"]
