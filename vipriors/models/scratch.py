"""What every vipriors model constructor shares: from scratch only, timm's cfg keys dropped."""
from __future__ import annotations

# Keys timm.create_model passes to every registered constructor; our models have no use for them.
TIMM_CFG_KEYS = ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir")


def refuse_pretrained(variant: str, pretrained: bool) -> None:
    if pretrained:
        raise ValueError(f"{variant} has no pre-trained weights (and the VIPriors rules forbid them); use pretrained=False")


def scratch_kwargs(variant: str, pretrained: bool, kwargs: dict) -> dict:
    """The constructor arguments of a from-scratch ``variant``, without timm's cfg keys."""
    refuse_pretrained(variant, pretrained)
    return {k: v for k, v in kwargs.items() if k not in TIMM_CFG_KEYS}
