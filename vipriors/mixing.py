"""Mixing plans for ``vipriors.ops.mix_normalize``, drawn on the batch's device.

A plan says, per training sample, which image each output pixel comes from (CutMix,
RICAP, Cutout regions), whether it is blended with a partner (Mixup), and which source
images get the stubborn-image colour adjustment (SIA); it also carries the label mix:
up to four (label, weight) pairs per sample, weights equal to the exact pixel shares.

Everything is drawn with torch's global RNG on the labels' device, as a handful of
batched tensor ops: no per-sample Python loop and no host sync, so a training step stays
asynchronous and ``torch.manual_seed`` makes plans reproducible. The mode of each batch is
chosen on the host (``choose_mode``) from a seeded ``random.Random``.
"""
from __future__ import annotations

import random
from typing import NamedTuple

import torch

from .config import MixConfig

MODES = ("none", "cutmix", "ricap", "mixup", "cutout")


class MixPlan(NamedTuple):
    regions: torch.Tensor  # int32 [B, R, 7]: (src, y0, x0, y1, x1, oy, ox)
    blend_src: torch.Tensor  # int32 [B], -1 for no blend
    blend_weight: torch.Tensor  # float32 [B]
    target_index: torch.Tensor  # int64 [B, 4]
    target_weight: torch.Tensor  # float32 [B, 4], rows sum to 1
    # SIA (None without a stubborn set: decided on the host, so no SIA work is launched)
    sia_mask: torch.Tensor | None = None  # bool [B]
    sia_shift: torch.Tensor | None = None  # float32 [B, 3]
    sia_stretch: torch.Tensor | None = None  # float32 [B, 3]

    def op_args(self) -> tuple:
        """The plan's arguments of ``ops.mix_normalize`` before the SIA coefficients."""
        return (self.regions, self.blend_src, self.blend_weight)

    def sia_args(self) -> tuple | None:
        """The arguments of ``ops.sia_affine`` after the images, or None without SIA."""
        return None if self.sia_mask is None else (self.sia_mask, self.sia_shift, self.sia_stretch)


def choose_mode(settings: MixConfig, rng: random.Random) -> str:
    draw = rng.random()
    for mode in ("cutmix", "ricap", "mixup", "cutout"):
        draw -= getattr(settings, mode)
        if draw < 0:
            return mode
    return "none"


def _beta(alpha: float, n: int, device) -> torch.Tensor:
    """Beta(alpha, alpha) samples as a ratio of gammas (traceable, on ``device``)."""
    shape = torch.full((2, n), float(alpha), device=device)
    g = torch._standard_gamma(shape)
    return g[0] / (g[0] + g[1]).clamp_min(torch.finfo(torch.float32).tiny)


def _uniform_int(high: torch.Tensor) -> torch.Tensor:
    """Uniform integers in [0, high] elementwise (high: int64 tensor >= 0)."""
    return (torch.rand(high.shape, device=high.device) * (high + 1)).long().clamp(max=high)


def _centred_box(cy, cx, cut_h, cut_w, height: int, width: int):
    """A cut_h x cut_w box centred at (cy, cx), clipped to the image: (y0, x0, y1, x1)."""
    top, left = cy - cut_h // 2, cx - cut_w // 2
    return top.clamp(0, height), left.clamp(0, width), (top + cut_h).clamp(0, height), (left + cut_w).clamp(0, width)


def _pack(batch, device, regions, targets, weights, blend_src=None, blend_weight=None) -> MixPlan:
    regions = torch.stack([torch.stack([f.expand(batch) for f in region], dim=-1) for region in regions], dim=1)
    pad = 4 - len(targets)
    targets = torch.stack(list(targets) + [targets[0]] * pad, dim=1)
    weights = torch.stack(list(weights) + [torch.zeros_like(weights[0])] * pad, dim=1)
    return MixPlan(
        regions=regions.to(torch.int32),
        blend_src=(blend_src if blend_src is not None else torch.full((batch,), -1, device=device)).to(torch.int32),
        blend_weight=(blend_weight if blend_weight is not None else torch.ones(batch, device=device)).float().contiguous(),
        target_index=targets.long(),
        target_weight=weights.float(),
    )


def plan_none(labels: torch.Tensor, height: int, width: int) -> MixPlan:
    batch, device = labels.numel(), labels.device
    zero = torch.zeros((), dtype=torch.long, device=device)
    return _pack(batch, device, [(zero,) * 7], [labels], [torch.ones(batch, device=device)])


def plan_cutmix(labels: torch.Tensor, height: int, width: int, alpha: float = 1.0) -> MixPlan:
    """Per sample: a box of a partner image (a permutation of the batch) at the same place."""
    batch, device = labels.numel(), labels.device
    partner = torch.randperm(batch, device=device)
    ratio = torch.sqrt(1.0 - _beta(alpha, batch, device))
    cut_h, cut_w = (height * ratio).long(), (width * ratio).long()
    cy = torch.randint(0, height, (batch,), device=device)
    cx = torch.randint(0, width, (batch,), device=device)
    y0, x0, y1, x1 = _centred_box(cy, cx, cut_h, cut_w, height, width)
    area = (y1 - y0) * (x1 - x0)
    zero = torch.zeros_like(y0)
    total = height * width
    return _pack(batch, device, [(partner, y0, x0, y1, x1, zero, zero)], [labels, labels[partner]],
                 [(total - area) / total, area / total])


