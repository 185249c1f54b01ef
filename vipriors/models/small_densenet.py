"""DenseNet for 32 px images, built from timm's DenseNet (not rewritten).

timm's DenseNet stem halves the image twice (a stride-2 convolution, then max-pooling), which
leaves a 32 px image 1 x 1 by the last block. This variant keeps the deep 3 x 3 stem at
stride 1 without the pooling, and has three dense blocks (DenseNet-BC for CIFAR, Huang et
al. 2017: growth rate 12, bottleneck and compression 0.5), at 32, 16 and 8 px.
"""
from __future__ import annotations

import torch.nn as nn
from timm.models import register_model
from timm.models._registry import generate_default_cfgs
from timm.models.densenet import DenseNet

from .scratch import build, default_cfg


class DenseNetFullResolutionStem(DenseNet):
    """timm's DenseNet with its deep stem at stride 1 and no stem pooling."""

    def __init__(self, **kwargs):
        super().__init__(stem_type="deep", **kwargs)
        self.features.conv0.stride = (1, 1)
        self.features.pool0 = nn.Identity()
        for info in self.feature_info:
            info["reduction"] = max(1, info["reduction"] // 4)


default_cfgs = generate_default_cfgs({"densenet_bc_cifar": default_cfg(32, 4, "features.conv0", "classifier",
                                                                        num_classes=10)})


@register_model
def densenet_bc_cifar(pretrained=False, **kwargs) -> DenseNet:
    """DenseNet-BC, growth rate 12, blocks of 6, 12 and 24 layers, for 32 px images."""
    args = dict(growth_rate=12, block_config=(6, 12, 24),
                feature_cfg=dict(flatten_sequential=True, out_indices=(0, 1, 2, 3)))  # the stem and three blocks
    return build(DenseNetFullResolutionStem, "densenet_bc_cifar", pretrained, **dict(args, **kwargs))
