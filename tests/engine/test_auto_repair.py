"""``--task auto`` sends old-photo damage to repair: the damaged share against the fitted share threshold
(:mod:`restora.engine.repair_share`), what the detection says, and the repair path of the engine."""

from __future__ import annotations

import json

import numpy as np
import pytest

from restora.engine import detect as detect_module
from restora.engine import repair_share, run_restore
from restora.errors import BadInputError

from test_auto import TASKS, StatsDescriber, smooth_scene  # noqa: F401  (StatsDescriber registers its arch)


@pytest.fixture(scope="module")
def describer(tmp_path_factory):
    from restora.models.modelfile import save_model

    path = tmp_path_factory.mktemp("models") / "stats-describer.safetensors"
    save_model(StatsDescriber(), path, {"tasks": list(TASKS), "summary": "test stand-in"})
    return path


def damaged_scene() -> tuple[np.ndarray, np.ndarray]:
    scene = smooth_scene(64, 80) * 0.4 + 0.3
    mask = np.zeros(scene.shape[:2], bool)
    mask[30:33, 5:75] = True
    scene[mask] = 1.0
    return scene, mask


@pytest.mark.parametrize("share, routed", [(0.30, True), (0.01, False)])
def test_auto_repairs_when_the_damaged_share_reaches_the_threshold(describer, monkeypatch, share, routed):
    monkeypatch.setattr(detect_module, "repair_reading", lambda small: (share, 0.05))
    scene, _ = damaged_scene()
    result = run_restore(scene, task="auto", model=str(describer), device="cpu")
    d = result.detection
    assert d.extra["damaged_share"] == share and d.extra["repair_share_threshold"] == 0.05
    assert (result.task == d.task == "repair") is routed
    if routed:
        assert result.model == d.model == "restora-inpaint"
        assert d.summary().startswith("damage 30.0% of pixels")
    else:
        assert d.summary().endswith("damage 1.0% of pixels")


def test_without_a_fitted_threshold_auto_never_repairs(describer, monkeypatch, tmp_path):
    monkeypatch.setattr(repair_share, "SHARE_PATH", tmp_path / "absent.json")
    repair_share._threshold_for.cache_clear()
    scene, _ = damaged_scene()
    result = run_restore(scene, task="auto", model=str(describer), device="cpu")
    repair_share._threshold_for.cache_clear()
    assert result.task != "repair" and "damaged_share" not in result.detection.extra


def test_a_threshold_fitted_for_another_detector_file_is_not_used(monkeypatch, tmp_path):
    other = repair_share.ShareThreshold(0.02, "0" * 64, {"summary": "another detector's"})
    path = tmp_path / "repair_share.json"
    path.write_text(other.to_json())
    monkeypatch.setattr(repair_share, "SHARE_PATH", path)
    repair_share._threshold_for.cache_clear()
    try:
        assert repair_share.share_threshold() is None
    finally:
        repair_share._threshold_for.cache_clear()
    assert repair_share.ShareThreshold.from_json(path.read_text()) == other


def test_the_shipped_threshold_belongs_to_the_shipped_detector():
    fitted = repair_share.share_threshold()
    assert fitted is not None and 0.0 < fitted.threshold < 1.0
    card = json.loads(repair_share.SHARE_PATH.read_text())["card"]
    assert {"validation_fit_draw", "validation_check_draw"} <= set(card)


def test_task_repair_with_a_mask_keeps_every_other_pixel():
    scene, mask = damaged_scene()
    result = run_restore(scene, task="repair", mask=mask)
    out = result.image.pixels
    assert result.task == "repair" and result.model == "restora-inpaint" and result.detection is None
    np.testing.assert_array_equal(out[~mask], scene[~mask])
    assert np.abs(out[mask] - 1.0).mean() > 0.2  # the white line was filled from around it


def test_task_repair_refuses_a_mask_of_another_size():
    scene, _ = damaged_scene()
    with pytest.raises(BadInputError, match="same size"):
        run_restore(scene, task="repair", mask=np.zeros((10, 10), bool))
