"""AutoAugment's ImageNet policy (the paper's, ``ORIGINAL_IMAGE_NET``) over a whole uint8 batch in torch.

DALI runs a policy as a conditional graph: each of the 25 sub-policies is a small sub-batch
and each operator a separate run over it, so on a small CPU most of the cost is per-operator
overhead, paid on the cores the training step needs. Here each operation of the policy runs
once per batch position over every image that drew it, vectorised with per-image
magnitudes, on the training device (``--aa-backend torch``, the in-memory path):

- the geometric operations (Rotate, ShearX) of a position are one ``grid_sample`` with a
  matrix per image, filled with grey 128 where the source falls outside the image;
- the colour operations compute what PIL does (as the AutoAugment authors' code): Color,
  Contrast and Sharpness blend with the grey image, its mean and the smoothed image; Equalize
  is torchvision's (PIL's formula); AutoContrast stretches each channel to 0-255; Posterize,
  Solarize and Invert are integer operations.

The magnitudes are those of ``vipriors.data.policies.original_image_net_augmentations`` (the
DALI path's): level l of 0-10 keeps int(0.4 l) + 4 bits, inverts pixels >= int(25.6 l),
rotates by 3 l degrees and shears by 0.03 l (each with a random sign), enhances by 0.1 + 0.18 l.
Each image draws its sub-policy uniformly and each of its two operations with the
operation's probability, as DALI's ``apply_auto_augment`` does.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from .image_net_policy import ORIGINAL_IMAGE_NET

OPERATIONS = ("posterize", "solarize", "rotate", "shear_x", "auto_contrast", "equalize", "color", "contrast",
              "sharpness", "invert")
GEOMETRIC = ("rotate", "shear_x")
GEOMETRIC_INDEX = torch.tensor([OPERATIONS.index(name) for name in GEOMETRIC])
FILL = 128  # grey where a rotation or shear leaves the image, as DALI's policies and timm's


def _table():
    """The policy as tensors indexed [sub-policy, position]: operation index, probability, level."""
    ops = torch.tensor([[OPERATIONS.index(name) for name, _, _ in sub] for sub in ORIGINAL_IMAGE_NET])
    probabilities = torch.tensor([[p for _, p, _ in sub] for sub in ORIGINAL_IMAGE_NET], dtype=torch.float64)
    levels = torch.tensor([[level for _, _, level in sub] for sub in ORIGINAL_IMAGE_NET])
    return ops, probabilities, levels


OPS, PROBABILITIES, LEVELS = _table()


class PolicyDraws:
    """What the policy does to each image of a batch: its sub-policy [B], whether each of the
    sub-policy's two operations runs [B, 2] and the sign of its magnitude [B, 2] (+1 or -1;
    only Rotate and ShearX use it)."""

    def __init__(self, sub_policy: torch.Tensor, applied: torch.Tensor, sign: torch.Tensor):
        self.sub_policy, self.applied, self.sign = sub_policy, applied, sign

    @classmethod
    def draw(cls, batch: int, generator: torch.Generator) -> "PolicyDraws":
        sub_policy = torch.randint(0, len(ORIGINAL_IMAGE_NET), (batch,), generator=generator)
        applied = torch.rand(batch, 2, generator=generator, dtype=torch.float64) < PROBABILITIES[sub_policy]
        sign = torch.where(torch.rand(batch, 2, generator=generator) < 0.5, -1.0, 1.0)
        return cls(sub_policy, applied, sign)

    @classmethod
    def every(cls, sub_policy: int, batch: int, sign: float = 1.0) -> "PolicyDraws":
        """Both operations of ``sub_policy`` on every image, with magnitudes of ``sign``."""
        return cls(torch.full((batch,), sub_policy), torch.ones(batch, 2, dtype=torch.bool), torch.full((batch, 2), sign))


def apply_image_net_policy(images: torch.Tensor, draws: PolicyDraws, interpolation: str = "nearest") -> torch.Tensor:
    """``images`` (uint8 [B, H, W, 3], any device) after the policy as ``draws`` say, same shape and layout."""
    x = images.permute(0, 3, 1, 2).contiguous()  # NCHW: torchvision's operators and grid_sample want it
    device = x.device
    for position in range(2):
        op = OPS[draws.sub_policy, position]
        level = LEVELS[draws.sub_policy, position].double()
        active = draws.applied[:, position]
        geometric = active & torch.isin(op, GEOMETRIC_INDEX)
        if geometric.any():
            index = geometric.nonzero().view(-1)
            matrices = _source_maps(op[index], level[index] * draws.sign[index, position].double(), x.shape[-2:])
            x[index.to(device)] = _warp(x[index.to(device)], matrices.to(device), interpolation)
        for name in OPERATIONS:
            if name in GEOMETRIC:
                continue
            chosen = active & (op == OPERATIONS.index(name))
            if chosen.any():
                index = chosen.nonzero().view(-1)
                x[index.to(device)] = COLOUR[name](x[index.to(device)], level[index].to(device))
    return x.permute(0, 2, 3, 1).contiguous()


def apply_operation(images: torch.Tensor, name: str, level: float, sign: float = 1.0,
                    interpolation: str = "nearest") -> torch.Tensor:
    """One of the policy's operations at ``level`` (0-10; ``sign`` negates Rotate's and ShearX's
    magnitude) on every image of ``images`` (uint8 [B, H, W, 3])."""
    x = images.permute(0, 3, 1, 2).contiguous()
    levels = torch.full((len(x),), float(level), dtype=torch.float64)
    if name in GEOMETRIC:
        op = torch.full((len(x),), OPERATIONS.index(name))
        out = _warp(x, _source_maps(op, levels * sign, x.shape[-2:]).to(x.device), interpolation)
    else:
        out = COLOUR[name](x, levels.to(x.device))
    return out.permute(0, 2, 3, 1).contiguous()


def _source_maps(op: torch.Tensor, signed_level: torch.Tensor, size) -> torch.Tensor:
    """Per image, the affine map [K, 2, 3] from an output pixel's (x, y) to the source pixel it
    takes, in grid_sample's normalised coordinates (align_corners False). Rotate: about the
    centre, by 3 l degrees (counter-clockwise for a positive sign, as PIL's rotate); ShearX:
    the source of (x, y) is (x + 0.03 l y, y) in pixels from the top-left corner, as PIL's
    affine transform in the authors' code."""
    height, width = size
    count = len(op)
    theta = torch.zeros(count, 2, 3, dtype=torch.float64)
    rotate = op == OPERATIONS.index("rotate")
    angle = torch.deg2rad(3 * signed_level[rotate])
    cos, sin = torch.cos(angle), torch.sin(angle)
    # Output to source is the inverse rotation; in normalised coordinates the aspect ratio enters.
    theta[rotate, 0, 0], theta[rotate, 0, 1] = cos, -sin * height / width
    theta[rotate, 1, 0], theta[rotate, 1, 1] = sin * width / height, cos
    shear = ~rotate
    s = 0.03 * signed_level[shear]
    # x_src = x + s y in pixels, with y measured from the top edge: in normalised
    # coordinates (x_n = 2 x / W - 1) that is x_n + s (H / W) (y_n + 1).
    theta[shear, 0, 0], theta[shear, 1, 1] = 1.0, 1.0
    theta[shear, 0, 1] = s * height / width
    theta[shear, 0, 2] = s * height / width
    return theta.float()


def _warp(x: torch.Tensor, theta: torch.Tensor, interpolation: str) -> torch.Tensor:
    """uint8 [K, 3, H, W] sampled at ``theta``'s source points, grey 128 outside the image."""
    with_mask = torch.cat([x.float(), torch.ones_like(x[:, :1], dtype=torch.float32)], dim=1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    mode = "nearest" if interpolation == "nearest" else "bilinear"
    out = F.grid_sample(with_mask, grid, mode=mode, padding_mode="zeros", align_corners=False)
    inside = out[:, 3:]
    # Linear sampling blends with the fill at the edge, as a fill-valued border would.
    blended = out[:, :3] + (1 - inside) * FILL
    return blended.round_().clamp_(0, 255).to(torch.uint8)


def _per_image(level: torch.Tensor) -> torch.Tensor:
    return level.view(-1, 1, 1, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    """PIL's "L" conversion of uint8 [K, 3, H, W]: (299 R + 587 G + 114 B) / 1000, rounded; float [K, 1, H, W]."""
    r, g, b = x.float().unbind(1)
    return ((r * 299 + g * 587 + b * 114) / 1000).round_().unsqueeze(1)


def _blend(degenerate: torch.Tensor, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance: degenerate + factor (x - degenerate), rounded and saturated to uint8."""
    out = degenerate + _per_image(factor).float() * (x.float() - degenerate)
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _enhance_factor(level: torch.Tensor) -> torch.Tensor:
    return 0.1 + 0.18 * level


def posterize(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    bits = (level.long() * 4 // 10 + 4)
    mask = (255 - ((1 << (8 - bits)) - 1)).to(torch.uint8)
    return x & _per_image(mask)


def solarize(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    threshold = torch.clamp(level.long() * 256 // 10, max=256)
    return torch.where(x.long() >= _per_image(threshold), 255 - x, x)


def auto_contrast(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """Each channel stretched to 0-255 (left as it is where it has one value)."""
    low = x.amin(dim=(2, 3), keepdim=True).float()
    high = x.amax(dim=(2, 3), keepdim=True).float()
    flat = high <= low
    scale = torch.where(flat, 1.0, 255 / (high - low).clamp(min=1))
    out = (x.float() - torch.where(flat, 0.0, low)) * scale
    return out.round_().clamp_(0, 255).to(torch.uint8)


def equalize(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    return TF.equalize(x)


def color(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    return _blend(_grey(x), x, _enhance_factor(level))


def contrast(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    mean = (_grey(x).mean(dim=(1, 2, 3), keepdim=True) + 0.5).floor()  # PIL: int(mean + 0.5) of the grey image
    return _blend(mean, x, _enhance_factor(level))


def sharpness(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    """A blend with PIL's SMOOTH filter ([[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13), the one-pixel border kept."""
    kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], device=x.device) / 13
    smooth = F.conv2d(x.float(), kernel.expand(3, 1, 3, 3).contiguous(), groups=3).round_()
    degenerate = x.float()
    degenerate[:, :, 1:-1, 1:-1] = smooth
    return _blend(degenerate, x, _enhance_factor(level))


def invert(x: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
    return 255 - x


COLOUR = {"posterize": posterize, "solarize": solarize, "auto_contrast": auto_contrast, "equalize": equalize,
          "color": color, "contrast": contrast, "sharpness": sharpness, "invert": invert}


def step_generator(seed: int, epoch: int, rank: int, step: int) -> torch.Generator:
    """The policy's draws for one batch: a pure function of (seed, epoch, rank, step), so a run
    resumed at any step draws what it would have drawn."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1009 + rank) * 100_003 + step)


class PolicyInTorch:
    """The training batches of ``batches`` (a vipriors.data.memory.MemoryBatches, or DALI's
    rotation and blur after it) with the ImageNet policy applied in torch to those of at least
    ``min_size`` px, unless an epoch is asked for without it (--policy-off-epochs)."""

    def __init__(self, batches, *, seed: int, rank: int, interpolation: str, min_size: int = 0):
        self.batches, self.seed, self.rank = batches, seed, rank
        self.interpolation, self.min_size = interpolation, min_size

    def __len__(self) -> int:
        return len(self.batches)

    def epoch(self, epoch: int, skip: int = 0, image_size: int | None = None, policy: bool = True):
        """Yields the batches of ``epoch`` at ``image_size``, from step ``skip`` on."""
        inner = self.batches.epoch(epoch, skip=skip, image_size=image_size, policy=False)
        for step, (images, labels) in enumerate(inner, start=skip):
            if policy and images.shape[1] >= self.min_size:
                draws = PolicyDraws.draw(len(images), step_generator(self.seed, epoch, self.rank, step))
                images = apply_image_net_policy(images, draws, self.interpolation)
            yield images, labels
