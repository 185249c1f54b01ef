"""vipriors::mix_normalize and the mixing plans against the reference and the definitions."""
import pytest
import torch
import torch.nn.functional as F

from vipriors import mixing, ops
from vipriors.config import MixConfig
from vipriors.engine.losses import mixed_cross_entropy

SIZES = [(1, 5, 3), (2, 1, 1), (3, 17, 31), (5, 32, 32), (4, 9, 64)]
EVERYTHING = MixConfig()


def images(batch, height, width, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, height, width, 3), dtype=torch.uint8, generator=g).to(device)


def constants(device="cpu"):
    return (ops.channel_constants(ops.IMAGENET_MEAN, device, "mean"),
            ops.channel_constants(ops.IMAGENET_STD, device, "std", positive=True))


def run_both(x, plan, dtype):
    mean, std = constants(x.device)
    out = ops.mix_inputs(x, plan, mean, std, dtype)
    ref = ops.mix_inputs_reference(x, plan, mean, std, dtype)
    return out, ref


def region_map(plan, height, width):
    """Index of the layer each output pixel shows: 0 = own image, k + 1 = region k."""
    ys = torch.arange(height).view(1, -1, 1)
    xs = torch.arange(width).view(1, 1, -1)
    layer = torch.zeros(plan.regions.shape[0], height, width, dtype=torch.long)
    for k in range(plan.regions.shape[1]):
        _, y0, x0, y1, x1, _, _ = (plan.regions[:, k, j].long().view(-1, 1, 1) for j in range(7))
        layer = torch.where((ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1), k + 1, layer)
    return layer


