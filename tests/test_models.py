"""Every architecture the recipes use: forward/backward, gradients, formats, compile, sizes."""
import pytest
import timm
import torch

from timm.models import register_model

from vipriors.models import (UnknownArchError, check_options, count_parameters, create_model, preferred_memory_format,
                             pyramidnet, training_options)

# (arch, input size): small-image models at 32 px, the rest at a small but valid size.
SMALL = pyramidnet.SMALL + ("resnest14d_cifar", "resnest26d_cifar", "resnet9_cifar", "resnet9m_cifar", "resnet9s_cifar",
                             "densenet_bc_cifar")
ARCHS = [(name, 32) for name in SMALL] + [(name, 64) for name in pyramidnet.LARGE] + [
    ("resnest14d", 64), ("resnest101e", 64), ("resnest200e", 64), ("densenet161", 64), ("resnet50", 64)]
HEAVY = {"pyramidnet272_a200_cifar", "sepyramidnet200_a300", "pyramidnet200_a300", "resnest200e", "densenet161"}


@pytest.mark.parametrize("arch, size", [pytest.param(a, s, marks=pytest.mark.slow) if a in HEAVY else (a, s)
                                        for a, s in ARCHS])
def test_forward_backward_reaches_every_parameter(arch, size):
    torch.manual_seed(0)
    model = create_model(arch, num_classes=7)
    x = torch.randn(2, 3, size, size)
    out = model(x)
    assert out.shape == (2, 7)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"no (finite) gradient for {missing[:5]}"


