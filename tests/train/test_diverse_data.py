"""Several training sets sampled by weight, held-out slices, domain augmentations, real-pair validation."""

import numpy as np
import pytest
from PIL import Image

from restora.errors import RestoraError
from restora.train.augment import jitter_colour, rescaled_crop, shuffle_channels
from restora.train.config import AugmentConfig, DataConfig, ModelConfig, OptimConfig, TrainConfig, TrainSet
from restora.train.data import PatchSampler, real_pairs, set_of, split_train_val, validation_groups
from restora.train.card import export_run
from restora.train.runlog import read_log
from restora.train.trainer import Trainer

LUMA = np.float32([0.299, 0.587, 0.114])


def flat_set(folder, values, size=40):
    """One image per value, each a flat colour (value, value/2, 1 - value): which image a patch came from is
    readable from its pixels."""
    folder.mkdir(parents=True)
    for i, v in enumerate(values):
        rgb = np.uint8([round(v * 255), round(v * 127), round((1 - v) * 255)])
        Image.fromarray(np.broadcast_to(rgb, (size, size, 3)).copy()).save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture
def two_sets(tmp_path):
    a = flat_set(tmp_path / "setA", [0.10, 0.12, 0.14, 0.16, 0.90])  # the last (0.90) is held out
    b = flat_set(tmp_path / "setB", [0.50, 0.52, 0.54, 0.95, 0.97])  # the last two are held out
    return a, b


def sets_config(a, b, **kw):
    args = dict(
        sets=[TrainSet(dir=str(a), weight=3, val_count=1), TrainSet(dir=str(b), weight=1, val_count=2)],
        val_crop=32,
        patch=32,
        batch=4,
        pipeline="gaussian",
    )
    args.update(kw)
    return DataConfig(**args)


def test_sets_hold_out_their_last_files_and_sample_by_weight(two_sets):
    a, b = two_sets
    cfg = sets_config(a, b)
    train, val = split_train_val(cfg)
    assert [f.name for f in val] == ["04.png", "03.png", "04.png"] and [f.parent for f in val] == [a, b, b]
    assert len(train) == 7 and set_of(cfg, train) == [0, 0, 0, 0, 1, 1, 1]
    sampler = PatchSampler(cfg, train, seed=0, hint=False)
    rng = np.random.default_rng(0)
    reds = np.array([sampler.patch(rng)[0, 0, 0] for _ in range(2000)])
    assert not np.any(reds > 0.8)  # held-out images (red 0.90, 0.95, 0.97) are never sampled
    share_a = float(np.mean(reds < 0.3))
    assert 0.71 < share_a < 0.79  # weights 3 : 1, whatever the number of files per set


def test_sets_validate_each_slice_as_its_own_group(two_sets):
    a, b = two_sets
    cfg = sets_config(a, b)
    groups = validation_groups(cfg, split_train_val(cfg)[1], seed=0, hint=False)
    assert [g.name for g in groups] == ["setA", "setB"] and [len(g.pairs) for g in groups] == [1, 2]
    again = validation_groups(cfg, split_train_val(cfg)[1], seed=0, hint=False)
    assert all(np.array_equal(x[0], y[0]) for g, h in zip(groups, again) for x, y in zip(g.pairs, h.pairs))


def test_a_set_named_twice_or_mixed_with_a_mixture_is_a_config_error(two_sets):
    a, _ = two_sets
    with pytest.raises(ValueError, match="twice"):
        DataConfig(sets=[TrainSet(dir=str(a)), TrainSet(dir=str(a))])
    with pytest.raises(ValueError, match="at least one"):
        DataConfig(sets=[])


