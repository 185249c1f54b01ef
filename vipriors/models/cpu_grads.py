"""A faster weight gradient on the CPU for the convolutions a small-image network ends with.

oneDNN's weight gradient of a 3x3 convolution is slow where the feature map is small and the
channels many (a ResNet-9's 256-channel layers at 4x4): its reduction runs over only batch x
height x width positions, and it takes several times the forward convolution. The
same gradient is one matrix product of the output gradient with the input's patches
(im2col), which the CPU's matrix units run at full speed; on larger maps oneDNN's kernel is
as fast or faster, so the product is used below a map size only. The input gradient stays
oneDNN's.

The gradients are torch's up to the order of a float sum. ``use_cpu_grads`` swaps the
eligible layers of a model in place (the module's class only): their parameters, names and
state dict stay the same, so checkpoints move freely between models with and without them.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

# The weight gradient is the patch product on maps of at most this many positions (4 x 4).
# At 8 x 8 the product alone is still faster, but inside a training step the copy of the
# patches eats the gain (whole steps come out level); on larger maps oneDNN's kernel wins
# outright (benchmarks/cpu_grads.py times both for every layer shape of a network).
PATCH_PRODUCT_MAX_POSITIONS = 16


def conv2d_weight_grad(x: torch.Tensor, grad_out: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """The weight gradient [K, C, kh, kw] of a stride-1, "same"-padded (odd kernel, zeros),
    ungrouped convolution of ``x`` [N, C, H, W] whose output gradient is ``grad_out`` [N, K, H, W].

    One matrix product: the output gradient as rows of K channels, one row per output
    position, against the input patches as rows of kh x kw x C values (windows of the
    zero-padded input, channels last, copied once), so the reduction over batch and positions
    is a single product the CPU's matrix units run whole."""
    kh, kw = kernel
    n, c, h, w = x.shape
    k = grad_out.shape[1]
    padded = F.pad(x.permute(0, 2, 3, 1), (0, 0, (kw - 1) // 2, (kw - 1) // 2, (kh - 1) // 2, (kh - 1) // 2))
    # [N, H, W, kh, kw, C], a view: output position (h, w), kernel offset (i, j) -> padded pixel (h + i, w + j).
    patches = padded.unfold(1, kh, 1).unfold(2, kw, 1).permute(0, 1, 2, 4, 5, 3)
    rows = grad_out.permute(0, 2, 3, 1).reshape(n * h * w, k)
    grad = rows.t() @ patches.reshape(n * h * w, kh * kw * c)  # one copy of the patches; [K, (kh, kw, C)]
    return grad.view(k, kh, kw, c).permute(0, 3, 1, 2)


class _SmallMapConv2d(torch.autograd.Function):
    """conv2d forward; backward: oneDNN's input gradient, and the weight gradient by
    ``conv2d_weight_grad`` where the map is small."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.has_bias = padding, bias is not None
        return F.conv2d(x, weight, bias, 1, padding)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        need_input, need_weight, need_bias = ctx.needs_input_grad[:3]
        kernel = tuple(weight.shape[2:])
        small = x.shape[2] * x.shape[3] <= PATCH_PRODUCT_MAX_POSITIONS
        mask = [need_input, need_weight and not small, need_bias and ctx.has_bias]
        grad_x = grad_w = grad_b = None
        if any(mask):
            grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
                grad_out, x, weight, [weight.shape[0]] if ctx.has_bias else None, [1, 1], list(ctx.padding), [1, 1],
                False, [0, 0], 1, mask)
        if need_weight and small:
            grad_w = conv2d_weight_grad(x, grad_out, kernel).to(weight.dtype)
        return grad_x, grad_w, grad_b, None


class CpuGradConv2d(nn.Conv2d):
    """An ``nn.Conv2d`` (stride 1, "same" zero padding, no groups or dilation) whose training
    backward uses ``_SmallMapConv2d``; evaluation and no-grad calls are plain conv2d."""

    def _conv_forward(self, x, weight, bias):
        if not torch.is_grad_enabled() or not (weight.requires_grad or x.requires_grad):
            return super()._conv_forward(x, weight, bias)
        device = x.device.type
        if torch.is_autocast_enabled(device):  # autocast does not reach inside an autograd.Function
            dtype = torch.get_autocast_dtype(device)
            x, weight = x.to(dtype), weight.to(dtype)
            bias = bias.to(dtype) if bias is not None else None
        with torch.autocast(device, enabled=False):
            return _SmallMapConv2d.apply(x, weight, bias, self.padding)


def conv_is_eligible(module: nn.Module) -> bool:
    """A plain ``nn.Conv2d`` of stride 1, dilation 1, one group, and zero padding of
    (k - 1) / 2 on each side of an odd kernel."""
    if type(module) is not nn.Conv2d:
        return False
    kh, kw = module.kernel_size
    return (module.stride == (1, 1) and module.dilation == (1, 1) and module.groups == 1
            and module.padding_mode == "zeros" and kh % 2 == 1 and kw % 2 == 1
            and module.padding == ((kh - 1) // 2, (kw - 1) // 2))


def use_cpu_grads(model: nn.Module) -> int:
    """Turns every eligible ``nn.Conv2d`` of ``model`` into a ``CpuGradConv2d``, in place (the
    module's class only: parameters, buffers and hooks are kept); returns how many changed."""
    changed = 0
    for module in model.modules():
        if conv_is_eligible(module):
            module.__class__ = CpuGradConv2d
            changed += 1
    return changed
