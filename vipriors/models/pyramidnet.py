"""PyramidNet and SE-PyramidNet (Han et al., 2017), registered in timm's model registry.

Widths grow additively: block k of N (over all stages) has ``round(w0 + k * alpha / N)``
bottleneck channels and 4x as many outputs. Blocks are pre-activation bottlenecks
(BN-conv1x1-BN-ReLU-conv3x3-BN-ReLU-conv1x1-BN, no ReLU after the addition); the shortcut
is the identity, 2x2 average pooling when downsampling, with the missing channels
zero-padded. Unlike the official code, which allocates a CUDA float32 zero tensor in every
forward (breaking CPU runs, autocast and torch.compile), the padding here is ``F.pad`` of
the shortcut itself: its dtype, device and memory format.

Stage depths. ImageNet form (7x7 stem + max-pool, four stages), as the official table:
depth 50 -> [3, 4, 6, 3], 101 -> [3, 4, 23, 3], 152 -> [3, 8, 36, 3], 200 -> [3, 24, 36, 3].
Small-image form for 32 px (3x3 stem, three stages): (depth - 2) / 9 bottlenecks per stage.
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import SEModule, create_classifier
from timm.models import register_model
from timm.models._registry import generate_default_cfgs

from .scratch import build, default_cfg

IMAGENET_STAGES = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3)}


def imagenet_stages(depth: int) -> tuple[int, ...]:
    if depth not in IMAGENET_STAGES:
        raise ValueError(f"ImageNet PyramidNet depth must be one of {sorted(IMAGENET_STAGES)}, got {depth}")
    return IMAGENET_STAGES[depth]


def small_image_stages(depth: int) -> tuple[int, int, int]:
    if depth < 11 or (depth - 2) % 9:
        raise ValueError(f"small-image PyramidNet depth must be 9n + 2 (e.g. 56, 110, 164, 272), got {depth}")
    n = (depth - 2) // 9
    return (n, n, n)


class PyramidBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_chs: int, mid_chs: int, stride: int = 1, attn_layer=None,
                 norm_layer=nn.BatchNorm2d, act_layer=nn.ReLU):
        super().__init__()
        out_chs = mid_chs * self.expansion
        if out_chs < in_chs:
            raise ValueError(f"a pyramid block cannot narrow ({in_chs} -> {out_chs} channels)")
        self.bn1 = norm_layer(in_chs)
        self.conv1 = nn.Conv2d(in_chs, mid_chs, 1, bias=False)
        self.bn2 = norm_layer(mid_chs)
        self.act2 = act_layer(inplace=True)
        self.conv2 = nn.Conv2d(mid_chs, mid_chs, 3, stride=stride, padding=1, bias=False)
        self.bn3 = norm_layer(mid_chs)
        self.act3 = act_layer(inplace=True)
        self.conv3 = nn.Conv2d(mid_chs, out_chs, 1, bias=False)
        self.bn4 = norm_layer(out_chs)
        self.attn = attn_layer(out_chs) if attn_layer is not None else nn.Identity()
        self.shortcut_pool = nn.AvgPool2d(2, 2, ceil_mode=True) if stride != 1 else nn.Identity()
        self.extra_channels = out_chs - in_chs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.bn1(x))
        out = self.conv2(self.act2(self.bn2(out)))
        out = self.conv3(self.act3(self.bn3(out)))
        out = self.attn(self.bn4(out))
        shortcut = self.shortcut_pool(x)
        if self.extra_channels:
            shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
        return out + shortcut


class PyramidNet(nn.Module):
    def __init__(self, stages=(3, 24, 36, 3), alpha: float = 300, num_classes: int = 1000, in_chans: int = 3,
                 small_images: bool = False, stem_width: int | None = None, attn_layer=None,
                 drop_rate: float = 0.0, global_pool: str = "avg", zero_init_last: bool = False):
        super().__init__()
        self.num_classes, self.drop_rate = num_classes, drop_rate
        stem_width = stem_width or (16 if small_images else 64)
        if small_images:  # pre-activation: the first block's BN follows the stem's
            self.stem = nn.Sequential(nn.Conv2d(in_chans, stem_width, 3, padding=1, bias=False), nn.BatchNorm2d(stem_width))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_chans, stem_width, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(stem_width),
                nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        strides = [1] + [2] * (len(stages) - 1)
        step = alpha / sum(stages)
        width, in_chs = float(stem_width), stem_width
        self.feature_info, reduction = [], 1 if small_images else 4
        blocks_per_stage = []
        for i, (count, stride) in enumerate(zip(stages, strides)):
            blocks = []
            for j in range(count):
                width += step
                mid = int(round(width))
                blocks.append(PyramidBottleneck(in_chs, mid, stride if j == 0 else 1, attn_layer))
                in_chs = mid * PyramidBottleneck.expansion
            reduction *= stride
            self.feature_info.append(dict(num_chs=in_chs, reduction=reduction, module=f"stages.{i}"))
            blocks_per_stage.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*blocks_per_stage)
        self.num_features = self.head_hidden_size = in_chs
        self.final_norm = nn.BatchNorm2d(in_chs)
        self.final_act = nn.ReLU(inplace=True)
        self.global_pool, self.fc = create_classifier(in_chs, num_classes, pool_type=global_pool)
        self._init_weights(zero_init_last)

    def _init_weights(self, zero_init_last: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_last:  # each block starts as its shortcut: often steadier from scratch
            for m in self.modules():
                if isinstance(m, PyramidBottleneck):
                    nn.init.zeros_(m.bn4.weight)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str = "avg") -> None:
        self.num_classes = num_classes
        self.global_pool, self.fc = create_classifier(self.num_features, num_classes, pool_type=global_pool)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_act(self.final_norm(self.stages(self.stem(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.global_pool(x)
        if self.drop_rate:
            x = F.dropout(x, p=self.drop_rate, training=self.training)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


SMALL = ("pyramidnet56_a48_cifar", "pyramidnet110_a48_cifar", "pyramidnet110_a84_cifar", "pyramidnet110_a270_cifar",
         "sepyramidnet110_a270_cifar", "pyramidnet272_a200_cifar")
LARGE = ("pyramidnet101_a360", "sepyramidnet101_a360", "pyramidnet200_a300", "sepyramidnet200_a300")
default_cfgs = generate_default_cfgs({**{n: default_cfg(32, 4, "stem.0", num_classes=10) for n in SMALL},
                                      **{n: default_cfg(224, 32, "stem.0") for n in LARGE}})

se_layer = partial(SEModule, rd_ratio=1 / 16)


def _create(variant: str, pretrained: bool, **kwargs) -> PyramidNet:
    return build(PyramidNet, variant, pretrained, feature_cfg=dict(flatten_sequential=True), **kwargs)


def _imagenet(variant, depth, alpha, se, pretrained, kwargs):
    args = dict(stages=imagenet_stages(depth), alpha=alpha, attn_layer=se_layer if se else None)
    return _create(variant, pretrained, **dict(args, **kwargs))


def _small(variant, depth, alpha, se, pretrained, kwargs):
    args = dict(stages=small_image_stages(depth), alpha=alpha, small_images=True, attn_layer=se_layer if se else None)
    return _create(variant, pretrained, **dict(args, **kwargs))


@register_model
def pyramidnet101_a360(pretrained=False, **kwargs) -> PyramidNet:
    """The official pre-trained ImageNet configuration (42.5 M parameters)."""
    return _imagenet("pyramidnet101_a360", 101, 360, False, pretrained, kwargs)


@register_model
def sepyramidnet101_a360(pretrained=False, **kwargs) -> PyramidNet:
    return _imagenet("sepyramidnet101_a360", 101, 360, True, pretrained, kwargs)


@register_model
def pyramidnet200_a300(pretrained=False, **kwargs) -> PyramidNet:
    """The method's PyramidNet backbone: depth 200, alpha 300."""
    return _imagenet("pyramidnet200_a300", 200, 300, False, pretrained, kwargs)


