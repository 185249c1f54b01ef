"""A faster, and where torch's is wrong a correct, weight gradient of convolutions on the CPU.

oneDNN's weight gradient of a 3x3 convolution is slow where the feature map is small and the
channels many (a ResNet-9's 256-channel layers at 4x4): its reduction runs over only batch x
height x width positions, and it takes several times the forward convolution. The
same gradient is one matrix product of the output gradient with the input's patches
(im2col), which the CPU's matrix units run at full speed; on larger maps oneDNN's kernel is
as fast or faster, so the product is used below a map size only. The input gradient stays
oneDNN's.

oneDNN's bf16 weight gradient of a strided, zero-padded convolution whose output is one
column wide reads memory it never wrote (torch 2.14's CPU build: garbage or NaN in the taps
that fall on the padding, seen in every channel layout, kernel size, stride and grouping
tested, with its AVX-512 and AMX kernels; its AVX2 kernels were right); a
deep network at a small image size meets it (resnet10t at 16 px: its last stride-2 layer
sees a 1x1 map). The product is used there too, at any map size.

The gradients are torch's up to the order of a float sum. ``use_cpu_grads`` swaps the
eligible layers of a model in place (the module's class only): their parameters, names and
state dict stay the same, so checkpoints move freely between models with and without them.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# The weight gradient is the patch product on output maps of at most this many positions (4 x 4).
# At 8 x 8 the product alone is still faster, but inside a training step the copy of the
# patches eats the gain (whole steps come out level); on larger maps oneDNN's kernel wins
# outright (benchmarks/cpu_grads.py times both for every layer shape of a network).
PATCH_PRODUCT_MAX_POSITIONS = 16


def conv2d_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel: tuple[int, int],
                       stride: tuple[int, int] = (1, 1), padding: tuple[int, int] | None = None,
                       groups: int = 1) -> torch.Tensor:
    """The weight gradient [K, C / groups, kh, kw] of an undilated convolution of ``x``
    [N, C, H, W] with zero ``padding`` (default: "same" for an odd kernel), ``stride`` and
    ``groups``, whose output gradient is ``grad_out`` [N, K, Ho, Wo].

    One matrix product (one per group): the output gradient as rows of K channels, one row
    per output position, against the input patches as rows of kh x kw x C values (windows of
    the zero-padded input, channels last, copied once), so the reduction over batch and
    positions is a single product the CPU's matrix units run whole."""
    kh, kw = kernel
    ph, pw = padding if padding is not None else ((kh - 1) // 2, (kw - 1) // 2)
    n, c = x.shape[:2]
    k, ho, wo = grad_out.shape[1:]
    padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, pw, pw, ph, ph))
    # [N, Ho, Wo, kh, kw, C], a view: output position (h, w), kernel offset (i, j) -> padded
    # pixel (h * stride + i, w * stride + j); rows and columns a window never reaches are left out.
    patches = padded.unfold(1, kh, stride[0]).unfold(2, kw, stride[1]).permute(0, 1, 2, 4, 5, 3)
    rows = grad_out.permute(0, 2, 3, 1).reshape(n * ho * wo, k)
    if groups == 1:  # a plain product: a batched one of one group sums in another order on some shapes
        grad = rows.t() @ patches.reshape(n * ho * wo, kh * kw * c)  # one copy of the patches; [K, (kh, kw, C)]
        return grad.view(k, kh, kw, c).permute(0, 3, 1, 2)
    # Group g: its K / groups output channels against its C / groups input channels.
    per_group = patches.reshape(n * ho * wo, kh, kw, groups, c // groups).permute(3, 0, 1, 2, 4)
    grad = torch.bmm(rows.view(-1, groups, k // groups).permute(1, 2, 0),
                     per_group.reshape(groups, n * ho * wo, kh * kw * (c // groups)))
    return grad.reshape(k, kh, kw, c // groups).permute(0, 3, 1, 2)


def uses_patch_product(out_height: int, out_width: int, stride: tuple[int, int], padding: tuple[int, int]) -> bool:
    """Whether a layer's weight gradient is the patch product: on small output maps (speed,
    grouped or not), and wherever oneDNN's is wrong (a strided, padded layer one output column
    wide)."""
    small = out_height * out_width <= PATCH_PRODUCT_MAX_POSITIONS
    onednn_fault = max(stride) > 1 and max(padding) > 0 and out_width == 1
    return small or onednn_fault


class _PatchProductConv2d(torch.autograd.Function):
    """conv2d forward; backward: oneDNN's input gradient, and the weight gradient by
    ``conv2d_weight_grad`` where ``uses_patch_product`` says so."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, groups):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding, ctx.groups, ctx.has_bias = stride, padding, groups, bias is not None
        return F.conv2d(x, weight, bias, stride, padding, 1, groups)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        kernel = tuple(weight.shape[2:])
        product = uses_patch_product(grad_out.shape[2], grad_out.shape[3], ctx.stride, ctx.padding)
        mask = [need_input, need_weight and not product, need_bias and ctx.has_bias]
        grad_x = grad_w = grad_b = None
        if any(mask):
            grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad_out, x, weight, [weight.shape[0]] if ctx.has_bias else None, list(ctx.stride), list(ctx.padding),
                [1, 1], False, [0, 0], ctx.groups, mask)
        if need_weight and product:
            grad_w = conv2d_weight_grad(x, grad_out, kernel, ctx.stride, ctx.padding, ctx.groups).to(weight.dtype)
        return grad_x, grad_w, grad_b, None, None, None


class CpuGradConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (zero padding, no dilation) whose training
    backward uses ``_PatchProductConv2d``; evaluation and no-grad calls are plain conv2d."""

    def _conv_forward(self, x, weight, bias):
        if not torch.is_grad_enabled() or not (weight.requires_grad or x.requires_grad):
            return super()._conv_forward(x, weight, bias)
        device = x.device.type
        if torch.is_autocast_enabled(device):  # autocast does not reach inside an autograd.Function
            dtype = torch.get_autocast_dtype(device)
            x, weight = x.to(dtype), weight.to(dtype)
            bias = bias.to(dtype) if bias is not None else None
        with torch.autocast(device, enabled=False):
            return _PatchProductConv2d.apply(x, weight, bias, self.stride, self.padding, self.groups)


def conv_is_eligible(module: nn.Module) -> bool:
    """A plain ``nn.Conv2d`` of dilation 1 and zero padding given in pixels (any stride,
    kernel and grouping)."""
    if type(module) is not nn.Conv2d:
        return False
    return module.dilation == (1, 1) and module.padding_mode == "zeros" and not isinstance(module.padding, str)


def use_cpu_grads(model: nn.Module) -> int:
    """Turns every eligible ``nn.Conv2d`` of ``model`` into a ``CpuGradConv2d``, in place (the
    module's class only: parameters, buffers and hooks are kept); returns how many changed."""
    changed = 0
    for module in model.modules():
        if conv_is_eligible(module):
            module.__class__ = CpuGradConv2d
            changed += 1
    return changed
