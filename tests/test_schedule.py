import math

import pytest

from vipriors.engine.schedule import scaled_lr, warmup_cosine


def test_warmup_then_cosine_to_zero():
    factors = [warmup_cosine(s, 10, 110) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(factors[:10], factors[1:10]))
    assert factors[10] == pytest.approx(1.0)
    assert factors[60] == pytest.approx(0.5)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert warmup_cosine(110, 10, 110) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(35, 0, 70) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))


def test_linear_scaling_rule():
    assert scaled_lr(0.1, 256) == pytest.approx(0.1)
    assert scaled_lr(0.1, 128) == pytest.approx(0.05)


def test_progressive_sizes_rise_in_steps_and_end_at_full_size():
    from vipriors.engine.schedule import progressive_sizes

    sizes = progressive_sizes(20, 32, 16, (0.2, 0.8), 8)
    assert sizes[:8] == [16] * 8 and sizes[16:] == [32] * 4
    assert sizes == sorted(sizes) and set(sizes) == {16, 24, 32}
    assert progressive_sizes(5, 32, 0, (0.2, 0.8), 8) == [32] * 5, "0 is off"
    assert progressive_sizes(5, 32, 32, (0.2, 0.8), 8) == [32] * 5
    # 224 px as FFCV: 160 rising to 224 in steps of 32, the last quarter at full size.
    big = progressive_sizes(100, 224, 160, (0.1, 0.75), 32)
    assert set(big) == {160, 192, 224} and big[:10] == [160] * 10 and big[75:] == [224] * 25
    # Rounded to the step, never outside [minimum, full], and the last epoch at full size.
    assert progressive_sizes(4, 30, 20, (0.0, 1.0), 8) == [20, 24, 24, 30]


def test_the_learning_rate_is_lambdalrs_without_its_state():
    import torch

    from vipriors.engine.schedule import LearningRate

    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.4)
    reference = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: warmup_cosine(s, 3, 20))
    lr = LearningRate(0.4, 3, 20)
    for step in range(20):
        assert lr(step) == pytest.approx(optimizer.param_groups[0]["lr"], rel=1e-12), step
        optimizer.step()
        reference.step()


def test_the_training_step_sets_the_learning_rate_of_its_step():
    import torch

    from vipriors.config import MixConfig
    from vipriors.engine.step import TrainStep

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4 * 4 * 3, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=99.0)
    step = TrainStep(model, optimizer, mean=torch.zeros(3), std=torch.ones(3), mix=MixConfig(cutmix=0.0), amp=None,
                     memory_format=torch.contiguous_format, lr=lambda done: 0.01 * (done + 1))
    images, labels = torch.zeros(2, 4, 4, 3, dtype=torch.uint8), torch.tensor([0, 1])
    before = [p.detach().clone() for p in model.parameters()]
    step(images, labels, "none", step=4)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05)
    bias_moved = (list(model.parameters())[1] - before[1]).abs().max().item()
    assert 0 < bias_moved < 1, "the step ran at 0.05, not the optimiser's 99"


def test_norm_biases_learn_at_their_own_rate():
    import torch

    from vipriors.engine.trainer import build_optimizer

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=True), torch.nn.BatchNorm2d(4))
    plain = build_optimizer(model, "sgd", 0.1, 0.0, 5e-4)
    assert [len(g["params"]) for g in plain.param_groups] == [1, 3], "weights; conv bias, norm scale and shift"
    fast = build_optimizer(model, "sgd", 0.1, 0.0, 5e-4, norm_bias_lr_scale=8.0)
    groups = {g["lr_scale"]: g["params"] for g in fast.param_groups if g["lr_scale"] != 1.0}
    assert list(groups) == [8.0] and groups[8.0] == [model[1].bias]
    assert all(g["weight_decay"] == 0.0 for g in fast.param_groups if g["params"][0].ndim == 1)


@pytest.mark.parametrize("name", ["sgd", "nesterov"])
def test_the_fused_optimiser_takes_the_per_tensor_loops_steps_bit_for_bit(name):
    import torch

    from vipriors.engine.trainer import build_optimizer
    from vipriors.models import create_model

    finals = []
    for fused in (True, False):
        torch.manual_seed(0)
        model = create_model("resnet9s_cifar", 10)
        optimizer = build_optimizer(model, name, 0.1, 0.9, 5e-4, norm_bias_lr_scale=4.0)
        assert all(g["fused"] for g in optimizer.param_groups), "the trainer's optimiser runs fused on a CPU"
        if not fused:
            for group in optimizer.param_groups:
                group["fused"] = False  # torch's default on a CPU: a few operations per tensor
        grads = torch.Generator().manual_seed(1)
        for step in range(4):
            for p in model.parameters():
                p.grad = torch.randn(p.shape, generator=grads)
            for group in optimizer.param_groups:
                group["lr"] = 0.1 * (step + 1) * group["lr_scale"]
            optimizer.step()
        finals.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(finals[0], finals[1])
