import torch

from restora.losses import CharbonnierLoss, EdgeLoss, FFTLoss, LossWeights, RestorationLoss


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


def test_weighted_sum_reports_parts():
    total, parts = RestorationLoss(LossWeights(charbonnier=1.0, fft=0.5, edge=0.25))(torch.zeros(1, 3, 8, 8), torch.ones(1, 3, 8, 8))
    assert set(parts) == {"charbonnier", "fft", "edge"}
    assert abs(float(total) - (parts["charbonnier"] + 0.5 * parts["fft"] + 0.25 * parts["edge"])) < 1e-5
