"""ResNeSt for 32 px images, built from timm's ResNeSt blocks (not rewritten).

timm's ResNeSt stem halves the image twice (a stride-2 deep stem, then max-pooling), which
leaves a 32 px image 1 x 1 by the last stage. These variants drop the max-pooling, so the
four stages see 16, 8, 4 and 2 px. (On CIFAR-10 with 500 images per class, a stride-1 stem
with half the widths, the same FLOPs, trained slower and ended lower; a plain ResNet-10 of
basic blocks trained faster but ended lower still.)
"""
from __future__ import annotations

import torch.nn as nn
from timm.models import register_model
from timm.models._registry import generate_default_cfgs
from timm.models.resnest import ResNestBottleneck
from timm.models.resnet import ResNet

from .scratch import build, default_cfg


class ResNetWithoutStemPool(ResNet):
    """timm's ResNet without the stem's max-pooling: every stage at twice the resolution."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.maxpool = nn.Identity()
        for info in self.feature_info[1:]:  # the stages after the (former) pooling
            info["reduction"] //= 2


default_cfgs = generate_default_cfgs({name: default_cfg(32, 16, "conv1.0", num_classes=10)
                                      for name in ("resnest14d_cifar", "resnest26d_cifar")})


def _small(variant: str, layers, pretrained: bool, **kwargs) -> ResNet:
    args = dict(block=ResNestBottleneck, layers=layers, stem_type="deep", stem_width=32, avg_down=True, base_width=64,
                cardinality=1, block_args=dict(radix=2, avd=True, avd_first=False))
    return build(ResNetWithoutStemPool, variant, pretrained, **dict(args, **kwargs))


@register_model
def resnest14d_cifar(pretrained=False, **kwargs) -> ResNet:
    """ResNeSt-14d (one block per stage) for 32 px images."""
    return _small("resnest14d_cifar", [1, 1, 1, 1], pretrained, **kwargs)


@register_model
def resnest26d_cifar(pretrained=False, **kwargs) -> ResNet:
    """ResNeSt-26d (two blocks per stage) for 32 px images."""
    return _small("resnest26d_cifar", [2, 2, 2, 2], pretrained, **kwargs)
