import pytest
import torch

from restora.losses import CharbonnierLoss, EdgeLoss, FFTLoss, LossWeights, PSNRLoss, RestorationLoss


def test_losses_are_zero_on_identical_images_and_positive_otherwise():
    a = torch.rand(2, 3, 16, 16)
    b = a + 0.1 * torch.randn_like(a)
    for loss in (CharbonnierLoss(eps=1e-6), FFTLoss(scales=2), EdgeLoss(eps=1e-6)):
        assert loss(a, a) < 1e-5
        assert loss(b, a) > 1e-3


def test_fft_loss_gradient_matches_finite_differences():
    torch.manual_seed(0)
    a = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    b = torch.rand(1, 1, 8, 8, dtype=torch.float64)

    def f(x):
        diff = torch.fft.rfft2(x, norm="ortho") - torch.fft.rfft2(b, norm="ortho")
        return torch.view_as_real(diff).abs().mean()

    assert torch.autograd.gradcheck(f, (a,))
    FFTLoss()(a.float(), b.float()).backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


def test_fft_loss_sees_lost_high_frequencies_more_than_l1_scale_suggests():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    assert FFTLoss()(blurred, x) > 0.5 * CharbonnierLoss()(blurred, x)


def test_psnr_loss_is_minus_the_mean_per_image_psnr():
    clean = torch.full((2, 3, 8, 8), 0.5)
    noisy = clean.clone()
    noisy[0] += 0.1  # MSE 1e-2 → 20 dB
    noisy[1] += 0.01  # MSE 1e-4 → 40 dB
    assert abs(float(PSNRLoss()(noisy, clean)) + 30.0) < 1e-3
    # Per-image 1/MSE weighting: the lightly degraded image's pixels get the larger gradient.
    x = noisy.clone().requires_grad_(True)
    PSNRLoss()(x, clean).backward()
    assert float(x.grad[1].abs().mean()) > 5 * float(x.grad[0].abs().mean())


def test_minimising_the_psnr_loss_raises_psnr():
    torch.manual_seed(0)
    clean = torch.linspace(0.2, 0.8, 16).expand(4, 3, 16, 16)  # smooth: a 3×3 filter can denoise it
    noisy = clean + 0.1 * torch.randn_like(clean)
    net = torch.nn.Conv2d(3, 3, 3, padding=1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    before = -float(PSNRLoss()(noisy, clean))
    for _ in range(100):
        opt.zero_grad()
        PSNRLoss()(noisy + net(noisy), clean).backward()
        opt.step()
    with torch.no_grad():
        assert -float(PSNRLoss()(noisy + net(noisy), clean)) > before + 3.0


def test_weighted_sum_reports_parts():
    weights = LossWeights(charbonnier=1.0, psnr=0.01, fft=0.5, edge=0.25)
    total, parts = RestorationLoss(weights)(torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.5))
    assert set(parts) == {"charbonnier", "psnr", "fft", "edge"}
    expected = parts["charbonnier"] + 0.01 * parts["psnr"] + 0.5 * parts["fft"] + 0.25 * parts["edge"]
    assert abs(float(total) - expected) < 1e-5


def test_multiscale_loss_sums_scales_against_area_downscaled_targets_and_reaches_every_output():
    from restora.models.resample import area_down

    torch.manual_seed(0)
    target = torch.rand(2, 3, 32, 32)
    preds = [torch.rand(2, 3, s, s, requires_grad=True) for s in (8, 16, 32)]
    loss = RestorationLoss(LossWeights(charbonnier=1.0, fft=0.1))
    total, parts = loss(preds, target)
    single = [loss(p, area_down(target, f))[0] for p, f in zip(preds, (4, 2, 1))]
    assert float(total) == pytest.approx(float(sum(single)), rel=1e-5)
    total.backward()
    for p in preds:
        assert p.grad is not None and p.grad.abs().sum() > 0
    # A perfect coarse output contributes nothing at its scale.
    exact = [area_down(target, 4), area_down(target, 2), target]
    assert float(loss(exact, target)[0]) < 1e-2


def test_area_down_handles_sizes_that_do_not_divide():
    from restora.models.resample import area_down

    x = torch.ones(1, 1, 9, 7)
    y = area_down(x, 2)
    assert y.shape[-2:] == (5, 4) and torch.allclose(y, torch.ones_like(y))


def test_severity_target_maps_input_psnr_to_unit_range():
    from restora.losses import severity_target

    s = severity_target(torch.tensor([50.0, 45.0, 20.0, 10.0, 5.0]))
    assert s.tolist() == pytest.approx([0.0, 0.0, 25 / 35, 1.0, 1.0])


def test_supervised_contrastive_prefers_embeddings_clustered_by_label():
    from restora.losses import supervised_contrastive

    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    centres = torch.eye(3)[labels] * 5
    torch.manual_seed(0)
    clustered = centres + 0.1 * torch.randn(6, 3)
    mixed = torch.randn(6, 3)
    assert supervised_contrastive(clustered, labels) < supervised_contrastive(mixed, labels)
    assert float(supervised_contrastive(mixed, torch.arange(6))) == 0.0  # no positives, no loss


def test_aux_loss_reports_weighted_parts():
    from restora.losses import AuxLoss

    aux = {
        "logits": torch.tensor([[4.0, 0.0], [0.0, 4.0]]),
        "severity": torch.tensor([[0.5, 0.0], [0.0, 0.5]]),
        "embedding": torch.randn(2, 4),
    }
    labels = torch.tensor([0, 0])
    total, parts = AuxLoss(LossWeights(classify=1.0, severity=2.0, contrastive=0.0))(
        aux, labels, torch.tensor([27.5, 27.5])
    )
    assert parts["accuracy"] == 0.5
    assert float(total) == pytest.approx(parts["classify"] + 2.0 * parts["severity"], rel=1e-6)
    assert "contrastive" not in parts
