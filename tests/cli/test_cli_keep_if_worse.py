"""The one-line warning where the output may be worse than the input, and --keep-if-worse."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image as PILImage

from restora.explain.reliability import Reliability

from .conftest import write_image_file


@pytest.mark.parametrize(
    "gain, confidence, flags, worse",
    [
        (-0.6, "high", {}, True),
        (1.5, "low", {}, True),
        (1.5, "high", {"size": "tiny"}, True),
        (1.5, "medium", {}, False),
    ],
)
def test_warning_is_one_line_exactly_where_the_output_may_be_worse(gain, confidence, flags, worse):
    r = Reliability(gain, gain - 1, gain + 1, confidence, flags)
    assert r.may_be_worse is worse
    text = r.warning()
    assert (text is not None) is worse
    if worse:
        assert "\n" not in text and text.startswith("warning:") and "--keep-if-worse" in text


def _fake_reliability(gain: float):
    def side_outputs(job, options, image, result, notes):
        return Reliability(gain, gain - 1, gain + 1, "high").to_dict()

    return side_outputs


@pytest.mark.parametrize("gain", [-1.0, 2.0])
def test_keep_if_worse_writes_the_input_unchanged_only_where_a_loss_is_predicted(cli, tmp_path, monkeypatch, gain):
    import restora.batch.jobs

    monkeypatch.setattr(restora.batch.jobs, "_side_outputs", _fake_reliability(gain))
    write_image_file(tmp_path / "photo.png", size=(64, 64))
    warned = cli("denoise", "photo.png", "-o", "warned.png", "--model", "nlm")
    kept = cli("denoise", "photo.png", "-o", "kept.png", "--model", "nlm", "--keep-if-worse")
    assert warned.code == 0 and kept.code == 0, (warned, kept)
    src = np.asarray(PILImage.open(tmp_path / "photo.png"))
    out = np.asarray(PILImage.open(tmp_path / "kept.png"))
    assert sum("warning:" in line for line in warned.out.splitlines()) == (1 if gain < 0 else 0), warned.out
    if gain < 0:
        np.testing.assert_array_equal(out, src)
        assert "kept the input unchanged" in kept.out and "warning:" not in kept.out
    else:
        assert not np.array_equal(out, src) and "kept the input" not in kept.out
