"""One factory for every architecture: timm's registry (ResNeSt, DenseNet, ...) plus ours."""
from __future__ import annotations

import difflib

import timm
import torch

from . import fast_cifar, pyramidnet, small_resnest  # noqa: F401  (register our variants in timm's registry)

# Memory format for "auto", per device type and architecture.
# CUDA: timm's published training benchmarks (RTX 3090, PyTorch 1.12) show ResNeSt 2.6-2.8x
# slower in channels_last than NCHW (its split-attention reshapes), while ResNet-50 gains
# 1.47x and DenseNet161 1.15x; to be re-measured with benchmarks/train_step.py on an H100.
# CPU: measured with benchmarks/train_step.py (2-core AMD EPYC, bf16 autocast, 64 px, batch
# 32, images/s NCHW -> channels_last): resnest14d 231 -> 228 (a tie), resnet50 150 -> 174,
# densenet121 167 -> 216, pyramidnet56_a48_cifar 39 -> 49. So channels_last everywhere.
CONTIGUOUS_PREFERRED = {"cuda": ("resnest",), "cpu": ()}


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


def preferred_memory_format(arch: str, requested: str = "auto", device_type: str = "cuda") -> torch.memory_format:
    """The memory format to train ``arch`` in on ``device_type`` ("cuda" or "cpu")."""
    choices = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
    if requested in choices:
        return choices[requested]
    if requested != "auto":
        raise ValueError(f"--memory-format must be auto, channels_last or contiguous, got {requested!r}")
    slow_in_channels_last = CONTIGUOUS_PREFERRED.get(device_type, ())
    return torch.contiguous_format if arch.startswith(slow_in_channels_last) else torch.channels_last