def plan_cutout(labels: torch.Tensor, height: int, width: int, size: float = 0.5) -> MixPlan:
    """Per sample: a box at a uniform centre, clipped, filled with the mean colour."""
    batch, device = labels.numel(), labels.device
    cut_h = torch.full((batch,), round(size * height), device=device)
    cut_w = torch.full((batch,), round(size * width), device=device)
    cy = torch.randint(0, height, (batch,), device=device)
    cx = torch.randint(0, width, (batch,), device=device)
    y0, x0, y1, x1 = _centred_box(cy, cx, cut_h, cut_w, height, width)
    zero = torch.zeros_like(y0)
    return _pack(batch, device, [(zero - 1, y0, x0, y1, x1, zero, zero)], [labels],
                 [torch.ones(batch, device=device)])


def plan_ricap(labels: torch.Tensor, height: int, width: int, beta: float = 0.3, per_sample: bool = False) -> MixPlan:
    """Four images per sample, one per quadrant around a boundary (w, h) ~ Beta(beta, beta);
    each quadrant shows a crop of its size at a uniform position of a shuffled batch image."""
    batch, device = labels.numel(), labels.device
    n = batch if per_sample else 1
    w = torch.round(width * _beta(beta, n, device)).long().expand(batch)
    h = torch.round(height * _beta(beta, n, device)).long().expand(batch)
    zero = torch.zeros_like(w)
    quadrants = [(zero, zero, h, w), (zero, w, h, width - w), (h, zero, height - h, w), (h, w, height - h, width - w)]
    regions, targets, weights = [], [], []
    for qy, qx, qh, qw in quadrants:
        source = torch.randperm(batch, device=device)
        sy, sx = _uniform_int(height - qh), _uniform_int(width - qw)
        regions.append((source, qy, qx, qy + qh, qx + qw, sy - qy, sx - qx))
        targets.append(labels[source])
        weights.append(qh * qw / (height * width))
    return _pack(batch, device, regions, targets, weights)


def plan_mixup(labels: torch.Tensor, height: int, width: int, alpha: float = 0.2, per_sample: bool = False) -> MixPlan:
    """Blend with a partner (a permutation of the batch): lambda own, 1 - lambda partner."""
    batch, device = labels.numel(), labels.device
    partner = torch.randperm(batch, device=device)
    lam = _beta(alpha, batch if per_sample else 1, device).expand(batch)
    zero = torch.zeros((), dtype=torch.long, device=device)
    return _pack(batch, device, [(zero,) * 7], [labels, labels[partner]], [lam, 1.0 - lam],
                 blend_src=partner, blend_weight=lam)


class SiaRange(NamedTuple):
    """SIA's per-channel mean-factor range as device tensors, built once per run: a
    Python-scalar tensor built every step would be a blocking host-to-device copy on a GPU."""
    shift_low: torch.Tensor  # float32 [3]
    shift_span: torch.Tensor  # float32 [3], high - low


def sia_range(settings: MixConfig, device) -> SiaRange:
    low = torch.tensor(settings.sia_shift_low, dtype=torch.float32, device=device)
    high = torch.tensor(settings.sia_shift_high, dtype=torch.float32, device=device)
    return SiaRange(low, high - low)


def with_sia(plan: MixPlan, labels: torch.Tensor, stubborn: torch.Tensor, settings: MixConfig,
             shift_range: SiaRange | None = None) -> MixPlan:
    """Marks the source images whose class is stubborn (``stubborn``: bool per class) for SIA,
    each with probability ``settings.sia_prob``, and draws their colour factors
    (``shift_range``: ``sia_range(settings, device)``, made here when not given)."""
    batch, device = labels.numel(), labels.device
    low, span = shift_range if shift_range is not None else sia_range(settings, device)
    shift = low + span * torch.rand(batch, 3, device=device)
    s_low, s_high = settings.sia_stretch
    stretch = s_low + (s_high - s_low) * torch.rand(batch, 3, device=device)
    mask = stubborn[labels]
    if settings.sia_prob < 1:
        mask = mask & (torch.rand(batch, device=device) < settings.sia_prob)
    return plan._replace(sia_mask=mask, sia_shift=shift, sia_stretch=stretch)


def draw(mode: str, labels: torch.Tensor, height: int, width: int, settings: MixConfig,
         stubborn: torch.Tensor | None = None, shift_range: SiaRange | None = None) -> MixPlan:
    if mode == "none":
        plan = plan_none(labels, height, width)
    elif mode == "cutmix":
        plan = plan_cutmix(labels, height, width, settings.cutmix_alpha)
    elif mode == "ricap":
        plan = plan_ricap(labels, height, width, settings.ricap_beta, settings.ricap_per_sample)
    elif mode == "mixup":
        plan = plan_mixup(labels, height, width, settings.mixup_alpha, settings.mixup_per_sample)
    elif mode == "cutout":
        plan = plan_cutout(labels, height, width, settings.cutout_size)
    else:
        raise ValueError(f"unknown mixing mode {mode!r}; choose from {', '.join(MODES)}")
    return with_sia(plan, labels, stubborn, settings, shift_range) if stubborn is not None else plan
