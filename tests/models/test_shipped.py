"""The models shipped inside the package load with safetensors only and really denoise."""

import numpy as np
import pytest

from restora.engine import run_restore
from restora.models.registry import WEIGHTS_DIR, available_methods, default_method

SHIPPED = sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def test_default_denoiser_is_ours_when_shipped():
    if "restora-denoise" in SHIPPED:
        assert default_method("denoise") == "restora-denoise"
    assert {m.name for m in available_methods("denoise") if m.kind == "ours"} >= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_denoises_blind(name):
    yy, xx = np.mgrid[0:96, 0:96].astype(np.float32)
    clean = np.dstack([0.5 + 0.3 * np.sin(xx / 6.0) * np.cos(yy / 9.0), 0.4 + 0.2 * np.cos(xx / 11.0), 0.5 + 0.2 * np.sin(yy / 7.0)])
    noisy = clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape).astype(np.float32)
    result = run_restore(noisy, model=name, device="cpu")  # sigma="auto": blind
    mse = lambda a: float(np.mean((np.clip(a, 0, 1) - clean) ** 2))  # noqa: E731
    assert 20 < float(np.mean(result.sigma)) < 30
    assert mse(result.image.pixels) < 0.3 * mse(noisy)
    assert result.model == name
