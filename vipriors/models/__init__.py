"""One factory for every architecture: timm's registry (ResNeSt, DenseNet, ...) plus ours."""
from __future__ import annotations

import difflib

import timm
import torch

# Per-architecture memory format for "auto". timm's published training benchmarks
# (RTX 3090, PyTorch 1.12) show ResNeSt 2.6-2.8x slower in channels_last than NCHW
# (its split-attention reshapes), while ResNet-50 gains 1.47x and DenseNet161 1.15x.
CONTIGUOUS_PREFERRED = ("resnest",)


class UnknownArchError(ValueError):
    pass


def create_model(arch: str, num_classes: int, **overrides) -> torch.nn.Module:
    """Builds ``arch`` from scratch (never pre-trained: the challenge forbids it)."""
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=5, cutoff=0.6)
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise UnknownArchError(f"--arch {arch!r} is not a known architecture.{hint} List them with timm.list_models().")
    return timm.create_model(arch, pretrained=False, num_classes=num_classes, **overrides)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def preferred_memory_format(arch: str, requested: str = "auto") -> torch.memory_format:
    choices = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
    if requested in choices:
        return choices[requested]
    if requested != "auto":
        raise ValueError(f"--memory-format must be auto, channels_last or contiguous, got {requested!r}")
    return torch.contiguous_format if arch.startswith(CONTIGUOUS_PREFERRED) else torch.channels_last
