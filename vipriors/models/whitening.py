"""Patch-whitening initialisation of a model's first convolution, as the fast CIFAR-10
trainers (airbench) do it: the first layer starts as the map that decorrelates the
training images' k x k patches, so the first epochs do not spend themselves learning it.

The covariance of every k x k x 3 patch of a sample of training images (normalised as the
model sees them) is diagonalised; the filters are its leading eigenvectors, each scaled by
1 / sqrt(eigenvalue + eps), and each also negated (the ReLU after the layer keeps either
sign's response), so 2 n filters use the n directions of largest variance. Filters beyond
2 x (3 k^2) keep their usual initialisation. The layer trains as usual afterwards.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def first_conv(model: torch.nn.Module) -> torch.nn.Conv2d:
    """The model's first convolution, as its timm default config names it."""
    name = model.default_cfg.get("first_conv") if hasattr(model, "default_cfg") else None
    if isinstance(name, (list, tuple)):
        name = name[0]
    module = dict(model.named_modules()).get(name) if name else None
    if not isinstance(module, torch.nn.Conv2d) or module.in_channels != 3 or module.groups != 1:
        raise ValueError(f"{type(model).__name__}: no plain RGB first convolution to whiten (default_cfg first_conv "
                         f"{name!r})")
    return module


def whitening_filters(images: torch.Tensor, kernel: tuple[int, int], count: int, eps: float = 5e-4) -> torch.Tensor:
    """Up to ``count`` whitening filters [n, 3, kh, kw] (n even) from ``images`` float [N, 3, H, W]."""
    patches = F.unfold(images.float(), kernel)  # [N, 3 kh kw, L]
    patches = patches.transpose(1, 2).reshape(-1, patches.shape[1]).double()
    eigenvalues, eigenvectors = torch.linalg.eigh(torch.cov(patches.T))  # ascending
    n = min(count // 2, patches.shape[1])
    leading = eigenvectors[:, -n:].flip(1).T / torch.sqrt(eigenvalues[-n:].flip(0).clamp_min(0) + eps).unsqueeze(1)
    filters = torch.cat([leading, -leading])
    return filters.view(2 * n, 3, *kernel).float()


@torch.no_grad()
def whiten_first_conv(model: torch.nn.Module, images: torch.Tensor, eps: float = 5e-4) -> int:
    """Sets the leading filters of ``model``'s first convolution to whitening filters of
    ``images`` (float [N, 3, H, W], normalised as the model's input); returns how many."""
    conv = first_conv(model)
    filters = whitening_filters(images, conv.kernel_size, conv.out_channels, eps)
    conv.weight[:len(filters)] = filters.to(conv.weight)
    return len(filters)
