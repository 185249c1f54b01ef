"""The fused ops of vipriors._C: Python wrappers, compiler metadata, and references.

Every op has
  * a wrapper calling ``torch.ops.vipriors.<name>`` (CPU and, when built, CUDA kernels),
  * a fake implementation (``register_fake``) stating the output's shape, dtype, device and
    layout, so that ``torch.compile(fullgraph=True)`` traces through it (the argument
    checks and their messages live in the C++, csrc/checks.h, and run when the op runs),
  * a pure-PyTorch reference that *is* the specification; tests compare kernels to it.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from . import _C, extension_error
from .errors import UserError

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
        raise UserError(f"{name} needs 3 values (R, G, B in 0..255 units), got {values}")
    if positive and min(values) <= 0:
        raise UserError(f"{name} must be > 0 in every channel, got {values}")
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


def _empty_channels_last(images: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    batch, height, width, _ = images.shape
    return images.new_empty((batch, 3, height, width), dtype=dtype).contiguous(memory_format=torch.channels_last)


@torch.library.register_fake("vipriors::normalize")
def _normalize_fake(images, mean, std, dtype):
    return _empty_channels_last(images, dtype)


# ------------------------------------------------------------------------- mix_normalize

def sia_affine(images: torch.Tensor, sia_mask: torch.Tensor, sia_shift: torch.Tensor,
               sia_stretch: torch.Tensor) -> torch.Tensor:
    """SIA's coefficients, float32 [2, B, 3] (a, then b); ``sia_affine_reference`` is the spec."""
    return torch.ops.vipriors.sia_affine.default(images, sia_mask, sia_shift, sia_stretch)


