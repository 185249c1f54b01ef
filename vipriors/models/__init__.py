"""One factory for every architecture: timm's registry (ResNeSt, DenseNet, ...) plus ours."""
from __future__ import annotations

import difflib
import functools

import timm
import torch

from ..errors import UserError
from . import fast_cifar, pyramidnet, small_densenet, small_resnest  # noqa: F401  (register our variants in timm's registry)

# The memory format "auto" picks, per device type: the architecture families that train
# slower in channels_last there (their name's prefix); every other one trains channels_last.
# CUDA: ResNeSt's split-attention reshapes run slower in channels_last in timm's published
# training benchmarks; to be confirmed by benchmarks/train_step.py on a GPU.
# CPU: no family trained slower in channels_last (benchmarks/results/cpu/train_step.json).
CONTIGUOUS_PREFERRED = {"cuda": ("resnest",), "cpu": ()}


class UnknownArchError(UserError):
    pass


def check_arch(arch: str) -> None:
    """Refuses a name no registered architecture has, suggesting close ones."""
    if not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=5, cutoff=0.6)
        hint = f" Close names: {', '.join(close)}." if close else ""
        raise UnknownArchError(f"--arch {arch}: not a known architecture.{hint} List them with timm.list_models().")


def training_options(drop_rate: float = 0.0) -> dict:
    """The constructor arguments of a model's training settings, left out at their defaults
    (so every architecture builds with none, and those that take them build with them)."""
    return {"drop_rate": drop_rate} if drop_rate else {}


def check_options(arch: str, **options) -> None:
    """Refuses a training option ``arch``'s constructor does not take, naming its flag. The
    model is built on the meta device: no memory, no initialisation cost."""
    if not options:
        return
    try:
        with torch.device("meta"):
            timm.create_model(arch, pretrained=False, num_classes=2, **options)
    except TypeError as error:
        flags = ", ".join("--" + name.replace("_", "-") for name in options)
        raise UnknownArchError(f"{flags}: {arch} does not take it ({error}); leave it at its default "
                               f"for this architecture") from None


def create_model(arch: str, num_classes: int, **overrides) -> torch.nn.Module:
    """Builds ``arch`` from scratch (never pre-trained: the challenge forbids it)."""
    check_arch(arch)
    return timm.create_model(arch, pretrained=False, num_classes=num_classes, **overrides)


def normalize_logits(model: torch.nn.Module, scale: float) -> torch.nn.Module:
    """Makes ``model`` return ``scale`` times its L2-normalised outputs (a cosine head; ``scale``
    0 leaves it as it is). A forward hook, so the weights and their names stay the network's
    own and a checkpoint loads into the plain network."""
    if scale:
        model.register_forward_hook(functools.partial(_scaled_unit_outputs, scale))
    return model


def _scaled_unit_outputs(scale: float, module, inputs, outputs: torch.Tensor) -> torch.Tensor:
    # In float32: at a scale of 16, bf16 would round each logit to a sixteenth.
    return scale * torch.nn.functional.normalize(outputs.float(), dim=1)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def preferred_memory_format(arch: str, device_type: str) -> str:
    """The memory format "auto" picks for ``arch`` on ``device_type`` ("cuda" or "cpu")."""
    slow_in_channels_last = CONTIGUOUS_PREFERRED.get(device_type, ())
    return "contiguous" if arch.startswith(slow_in_channels_last) else "channels_last"


def memory_format(name: str) -> torch.memory_format:
    """The torch memory format of a resolved --memory-format."""
    return {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}[name]
