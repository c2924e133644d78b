"""The distortion classifier: GP regression, rebalancing of an imbalanced level set, the classifier, features."""

import numpy as np

from restora.eval.distortion_reliability import (
    FEATURES,
    DistortionClassifier,
    GaussianProcess,
    balanced_accuracy,
    gp_rebalance,
    image_features,
)


def _levels(n=40):
    # One feature (a noise level) drives accuracy down a sigmoid; a second is irrelevant.
    rng = np.random.default_rng(0)
    s = np.sort(rng.uniform(0, 100, n))
    x = np.stack([s, rng.normal(0, 1, n)], axis=1)
    return x, 1 / (1 + np.exp((s - 80) / 5))  # reliable (≥ 0.5) below σ 80: imbalanced


def test_gaussian_process_interpolates_and_is_unsure_far_away():
    x = np.linspace(0, 1, 15)[:, None]
    gp = GaussianProcess(length=0.2, noise=1e-4).fit(x, x[:, 0] ** 2)
    mean, sd = gp.predict(np.array([[0.5], [5.0]]))
    assert abs(mean[0] - 0.25) < 0.01 and sd[0] < 0.05 and sd[1] > 0.9


def test_rebalancing_adds_minority_levels_on_the_minority_side():
    x, acc = _levels()
    labels = acc >= 0.5
    assert labels.sum() > 2 * (~labels).sum()
    xb, yb = gp_rebalance(x, acc, 0.5)
    added = xb[len(x) :]
    assert len(added) > 0 and not yb[len(x) :].any()  # new levels are labelled unreliable, the minority
    assert abs(int(yb.sum()) - int((~yb).sum())) < labels.sum() - (~labels).sum()
    assert np.all(added[:, 0] >= x[~labels][:, 0].min() - 1e-9)  # drawn between minority levels


def test_balanced_levels_are_left_alone():
    x = np.arange(10, dtype=float)[:, None]
    xb, yb = gp_rebalance(x, (x[:, 0] < 5).astype(float), 0.5)
    assert len(xb) == 10 and yb.sum() == 5


def test_the_distortion_classifier_separates_levels():
    x, acc = _levels()
    clf = DistortionClassifier().fit(*gp_rebalance(x, acc, 0.5))
    truth = acc >= 0.5
    assert balanced_accuracy(truth, clf.predict(x)) > 0.9
    assert clf.predict(np.array([[10.0, 0.0]]))[0] and not clf.predict(np.array([[99.0, 0.0]]))[0]


def test_image_features_see_noise_and_impulses():
    rng = np.random.default_rng(0)
    clean = np.tile(np.linspace(0.2, 0.8, 96, dtype=np.float32), (96, 1))[..., None].repeat(3, 2)
    noisy = np.clip(clean + rng.normal(0, 30 / 255, clean.shape), 0, 1).astype(np.float32)
    impulses = clean.copy()
    impulses[rng.random(clean.shape[:2]) < 0.1] = 1.0
    f = {name: image_features(im) for name, im in (("clean", clean), ("noisy", noisy), ("impulses", impulses))}
    assert len(f["clean"]) == len(FEATURES)
    assert f["noisy"][0] > f["clean"][0] + 15  # σ
    assert f["impulses"][1] > f["clean"][1] + 0.05  # saturated share
