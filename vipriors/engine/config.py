"""One typed configuration tree, saved with every run.

Precedence, lowest first: the dataclass defaults (the method's ImageNet-scale values),
the built-in-dataset profile (only when no --data is given), a YAML recipe (--config),
then command-line flags. Every leaf has one flag, named in its field's metadata.
"""
from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field

import yaml

from ..data.augment import Augment
from ..mixing import MixSettings
from ..ops_constants import IMAGENET_MEAN, IMAGENET_STD


def _flag(name: str, help: str, **extra):
    return {"flag": name, "help": help, **extra}


@dataclass
class DataConfig:
    root: str | None = field(default=None, metadata=_flag("--data", "ImageFolder root with train/ and val/ (default: the built-in synthetic dataset)"))
    train_split: str = field(default="train", metadata=_flag("--train-split", "sub-folder(s) trained on, comma-separated (e.g. train,val), or a file listing image paths"))
    val_split: str = field(default="val", metadata=_flag("--val-split", "sub-folder evaluated on"))
    image_size: int = field(default=224, metadata=_flag("--image-size", "training and evaluation resolution (px)"))
    batch_size: int = field(default=128, metadata=_flag("--batch-size", "images per step per process"))
    crop_pct: float = field(default=0.875, metadata=_flag("--crop-pct", "evaluation: resize shorter side to size / crop_pct, centre crop"))
    threads: int = field(default=4, metadata=_flag("--data-threads", "DALI worker threads per process"))
    pipeline_batch: int = field(default=256, metadata=_flag(
        "--pipeline-batch", "training images DALI prepares per run, in whole batches (amortises its per-run cost)"))
    pipelines: int = field(default=2, metadata=_flag(
        "--data-pipelines", "independent DALI training pipelines per process, sharing its --data-threads (a second "
                            "one keeps the CPU busy while the other waits inside AutoAugment's conditional operators)"))
    check: bool = field(default=True, metadata=_flag("--check-data", "scan the images for bad files before training (cached)"))
    skip_bad_files: bool = field(default=False, metadata=_flag("--skip-bad-files", "leave files the scan finds broken out, instead of stopping"))
    mean: tuple[float, float, float] = field(default=IMAGENET_MEAN, metadata=_flag("--mean", "per-channel mean, 0..255 units"))
    std: tuple[float, float, float] = field(default=IMAGENET_STD, metadata=_flag("--std", "per-channel std, 0..255 units"))


@dataclass
class ModelConfig:
    arch: str = field(default="resnest200e", metadata=_flag("--arch", "architecture name (timm registry)"))
    memory_format: str = field(default="auto", metadata=_flag("--memory-format", "auto | channels_last | contiguous"))


@dataclass
class OptimConfig:
    optimizer: str = field(default="sgd", metadata=_flag("--optimizer", "sgd | nesterov | adam | adamw"))
    epochs: int = field(default=250, metadata=_flag("--epochs", "training epochs"))
    lr: float | None = field(default=None, metadata=_flag("--lr", "peak learning rate (default: base-lr x global batch / 256)"))
    base_lr: float = field(default=0.1, metadata=_flag("--base-lr", "learning rate per 256 images, for linear scaling"))
    momentum: float = field(default=0.9, metadata=_flag("--momentum", "SGD momentum"))
    weight_decay: float = field(default=1e-4, metadata=_flag("--weight-decay", "weight decay (not on norm and bias parameters)"))
    warmup_epochs: float = field(default=1.0, metadata=_flag("--warmup-epochs", "linear warm-up length, then cosine decay"))
    label_smoothing: float = field(default=0.0, metadata=_flag("--label-smoothing", "label smoothing of the cross-entropy"))
    init_from: str | None = field(default=None, metadata=_flag("--init-from", "start from this checkpoint's weights with a fresh schedule (the method's CE -> LS stage)"))
    ema_decay: float = field(default=0.0, metadata=_flag("--ema-decay", "keep an EMA of the weights with this decay, evaluated alongside (0: off)"))


@dataclass
class RuntimeConfig:
    device: str = field(default="auto", metadata=_flag("--device", "auto | cpu | cuda"))
    amp: str = field(default="auto", metadata=_flag("--amp", "auto | bf16 | fp16 | off (auto: bf16 where the device runs it natively)"))
    compile: str = field(default="auto", metadata=_flag("--compile", "auto | on | off (auto: on for CUDA)"))
    compile_mode: str | None = field(default=None, metadata=_flag("--compile-mode", "torch.compile mode, e.g. max-autotune"))
    seed: int = field(default=0, metadata=_flag("--seed", "random seed"))
    output_dir: str = field(default="runs", metadata=_flag("--output-dir", "parent folder of run folders"))
    name: str | None = field(default=None, metadata=_flag("--name", "run folder name (default: arch-data-time)"))
    log_every: int = field(default=50, metadata=_flag("--log-every", "steps between progress/metric updates"))
    eval_every: int = field(default=1, metadata=_flag("--eval-every", "epochs between evaluations (the last epoch is always evaluated)"))
    checkpoint_every: int = field(default=0, metadata=_flag("--checkpoint-every", "also keep epoch_N.pt every N epochs (0: only last and best)"))
    tensorboard: bool = field(default=False, metadata=_flag("--tensorboard", "also write TensorBoard scalars to the run folder"))


@dataclass
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: Augment = field(default_factory=Augment)
    model: ModelConfig = field(default_factory=ModelConfig)
    mix: MixSettings = field(default_factory=MixSettings)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)


