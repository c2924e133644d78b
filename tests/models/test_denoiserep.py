"""Denoising layers in a classifier: they start as the identity, train, and fold into conv + batch norm exactly."""

import numpy as np
import pytest
import torch
from torch import nn

from restora.models.denoiserep import DenoiserSet, FeatureDenoiser, fold_denoiser
from restora.models.modelfile import load_module, save_model


class Block(nn.Module):
    """The shape of an MBConv block's end: projection (1×1, no bias), batch norm, skip."""

    def __init__(self, c: int):
        super().__init__()
        self._project_conv = nn.Conv2d(c, c, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(c, eps=1e-3)

    def forward(self, x):
        return x + self._bn2(self._project_conv(torch.relu(x)))


def tiny_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), Block(6), Block(6))
    for block in net[1:]:  # statistics as after training, not the defaults
        block._bn2.running_mean.normal_(0, 0.5)
        block._bn2.running_var.uniform_(0.2, 3.0)
        block._bn2.weight.data.uniform_(0.5, 1.5)
        block._bn2.bias.data.normal_(0, 0.3)
    return net.eval()


def pairs_of(net):
    return [(b._project_conv, b._bn2) for b in net[1:]]


def setter(net):
    return lambda i, m: setattr(net[1 + i], "_bn2", m)


def test_a_new_denoiser_is_the_identity():
    z = torch.randn(2, 5, 4, 4)
    assert torch.equal(FeatureDenoiser(5)(z), z)


def test_folding_equals_the_network_with_its_layers_in_place():
    net, x = tiny_net(), torch.randn(2, 3, 9, 7)
    layers = DenoiserSet([6, 6])
    for layer in layers.layers:
        nn.init.normal_(layer.mix.weight, std=0.2)
        nn.init.normal_(layer.mix.bias, std=0.2)
    plain = net(x)
    layers.insert(pairs_of(net), setter(net))
    with torch.no_grad():
        with_layers = net(x)
    assert not torch.allclose(with_layers, plain, atol=1e-3)  # the layers really change the network
    merged = tiny_net()
    layers.fold(pairs_of(merged))
    with torch.no_grad():
        assert torch.allclose(merged(x), with_layers, atol=1e-5)
    assert all(isinstance(b._bn2, nn.BatchNorm2d) for b in merged[1:])  # the same architecture


def test_layers_train_and_survive_their_model_file(tmp_path):
    net, teacher = tiny_net(), tiny_net()
    for p in net.parameters():
        p.requires_grad_(False)
    layers = DenoiserSet([6, 6])
    layers.insert(pairs_of(net), setter(net))
    x = torch.randn(8, 3, 8, 8)
    noisy = x + 0.3 * torch.randn_like(x)
    opt = torch.optim.Adam(layers.parameters(), lr=1e-2)
    with torch.no_grad():
        target = teacher(x)
    first = None
    for _ in range(60):
        loss = (net(noisy) - target).pow(2).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.95 * first  # the layers learn (a tiny net cannot undo much of the noise)
    save_model(layers, tmp_path / "layers.safetensors", {"name": "tiny"})
    loaded, meta = load_module(tmp_path / "layers.safetensors")
    assert meta["arch"] == "denoiserep" and meta["config"] == {"channels": [6, 6]}
    merged = tiny_net()
    loaded.fold(pairs_of(merged))
    with torch.no_grad():
        assert torch.allclose(merged(noisy), net(noisy), atol=1e-5)


def test_folding_refuses_what_it_cannot_fold():
    den = FeatureDenoiser(4)
    with pytest.raises(ValueError):
        fold_denoiser(nn.Conv2d(4, 4, 1, bias=True), nn.BatchNorm2d(4), den)
    with pytest.raises(ValueError):
        DenoiserSet([4, 4]).fold(pairs_of(tiny_net()))  # channels 6, not 4


def test_views_are_seeded_classify_sized_and_stored_as_8_bits():
    from restora.train.config import DenoiseRepConfig
    from restora.train.denoiserep import classify_view, feature_loss, noisy_view

    cfg = DenoiseRepConfig(size=32, jpeg=90)
    photo = (np.random.default_rng(0).uniform(0, 255, (50, 70, 3))).astype(np.uint8)
    a = classify_view(photo, np.random.default_rng(1), cfg)
    b = classify_view(photo, np.random.default_rng(1), cfg)
    assert a.shape == (32, 32, 3) and np.array_equal(a, b)
    centre = classify_view(photo, None, cfg)
    assert np.array_equal(centre, classify_view(photo, None, cfg))
    noisy = noisy_view(centre, 25.0, np.random.default_rng(2))
    assert np.allclose(noisy * 255, np.rint(noisy * 255), atol=1e-3)
    assert 15 < np.std((noisy - centre) * 255) < 30
    f = [torch.randn(2, 3, 4, 4)]
    assert feature_loss(f, f).item() == 0.0
