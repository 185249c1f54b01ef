"""A compact residual net for 32 px images, shaped like the fast CIFAR-10 trainers.

Each stage is conv-BN-ReLU, then 2x2 max-pooling (the convolution sees the full resolution
before it is reduced, unlike a strided convolution), widths 64-128-256-512, one residual
pair of convolutions after the second and the last stage, a global max-pool, dropout when
``drop_rate`` is set, and a linear head whose logits are scaled by 1/8 (large initial logits
slow the start of training).

Why it exists: at 32 px and a CPU budget of minutes, the ImageNet-shaped families of the
method (ResNeSt, PyramidNet; strided stems, bottlenecks) learn far more slowly than this
shape with the same data and schedule (docs/recipes/cifar10-500.md has the figures).
"""
from __future__ import annotations

import torch
import torch.nn as nn
from timm.models import register_model
from timm.models._registry import generate_default_cfgs

from .scratch import build, default_cfg


def conv_bn_relu(cin: int, cout: int, pool: bool = False) -> nn.Sequential:
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=False)]
    if pool:
        layers.append(nn.MaxPool2d(2))
    layers += [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class Residual(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn_relu(channels, channels), conv_bn_relu(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    def __init__(self, num_classes: int = 10, widths=(64, 128, 256, 512), logit_scale: float = 0.125,
                 in_chans: int = 3, drop_rate: float = 0.0):
        super().__init__()
        a, b, c, d = widths
        self.features = nn.Sequential(
            conv_bn_relu(in_chans, a),
            conv_bn_relu(a, b, pool=True), Residual(b),
            conv_bn_relu(b, c, pool=True),
            conv_bn_relu(c, d, pool=True), Residual(d),
            nn.AdaptiveMaxPool2d(1), nn.Flatten(),
        )
        self.num_features = d
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(d, num_classes, bias=False)
        self.logit_scale = logit_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head_drop(self.features(x))) * self.logit_scale


default_cfgs = generate_default_cfgs({name: default_cfg(32, 8, "features.0.0", num_classes=10)
                                      for name in ("resnet9_cifar", "resnet9m_cifar", "resnet9s_cifar")})


def _resnet9(variant: str, widths, pretrained: bool, **kwargs) -> ResNet9:
    return build(ResNet9, variant, pretrained, **dict(dict(widths=widths), **kwargs))


@register_model
def resnet9_cifar(pretrained=False, **kwargs) -> ResNet9:
    """The fast-CIFAR shape: widths 64-128-256-512."""
    return _resnet9("resnet9_cifar", (64, 128, 256, 512), pretrained, **kwargs)


@register_model
def resnet9m_cifar(pretrained=False, **kwargs) -> ResNet9:
    """Three-quarter width (48-96-192-384)."""
    return _resnet9("resnet9m_cifar", (48, 96, 192, 384), pretrained, **kwargs)


@register_model
def resnet9s_cifar(pretrained=False, **kwargs) -> ResNet9:
    """Half width (32-64-128-256): a quarter of the FLOPs."""
    return _resnet9("resnet9s_cifar", (32, 64, 128, 256), pretrained, **kwargs)
