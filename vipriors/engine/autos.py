"""A configuration made concrete for this machine, before anything is built.

Every "auto" (device, amp, compile, memory format, CPU gradients, training resize) becomes the value this
machine runs, and everything that needs the machine or the file system to check (a GPU for
--device cuda, the architecture's name, the files a flag names) is checked. The result is
the configuration the run saves, so a resume, here or elsewhere, runs the same settings
or stops with the reason. Nothing here reads an image or builds a model; the in-memory
choice counts the files the run would decode.
"""
from __future__ import annotations

import os

import torch

from ..config import ConfigError, TrainConfig
from ..models import check_arch, check_options, preferred_memory_format, training_options
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
    return "bf16" if cpu_has_native_bf16() else "off"


# torch.cpu's probes for the CPU's bf16 instructions, by the instructions' names.
BF16_PROBES = (("AVX512-BF16", "_is_avx512_bf16_supported"), ("AMX", "_is_amx_tile_supported"))


def cpu_bf16_instructions() -> list[str] | None:
    """The bf16 instructions torch.cpu finds on this CPU, or None on a torch without its probes."""
    probes = [(name, getattr(torch.cpu, probe, None)) for name, probe in BF16_PROBES]
    if all(found is None for _, found in probes):
        return None
    return [name for name, found in probes if found is not None and found()]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX). Only then does autocast to
    bf16 pay: oneDNN also runs bf16 on plain AVX-512 (``torch.ops.mkldnn._is_mkldnn_bf16_supported``
    says yes there) by converting to float32 around every operation, several times slower than
    float32 itself."""
    instructions = cpu_bf16_instructions()
    if instructions is None:  # a torch without the probes: oneDNN's own answer
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return bool(instructions)


def memory_format_for(requested: str, arch: str, device: str) -> str:
    """"channels_last" or "contiguous" for --memory-format ``requested`` (auto: the preset of
    vipriors.models.CONTIGUOUS_PREFERRED)."""
    return preferred_memory_format(arch, device) if requested == "auto" else requested


def cpu_grads_for(requested: str, device: str) -> str:
    """"on" or "off" for --cpu-grads ``requested`` on ``device`` (auto: on for the CPU)."""
    if requested == "on" and device != "cpu":
        raise ConfigError(f"--cpu-grads on: the run trains on {device}, whose own backward passes are the fast ones; "
                          f"use --cpu-grads auto or off")
    return "on" if requested == "on" or (requested == "auto" and device == "cpu") else "off"


def autocast_dtype(amp: str) -> torch.dtype | None:
    """The autocast dtype of a resolved --amp, or None for full float32."""
    return AMP_DTYPES[amp]


def check_names(config: TrainConfig, later: tuple[str, ...] = ()) -> None:
    """The architecture, the in-memory rules the flags alone decide, and every file a flag names,
    except the flags in ``later`` (files a recipe makes before the stage runs: its data, a
    previous stage's checkpoint)."""
    from ..data.random_batches import is_synthetic

    check_arch(config.model.arch)
    check_options(config.model.arch, **training_options(config.model.drop_rate))
    check_in_memory_flags(config)
    named = [("--data", None if is_synthetic(config.data.root) else config.data.root, os.path.isdir,
              "no such folder (or give 'synthetic')"),
             ("--init-from", config.optim.init_from, os.path.isfile, "no such checkpoint file"),
             ("--stubborn-file", config.mix.stubborn_file, os.path.isfile, "no such file"),
             ("--class-names", config.data.class_names, os.path.isfile, "no such file")]
    for flag, path, exists, problem in named:
        if path is not None and flag not in later and not exists(path):
            raise ConfigError(f"{flag} {path}: {problem}")
    if config.optim.init_from and "--init-from" not in later:
        checkpoint.load(config.optim.init_from, mmap=True)  # readable, and safe to read
    out = config.runtime.output_dir
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--output-dir {out}: is a file, not a folder; give a folder for the run folders")


def image_count(config: TrainConfig) -> int:
    """How many train + val images the run reads (a folder listing; the built-in dataset's own counts)."""
    from ..data import folder, synthetic

    data = config.data
    if data.root is None:
        spec = synthetic.SyntheticSpec()
        splits = [s.strip() for s in data.train_split.split(",") if s.strip()] + [data.val_split]
        return sum(spec.counts().get(s, 0) for s in splits) * len(synthetic.CLASSES)
    train = folder.scan_splits(data.root, data.train_split)
    return len(train) + len(folder.scan_splits(data.root, data.val_split, train.classes))


def check_in_memory_flags(config: TrainConfig) -> None:
    """The rules of --in-memory and --flip-order that the flags alone decide (no data needed)."""
    from ..data.memory import unsupported_augmentation

    data, why_not = config.data, unsupported_augmentation(config.augment)
    if data.in_memory == "on" and why_not:
        raise ConfigError(f"--in-memory on: {why_not}; use --in-memory off or auto (the file pipeline)")
    if config.augment.flip_order == "alternate" and (data.in_memory == "off" or why_not):
        raise ConfigError("--flip-order alternate: needs the in-memory path (--in-memory on or auto, with "
                          "pad-and-crop); use --flip-order random with the file pipeline")
    if _policy_in_torch(config.augment) and (data.in_memory == "off" or why_not):
        raise ConfigError("--aa-backend torch: runs the policy over the in-memory path's batches (--in-memory on or "
                          "auto, with pad-and-crop); use --aa-backend dali with the file pipeline")


def _policy_in_torch(augment) -> bool:
    return augment.aa_backend == "torch" and augment.auto_augment != "none"


def in_memory_for(config: TrainConfig) -> str:
    """"on" or "off" for --in-memory, after check_names has refused the flags' own conflicts
    (check_in_memory_flags): "auto" on where the augmentation does not need the files and the
    decoded train + val sets fit --in-memory-budget."""
    from ..data.memory import decoded_gb, unsupported_augmentation
    from ..data.random_batches import is_synthetic

    data, why_not = config.data, unsupported_augmentation(config.augment)
    if data.in_memory == "off" or why_not or is_synthetic(data.root):
        return "off"  # synthetic batches are made on the device
    if data.in_memory == "on":
        return "on"
    size_gb = decoded_gb(image_count(config), data.image_size)
    if size_gb <= data.in_memory_budget:
        return "on"
    if config.augment.flip_order == "alternate":
        raise ConfigError(f"--flip-order alternate: needs the in-memory path, and the decoded images need "
                          f"{size_gb:.1f} GB, over --in-memory-budget {data.in_memory_budget:g}; raise --in-memory-budget")
    if _policy_in_torch(config.augment):
        raise ConfigError(f"--aa-backend torch: needs the in-memory path, and the decoded images need {size_gb:.1f} GB, "
                          f"over --in-memory-budget {data.in_memory_budget:g}; raise --in-memory-budget or use "
                          "--aa-backend dali")
    return "off"


def _check_compiled_sizes(config: TrainConfig) -> None:
    """Under --compile each training size is a graph of its own; more than torch recompiles
    for one function would fall back to eager for the rest, silently."""
    import torch._dynamo.config as dynamo

    from .schedule import progressive_sizes

    d = config.data
    sizes = set(progressive_sizes(config.optim.epochs, d.image_size, d.progressive_min_size, d.progressive_ramp,
                                  d.progressive_step))
    limit = getattr(dynamo, "recompile_limit", None) or dynamo.cache_size_limit
    if config.runtime.compile == "on" and len(sizes) + 1 > limit:  # + the evaluation graph
        raise ConfigError(f"--progressive-step {d.progressive_step}: {len(sizes)} training sizes, each one compiled graph, "
                          f"over torch's limit of {limit} graphs; raise --progressive-step or use --compile off")


def resolve(config: TrainConfig) -> TrainConfig:
    from ..data.dali_plugin import resolve_resize
    from ..data.random_batches import is_synthetic

    check_names(config)
    device = device_type(config.runtime.device)
    compile_on = config.runtime.compile == "on" or (config.runtime.compile == "auto" and device == "cuda")
    # On a CPU the compile time (minutes on few cores) outweighs its gain for short runs: auto is off there.
    config = config.replace("runtime", device=device, amp=amp_for(config.runtime.amp, device),
                            compile="on" if compile_on else "off")
    _check_compiled_sizes(config)
    model = config.model
    config = config.replace("model", memory_format=memory_format_for(model.memory_format, model.arch, device),
                            cpu_grads=cpu_grads_for(model.cpu_grads, device))
    # --data synthetic builds no pipeline (and imports no DALI): its resize is never run.
    resize = "dali" if is_synthetic(config.data.root) else resolve_resize(config.augment.train_resize, device == "cuda")
    config = config.replace("augment", train_resize=resize)
    return config.replace("data", in_memory=in_memory_for(config))