def test_rescaled_crop_makes_textures_finer_without_aliasing():
    yy, xx = np.mgrid[0:128, 0:128]
    stripes = 0.5 + 0.4 * np.sin(2 * np.pi * xx / 16)  # period 16 px
    image = np.dstack([stripes] * 3).astype(np.float32)
    crop = rescaled_crop(image, 32, 2.0, np.random.default_rng(0))
    spectrum = np.abs(np.fft.rfft(crop[..., 0].mean(0) - crop[..., 0].mean()))
    assert int(np.argmax(spectrum)) == 32 // 8  # period 16 / 2 = 8 px: four cycles across 32 px
    # A period-3 grating shrunk 2× would alias; area averaging wipes it out instead.
    fine = np.dstack([0.5 + 0.4 * np.sin(2 * np.pi * xx / 3)] * 3).astype(np.float32)
    assert rescaled_crop(fine, 32, 2.0, np.random.default_rng(0)).std() < 0.6 * fine.std()


def test_rescaled_crop_caps_the_factor_at_the_image_size():
    image = np.random.default_rng(0).random((40, 60, 3)).astype(np.float32)
    assert rescaled_crop(image, 32, 4.0, np.random.default_rng(1)).shape == (32, 32, 3)


def chroma(x):
    return x - (x @ LUMA)[..., None]


def test_colour_jitter_scales_saturation_and_contrast_and_turns_hue_about_grey():
    rng = np.random.default_rng(0)
    x = (0.5 + 0.04 * rng.standard_normal((32, 32, 3))).astype(np.float32)  # no clipping at 2× chroma
    sat = jitter_colour(x, np.random.default_rng(0), saturation=(2, 2), contrast=(1, 1), hue_degrees=0)
    assert np.allclose(chroma(sat), 2 * chroma(x), atol=1e-5)
    assert np.allclose(sat @ LUMA, x @ LUMA, atol=1e-5)
    con = jitter_colour(x, np.random.default_rng(0), saturation=(1, 1), contrast=(0.5, 0.5), hue_degrees=0)
    assert np.isclose((con @ LUMA).std(), 0.5 * (x @ LUMA).std(), rtol=1e-4)
    assert np.isclose((con @ LUMA).mean(), (x @ LUMA).mean(), atol=1e-5)  # contrast turns about the mean luma
    hue = jitter_colour(x, np.random.default_rng(0), saturation=(1, 1), contrast=(1, 1), hue_degrees=90)
    assert np.allclose(hue.sum(-1), x.sum(-1), atol=1e-5)  # rotation about (1, 1, 1) keeps R + G + B
    assert np.allclose(
        np.linalg.norm(hue - hue.mean(-1, keepdims=True), axis=-1),
        np.linalg.norm(x - x.mean(-1, keepdims=True), axis=-1),
        atol=1e-5,
    )
    assert not np.allclose(hue, x, atol=1e-3)


def test_channel_shuffle_is_a_permutation_of_the_channels():
    x = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    orders = set()
    for seed in range(30):
        y = shuffle_channels(x, np.random.default_rng(seed))
        order = tuple(int(np.argmin([np.abs(y[..., c] - x[..., k]).max() for k in range(3)])) for c in range(3))
        assert sorted(order) == [0, 1, 2] and np.array_equal(y, x[..., list(order)])
        orders.add(order)
    assert len(orders) == 6


def test_clipped_noise_stays_in_range_and_biases_dark_pixels_up(tmp_path):
    folder = flat_set(tmp_path / "dark", [0.02, 0.03, 0.04, 0.05], size=48)
    base = DataConfig(train_dir=str(folder), val_count=1, patch=32, batch=8, pipeline="gaussian", sigma_jitter=0.0)
    clipped = base.model_copy(update={"augment": AugmentConfig(clip_prob=1.0)})
    train = split_train_val(base)[0]
    free = PatchSampler(base, train, seed=0, hint=False).sample(0)
    clip = PatchSampler(clipped, train, seed=0, hint=False).sample(0)
    assert float(free.noisy.min()) < 0 and float(clip.noisy.min()) >= 0 and float(clip.noisy.max()) <= 1
    assert float((clip.noisy - clip.clean).mean()) > 0.002  # noise below black is folded to black: a bias


