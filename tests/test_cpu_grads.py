"""The CPU's weight gradient (vipriors.models.cpu_grads) against torch's own: the patch
product against aten.convolution_backward, and a model with it swapped in against the same
model without, eager and compiled, and the trainer's setting."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from vipriors.models import create_model
from vipriors.models import cpu_grads
from vipriors.models.cpu_grads import (CpuGradConv2d, conv2d_weight_grad, conv_is_eligible, use_cpu_grads,
                                       uses_patch_product)


def torch_weight_grad(x, grad_out, kernel, stride=(1, 1), padding=None, groups=1):
    weight = torch.zeros(grad_out.shape[1], x.shape[1] // groups, *kernel, dtype=x.dtype)
    padding = padding if padding is not None else [(kernel[0] - 1) // 2, (kernel[1] - 1) // 2]
    return torch.ops.aten.convolution_backward(grad_out, x, weight, None, list(stride), list(padding), [1, 1], False,
                                               [0, 0], groups, [False, True, False])[1]


@pytest.mark.parametrize("shape,out_channels,kernel", [
    ((3, 5, 4, 4), 7, (3, 3)), ((2, 4, 8, 5), 6, (3, 3)), ((2, 3, 6, 7), 4, (5, 3)), ((2, 3, 5, 5), 2, (1, 1)),
    ((1, 2, 1, 1), 3, (3, 3)), ((4, 16, 2, 2), 8, (3, 3))])
@pytest.mark.parametrize("channels_last", [False, True])
def test_the_weight_gradient_by_the_patch_product_is_torchs(shape, out_channels, kernel, channels_last):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    grad_out = torch.randn(shape[0], out_channels, shape[2], shape[3], generator=g, dtype=torch.float64)
    if channels_last:
        x, grad_out = x.contiguous(memory_format=torch.channels_last), grad_out.contiguous(memory_format=torch.channels_last)
    ours = conv2d_weight_grad(x, grad_out, kernel)
    assert ours.shape == (out_channels, shape[1], *kernel)
    assert torch.allclose(ours, torch_weight_grad(x, grad_out, kernel), rtol=1e-10, atol=1e-10)


def test_the_weight_gradient_in_bf16_is_torchs_within_rounding():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 64, 4, 4, generator=g).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    grad_out = torch.randn(8, 32, 4, 4, generator=g).to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    exact = torch_weight_grad(x.double(), grad_out.double(), (3, 3))
    ours = conv2d_weight_grad(x, grad_out, (3, 3))
    assert ours.dtype == torch.bfloat16
    assert (ours.double() - exact).abs().max() <= 2 ** -7 * exact.abs().max()


@pytest.mark.parametrize("shape,out_channels,kernel,stride,padding,groups", [
    ((2, 5, 7, 7), 4, (3, 3), (2, 2), (1, 1), 1), ((2, 3, 1, 1), 4, (3, 3), (2, 2), (1, 1), 1),
    ((2, 3, 5, 1), 4, (5, 5), (3, 3), (2, 2), 1), ((2, 3, 6, 6), 4, (1, 1), (2, 2), (0, 0), 1),
    ((2, 3, 6, 5), 4, (2, 2), (1, 1), (1, 1), 1), ((2, 3, 5, 6), 4, (3, 3), (1, 1), (0, 0), 1),
    ((2, 3, 8, 7), 4, (3, 1), (2, 1), (1, 0), 1), ((2, 6, 5, 4), 4, (3, 3), (1, 1), (1, 1), 2),
    ((2, 6, 7, 1), 9, (3, 3), (2, 2), (1, 1), 3), ((3, 8, 5, 5), 8, (3, 3), (2, 2), (1, 1), 8)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_strided_grouped_and_other_padded_layers_too(shape, out_channels, kernel, stride, padding, groups,
                                                      channels_last):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    weight = torch.zeros(out_channels, shape[1] // groups, *kernel, dtype=torch.float64)
    grad_out = torch.randn_like(F.conv2d(x, weight, None, stride, padding, 1, groups))
    if channels_last:
        x, grad_out = x.contiguous(memory_format=torch.channels_last), grad_out.contiguous(memory_format=torch.channels_last)
    ours = conv2d_weight_grad(x, grad_out, kernel, stride, padding, groups)
    assert ours.shape == weight.shape
    assert torch.allclose(ours, torch_weight_grad(x, grad_out, kernel, stride, padding, groups), rtol=1e-10, atol=1e-10)


def poison_the_allocator():
    """Freed memory full of NaN: a kernel that reads what it never wrote shows it."""
    for dtype in (torch.bfloat16, torch.float32):
        junk = torch.full((1 << 20,), float("nan"), dtype=dtype)
        del junk


@pytest.mark.parametrize("groups", [1, 4, 64])
def test_a_strided_layer_one_column_wide_gets_a_correct_bf16_weight_gradient(groups):
    # oneDNN's own gradient here has garbage or NaN in the taps on the padding (the module's
    # docstring); resnet10t's last stride-2 layer meets it at 16 px.
    assert uses_patch_product(1, 1, (2, 2), (1, 1)) and uses_patch_product(32, 1, (2, 2), (1, 1))
    assert not uses_patch_product(32, 1, (1, 1), (1, 1)) and not uses_patch_product(32, 1, (2, 2), (0, 0))
    g = torch.Generator().manual_seed(3)
    for in_size in ((1, 1), (2, 1), (64, 1)):  # 1 and 32 output positions: small, and not
        torch.manual_seed(0)
        conv = nn.Conv2d(64, 64, 3, stride=2, padding=1, groups=groups, bias=False).to(memory_format=torch.channels_last)
        use_cpu_grads(conv)
        for _ in range(10):
            poison_the_allocator()
            x = torch.randn(2, 64, *in_size, generator=g).contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = conv(x)
            grad_out = torch.randn(out.shape, generator=g)
            conv.weight.grad = None
            out.float().backward(grad_out)
            exact = torch_weight_grad(x.bfloat16().double(), grad_out.bfloat16().double(), (3, 3), (2, 2), (1, 1), groups)
            assert torch.isfinite(conv.weight.grad).all(), in_size
            assert (conv.weight.grad.double() - exact).abs().max() <= 2 ** -6 * exact.abs().max(), in_size


def test_eligible_layers_only():
    for conv in (nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, (5, 1), padding=(2, 0)),
                 nn.Conv2d(3, 4, 3, padding=1, stride=2), nn.Conv2d(3, 4, 3), nn.Conv2d(3, 4, 2, padding=1),
                 nn.Conv2d(3, 4, 1, stride=2), nn.Conv2d(4, 4, 3, padding=1, groups=2)):
        assert conv_is_eligible(conv), conv
    for conv in (nn.Conv2d(3, 4, 3, padding=2, dilation=2),
                 nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), nn.Conv2d(3, 4, 3, padding="same")):
        assert not conv_is_eligible(conv), conv
    assert not conv_is_eligible(nn.ConvTranspose2d(3, 4, 3, padding=1)) and not conv_is_eligible(nn.Linear(3, 4))


def twin_models(arch="resnet9s_cifar", classes=10):
    torch.manual_seed(0)
    plain = create_model(arch, classes).to(memory_format=torch.channels_last)
    ours = create_model(arch, classes).to(memory_format=torch.channels_last)
    ours.load_state_dict(plain.state_dict())
    return plain, ours


def test_a_model_keeps_its_parameters_and_state_dict():
    plain, ours = twin_models()
    params = [id(p) for p in ours.parameters()]
    # resnet9s: 8 convolutions, all stride 1 and "same".
    assert use_cpu_grads(ours) == 8
    assert [id(p) for p in ours.parameters()] == params
    assert sum(isinstance(m, CpuGradConv2d) for m in ours.modules()) == 8
    assert list(ours.state_dict()) == list(plain.state_dict())
    assert use_cpu_grads(ours) == 0  # already swapped


@pytest.mark.parametrize("amp", [False, True])
@pytest.mark.parametrize("threshold", [16, 0, 10_000])  # the product on small maps; nowhere; everywhere
@pytest.mark.parametrize("arch", ["resnet9s_cifar", "resnet10t", "resnest14d_cifar"])  # stride 1; strided; grouped
def test_a_model_trains_with_torchs_gradients(amp, threshold, arch, monkeypatch):
    monkeypatch.setattr(cpu_grads, "PATCH_PRODUCT_MAX_POSITIONS", threshold)
    plain, ours = twin_models(arch)
    use_cpu_grads(ours)
    x = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(4)).contiguous(memory_format=torch.channels_last)
    labels = torch.arange(6)
    losses, grads = [], []
    for model in (plain, ours):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(model(x).float(), labels)
        losses.append(loss)
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    assert torch.equal(losses[0], losses[1])  # the forward pass is torch's own
    tolerance = 2e-2 if amp else 1e-5
    for a, b in zip(*grads):
        assert b.dtype == a.dtype == torch.float32
        assert (a - b).abs().max() <= tolerance * a.abs().max() + 1e-12


def test_evaluation_and_no_grad_calls_are_torchs(monkeypatch):
    plain, ours = twin_models()
    use_cpu_grads(ours)
    called = []
    monkeypatch.setattr(cpu_grads._PatchProductConv2d, "apply", lambda *a: called.append(1))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(plain.eval()(x), ours.eval()(x))
    assert not called


@pytest.mark.slow
def test_the_swapped_model_compiles():
    plain, ours = twin_models()
    use_cpu_grads(ours)
    compiled = torch.compile(ours, fullgraph=True)
    x = torch.randn(4, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    loss = compiled(x).logsumexp(1).sum()
    loss.backward()
    expected = plain(x).logsumexp(1).sum()
    expected.backward()
    assert torch.allclose(loss, expected, rtol=1e-4)
    for a, b in zip(plain.parameters(), ours.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-3, atol=1e-5 * a.grad.abs().max().item())


def test_auto_is_on_for_the_cpu_only():
    from vipriors.config import ConfigError
    from vipriors.engine.autos import cpu_grads_for

    assert cpu_grads_for("auto", "cpu") == "on" and cpu_grads_for("auto", "cuda") == "off"
    assert cpu_grads_for("off", "cpu") == "off" and cpu_grads_for("on", "cpu") == "on"
    with pytest.raises(ConfigError, match="--cpu-grads on: the run trains on cuda"):
        cpu_grads_for("on", "cuda")


def test_a_run_trains_with_them_unless_told_not_to_and_an_older_run_resumes_without(tmp_path, monkeypatch):
    import yaml

    from vipriors.cli import train as train_script
    from vipriors.engine.trainer import Trainer

    seen = []
    original_fit = Trainer.fit

    def fit_and_look(self):
        seen.append(sum(isinstance(m, CpuGradConv2d) for m in self.model_core.modules()))
        return original_fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_and_look)
    tiny = ["--data", "synthetic", "--arch", "resnet9s_cifar", "--image-size", "16", "--batch-size", "8",
            "--synthetic-classes", "3", "--synthetic-images", "16", "--output-dir", str(tmp_path)]
    assert train_script.main(tiny + ["--epochs", "1", "--name", "auto"]) == 0
    assert train_script.main(tiny + ["--epochs", "1", "--name", "off", "--cpu-grads", "off"]) == 0
    assert seen == [8, 0]
    saved = yaml.safe_load((tmp_path / "auto" / "config.yaml").read_text())
    assert saved["model"]["cpu_grads"] == "on"
    # A run whose saved configuration predates the setting resumes with torch's layers.
    del saved["model"]["cpu_grads"]
    (tmp_path / "auto" / "config.yaml").write_text(yaml.safe_dump(saved))
    assert train_script.main(["--resume", str(tmp_path / "auto"), "--epochs", "2"]) == 0
    assert seen[-1] == 0