@pytest.mark.parametrize("dtype", ops.OUTPUT_DTYPES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", mixing.MODES)
@pytest.mark.parametrize("per_sample", [False, True])
def test_every_mode_matches_the_reference_bit_exactly(mode, size, dtype, per_sample):
    torch.manual_seed(sum(size))
    x = images(*size, seed=size[1])
    labels = torch.randint(0, 7, (size[0],))
    stubborn = torch.tensor([True, False, True, False, True, False, True])
    settings = MixConfig(ricap_per_sample=per_sample, mixup_per_sample=per_sample)
    plan = mixing.draw(mode, labels, size[1], size[2], settings, stubborn)
    out, ref = run_both(x, plan, dtype)
    assert out.shape == (size[0], 3, size[1], size[2]) and out.dtype == dtype
    assert out.is_contiguous(memory_format=torch.channels_last)
    # The kernel performs the reference's float32 operations in the same order.
    assert torch.equal(out, ref)


@pytest.mark.parametrize("mode", ["none", "cutmix", "ricap", "cutout"])
@pytest.mark.parametrize("size", SIZES)
def test_label_weights_are_the_exact_pixel_shares(mode, size):
    torch.manual_seed(1)
    batch, height, width = size
    plan = mixing.draw(mode, torch.arange(batch), height, width, EVERYTHING)
    layers = region_map(plan, height, width)
    counts = torch.stack([(layers == k).sum(dim=(1, 2)) for k in range(plan.regions.shape[1] + 1)], dim=1)
    total = height * width
    weights = plan.target_weight
    assert torch.allclose(weights.double().sum(1), torch.ones(batch, dtype=torch.float64), atol=1e-6)
    if mode == "ricap":
        assert torch.equal(weights, counts[:, 1:] / total)  # four disjoint quadrants
        assert torch.equal(counts[:, 0], torch.zeros(batch, dtype=torch.long))
    elif mode == "cutmix":
        assert torch.equal(weights[:, :2], counts[:, :2] / total)
    else:  # the own label keeps all the weight
        assert torch.equal(weights[:, 0], torch.ones(batch))


def test_cutmix_targets_follow_the_partner_and_a_batch_of_one_mixes_with_itself():
    torch.manual_seed(0)
    labels = torch.tensor([3, 1, 4, 1, 5])
    plan = mixing.plan_cutmix(labels, 8, 8)
    partner = plan.regions[:, 0, 0].long()
    assert torch.equal(plan.target_index[:, 1], labels[partner])
    one = mixing.plan_cutmix(torch.tensor([2]), 8, 8)
    assert one.regions[0, 0, 0] == 0
    x = images(1, 8, 8)
    out, _ = run_both(x, one, torch.float32)
    assert torch.equal(out, ops.normalize(x, *constants()))


@pytest.mark.parametrize("lam, expected_share", [(1.0, 0.0), (0.0, 1.0)])
def test_cutmix_lambda_extremes(monkeypatch, lam, expected_share):
    monkeypatch.setattr(mixing, "_beta", lambda alpha, n, device: torch.full((n,), lam))
    monkeypatch.setattr(torch, "randint", lambda low, high, size, device=None: torch.full(size, high // 2))
    plan = mixing.plan_cutmix(torch.tensor([0, 1]), 10, 10)
    assert plan.target_weight[:, 1].tolist() == [expected_share] * 2


def handmade_plan(batch, regions):
    """A plan straight from region rows, for boxes a random draw rarely produces."""
    rows = torch.tensor(regions, dtype=torch.int32).view(batch, -1, 7)
    return mixing.MixPlan(
        rows, torch.full((batch,), -1, dtype=torch.int32), torch.ones(batch),
        torch.zeros(batch, 4, dtype=torch.long), torch.zeros(batch, 4))


@pytest.mark.parametrize("dtype", ops.OUTPUT_DTYPES)
def test_edge_boxes_match_the_reference(edge_boxes, dtype):
    plan = handmade_plan(2, edge_boxes)
    out, ref = run_both(images(2, 6, 7, seed=5), plan, dtype)
    assert torch.equal(out, ref)


def test_cutout_fills_with_the_mean_colour_which_normalises_to_zero():
    plan = handmade_plan(1, [[-1, 1, 2, 4, 6, 0, 0]])
    out, _ = run_both(images(1, 6, 7), plan, torch.float32)
    assert torch.count_nonzero(out[0, :, 1:4, 2:6]) == 0
    assert torch.count_nonzero(out[0, :, 0]) > 0


def test_mixup_blends_two_reads():
    x = images(2, 4, 5)
    mean, std = torch.zeros(3), torch.ones(3)
    plan = mixing.plan_mixup(torch.tensor([0, 1]), 4, 5, alpha=0.4)
    out = ops.mix_inputs(x, plan, mean, std, torch.float32)
    lam = plan.blend_weight[0]
    partner = plan.blend_src[0].long()
    expected = lam * x[0].float() + (1 - lam) * x[partner].float()
    assert torch.allclose(out[0].permute(1, 2, 0), expected, atol=1e-4)
    assert torch.allclose(plan.target_weight[:, 0] + plan.target_weight[:, 1], torch.ones(2))


def test_sia_probability_picks_a_share_of_the_stubborn_images_only():
    torch.manual_seed(0)
    labels = torch.arange(4000) % 4
    stubborn = torch.tensor([True, False, True, False])
    for p in (0.0, 0.3, 1.0):
        mask = mixing.draw("none", labels, 8, 8, MixConfig(sia_prob=p), stubborn).sia_mask
        assert not mask[~stubborn[labels]].any()
        assert mask[stubborn[labels]].float().mean().item() == pytest.approx(p, abs=0.03)
    with pytest.raises(ValueError, match="--sia-prob"):
        MixConfig(sia_prob=1.5)


def test_sia_sets_the_requested_mean_and_std_and_leaves_others_alone():
    torch.manual_seed(0)
    x = torch.randint(100, 156, (3, 40, 50, 3), dtype=torch.uint8)  # stays inside [0, 255] after SIA
    x[2, :, :, 1] = 77  # a constant channel: nothing to stretch
    labels = torch.tensor([0, 1, 0])
    stubborn = torch.tensor([True, False])
    settings = MixConfig(sia_shift_low=(0.9, 1.0, 0.9), sia_shift_high=(0.95, 1.05, 0.95), sia_stretch=(1.2, 1.6))
    plan = mixing.draw("none", labels, 40, 50, settings, stubborn)
    assert plan.sia_mask.tolist() == [True, False, True]
    zero, one = torch.zeros(3), torch.ones(3)
    out = ops.mix_inputs(x, plan, zero, one, torch.float32).permute(0, 2, 3, 1)
    source = x.double()
    for i in (0, 2):
        for c in range(3):
            m, s = source[i, ..., c].mean().item(), source[i, ..., c].std(unbiased=False).item()
            got = out[i, ..., c].double()
            if s == 0:
                assert torch.equal(got, source[i, ..., c]), "a constant channel must stay unchanged"
                continue
            assert got.mean().item() == pytest.approx(m * plan.sia_shift[i, c].item(), rel=1e-5)
            assert got.std(unbiased=False).item() == pytest.approx(s * plan.sia_stretch[i, c].item(), rel=1e-5)
    assert torch.equal(out[1], x[1].float()), "a non-stubborn image is only normalised"


def test_same_seed_same_plan_and_output():
    x = images(6, 12, 10)
    outputs = []
    for _ in range(2):
        torch.manual_seed(42)
        plan = mixing.draw("ricap", torch.arange(6), 12, 10, EVERYTHING, torch.ones(6, dtype=torch.bool))
        outputs.append(run_both(x, plan, torch.bfloat16)[0])
    assert torch.equal(outputs[0], outputs[1])


def test_choose_mode_follows_the_probabilities():
    import random

    settings = MixConfig(cutmix=0.5, ricap=0.25)
    rng = random.Random(0)
    picks = [mixing.choose_mode(settings, rng) for _ in range(4000)]
    assert abs(picks.count("cutmix") / 4000 - 0.5) < 0.03
    assert abs(picks.count("ricap") / 4000 - 0.25) < 0.03
    assert set(picks) == {"cutmix", "ricap", "none"}
    with pytest.raises(ValueError, match="sum to <= 1"):
        MixConfig(cutmix=0.7, mixup=0.5)


@pytest.mark.parametrize("mode", ["cutmix", "mixup"])
def test_opcheck_cpu(mode):
    torch.manual_seed(0)
    plan = mixing.draw(mode, torch.arange(3), 5, 6, EVERYTHING, torch.ones(3, dtype=torch.bool))
    mean, std = constants()
    x = images(3, 5, 6)
    torch.library.opcheck(torch.ops.vipriors.sia_affine.default, (x, *plan.sia_args()))
    coef = ops.sia_affine(x, *plan.sia_args())
    for sia in (coef, None):
        torch.library.opcheck(torch.ops.vipriors.mix_normalize.default, (x, *plan.op_args(), sia, mean, std, torch.bfloat16))


def test_sia_affine_matches_its_reference_and_only_masked_images_change():
    torch.manual_seed(0)
    x = images(5, 7, 9)
    x[3, :, :, 1] = 42  # a constant channel keeps the identity
    plan = mixing.draw("none", torch.arange(5), 7, 9, EVERYTHING, torch.tensor([True, False, True, True, True]))
    coef = ops.sia_affine(x, *plan.sia_args())
    assert torch.equal(coef, ops.sia_affine_reference(x, *plan.sia_args()))
    assert coef.shape == (2, 5, 3) and torch.equal(coef[:, 1], torch.tensor([[1.0] * 3, [0.0] * 3]))
    assert coef[0, 3, 1] == 1 and coef[1, 3, 1] == 0 and coef[0, 0].ne(1).any()


def test_bad_plans_are_explained():
    x = images(2, 4, 4)
    mean, std = constants()
    plan = mixing.plan_none(torch.arange(2), 4, 4)
    args = list(plan.op_args()) + [None]
    cases = [
        (0, plan.regions.long(), "regions must be Int"),
        (0, plan.regions[:, :, :6].contiguous(), r"regions must be \[B, R, 7\]"),
        (0, plan.regions.expand(2, 5, 7).contiguous(), "1 <= R <= 4"),
        (1, plan.blend_src[:1], "blend_src must have shape"),
        (3, torch.ones(2, 3), r"sia_coef must have shape \[2, 2, 3\]"),
    ]
    for index, value, message in cases:
        bad = list(args)
        bad[index] = value
        with pytest.raises(RuntimeError, match=message):
            ops.mix_normalize(x, *bad, mean, std)
    with pytest.raises(RuntimeError, match="sia_shift must be Float"):
        ops.sia_affine(x, torch.ones(2, dtype=torch.bool), torch.ones(2, 3, dtype=torch.float64), torch.ones(2, 3))


@pytest.mark.slow
def test_compiles_fullgraph_with_the_plan_drawn_inside():
    mean, std = constants()
    stubborn = torch.tensor([True, False, False])

    def training_input(x, labels):
        plan = mixing.draw("cutmix", labels, x.shape[1], x.shape[2], EVERYTHING, stubborn)
        return ops.mix_inputs(x, plan, mean, std, torch.bfloat16), plan.target_weight

    compiled = torch.compile(training_input, fullgraph=True, dynamic=False)
    x, labels = images(4, 8, 9), torch.tensor([0, 1, 2, 0])
    torch.manual_seed(3)
    # Inductor draws random numbers its own way unless told to call torch's, as eager does.
    with torch._inductor.config.patch(fallback_random=True):
        out, weights = compiled(x, labels)
    torch.manual_seed(3)
    eager_out, eager_weights = training_input(x, labels)
    assert torch.equal(out, eager_out) and torch.equal(weights, eager_weights)
    assert not torch.equal(out, ops.normalize(x, mean, std, torch.bfloat16)), "the plan pasted something"


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_mixed_cross_entropy_equals_soft_target_cross_entropy(smoothing):
    torch.manual_seed(0)
    logits = torch.randn(5, 7, requires_grad=True)
    plan = mixing.plan_ricap(torch.tensor([0, 1, 2, 3, 4]), 16, 16, per_sample=True)
    soft = torch.zeros(5, 7).scatter_add_(1, plan.target_index, plan.target_weight)
    expected = F.cross_entropy(logits, soft, label_smoothing=smoothing)
    got = mixed_cross_entropy(logits, plan.target_index, plan.target_weight, smoothing)
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    got.backward()
    assert logits.grad is not None


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ops.OUTPUT_DTYPES)
@pytest.mark.parametrize("mode", mixing.MODES)
@pytest.mark.parametrize("size", [(1, 5, 3), (3, 17, 31), (8, 224, 224), (4, 9, 300)])
def test_cuda_matches_cpu_on_the_same_plan(mode, size, dtype):
    assert ops.has_kernel("mix_normalize", "cuda"), "the extension was built without its CUDA kernels"
    torch.manual_seed(0)
    x = images(*size, seed=1)
    plan = mixing.draw(mode, torch.arange(size[0]) % 3, size[1], size[2], EVERYTHING, torch.tensor([True, False, True]))
    mean, std = constants()
    cpu = ops.mix_inputs(x, plan, mean, std, dtype)
    on_gpu = plan._replace(**{k: v.cuda() for k, v in plan._asdict().items() if isinstance(v, torch.Tensor)})
    assert torch.equal(ops.sia_affine(x.cuda(), *on_gpu.sia_args()).cpu(), ops.sia_affine(x, *plan.sia_args()))
    gpu = ops.mix_inputs(x.cuda(), on_gpu, mean.cuda(), std.cuda(), dtype)
    assert torch.equal(gpu.cpu(), cpu)


@pytest.mark.cuda
def test_cuda_opcheck_and_plan_on_device():
    torch.manual_seed(0)
    labels = torch.arange(4, device="cuda")
    plan = mixing.draw("ricap", labels, 16, 16, EVERYTHING, torch.ones(4, dtype=torch.bool, device="cuda"))
    mean, std = constants("cuda")
    x = images(4, 16, 16, device="cuda")
    torch.library.opcheck(torch.ops.vipriors.sia_affine.default, (x, *plan.sia_args()))
    torch.library.opcheck(torch.ops.vipriors.mix_normalize.default,
                          (x, *plan.op_args(), ops.sia_affine(x, *plan.sia_args()), mean, std, torch.bfloat16))
