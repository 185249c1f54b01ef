"""The fused ops of vipriors._C: Python wrappers, compiler metadata, and references.

Every op has
  * a wrapper calling ``torch.ops.vipriors.<name>`` (CPU and, when built, CUDA kernels),
  * a fake implementation (``register_fake``) mirroring the C++ argument checks, so that
    ``torch.compile(fullgraph=True)`` traces through it,
  * a pure-PyTorch reference that *is* the specification; tests compare kernels to it.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _C, extension_error

if _C is None:  # pragma: no cover - exercised only on a broken install
    raise ImportError(
        "vipriors._C, the compiled extension, is missing or does not match this torch "
        f"({torch.__version__}): {extension_error}. Build it from the repository root with "
        "`python setup.py develop` (or `make setup`)."
    ) from extension_error

from .ops_constants import IMAGENET_MEAN, IMAGENET_STD  # noqa: F401  (re-exported)

OUTPUT_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def has_kernel(op: str, device_type: str) -> bool:
    """Whether ``vipriors::<op>`` has a compiled kernel for ``device_type`` ("cpu"/"cuda")."""
    return torch._C._dispatch_has_kernel_for_dispatch_key(f"vipriors::{op}", device_type.upper())


def channel_constants(
    values: Sequence[float], device: torch.device | str, name: str, positive: bool = False
) -> torch.Tensor:
    """A validated float32 [3] tensor of per-channel constants (0..255 units) on ``device``.

    Values are checked here, once, so the kernels never have to read them back (a device sync).
    """
    values = [float(v) for v in values]
    if len(values) != 3:
        raise ValueError(f"{name} needs 3 values (R, G, B in 0..255 units), got {values}")
    if positive and min(values) <= 0:
        raise ValueError(f"{name} must be > 0 in every channel, got {values}")
    return torch.tensor(values, dtype=torch.float32, device=device)


# ----------------------------------------------------------------------------- normalize


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 [B, H, W, 3] NHWC → ``(x - mean) / std`` as [B, 3, H, W] channels_last ``dtype``."""
    return torch.ops.vipriors.normalize.default(images, mean, std, dtype)


def normalize_reference(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Specification of ``normalize``: per channel c, ``out = (float(x) - mean[c]) / std[c]``,
    computed in float32 and rounded once to ``dtype``; layout [B, 3, H, W], channels_last."""
    x = images.permute(0, 3, 1, 2).to(torch.float32)
    out = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    return out.to(dtype).contiguous(memory_format=torch.channels_last)


def _check_images_nhwc(images: torch.Tensor, op: str) -> None:
    torch._check(images.dtype == torch.uint8, lambda: f"{op}: images must be uint8 (as decoded), got {images.dtype}")
    torch._check(images.dim() == 4, lambda: f"{op}: images must be [B, H, W, 3] (NHWC), got shape {tuple(images.shape)}")
    torch._check(images.shape[3] == 3, lambda: f"{op}: images must have 3 channels last ([B, H, W, 3]), got {tuple(images.shape)}")
    torch._check(images.shape[0] > 0, lambda: f"{op}: empty batch (B = 0)")
    torch._check(images.is_contiguous(), lambda: f"{op}: images must be contiguous NHWC")


def _check_channel_vector(v: torch.Tensor, images: torch.Tensor, name: str, op: str) -> None:
    torch._check(v.dtype == torch.float32, lambda: f"{op}: {name} must be float32, got {v.dtype}")
    torch._check(v.dim() == 1 and v.shape[0] == 3, lambda: f"{op}: {name} must have shape [3], got {tuple(v.shape)}")
    torch._check(v.device == images.device, lambda: f"{op}: {name} is on {v.device} but images are on {images.device}")


def _empty_channels_last(images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    batch, height, width, _ = images.shape
    return images.new_empty((batch, 3, height, width), dtype=dtype).contiguous(memory_format=torch.channels_last)


@torch.library.register_fake("vipriors::normalize")
def _normalize_fake(images, mean, std, dtype):
    op = "vipriors::normalize"
    _check_images_nhwc(images, op)
    _check_channel_vector(mean, images, "mean", op)
    _check_channel_vector(std, images, "std", op)
    torch._check(dtype in OUTPUT_DTYPES, lambda: f"{op}: output dtype must be float32, bfloat16 or float16, got {dtype}")
    return _empty_channels_last(images, dtype)