def mix_normalize(
    images: torch.Tensor,
    regions: torch.Tensor,
    blend_src: torch.Tensor,
    blend_weight: torch.Tensor,
    sia_coef: torch.Tensor | None,
    mean: torch.Tensor,
    std: torch.Tensor,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The fused training-input op; ``mix_normalize_reference`` is its specification.
    Plans come from ``vipriors.mixing``, which also gives the matching label mix."""
    return torch.ops.vipriors.mix_normalize.default(images, regions, blend_src, blend_weight, sia_coef, mean, std, dtype)


def mix_inputs(images: torch.Tensor, plan, mean: torch.Tensor, std: torch.Tensor,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The model's input for a ``vipriors.mixing.MixPlan``: its SIA coefficients (only when
    the plan has SIA), then the fused op."""
    sia = plan.sia_args()
    coef = sia_affine(images, *sia) if sia is not None else None
    return mix_normalize(images, *plan.op_args(), coef, mean, std, dtype)


def mix_inputs_reference(images, plan, mean, std, dtype=torch.float32):
    """``mix_inputs`` by the references."""
    sia = plan.sia_args()
    coef = sia_affine_reference(images, *sia) if sia is not None else None
    return mix_normalize_reference(images, *plan.op_args(), coef, mean, std, dtype)


def sia_affine_reference(images, sia_mask, sia_shift, sia_stretch):
    """SIA as an affine map per (source image, channel): ``v = clamp(x * a + b, 0, 255)``.

    With the channel's mean ``m`` over the whole source image, the requested mean is
    ``m * shift`` and the requested standard deviation ``std * stretch``, so
    ``(x - m) * stretch + m * shift`` gives ``a = stretch`` and ``b = m * (shift - stretch)``
    (``b`` computed in float64 from the exact integer sum, then rounded to float32).
    Images without SIA, and channels with a single value (no spread to stretch), get the
    identity ``a = 1, b = 0``. Returns float32 [2, B, 3]: ``a``, then ``b``.
    """
    pixels = images.shape[1] * images.shape[2]
    mean = images.sum(dim=(1, 2), dtype=torch.int64).double() / pixels
    b = (mean * (sia_shift.double() - sia_stretch.double())).float()
    flat = images.amin(dim=(1, 2)) == images.amax(dim=(1, 2))
    identity = flat | ~sia_mask.view(-1, 1)
    return torch.stack([torch.where(identity, 1.0, sia_stretch), torch.where(identity, 0.0, b)])


def paint_reference(regions: torch.Tensor, height: int, width: int):
    """Which source pixel each output pixel shows: ``(src, sy, sx)``, each int64 [B, H, W].

    Every sample starts as its own image; each region ``(src, y0, x0, y1, x1, oy, ox)`` in
    order paints the output pixels ``[y0, y1) x [x0, x1)`` with image ``src`` read at
    ``(y + oy, x + ox)``. ``src < 0`` marks a fill with the mean colour. Source coordinates
    are clamped into the image and ``src`` to the batch: no plan can read out of bounds.
    """
    batch = regions.shape[0]
    device = regions.device
    ys = torch.arange(height, device=device).view(1, -1, 1)
    xs = torch.arange(width, device=device).view(1, 1, -1)
    src = torch.arange(batch, device=device).view(-1, 1, 1).expand(batch, height, width)
    sy, sx = ys.expand(batch, height, width), xs.expand(batch, height, width)
    r = regions.long()
    for k in range(regions.shape[1]):
        s, y0, x0, y1, x1, oy, ox = (r[:, k, j].view(-1, 1, 1) for j in range(7))
        inside = (ys >= y0) & (ys < y1) & (xs >= x0) & (xs < x1)
        src = torch.where(inside, s, src)
        sy = torch.where(inside, ys + oy, sy)
        sx = torch.where(inside, xs + ox, sx)
    return src.clamp(max=batch - 1), sy.clamp(0, height - 1), sx.clamp(0, width - 1)


def mix_normalize_reference(images, regions, blend_src, blend_weight, sia_coef, mean, std, dtype=torch.float32):
    """Specification of ``mix_normalize``. All arithmetic in float32, in this order:

    1. colour: ``v[i] = clamp(float(x[i]) * a[i] + b[i], 0, 255)`` with the SIA
       coefficients ``sia_coef`` of ``sia_affine_reference`` (none: a = 1, b = 0);
    2. paint: ``v1 = v[src][sy, sx]`` by ``paint_reference``, or ``mean`` where ``src < 0``;
    3. blend: where ``blend_src[i] >= 0``, ``w * v1 + (1 - w) * v[blend_src[i]][y, x]``
       with ``w = blend_weight[i]`` (the partner is read unpainted, at the same position);
    4. normalise: ``(v - mean[c]) / std[c]``, rounded once to ``dtype``; [B, 3, H, W]
       channels_last.
    """
    batch, height, width, _ = images.shape
    if sia_coef is None:
        sia_coef = torch.stack([torch.ones(batch, 3, device=images.device), torch.zeros(batch, 3, device=images.device)])
    a, b = sia_coef
    value = torch.clamp(images.float() * a.view(batch, 1, 1, 3) + b.view(batch, 1, 1, 3), 0, 255)
    src, sy, sx = paint_reference(regions, height, width)
    painted = value[src.clamp(min=0), sy, sx]
    painted = torch.where((src < 0).unsqueeze(-1), mean.view(1, 1, 1, 3), painted)
    partner = value[blend_src.long().clamp(0, batch - 1)]
    w = blend_weight.view(batch, 1, 1, 1)
    blended = torch.where((blend_src >= 0).view(batch, 1, 1, 1), w * painted + (1 - w) * partner, painted)
    out = (blended - mean.view(1, 1, 1, 3)) / std.view(1, 1, 1, 3)
    return out.to(dtype).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


@torch.library.register_fake("vipriors::mix_normalize")
def _mix_normalize_fake(images, regions, blend_src, blend_weight, sia_coef, mean, std, dtype):
    return _empty_channels_last(images, dtype)


@torch.library.register_fake("vipriors::sia_affine")
def _sia_affine_fake(images, sia_mask, sia_shift, sia_stretch):
    return images.new_empty((2, images.shape[0], 3), dtype=torch.float32)
