"""Test-time augmentation: the class probabilities of a batch, averaged over views of it.

- ``none``: the image as it is.
- ``flip``: the image and its mirror.
- ``flip-shift``: the image and its mirror, each also moved by ``shift`` pixels up-left and
  down-right (the exposed border reflected). The unmoved pair weighs half, the moved ones
  the other half, so a small translation votes but never outweighs the centred view. It
  suits small images trained with pad-and-crop, where a 1-2 pixel offset is in-distribution.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import UserError

MODES = ("none", "flip", "flip-shift")


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """``x`` [B, C, H, W] moved by (dy, dx) pixels, the exposed border reflected."""
    s = max(abs(dy), abs(dx))
    h, w = x.shape[-2:]
    padded = F.pad(x, (s, s, s, s), mode="reflect")
    return padded[..., s - dy:s - dy + h, s - dx:s - dx + w]


def check_shift(shift: int, side: int) -> None:
    """A shift must move the image by at least a pixel and leave some of it in view."""
    if not 1 <= shift < side:
        raise UserError(f"--tta-shift {shift}: must be between 1 and the image side - 1 ({side - 1})")


def views(x: torch.Tensor, mode: str, shift: int = 1) -> list[tuple[float, torch.Tensor]]:
    """The (weight, view) pairs of ``mode``; the weights sum to 1."""
    if mode == "none":
        return [(1.0, x)]
    mirrored = x.flip(-1)
    if mode == "flip":
        return [(0.5, x), (0.5, mirrored)]
    if mode == "flip-shift":
        check_shift(shift, min(x.shape[-2:]))
        moved = [_shifted(v, d, d) for v in (x, mirrored) for d in (-shift, shift)]
        return [(0.25, x), (0.25, mirrored)] + [(0.125, v) for v in moved]
    raise ValueError(f"unknown TTA mode {mode!r}; choose one of {', '.join(MODES)}")


def probabilities(model, x: torch.Tensor, mode: str = "none", shift: int = 1,
                  memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
    """Softmax probabilities (float32) of ``model`` on ``x``, averaged over the views of ``mode``;
    each view is laid out in ``memory_format`` (the model's) before it goes in."""
    total = None
    for weight, view in views(x, mode, shift):
        p = model(view.contiguous(memory_format=memory_format)).float().softmax(1) * weight
        total = p if total is None else total + p
    return total
