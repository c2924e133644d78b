"""Every shipped model gives, for one fixed seeded 32×32 input, the output stored for it (tests/data/model-snapshots).

A code change that alters what a shipped network computes (a block, padding, a loader) fails here. A
re-shipped model fails with the command that makes its new reference (see model_snapshots.py and
docs/development.md).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from model_snapshots import INDEX, REFERENCES, REGENERATE, shipped_models, snapshot_output, weights_sha256

# Same weights and input on another CPU or BLAS: float32 rounding differs far below this.
ATOL, RTOL = 2e-4, 1e-3


def test_every_shipped_model_has_a_reference_and_no_other_model_does():
    index = json.loads(INDEX.read_text())
    assert sorted(index) == shipped_models(), f"make the references: {REGENERATE}"
    assert sorted(p.stem for p in REFERENCES.glob("*.npy")) == shipped_models()


@pytest.mark.parametrize("name", shipped_models())
def test_shipped_model_output_matches_its_snapshot(name):
    entry = json.loads(INDEX.read_text()).get(name)
    assert entry is not None, f"{name} has no snapshot: {REGENERATE} {name}"
    assert entry["weights_sha256"] == weights_sha256(name), (
        f"{name} was re-shipped (its weights changed): make its reference with {REGENERATE} {name}"
    )
    reference = np.load(REFERENCES / f"{name}.npy", allow_pickle=False)
    output = snapshot_output(name)
    assert output.shape == reference.shape == tuple(entry["shape"])
    np.testing.assert_allclose(output, reference, atol=ATOL, rtol=RTOL, err_msg=f"{name}: output changed")
    assert float(np.std(reference)) > 0.01  # the input exercises the network: the reference is not flat


def test_a_changed_network_fails_its_snapshot(monkeypatch):
    """The comparison can fail: a small change to the weights moves the output beyond the tolerance."""
    import torch

    import model_snapshots

    name = "restora-denoise-fast" if "restora-denoise-fast" in shipped_models() else shipped_models()[0]
    reference = np.load(REFERENCES / f"{name}.npy", allow_pickle=False)
    load = model_snapshots.load_module

    def nudged(path):
        module, meta = load(path)
        with torch.no_grad():
            first = next(p for p in module.parameters() if p.dim() == 4)
            first.mul_(1.01)  # 1% on the first convolution
        return module, meta

    monkeypatch.setattr(model_snapshots, "load_module", nudged)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(snapshot_output(name), reference, atol=ATOL, rtol=RTOL)
