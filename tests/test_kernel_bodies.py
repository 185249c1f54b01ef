"""The CUDA kernels' per-thread code, compiled for the CPU (tests/kernel_driver.cpp) and run
over every thread index of its launch, against the pure-PyTorch references, bit for bit:
the code a GPU runs, checked without one (only the launch and the block reduction are not)."""
import os

import pytest
import torch
from torch.utils import cpp_extension

from vipriors import mixing, ops
from vipriors.config import MixConfig

pytestmark = pytest.mark.slow  # compiles the driver (a minute on 2 cores)
HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = [(1, 5, 3), (2, 1, 1), (3, 17, 31), (5, 32, 32), (4, 9, 64), (2, 7, 6)]
MULTIPROCESSORS = [1, 132]  # a launch of one wave of 8 blocks (long grid-stride loops), and an H200's


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    return cpp_extension.load(
        name="vipriors_kernel_driver", sources=[os.path.join(HERE, "kernel_driver.cpp")],
        extra_include_paths=[os.path.join(os.path.dirname(HERE), "csrc")],
        extra_cflags=["-O1", "-ffp-contract=off"], build_directory=str(tmp_path_factory.mktemp("driver")))


def images(batch, height, width, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, height, width, 3), dtype=torch.uint8, generator=g)


def constants():
    return (ops.channel_constants(ops.IMAGENET_MEAN, "cpu", "mean"),
            ops.channel_constants(ops.IMAGENET_STD, "cpu", "std", positive=True))


def body_output(driver, x, plan, dtype, multiprocessors):
    mean, std = constants()
    coef = ops.sia_affine_reference(x, *plan.sia_args()) if plan.sia_args() else None
    out = torch.empty(x.shape[0], 3, x.shape[1], x.shape[2], dtype=dtype).contiguous(memory_format=torch.channels_last)
    out.fill_(float("nan"))  # a value no body writes: a pixel left out shows
    driver.mix_normalize_body(out, x, *plan.op_args(), coef, mean, std, multiprocessors)
    return out, ops.mix_inputs_reference(x, plan, mean, std, dtype)


@pytest.mark.parametrize("multiprocessors", MULTIPROCESSORS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mode", mixing.MODES)
def test_mix_body_matches_the_reference_for_every_mode_and_dtype(driver, mode, size, multiprocessors):
    for dtype in ops.OUTPUT_DTYPES:
        torch.manual_seed(sum(size))
        x = images(*size, seed=size[1])
        stubborn = torch.tensor([True, False, True, False, True, False, True])
        plan = mixing.draw(mode, torch.randint(0, 7, (size[0],)), size[1], size[2], MixConfig(), stubborn)
        out, ref = body_output(driver, x, plan, dtype, multiprocessors)
        assert torch.equal(out, ref), (mode, size, dtype)
        no_sia = plan._replace(sia_mask=None, sia_shift=None, sia_stretch=None)
        out, ref = body_output(driver, x, no_sia, dtype, multiprocessors)
        assert torch.equal(out, ref), (mode, size, dtype, "without SIA")


def test_mix_body_on_edge_boxes(driver, edge_boxes):
    rows = torch.tensor(edge_boxes, dtype=torch.int32).view(2, 1, 7)
    for blend in (-1, 1):
        plan = mixing.MixPlan(rows, torch.full((2,), blend, dtype=torch.int32), torch.full((2,), 0.3),
                              torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4))
        for dtype in ops.OUTPUT_DTYPES:
            out, ref = body_output(driver, images(2, 6, 7, seed=5), plan, dtype, 1)
            assert torch.equal(out, ref), (edge_boxes, blend, dtype)


@pytest.mark.parametrize("threads", [1, 3, 256])
def test_sia_body_matches_the_reference(driver, threads):
    for size in SIZES + [(2, 224, 224)]:
        torch.manual_seed(0)
        x = images(*size, seed=1)
        if size[0] > 1:
            x[1, :, :, 2] = 9  # a constant channel
        plan = mixing.draw("none", torch.arange(size[0]) % 2, size[1], size[2], MixConfig(), torch.tensor([True, True]))
        plan = plan._replace(sia_mask=torch.arange(size[0]) != 2)
        assert torch.equal(driver.sia_affine_body(x, *plan.sia_args(), threads), ops.sia_affine_reference(x, *plan.sia_args()))


@pytest.mark.parametrize("multiprocessors", MULTIPROCESSORS)
def test_normalize_body_matches_the_reference_on_aligned_and_unaligned_input(driver, multiprocessors):
    mean, std = constants()
    for size in SIZES:
        flat = images(1, 1, size[0] * size[1] * size[2] + 1, seed=2).view(-1)
        for x in (flat[3:].view(*size, 3), flat[:-3].view(*size, 3)):  # storage offset 3 bytes, then 0
            for dtype in ops.OUTPUT_DTYPES:
                out = torch.empty(size[0], 3, size[1], size[2], dtype=dtype).contiguous(memory_format=torch.channels_last)
                driver.normalize_body(out, x, mean, std, multiprocessors)
                assert torch.equal(out, ops.normalize_reference(x, mean, std, dtype)), (size, dtype)


def test_the_launch_covers_every_group_with_a_grid_stride_loop(driver):
    assert driver.launch_threads(10, 132) == 256  # one block
    assert driver.launch_threads(10**7, 2) == 2 * 8 * 256  # capped: each thread loops
