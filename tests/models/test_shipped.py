"""The models shipped inside the package load with safetensors only and really restore what they are for."""

import numpy as np
import pytest

from restora.engine import run_restore
from restora.models.modelfile import read_metadata
from restora.engine.catalogue import available_methods, default_method
from restora.models.registry import WEIGHTS_DIR

SHIPPED = {p.stem: read_metadata(p)["card"] for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}
DENOISERS = sorted(name for name, card in SHIPPED.items() if card.get("tasks") == ["denoise"])


def scene() -> np.ndarray:
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    return np.dstack(
        [0.5 + 0.3 * np.sin(xx / 6.0) * np.cos(yy / 9.0), 0.4 + 0.2 * np.cos(xx / 11.0), 0.5 + 0.2 * np.sin(yy / 7.0)]
    )


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.clip(a, 0, 1) - b) ** 2))


def test_every_shipped_model_is_registered_for_its_tasks():
    if "restora-denoise" in SHIPPED:
        assert default_method("denoise") == "restora-denoise"
    for name, card in SHIPPED.items():
        for task in card["tasks"]:
            assert name in {m.name for m in available_methods(task) if m.kind == "ours"}


@pytest.mark.parametrize("name", DENOISERS)
def test_shipped_denoiser_denoises_blind(name):
    clean = scene()
    noisy = clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape).astype(np.float32)
    result = run_restore(noisy, model=name, device="cpu")  # sigma="auto": blind
    assert 20 < float(np.mean(result.sigma)) < 30
    assert mse(result.image.pixels, clean) < 0.3 * mse(noisy, clean)
    assert result.model == name


@pytest.mark.skipif("restora-allinone" not in SHIPPED, reason="no all-in-one model shipped")
def test_shipped_allinone_brightens_a_dark_photo_and_detects_low_light():
    clean = scene()
    dark = (0.25 * clean) ** 1.4  # under-exposed, with the gamma the low-light degradation applies
    result = run_restore(dark, task="auto", device="cpu")
    assert result.task == "lowlight" and result.model == "restora-allinone"
    assert mse(result.image.pixels, clean) < 0.3 * mse(dark, clean)
