import pytest
import torch

from restora.models.modelfile import build_module, load_module, save_model
from restora.models.nafnet import NAFNet


@pytest.mark.parametrize("block", ["naf", "conv"])
@pytest.mark.parametrize("size", [(17, 23), (32, 32), (9, 40)])
def test_forward_on_odd_sizes_keeps_shape(block, size):
    m = NAFNet(width=8, enc_blocks=(1, 1), mid_blocks=1, dec_blocks=(1, 1), block=block).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        y = m(x, torch.full_like(x, 0.1))
    assert y.shape == x.shape


def test_fresh_model_is_identity_and_blind_variant_needs_no_sigma():
    m = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,), uses_sigma=False).eval()
    x = torch.rand(1, 3, 20, 20)
    with torch.no_grad():
        assert torch.allclose(m(x), x)


def test_sigma_input_changes_the_output():
    torch.manual_seed(0)
    m = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,)).eval()
    torch.nn.init.normal_(m.ending.weight, std=0.1)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(m(x, torch.zeros_like(x)), m(x, torch.full_like(x, 0.2)))


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    m = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,)).eval()
    torch.nn.init.normal_(m.ending.weight, std=0.1)
    path = tmp_path / "m.safetensors"
    save_model(m, path, {"task": "denoise"})
    loaded, meta = load_module(path)
    x = torch.rand(1, 3, 16, 16)
    s = torch.full_like(x, 0.1)
    with torch.no_grad():
        assert torch.equal(loaded(x, s), m(x, s))
    assert meta["arch"] == "nafnet" and meta["card"]["task"] == "denoise"
    assert build_module("nafnet", meta["config"]).config == m.config