def test_quantisation_puts_noisy_pixels_on_the_8_and_16_bit_grids(tiny_data):
    for bits, field in ((8, "quantize8_prob"), (16, "quantize16_prob")):
        cfg = DataConfig(
            train_dir=str(tiny_data),
            val_count=2,
            patch=32,
            batch=4,
            pipeline="gaussian",
            augment=AugmentConfig(**{field: 1.0}),
        )
        noisy = PatchSampler(cfg, split_train_val(cfg)[0], seed=0, hint=False).sample(0).noisy.double().numpy()
        levels = noisy * (2**bits - 1)
        assert np.abs(levels - np.rint(levels)).max() < 1e-3 * 2 ** (bits - 8)


def test_augmented_batches_are_a_function_of_seed_and_step(two_sets):
    a, b = two_sets
    aug = AugmentConfig(
        downscale_prob=0.5, colour_prob=0.5, channel_shuffle_prob=0.5, clip_prob=0.5, quantize8_prob=0.5
    )
    cfg = sets_config(a, b, augment=aug)
    train = split_train_val(cfg)[0]
    x, y = PatchSampler(cfg, train, seed=3).sample(5), PatchSampler(cfg, train, seed=3).sample(5)
    assert np.array_equal(x.noisy.numpy(), y.noisy.numpy()) and np.array_equal(x.sigma.numpy(), y.sigma.numpy())


def real_folder(tmp_path, n=2):
    root = tmp_path / "real"
    rng = np.random.default_rng(0)
    for sub in ("noisy", "clean"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        ramp = np.linspace(60, 200, 40, dtype=np.float32)
        clean = np.dstack([ramp[None, :].repeat(40, 0), ramp[:, None].repeat(40, 1), np.full((40, 40), 120.0 + i)])
        noisy = np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255)
        Image.fromarray(clean.astype(np.uint8)).save(root / "clean" / f"p{i}.png")
        Image.fromarray(noisy.astype(np.uint8)).save(root / "noisy" / f"p{i}.png")
    return root


def test_real_pairs_match_by_name_and_a_missing_reference_is_an_error(tmp_path):
    root = real_folder(tmp_path)
    pairs = real_pairs(str(root), crop=32)
    assert len(pairs) == 2 and pairs[0][0].shape == (1, 3, 32, 32)
    assert 4 / 255 < float(pairs[0][2].mean()) < 12 / 255  # the blind σ hint reads the real noise
    (root / "clean" / "p1.png").unlink()
    with pytest.raises(RestoraError, match="no clean reference"):
        real_pairs(str(root), crop=32)


def test_a_multi_set_run_logs_each_set_and_the_real_pairs_and_selects_by_their_mean(tmp_path, two_sets):
    a, b = two_sets
    data = sets_config(
        a,
        b,
        val_extra=["camera"],
        val_real=str(real_folder(tmp_path)),
        val_sigma=15.0,
        augment=AugmentConfig(downscale_prob=0.5, clip_prob=0.5),
    )
    cfg = TrainConfig(
        name="multi",
        steps=4,
        threads=1,
        data=data,
        select="mean",
        log_every=2,
        val_every=4,
        ckpt_every=4,
        model=ModelConfig(
            arch="nafnet", args=dict(width=8, enc_blocks=[1], mid_blocks=1, dec_blocks=[1], uses_sigma=True)
        ),
        optim=OptimConfig(lr=1e-3, warmup_steps=1),
    )
    run = tmp_path / "run"
    run.mkdir()
    Trainer(cfg, run).fit(progress=False)
    row = [r for r in read_log(run / "log.csv") if r["val_psnr"]][-1]
    per_set = [float(row["val_setA"]), float(row["val_setB"])]
    assert float(row["val_psnr"]) == pytest.approx(np.mean(per_set), abs=1e-3)
    assert float(row["val_psnr_real"]) > 0 and float(row["val_psnr_camera"]) > 0
    card = export_run(run, tmp_path / "m.safetensors")
    assert "last 1 of" in card["validation"]["set"] and "real" in card["validation"]["extra"]
    assert set(card["validation"]["per_task"]) >= {"setA", "setB"}
