import pytest
import torch

from restora.models.modelfile import load_module, save_model
from restora.models.mimounet import MIMOUNet, receptive_radius


def tiny(**kw):
    args = dict(width=8, enc_blocks=(1, 1, 1), dec_blocks=(1, 1, 1))
    args.update(kw)
    return MIMOUNet(**args)


def randomise_heads(m, std=0.1):
    """Give every zero-initialised weight (image heads, up-projections, fusion convs) random values, so
    all paths of the network act."""
    for p in m.parameters():
        if p.dim() > 1 and not p.any():
            torch.nn.init.normal_(p, std=std)


@pytest.mark.parametrize("fusion", ["aff", "add"])
@pytest.mark.parametrize("size", [(17, 23), (32, 32), (9, 40)])
def test_forward_on_odd_sizes_keeps_shape_at_every_scale(fusion, size):
    m = tiny(fusion=fusion).eval()
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        assert m(x).shape == x.shape
        outs = m(x, multiscale=True)
    h, w = size
    assert [o.shape[-2:] for o in outs] == [(-(-h // 4), -(-w // 4)), (-(-h // 2), -(-w // 2)), (h, w)]


def test_fresh_model_is_the_identity_at_every_scale():
    m = tiny().eval()
    x = torch.rand(2, 3, 32, 24)
    with torch.no_grad():
        quarter, half, full = m(x, multiscale=True)
    assert torch.allclose(full, x)
    assert torch.allclose(half, torch.nn.functional.avg_pool2d(x, 2), atol=1e-6)
    assert torch.allclose(quarter, torch.nn.functional.avg_pool2d(x, 4), atol=1e-6)


def test_full_output_equals_the_last_multiscale_output():
    torch.manual_seed(0)
    m = tiny()
    randomise_heads(m)
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        assert torch.equal(m(x), m(x, multiscale=True)[-1])


@pytest.mark.parametrize("dilations", [(1,), (1, 2)])
def test_receptive_radius_bounds_the_true_support(dilations):
    torch.manual_seed(0)
    m = tiny(bottom_dilations=dilations)
    randomise_heads(m)
    size = 2 * receptive_radius(m) + 48
    x = torch.rand(1, 3, size, size, requires_grad=True)
    c = size // 2
    m(x)[0, :, c, c].sum().backward()
    ys, xs = torch.nonzero(x.grad.abs().sum(1)[0] > 0, as_tuple=True)
    extent = int(max((ys - c).abs().max(), (xs - c).abs().max()))
    assert 0 < extent <= receptive_radius(m)
    assert extent > receptive_radius(m) // 2  # a bound, but not a loose one


def test_film_embedding_steers_the_blocks():
    torch.manual_seed(0)
    m = tiny(film_dim=4)
    randomise_heads(m)
    torch.nn.init.normal_(m.film.weight, std=0.5)
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        a, b = m(x, embedding=torch.zeros(1, 4)), m(x, embedding=torch.ones(1, 4))
        assert not torch.allclose(a, b)
        assert torch.equal(m(x), m(x, embedding=None))


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    m = tiny().eval()
    randomise_heads(m)
    save_model(m, tmp_path / "m.safetensors", {"task": "deblur", "tasks": ["deblur"]})
    loaded, meta = load_module(tmp_path / "m.safetensors")
    x = torch.rand(1, 3, 21, 19)
    with torch.no_grad():
        assert torch.equal(loaded(x), m(x))
    assert meta["arch"] == "mimounet" and loaded.size_multiple == 8 and not loaded.uses_sigma


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        MIMOUNet(fusion="concat")
    with pytest.raises(ValueError):
        MIMOUNet(enc_blocks=(1, 1), dec_blocks=(1, 1, 1))