@pytest.mark.parametrize("arch, size", [(a, s) for a, s in ARCHS if a not in HEAVY])
def test_channels_last_matches_nchw_and_bf16_autocast_runs(arch, size):
    torch.manual_seed(0)
    # Train-mode BN: an untrained net in eval mode (unit running variance) lets deep
    # pre-activation residuals grow to ~1e6, where rounding order, not layout, decides.
    model = create_model(arch, num_classes=5).train()
    x = torch.randn(4, 3, size, size)
    with torch.no_grad():
        reference = model(x)
        model_cl = model.to(memory_format=torch.channels_last)
        assert torch.allclose(model_cl(x.contiguous(memory_format=torch.channels_last)), reference, rtol=1e-3, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model_cl(x.contiguous(memory_format=torch.channels_last))
    assert low.dtype == torch.bfloat16 and torch.isfinite(low.float()).all()


def test_zero_padding_keeps_dtype_device_and_format():
    block = pyramidnet.PyramidBottleneck(16, 8, stride=2).to(memory_format=torch.channels_last).eval()
    torch.nn.init.zeros_(block.bn4.weight)  # the residual branch now outputs bn4's bias: zero
    x = torch.randn(2, 16, 9, 9).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        out = block(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert torch.isfinite(block(x)).all()
        low = block.to(torch.bfloat16)(x.to(torch.bfloat16)).float()
    assert out.shape == (2, 32, 5, 5)  # ceil-mode pooling on odd sizes, 16 channels padded to 32
    assert torch.equal(out[:, 16:], torch.zeros(2, 16, 5, 5))
    assert torch.allclose(out[:, :16], torch.nn.functional.avg_pool2d(x, 2, ceil_mode=True))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(low, out, rtol=0.02, atol=0.02), "a bf16 block computes what the float32 one does"


@pytest.mark.slow
def test_compiled_matches_eager_on_cpu():
    torch.manual_seed(0)
    model = create_model("pyramidnet56_a48_cifar", num_classes=10).eval()
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        eager = model(x)
        compiled = torch.compile(model)(x)
    assert torch.allclose(compiled, eager, rtol=1e-3, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("arch, millions", [("pyramidnet101_a360", 42.5), ("resnest200e", 70.2), ("densenet161", 28.7)])
def test_parameter_counts(arch, millions):
    assert count_parameters(create_model(arch, num_classes=1000)) / 1e6 == pytest.approx(millions, rel=0.01)


def test_registry_and_factory_errors():
    assert set(pyramidnet.SMALL + pyramidnet.LARGE) <= set(timm.list_models("*pyramidnet*"))
    for arch in ("pyramidnet56_a48_cifar", "resnest14d_cifar", "resnet9s_cifar", "densenet_bc_cifar"):  # timm's metadata
        assert timm.create_model(arch).pretrained_cfg["input_size"] == (3, 32, 32)
    with pytest.raises(TypeError, match="alpah"):
        timm.create_model("pyramidnet56_a48_cifar", alpah=60)
    assert isinstance(timm.create_model("pyramidnet56_a48_cifar"), pyramidnet.PyramidNet)
    for arch in ("pyramidnet200_a300", "resnest14d_cifar", "resnet9_cifar"):
        with pytest.raises(ValueError, match=f"{arch} has no pre-trained weights"):
            timm.create_model(arch, pretrained=True)
    with pytest.raises(TypeError, match="widths_typo"):
        timm.create_model("resnet9_cifar", widths_typo=(8, 8, 8, 8))
    with pytest.raises(UnknownArchError, match="pyramidnet200_a300"):
        create_model("pyramidnet200_a30", num_classes=10)
    with pytest.raises(ValueError, match="9n \\+ 2"):
        pyramidnet.small_image_stages(100)
    assert pyramidnet.small_image_stages(110) == (12, 12, 12)
    assert pyramidnet.imagenet_stages(200) == (3, 24, 36, 3)


@pytest.mark.parametrize("arch", ["resnest14d_cifar", "densenet_bc_cifar"])
def test_small_image_variants_report_their_real_feature_strides(arch):
    model = create_model(arch, num_classes=10)
    features = timm.create_model(arch, features_only=True).eval()(torch.randn(1, 3, 32, 32))
    assert [32 // f.shape[-1] for f in features] == [info["reduction"] for info in model.feature_info]
    assert features[-1].shape[-1] >= 2  # no stage left at 1 x 1


# One variant of each family of small-image models (the family shares its metadata).
@pytest.mark.parametrize("arch", ["resnet9s_cifar", "pyramidnet56_a48_cifar", "densenet_bc_cifar", "resnest14d_cifar"])
def test_the_pool_size_timm_reports_is_the_map_the_global_pool_sees(arch):
    model = timm.create_model(arch).eval()
    size = model.pretrained_cfg["input_size"][-1]
    pools = [m for m in model.modules() if type(m).__name__ in ("SelectAdaptivePool2d", "AdaptiveMaxPool2d",
                                                                 "AdaptiveAvgPool2d")]
    seen = []
    pools[0].register_forward_hook(lambda module, inputs, output: seen.append(tuple(inputs[0].shape[-2:])))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    assert seen == [model.pretrained_cfg["pool_size"]]


def test_memory_format_choice():
    from vipriors.models import CONTIGUOUS_PREFERRED

    for device, prefixes in CONTIGUOUS_PREFERRED.items():
        for prefix in prefixes:  # each preset names real architectures, and "auto" follows it
            archs = timm.list_models(prefix + "*")
            assert archs, f"{prefix}: no architecture has this prefix"
            assert {preferred_memory_format(a, device) for a in archs} == {"contiguous"}
    assert preferred_memory_format("densenet161", "cuda") == "channels_last"
    assert preferred_memory_format("resnest200e", "mps") == "channels_last", "a device without a preset"


def test_widths_grow_additively():
    model = pyramidnet.PyramidNet(stages=(2, 2), alpha=40, small_images=True, stem_width=16, num_classes=3)
    mids = [b.conv1.out_channels for stage in model.stages for b in stage]
    assert mids == [26, 36, 46, 56]  # 16 + k * 40 / 4
    assert model.num_features == 56 * 4


@pytest.mark.parametrize("arch, widths", [("resnet9_cifar", (64, 128, 256, 512)), ("resnet9m_cifar", (48, 96, 192, 384)),
                                          ("resnet9s_cifar", (32, 64, 128, 256))])
def test_resnet9_variants_have_their_widths(arch, widths):
    model = create_model(arch, num_classes=10)
    convs = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs == [widths[0], widths[1], widths[1], widths[1], widths[2], widths[3], widths[3], widths[3]]
    assert model.fc.in_features == widths[3]


def test_drop_rate_is_dropout_before_the_classifier_and_leaves_the_weights_as_they_were():
    torch.manual_seed(0)
    plain = create_model("resnet9s_cifar", 7).eval()
    dropping = create_model("resnet9s_cifar", 7, **training_options(drop_rate=0.5))
    dropping.load_state_dict(plain.state_dict())  # no new weights: old checkpoints load
    x = torch.randn(4, 3, 32, 32)
    dropping.eval()
    assert torch.equal(dropping(x), plain(x))  # evaluation never drops
    dropping.head_drop.train()
    assert not torch.allclose(dropping(x), plain(x))
    assert training_options(drop_rate=0.0) == {}  # the default builds every architecture as before


@register_model
def vipriors_test_takes_no_options(pretrained=False, num_classes=1000, pretrained_cfg=None,
                                   pretrained_cfg_overlay=None):
    return torch.nn.Linear(4, num_classes)


def test_an_option_the_architecture_does_not_take_is_refused_naming_the_flag():
    check_options("vipriors_test_takes_no_options")  # nothing asked: nothing to refuse
    check_options("resnet9s_cifar", drop_rate=0.2)
    with pytest.raises(UnknownArchError, match="--drop-rate: vipriors_test_takes_no_options does not take it"):
        check_options("vipriors_test_takes_no_options", drop_rate=0.2)


def test_a_run_trains_with_the_drop_rate_it_was_given(tmp_path, monkeypatch, capsys):
    from vipriors.cli import train as train_script
    from vipriors.engine.trainer import Trainer

    seen = {}
    original_fit = Trainer.fit

    def fit_and_look(self):
        seen["p"] = self.model_core.head_drop.p
        return original_fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_and_look)
    tiny = ["--data", "synthetic", "--arch", "resnet9s_cifar", "--image-size", "16", "--batch-size", "8",
            "--synthetic-classes", "3", "--synthetic-images", "16", "--epochs", "1", "--output-dir", str(tmp_path)]
    assert train_script.main(tiny + ["--name", "drop", "--drop-rate", "0.3"]) == 0
    assert seen["p"] == 0.3
    assert train_script.main(tiny + ["--name", "refused", "--drop-rate", "1"]) == 2
    assert train_script.main(tiny + ["--name", "refused", "--drop-rate", "0.2", "--arch",
                                     "vipriors_test_takes_no_options"]) == 2
    assert "--drop-rate: vipriors_test_takes_no_options does not take it" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists()
