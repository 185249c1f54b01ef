"""vipriors::normalize against its pure-PyTorch reference, opcheck, errors, compile."""
import pytest
import torch

from vipriors import ops

SHAPES = [(1, 1, 1), (1, 7, 5), (3, 17, 31), (2, 64, 64), (5, 33, 2), (4, 3, 129)]


def constants(device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    mean = (torch.rand(3, generator=g) * 255).to(device)
    std = (torch.rand(3, generator=g) * 80 + 5).to(device)
    return mean, std


def random_images(shape, device="cpu", seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (shape[0], shape[1], shape[2], 3), dtype=torch.uint8, generator=g).to(device)


@pytest.mark.parametrize("dtype", ops.OUTPUT_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_reference_bit_exactly(shape, dtype):
    images = random_images(shape, seed=sum(shape))
    mean, std = constants(seed=shape[1])
    out = ops.normalize(images, mean, std, dtype)
    expected = ops.normalize_reference(images, mean, std, dtype)
    assert out.shape == (shape[0], 3, shape[1], shape[2])
    assert out.dtype == dtype
    assert out.is_contiguous(memory_format=torch.channels_last)
    # Same float32 arithmetic, one rounding to dtype: the kernel must agree to the bit.
    assert torch.equal(out, expected)


def test_reference_is_plain_normalisation():
    images = torch.tensor([[[[0, 128, 255]]]], dtype=torch.uint8)
    mean = torch.tensor([0.0, 128.0, 255.0])
    std = torch.tensor([1.0, 2.0, 5.0])
    out = ops.normalize(images, mean, std)
    assert out.flatten().tolist() == [0.0, 0.0, 0.0]
    out = ops.normalize(torch.full((1, 1, 1, 3), 10, dtype=torch.uint8), mean, std)
    assert out.flatten().tolist() == [10.0, (10 - 128) / 2.0, (10 - 255) / 5.0]


@pytest.mark.parametrize("dtype", ops.OUTPUT_DTYPES)
def test_opcheck_cpu(dtype):
    mean, std = constants()
    for shape in [(1, 1, 1), (3, 5, 7)]:
        torch.library.opcheck(torch.ops.vipriors.normalize.default, (random_images(shape), mean, std, dtype))


@pytest.mark.parametrize(
    "make_images, message",
    [
        (lambda: torch.zeros(2, 4, 4, 3), "must be uint8"),
        (lambda: torch.zeros(2, 3, 4, 4, dtype=torch.uint8), "3 channels last"),
        (lambda: torch.zeros(4, 4, 3, dtype=torch.uint8), r"\[B, H, W, 3\]"),
        (lambda: torch.zeros(2, 3, 4, 4, dtype=torch.uint8).permute(0, 2, 3, 1), "contiguous"),
        (lambda: torch.zeros(0, 4, 4, 3, dtype=torch.uint8), "empty batch"),
    ],
)
def test_bad_images_are_explained(make_images, message):
    mean, std = constants()
    with pytest.raises(RuntimeError, match=message):
        ops.normalize(make_images(), mean, std)


def test_bad_constants_and_dtype_are_explained():
    images = random_images((1, 2, 2))
    mean, std = constants()
    with pytest.raises(RuntimeError, match="mean must have shape"):
        ops.normalize(images, mean[:2], std)
    with pytest.raises(RuntimeError, match="std must be float32"):
        ops.normalize(images, mean, std.double())
    with pytest.raises(RuntimeError, match="output dtype"):
        ops.normalize(images, mean, std, torch.float64)
    with pytest.raises(ValueError, match="must be > 0"):
        ops.channel_constants((1.0, 0.0, 1.0), "cpu", "--std", positive=True)
    with pytest.raises(ValueError, match="needs 3 values"):
        ops.channel_constants((1.0, 2.0), "cpu", "--mean")


@pytest.mark.slow
def test_compiles_fullgraph_on_cpu():
    mean, std = constants()

    def prepare(images):
        return ops.normalize(images, mean, std, torch.bfloat16) * 2

    compiled = torch.compile(prepare, fullgraph=True, dynamic=False)
    images = random_images((2, 9, 11))
    assert torch.equal(compiled(images), prepare(images))


@pytest.mark.cuda
@pytest.mark.parametrize("dtype", ops.OUTPUT_DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_cuda_matches_cpu(shape, dtype):
    assert ops.has_kernel("normalize", "cuda"), "the extension was built without its CUDA kernels"
    images = random_images(shape, seed=3)
    mean, std = constants()
    out = ops.normalize(images.cuda(), mean.cuda(), std.cuda(), dtype)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(out.cpu(), ops.normalize(images, mean, std, dtype))


@pytest.mark.cuda
def test_cuda_unaligned_view_and_opcheck():
    mean, std = constants("cuda")
    flat = torch.randint(0, 256, (1 + 2 * 5 * 7 * 3,), dtype=torch.uint8, device="cuda")
    images = flat[1:].view(2, 5, 7, 3)  # storage offset 1: not 4-byte aligned
    assert torch.equal(ops.normalize(images, mean, std).cpu(), ops.normalize_reference(images.cpu(), mean.cpu(), std.cpu()))
    torch.library.opcheck(torch.ops.vipriors.normalize.default, (random_images((3, 5, 7), "cuda"), mean, std, torch.bfloat16))
    with pytest.raises(RuntimeError, match="is on cpu"):
        ops.normalize(random_images((1, 2, 2), "cuda"), mean.cpu(), std)


@pytest.mark.cuda
def test_cuda_compiles_fullgraph():
    mean, std = constants("cuda")
    compiled = torch.compile(lambda x: ops.normalize(x, mean, std, torch.bfloat16), fullgraph=True)
    images = random_images((4, 16, 16), "cuda")
    assert torch.equal(compiled(images), ops.normalize(images, mean, std, torch.bfloat16))


@pytest.mark.slow
def test_importing_the_package_registers_the_ops():
    import subprocess
    import sys

    code = "import vipriors, torch; print(torch.ops.vipriors.normalize.default.name())"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "vipriors::normalize"