@register_model
def sepyramidnet200_a300(pretrained=False, **kwargs) -> PyramidNet:
    """The method's SEPyramidNet: squeeze-and-excitation on every block's residual."""
    return _imagenet("sepyramidnet200_a300", 200, 300, True, pretrained, kwargs)


@register_model
def pyramidnet56_a48_cifar(pretrained=False, **kwargs) -> PyramidNet:
    return _small("pyramidnet56_a48_cifar", 56, 48, False, pretrained, kwargs)


@register_model
def pyramidnet110_a48_cifar(pretrained=False, **kwargs) -> PyramidNet:
    return _small("pyramidnet110_a48_cifar", 110, 48, False, pretrained, kwargs)


@register_model
def pyramidnet110_a84_cifar(pretrained=False, **kwargs) -> PyramidNet:
    return _small("pyramidnet110_a84_cifar", 110, 84, False, pretrained, kwargs)


@register_model
def pyramidnet110_a270_cifar(pretrained=False, **kwargs) -> PyramidNet:
    return _small("pyramidnet110_a270_cifar", 110, 270, False, pretrained, kwargs)


@register_model
def sepyramidnet110_a270_cifar(pretrained=False, **kwargs) -> PyramidNet:
    return _small("sepyramidnet110_a270_cifar", 110, 270, True, pretrained, kwargs)


@register_model
def pyramidnet272_a200_cifar(pretrained=False, **kwargs) -> PyramidNet:
    return _small("pyramidnet272_a200_cifar", 272, 200, False, pretrained, kwargs)
