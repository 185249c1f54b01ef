"""Patch-whitening initialisation (vipriors.models.whitening): the filters decorrelate the
patches they were computed from, every model's first convolution is found, and a run
starts from them."""
import pytest
import torch
import torch.nn.functional as F

from vipriors.models import create_model
from vipriors.models.whitening import first_conv, whiten_first_conv, whitening_filters


def correlated_images(n=64, size=12):
    g = torch.Generator().manual_seed(0)
    base = torch.randn(n, 1, size, size, generator=g)
    smooth = F.avg_pool2d(F.pad(base, (1, 1, 1, 1), mode="replicate"), 3, stride=1)  # neighbouring pixels correlate
    return torch.cat([smooth, 0.5 * smooth + 0.1 * torch.randn(n, 1, size, size, generator=g), -smooth], dim=1)


def test_the_filters_whiten_the_patches_they_come_from():
    images = correlated_images()
    filters = whitening_filters(images, (3, 3), 12, eps=0.0)
    assert filters.shape == (12, 3, 3, 3)
    assert torch.allclose(filters[6:], -filters[:6])
    responses = F.conv2d(images, filters[:6]).permute(1, 0, 2, 3).reshape(6, -1).double()
    assert torch.allclose(torch.cov(responses), torch.eye(6, dtype=torch.float64), atol=1e-3)
    # The leading directions first: the largest variance of the patches.
    patches = F.unfold(images, 3).transpose(1, 2).reshape(-1, 27).double()
    top = torch.linalg.eigvalsh(torch.cov(patches.T))[-1]
    assert torch.allclose(filters[0].double().flatten().norm(), 1 / top.sqrt(), rtol=1e-3)


@pytest.mark.parametrize("arch", ["resnet9s_cifar", "pyramidnet56_a48_cifar", "densenet_bc_cifar", "resnet10t"])
def test_every_first_convolution_is_found_and_set(arch):
    model = create_model(arch, 10)
    conv = first_conv(model)
    before = conv.weight.clone()
    count = whiten_first_conv(model, correlated_images(8, 16))
    assert count == min(conv.out_channels // 2 * 2, 54)
    assert not torch.equal(conv.weight[:count], before[:count]) and torch.equal(conv.weight[count:], before[count:])


@pytest.mark.slow
def test_a_run_starts_from_whitened_filters(builtin_cache, tmp_path, capsys):
    from vipriors import config as cfg
    from vipriors.engine.trainer import train

    argv = ["--arch", "resnet9s_cifar", "--image-size", "32", "--epochs", "1", "--whiten-init", "--output-dir",
            str(tmp_path), "--name", "whiten", "--log-every", "10"]
    summary = train(cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(argv))))
    assert summary["best_top1"] > 0
    assert "32 whitened first-layer filters" in capsys.readouterr().out