# Defaults for the built-in dataset (64 px synthetic shapes): a demo that learns in minutes on
# a CPU. From scratch on 3,000 images, SGD at the linearly scaled rate spiked the loss in the
# first epochs (resnest14d, lr 0.025-0.1); AdamW reached 55% top-1 in 12 epochs (chance: 10%).
BUILTIN_PROFILE = {
    "data": {"image_size": 64, "batch_size": 64, "threads": 2},
    "augment": {"scale": (0.35, 1.0), "rotate_prob": 0.0, "blur_prob": 0.0, "policy": "none"},
    "model": {"arch": "resnest14d"},
    "mix": {"cutmix": 0.0},
    "optim": {"optimizer": "adamw", "epochs": 12, "base_lr": 0.008, "weight_decay": 0.05},
    "runtime": {"log_every": 10},
}


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def _leaves(cls, prefix=()):
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _leaves(hints[f.name], prefix + (f.name,))
        else:
            yield prefix + (f.name,), f, hints[f.name]


def _convert(value, hint, where: str):
    """Coerces a YAML or CLI value to the field's type, with an error naming the field."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise ValueError(f"{where}: a value is required")
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)][0]
        if isinstance(value, str) and value.lower() in ("none", "null", ""):
            return None
        return _convert(value, inner, where)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        if len(items) != len(args):
            raise ValueError(f"{where}: expected {len(args)} comma-separated values, got {value!r}")
        return tuple(_convert(v, a, where) for v, a in zip(items, args))
    if hint is str and isinstance(value, bool):  # YAML reads a bare on/off as a boolean
        return "on" if value else "off"
    try:
        if hint is bool and isinstance(value, str):
            return {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}[value.lower()]
        return hint(value)
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{where}: cannot read {value!r} as {getattr(hint, '__name__', hint)}") from None


def _merge(base: dict, update: dict, where: str) -> dict:
    merged = dict(base)
    for key, value in update.items():
        if key not in base:
            raise ValueError(f"{where}: unknown setting {key!r}; known: {', '.join(sorted(base))}")
        merged[key] = _merge(base[key], value, f"{where}.{key}") if isinstance(base[key], dict) else value
    return merged


def from_dict(values: dict, where: str = "config") -> TrainConfig:
    merged = _merge(to_dict(TrainConfig()), values, where)
    sections = {}
    for path, f, hint in _leaves(TrainConfig):
        section, name = path
        sections.setdefault(section, {})[name] = _convert(merged[section][name], hint, f"{where}.{section}.{name}")
    hints = typing.get_type_hints(TrainConfig)
    return TrainConfig(**{section: hints[section](**kw) for section, kw in sections.items()})


def load_yaml(path: str) -> dict:
    try:
        with open(path) as f:
            values = yaml.safe_load(f) or {}
    except OSError as error:
        raise ValueError(f"--config {path}: {error.strerror}") from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected a mapping of sections (data, augment, model, mix, optim, runtime)")
    return values


def save_yaml(config: TrainConfig, path: str) -> None:
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return list(value) if isinstance(value, tuple) else value

    with open(path, "w") as f:
        yaml.safe_dump(plain(to_dict(config)), f, sort_keys=False)


def build_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", help="YAML recipe (sections data/augment/model/mix/optim/runtime); flags override it")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    defaults = to_dict(TrainConfig())
    for path, f, hint in _leaves(TrainConfig):
        default = defaults[path[0]][path[1]]
        switch = {"nargs": "?", "const": "true"} if hint is bool else {}  # "--flag" alone means true
        parser.add_argument(f.metadata["flag"], dest=".".join(path), default=argparse.SUPPRESS, metavar=path[1].upper(),
                            help=f"{f.metadata['help']} (default: {default})", **switch)
    return parser


def cli_overrides(args: argparse.Namespace) -> dict:
    """The nested dict of settings given on the command line (and only those)."""
    values: dict = {}
    for key, value in vars(args).items():
        if "." in key:
            section, name = key.split(".")
            values.setdefault(section, {})[name] = value
    return values


# Settings added after runs were saved, with the value that reproduces a run saved without
# them, so that such a run still resumes bit for bit: before them the policies' geometry was
# DALI's default (linear), its ImageNet policy and operators and the resize were DALI's own,
# DALI ran one training batch per run, in one pipeline.
SAVED_BEFORE_ADDED = {"augment": {"policy_interp": "linear", "policy_ops": "dali", "resize": "dali", "aa_policy": "v0"},
                      "data": {"pipeline_batch": 0, "pipelines": 1}}


def _missing_from(saved: dict) -> dict:
    return {section: {k: v for k, v in values.items() if k not in saved.get(section, {})}
            for section, values in SAVED_BEFORE_ADDED.items()}


def resolve(cli: dict, recipe: dict | None = None, saved: dict | None = None) -> TrainConfig:
    """Layers the sources into one config. ``saved`` is a resumed run's own config."""
    layers = [saved, _missing_from(saved)] if saved is not None else []
    if saved is None:
        data_root = (recipe or {}).get("data", {}).get("root") or cli.get("data", {}).get("root")
        if not data_root:
            layers.append(BUILTIN_PROFILE)
        layers.append(recipe or {})
    layers.append(cli)
    values = to_dict(TrainConfig())
    for layer in layers:
        values = _merge(values, layer, "config")
    return from_dict(values)
