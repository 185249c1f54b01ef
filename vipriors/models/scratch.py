"""How every vipriors model is built: timm's ``build_model_with_cfg`` over a registered
default config, from scratch only (no weights exist, and the challenge forbids them).

A model file states its variants as data (a default config each, ``default_cfgs``) and
registers one function per variant that only chooses constructor arguments; unknown
arguments reach the model's constructor and are refused there, as Python refuses them.
"""
from __future__ import annotations

from timm.models._builder import build_model_with_cfg

from ..ops_constants import IMAGENET_MEAN, IMAGENET_STD


def build(model_cls, variant: str, pretrained: bool, **kwargs):
    if pretrained:
        raise ValueError(f"{variant} has no pre-trained weights (and the VIPriors rules forbid them); use pretrained=False")
    return build_model_with_cfg(model_cls, variant, pretrained=False, **kwargs)


def default_cfg(size: int, stride: int, first_conv: str, classifier: str = "fc", num_classes: int = 1000,
                **extra) -> dict:
    """timm's per-variant metadata: no weights (empty url), the input it was designed for and
    the feature map the global pool sees there (``stride``: the network's total downsampling)."""
    return {"url": "", "num_classes": num_classes, "input_size": (3, size, size), "pool_size": (size // stride,) * 2,
            "crop_pct": 1.0 if size <= 64 else 0.875, "interpolation": "bilinear",
            "mean": tuple(m / 255 for m in IMAGENET_MEAN), "std": tuple(s / 255 for s in IMAGENET_STD),
            "first_conv": first_conv, "classifier": classifier, **extra}
