"""restora bench --task classify: the accuracy-recovered arithmetic, the set's order and the classifier wrapper."""

from pathlib import Path

import numpy as np
import pytest

from restora.eval.classify_bench import DEGRADATIONS, _degradations, accuracy_recovered, load_set
from restora.eval.classifier import Classifier, classifier_available


def test_accuracy_recovered():
    assert accuracy_recovered(0.994, 0.870, 0.958) == pytest.approx(0.7097, abs=1e-4)
    assert accuracy_recovered(0.9, 0.5, 0.9) == 1.0
    assert accuracy_recovered(0.9, 0.5, 0.5) == 0.0
    assert accuracy_recovered(0.9, 0.5, 0.3) == pytest.approx(-0.5)  # restoring can make it worse
    assert accuracy_recovered(0.9, 0.9, 0.8) is None  # nothing was lost


def test_the_set_is_read_class_by_class_in_turn(tmp_path):
    root = tmp_path / "classify" / "imagenette-val500"
    for wnid in ("n2", "n1"):
        (root / wnid).mkdir(parents=True)
        for k in range(3):
            (root / wnid / f"{wnid}_{k}.JPEG").write_bytes(b"")
    (root / "classes.tsv").write_text("wnid\tname\timagenet_index\nn1\tone\t7\nn2\ttwo\t3\n")
    paths, labels, classes = load_set(tmp_path, limit=4)
    assert [p.name for p in paths] == ["n1_0.JPEG", "n2_0.JPEG", "n1_1.JPEG", "n2_1.JPEG"]
    assert labels == [7, 3, 7, 3] and classes == [3, 7]


def test_every_degradation_is_seeded_and_keeps_the_shape():
    x = np.random.default_rng(0).uniform(0.2, 0.8, (64, 64, 3)).astype(np.float32)
    for name, d in _degradations().items():
        a, b = d.make()(x, np.random.default_rng(1)), d.make()(x, np.random.default_rng(1))
        assert a.shape == x.shape and np.array_equal(a, b), name
    assert len(DEGRADATIONS) == 13


@pytest.mark.skipif(not classifier_available(), reason="the classify extra (EfficientNet-Lite0) is not installed")
def test_the_classifier_ranks_dog_photos_as_dogs():
    from restora.eval.datasets import read_rgb8
    from restora.settings import data_dir

    root = data_dir(required=False)
    folder = Path(root or ".") / "train" / "DreamBooth158"
    files = sorted(folder.glob("dog_*.jpg"))[:3] if root is not None and folder.is_dir() else []
    if not files:
        pytest.skip(f"no dog photos in {folder}")
    predicted = Classifier().predict([read_rgb8(p) for p in files])
    assert all(151 <= p <= 268 for p in predicted)  # ImageNet's dog breeds
    # Restricted to two classes, a dog and a golf ball, the dog wins.
    assert list(Classifier().predict([read_rgb8(files[0])], classes=[574, 260])) == [260]


@pytest.mark.skipif(not classifier_available(), reason="the classify extra (EfficientNet-Lite0) is not installed")
def test_the_classifier_preprocesses_any_size_to_224():
    x = Classifier.preprocess(np.zeros((300, 500, 3), np.uint8))
    assert x.shape == (3, 224, 224) and x.dtype == np.float32


def test_cache_keys_follow_the_method_and_the_image():
    from restora.eval.classify_bench import _image_key, method_fingerprint

    x = np.zeros((8, 8, 3), np.float32)
    v = method_fingerprint("median")
    assert v == method_fingerprint("median") and len(v) == 16
    assert _image_key(v, x) == _image_key(v, x.copy())
    assert _image_key(v, x) != _image_key(v + "x", x) != _image_key(v, x + 1 / 255)


def test_denoiserep_methods_restore_nothing_or_what_ours_restores():
    from restora.eval.classify_bench import METHODS, method_fingerprint, restore_with

    x = np.random.default_rng(0).uniform(0, 1, (16, 16, 3)).astype(np.float32)
    gaussian = _degradations()["gaussian-25"]
    assert restore_with("denoiserep", x, gaussian, "cpu") is x  # the classifier's own layers do the work
    assert {"denoiserep", "ours+denoiserep"} <= set(METHODS)
    prints = {m: method_fingerprint(m) for m in ("ours", "denoiserep", "ours+denoiserep", "median+denoiserep")}
    assert len(set(prints.values())) == 4
