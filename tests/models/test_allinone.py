import pytest
import torch

from restora.models.modelfile import load_module, save_model
from restora.models.allinone import TASKS, AllInOneNet, describe_input, shrink
from restora.models.mimounet import receptive_radius


def tiny():
    return AllInOneNet(
        width=8,
        enc_blocks=(1, 1, 1),
        dec_blocks=(1, 1, 1),
        bottom_dilations=(1, 2),
        embed_dim=8,
        encoder_widths=(4, 8, 8, 8),
    )


def randomised():
    """A tiny network whose FiLM, tone curve and heads all act (fresh ones are zero-initialised)."""
    torch.manual_seed(0)
    m = tiny().eval()
    for p in m.parameters():  # zero-initialised: image heads, up-projections, fusion convs, FiLM, tone
        if p.dim() > 1 and not p.any():
            torch.nn.init.normal_(p, std=0.1)
    torch.nn.init.normal_(m.trunk.film.weight, std=0.3)
    return m


def test_tasks_are_the_registry_tasks_without_auto():
    assert TASKS == ("denoise", "deblur", "derain", "dehaze", "lowlight")


@pytest.mark.parametrize("size", [(17, 23), (32, 32), (9, 40)])
def test_forward_on_odd_sizes_keeps_shape(size):
    m = randomised()
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        assert m(x).shape == x.shape
        outs, aux = m(x, multiscale=True, return_aux=True)
    assert outs[-1].shape == x.shape and len(outs) == 3
    assert aux["logits"].shape == (2, len(TASKS))


def test_describe_shapes_and_ranges():
    m = randomised()
    x_small = describe_input(torch.rand(3, 3, 300, 517))
    assert max(x_small.shape[-2:]) == 256
    with torch.no_grad():
        d = m.describe(x_small)
    assert d["embedding"].shape == (3, 8)
    assert d["logits"].shape == d["severity"].shape == (3, len(TASKS))
    assert (d["severity"] >= 0).all() and (d["severity"] <= 1).all()


def test_forward_without_embedding_describes_the_downscaled_input():
    m = randomised()
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        emb = m.describe(describe_input(x))["embedding"]
        assert torch.equal(m(x), m(x, emb))
        other = m(x, emb + 1.0)
    assert not torch.allclose(other, m(x, emb))  # the embedding steers the result


def test_tiles_equal_the_whole_image_given_the_same_embedding():
    """The trunk has no global operation: with the image's embedding, a window's output, away from the
    window's borders by the receptive radius, equals the whole image's output there."""
    m = randomised()
    r = receptive_radius(m.trunk)
    window = 2 * r + 24
    x = torch.rand(1, 3, window + 40, window + 56)
    # A dark, hazy-looking gradient: the global quantities matter for this image.
    x = 0.3 * x + torch.linspace(0, 0.4, x.shape[-1])
    with torch.no_grad():
        emb = m.describe(describe_input(x))["embedding"]
        whole = m(x, emb)
        y0, x0 = 16, 32  # aligned to size_multiple, as the engine's windows are
        assert y0 % m.size_multiple == 0 and x0 % m.size_multiple == 0
        tile = m(x[..., y0 : y0 + window, x0 : x0 + window], emb)
    inner = (slice(r, window - r), slice(r, window - r))
    ref = whole[..., y0 : y0 + window, x0 : x0 + window][..., inner[0], inner[1]]
    torch.testing.assert_close(tile[..., inner[0], inner[1]], ref, rtol=0, atol=1e-5)
    # ... while describing the tile alone (a per-tile global statistic) would change it.
    with torch.no_grad():
        alone = m(x[..., y0 : y0 + window, x0 : x0 + window])
    assert (alone[..., inner[0], inner[1]] - ref).abs().max() > 1e-4


def test_tone_curve_is_the_identity_when_fresh_and_a_power_law_when_set():
    m = tiny()
    x = torch.rand(1, 3, 16, 16) * 0.9 + 0.05
    emb = torch.zeros(1, 8)
    assert torch.allclose(m.apply_tone(x, emb), x, atol=1e-6)
    with torch.no_grad():
        m.tone.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.5, 0.5, 0.5]))  # gain e^0.5, γ = 1
    assert torch.allclose(m.apply_tone(x, emb), x * torch.exp(torch.tensor(0.5)), atol=1e-5)


def test_shrink_keeps_small_inputs_and_averages_large_ones():
    x = torch.rand(1, 3, 64, 48)
    assert shrink(x, 1.0) is x
    y = shrink(x, 2.0)
    assert y.shape[-2:] == (32, 24)
    assert abs(float(y.mean() - x.mean())) < 0.01


def test_save_and_load_round_trip(tmp_path):
    m = randomised()
    save_model(m, tmp_path / "a.safetensors", {"task": "denoise", "tasks": list(TASKS)})
    loaded, meta = load_module(tmp_path / "a.safetensors")
    x = torch.rand(1, 3, 27, 31)
    with torch.no_grad():
        assert torch.equal(loaded(x), m(x))
        assert torch.equal(loaded.describe(x)["logits"], m.describe(x)["logits"])
    assert meta["arch"] == "allinone" and loaded.halo == m.halo and not loaded.uses_sigma
