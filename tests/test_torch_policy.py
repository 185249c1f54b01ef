"""AutoAugment's ImageNet policy in torch (vipriors.data.torch_policy, --aa-backend torch):
each operation against PIL (what the AutoAugment authors' code runs), the sub-policies as
the composition of their operations, the draws' probabilities, and the batches' resume."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from vipriors.data import torch_policy
from vipriors.data.image_net_policy import ORIGINAL_IMAGE_NET
from vipriors.data.torch_policy import (GEOMETRIC, OPERATIONS, PolicyDraws, PolicyInTorch, apply_image_net_policy,
                                        apply_operation)


def images(n=5, height=24, width=28):
    """Noise, a bright image that saturates when enhanced, one flat colour, a low-contrast image, a non-square size."""
    rng = np.random.default_rng(0)
    batch = [(rng.random((height, width, 3)) * 255).astype(np.uint8) for _ in range(n)]
    batch[1] = np.clip(batch[1].astype(int) + 110, 0, 255).astype(np.uint8)
    batch[2] = np.full((height, width, 3), (200, 30, 90), np.uint8)
    batch[3] = (rng.random((height, width, 3)) * 100 + 50).astype(np.uint8)
    return torch.from_numpy(np.stack(batch))


def pil_operation(name, level, sign, image):
    """The operation as the AutoAugment authors' code (and timm's "original" policy) runs it in PIL."""
    pil, factor = Image.fromarray(image), 0.1 + 0.18 * level
    grey = (128, 128, 128)
    return np.asarray({
        "posterize": lambda: ImageOps.posterize(pil, int(0.4 * level) + 4),
        "solarize": lambda: ImageOps.solarize(pil, min(256, int(25.6 * level))),
        "invert": lambda: ImageOps.invert(pil),
        "equalize": lambda: ImageOps.equalize(pil),
        "auto_contrast": lambda: ImageOps.autocontrast(pil),
        "color": lambda: ImageEnhance.Color(pil).enhance(factor),
        "contrast": lambda: ImageEnhance.Contrast(pil).enhance(factor),
        "sharpness": lambda: ImageEnhance.Sharpness(pil).enhance(factor),
        "rotate": lambda: pil.rotate(3 * level * sign, resample=Image.NEAREST, fillcolor=grey),
        "shear_x": lambda: pil.transform(pil.size, Image.AFFINE, (1, 0.03 * level * sign, 0, 0, 1, 0),
                                         resample=Image.NEAREST, fillcolor=grey),
    }[name]())


# PIL truncates the enhancements' and AutoContrast's blends where torch rounds.
WITHIN = {"auto_contrast": 1, "color": 1, "contrast": 1, "sharpness": 1}


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("level", [0, 3, 6, 10])
def test_each_operation_is_pils(name, level):
    batch = images()
    for sign in (1.0, -1.0) if name in GEOMETRIC else (1.0,):
        got = apply_operation(batch, name, level, sign)
        assert got.dtype == torch.uint8 and got.shape == batch.shape
        for out, image in zip(got.numpy(), batch.numpy()):
            difference = np.abs(out.astype(int) - pil_operation(name, level, sign, image).astype(int))
            assert difference.max() <= WITHIN.get(name, 0), (name, level, sign)
    if name in ("posterize", "solarize", "equalize", "invert", "auto_contrast") or level == 0:
        return
    assert not torch.equal(apply_operation(batch, name, level), batch), "a magnitude above 0 changes the images"


def test_linear_interpolation_blends_the_fill_at_the_edges():
    batch = images()
    nearest = apply_operation(batch, "rotate", 10, interpolation="nearest")
    linear = apply_operation(batch, "rotate", 10, interpolation="linear")
    assert not torch.equal(nearest, linear)
    assert (linear[:, 0, 0] == 128).all() and (nearest[:, 0, 0] == 128).all(), "the corners leave the image: grey"
    assert torch.equal(apply_operation(batch, "rotate", 0, interpolation="linear"), batch)


@pytest.mark.parametrize("sub_policy", range(len(ORIGINAL_IMAGE_NET)))
def test_a_sub_policy_is_its_two_operations_in_order(sub_policy):
    batch = images()
    (first, _, level1), (second, _, level2) = ORIGINAL_IMAGE_NET[sub_policy]
    for sign in (1.0, -1.0):
        want = apply_operation(apply_operation(batch, first, level1, sign), second, level2, sign)
        assert torch.equal(apply_image_net_policy(batch, PolicyDraws.every(sub_policy, len(batch), sign)), want)


def test_each_image_takes_its_own_draws():
    batch = images(n=4)
    rotate = next(k for k, sub in enumerate(ORIGINAL_IMAGE_NET) if sub[0][0] == "rotate")
    draws = PolicyDraws(torch.tensor([rotate, 0, rotate, 0]), torch.tensor([[True, False], [False, False],
                                                                          [True, False], [False, False]]),
                        torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, 1.0], [1.0, 1.0]]))
    out = apply_image_net_policy(batch, draws)
    level = ORIGINAL_IMAGE_NET[rotate][0][2]
    assert torch.equal(out[0], apply_operation(batch[0:1], "rotate", level, 1.0)[0])
    assert torch.equal(out[2], apply_operation(batch[2:3], "rotate", level, -1.0)[0])
    assert torch.equal(out[1], batch[1]) and torch.equal(out[3], batch[3]), "no operation drawn: unchanged"


def test_the_draws_follow_the_policys_probabilities():
    draws = PolicyDraws.draw(200_000, torch.Generator().manual_seed(0))
    counts = torch.bincount(draws.sub_policy, minlength=len(ORIGINAL_IMAGE_NET)).double() / 200_000
    assert (counts - 1 / len(ORIGINAL_IMAGE_NET)).abs().max() < 0.003, "sub-policies drawn uniformly"
    for k, sub_policy in enumerate(ORIGINAL_IMAGE_NET):
        mine = draws.sub_policy == k
        for position, (_, probability, _) in enumerate(sub_policy):
            rate = draws.applied[mine, position].double().mean().item()
            assert abs(rate - probability) < 0.02, (k, position, rate, probability)
    assert abs((draws.sign == 1).double().mean().item() - 0.5) < 0.01


class Batches:
    """Stands for the in-memory batches: fixed random images per (epoch, step), at the size asked."""

    def __init__(self, steps=5, batch=6):
        self.steps, self.batch = steps, batch

    def __len__(self):
        return self.steps

    def epoch(self, epoch, skip=0, image_size=None, policy=True):
        assert policy is False, "the policy is the wrapper's to apply"
        for step in range(skip, self.steps):
            g = torch.Generator().manual_seed(epoch * 100 + step)
            size = image_size or 16
            yield torch.randint(0, 256, (self.batch, size, size, 3), generator=g, dtype=torch.uint8), torch.arange(6)


def epoch_images(batches, epoch, **kwargs):
    return [images for images, _ in batches.epoch(epoch, **kwargs)]


def test_batches_are_a_pure_function_of_seed_epoch_rank_and_step():
    plain = Batches()
    policy = PolicyInTorch(plain, seed=3, rank=0, interpolation="nearest")
    first = epoch_images(policy, 1)
    assert len(policy) == 5 and len(first) == 5
    assert all(torch.equal(a, b) for a, b in zip(first, epoch_images(policy, 1))), "the same epoch twice"
    resumed = epoch_images(policy, 1, skip=3)
    assert len(resumed) == 2 and all(torch.equal(a, b) for a, b in zip(first[3:], resumed)), "resumed mid-epoch"
    assert all(not torch.equal(a, b) for a, b in zip(first, epoch_images(plain, 1, policy=False))), "the policy ran"
    again = PolicyInTorch(plain, seed=3, rank=0, interpolation="nearest")
    assert all(torch.equal(a, b) for a, b in zip(first, epoch_images(again, 1)))
    for other in (PolicyInTorch(plain, seed=4, rank=0, interpolation="nearest"),
                  PolicyInTorch(plain, seed=3, rank=1, interpolation="nearest")):
        assert not torch.equal(first[0], epoch_images(other, 1)[0]), "each seed and rank draws its own"
    unaugmented = epoch_images(policy, 1, policy=False)  # --policy-off-epochs
    assert all(torch.equal(a, b) for a, b in zip(unaugmented, epoch_images(plain, 1, policy=False)))


def test_the_policy_waits_for_its_minimum_size():
    plain = Batches()
    policy = PolicyInTorch(plain, seed=0, rank=0, interpolation="nearest", min_size=24)
    small = epoch_images(policy, 0, image_size=16)
    assert all(torch.equal(a, b) for a, b in zip(small, epoch_images(plain, 0, image_size=16, policy=False)))
    large = epoch_images(policy, 0, image_size=24)
    assert any(not torch.equal(a, b) for a, b in zip(large, epoch_images(plain, 0, image_size=24, policy=False)))


def test_importing_it_needs_no_dali():
    code = ("import sys, vipriors.data.torch_policy; "
            "sys.exit(any(m.startswith('nvidia') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


@pytest.mark.cuda
def test_on_the_gpu_the_policy_is_the_cpus():
    batch = images(n=64, height=32, width=32)
    draws = PolicyDraws.draw(64, torch.Generator().manual_seed(0))
    cpu = apply_image_net_policy(batch, draws)
    gpu = apply_image_net_policy(batch.cuda(), draws).cpu()
    assert (cpu.int() - gpu.int()).abs().max() <= 1  # float rounding of the blends


def test_module_constants_agree_with_the_policy():
    assert set(torch_policy.COLOUR) | set(GEOMETRIC) == set(OPERATIONS)
    assert {name for sub in ORIGINAL_IMAGE_NET for name, _, _ in sub} <= set(OPERATIONS)
