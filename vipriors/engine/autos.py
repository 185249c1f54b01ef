"""A configuration made concrete for this machine, before anything is built.

Every "auto" (device, amp, compile, memory format, training resize) becomes the value this
machine runs, and everything that needs the machine or the file system to check (a GPU for
--device cuda, the architecture's name, the files a flag names) is checked. The result is
the configuration the run saves, so a resume, here or elsewhere, runs the same settings
or stops with the reason. Nothing here reads the data or builds a model.
"""
from __future__ import annotations

import os

import torch

from ..config import ConfigError, TrainConfig
from ..models import check_arch, preferred_memory_format
from . import checkpoint

AMP_DTYPES = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def device_type(requested: str) -> str:
    """"cpu" or "cuda" for --device ``requested``."""
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: torch sees no CUDA device here; use --device cpu (or auto)")
    return requested


def amp_for(requested: str, device: str) -> str:
    """The autocast choice ("bf16", "fp16" or "off") for --amp ``requested`` on ``device``."""
    if requested != "auto":
        return requested
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    # On a CPU, bf16 pays off only with native bf16 instructions (AVX512-BF16 / AMX).
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "off"


def memory_format_for(requested: str, arch: str, device: str) -> str:
    """"channels_last" or "contiguous" for --memory-format ``requested`` (auto: the one measured fastest)."""
    return preferred_memory_format(arch, device) if requested == "auto" else requested


def autocast_dtype(amp: str) -> torch.dtype | None:
    """The autocast dtype of a resolved --amp, or None for full float32."""
    return AMP_DTYPES[amp]


def _check_paths(config: TrainConfig) -> None:
    named = [("--data", config.data.root, os.path.isdir, "no such folder"),
             ("--init-from", config.optim.init_from, os.path.isfile, "no such checkpoint file"),
             ("--stubborn-file", config.mix.stubborn_file, os.path.isfile, "no such file"),
             ("--class-names", config.data.class_names, os.path.isfile, "no such file")]
    for flag, path, exists, problem in named:
        if path is not None and not exists(path):
            raise ConfigError(f"{flag} {path}: {problem}")
    if config.optim.init_from:
        checkpoint.load(config.optim.init_from, mmap=True)  # readable, and safe to read
    out = config.runtime.output_dir
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--output-dir {out}: is a file, not a folder; give a folder for the run folders")


def resolve(config: TrainConfig) -> TrainConfig:
    from ..data.dali_plugin import resolve_resize

    check_arch(config.model.arch)
    _check_paths(config)
    device = device_type(config.runtime.device)
    compile_on = config.runtime.compile == "on" or (config.runtime.compile == "auto" and device == "cuda")
    # On a CPU the compile time (minutes on few cores) outweighs its gain for short runs: auto is off there.
    config = config.replace("runtime", device=device, amp=amp_for(config.runtime.amp, device),
                            compile="on" if compile_on else "off")
    model = config.model
    config = config.replace("model", memory_format=memory_format_for(model.memory_format, model.arch, device))
    return config.replace("augment", train_resize=resolve_resize(config.augment.train_resize, device == "cuda"))
