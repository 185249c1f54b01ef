"""The training augmentations' settings (free of DALI, so the config can hold them).

The defaults are for ImageNet-sized images; vipriors.engine.config has the 32/64 px ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field

POLICIES = ("none", "autoaugment", "randaugment", "trivialaugment")
POLICY_INTERPOLATIONS = ("nearest", "linear")
POLICY_OPERATORS = ("vipriors", "dali")
AA_POLICIES = ("original", "v0")
RESIZES = ("auto", "torch", "dali")


def _flag(name: str, help: str, default):
    return field(default=default, metadata={"flag": name, "help": help})


@dataclass(frozen=True)
class Augment:
    """Applied in this order after decoding: random-resized crop (or pad-and-crop), flip, rotation, blur, policy."""

    scale: tuple[float, float] = _flag("--scale", "random-resized-crop area range (the method's scale change)", (0.08, 1.0))
    ratio: tuple[float, float] = _flag("--ratio", "random-resized-crop aspect range", (3 / 4, 4 / 3))
    pad_crop: int = _flag("--pad-crop", "N > 0: resize to the training size, pad N px of black on every side and crop "
                          "back at a random place (the CIFAR standard) instead of the random-resized crop", 0)
    hflip: float = _flag("--hflip", "horizontal flip probability", 0.5)
    rotate_prob: float = _flag("--rotate-prob", "probability of a random rotation", 0.25)
    rotate_degrees: float = _flag("--rotate-degrees", "rotation angle range, +-degrees", 15.0)
    blur_prob: float = _flag("--blur-prob", "probability of a Gaussian blur", 0.1)
    blur_sigma: tuple[float, float] = _flag("--blur-sigma", "Gaussian blur sigma range (px)", (0.1, 2.0))
    policy: str = _flag("--auto-augment", "none | autoaugment (ImageNet policy) | randaugment | trivialaugment", "autoaugment")
    randaugment_n: int = _flag("--randaugment-n", "RandAugment: operations per image", 2)
    randaugment_m: int = _flag("--randaugment-m", "RandAugment: magnitude (0..30)", 9)
    # Nearest is what the AutoAugment authors' TensorFlow code used for shear, translate and
    # rotate; on DALI's CPU path it is 8x cheaper than linear (2.0 -> 0.24 ms per 224 px image).
    policy_interp: str = _flag("--aa-interp", "interpolation of the policy's shear, translate and rotate: "
                               "nearest (as the original AutoAugment) | linear (as timm)", "nearest")
    resize: str = _flag("--train-resize", "the training resize on the CPU: torch (torch's antialiased bilinear, "
                        "as a DALI operator of ours: 10x cheaper) | dali (DALI's) | auto (torch where this build "
                        "has our DALI plugin, else dali; the GPU always resizes with DALI)", "auto")
    aa_policy: str = _flag("--aa-policy", "AutoAugment's ImageNet policy: original (the AutoAugment paper's, as "
                           "timm's 'original') | v0 (DALI's, the TPU EfficientNet list, timm's 'v0')", "original")
    policy_ops: str = _flag("--aa-ops", "the policies' Color and Contrast operators: vipriors (PIL's operations, "
                            "as DALI's, from its integer operators: 4-5x cheaper on the CPU) | dali (DALI's own)",
                            "vipriors")

    def __post_init__(self):
        if self.policy not in POLICIES:
            raise ValueError(f"--auto-augment must be one of {', '.join(POLICIES)}, got {self.policy!r}")
        if self.resize not in RESIZES:
            raise ValueError(f"--train-resize must be one of {', '.join(RESIZES)}, got {self.resize!r}")
        if self.aa_policy not in AA_POLICIES:
            raise ValueError(f"--aa-policy must be one of {', '.join(AA_POLICIES)}, got {self.aa_policy!r}")
        if self.policy_ops not in POLICY_OPERATORS:
            raise ValueError(f"--aa-ops must be one of {', '.join(POLICY_OPERATORS)}, got {self.policy_ops!r}")
        if self.policy_interp not in POLICY_INTERPOLATIONS:
            raise ValueError(f"--aa-interp must be one of {', '.join(POLICY_INTERPOLATIONS)}, got {self.policy_interp!r}")
        for name in ("hflip", "rotate_prob", "blur_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} is a probability in [0, 1], got {getattr(self, name)}")
        if self.pad_crop < 0:
            raise ValueError(f"--pad-crop is a number of pixels >= 0, got {self.pad_crop}")
        if not 0 < self.scale[0] <= self.scale[1] <= 1:
            raise ValueError(f"--scale must satisfy 0 < low <= high <= 1, got {self.scale}")
        if not 0 < self.ratio[0] <= self.ratio[1]:
            raise ValueError(f"--ratio must satisfy 0 < low <= high, got {self.ratio}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"--blur-sigma must satisfy 0 < low <= high, got {self.blur_sigma}")
