"""The configuration of a training run: six sections of typed settings, their flags,
their checks, and how the sources are layered.

A setting is a dataclass field; its flag is its name with dashes (``data_threads`` is
``--data-threads``), and a YAML recipe uses the same name under the section
(``data: {data_threads: 4}``). One exception: the ImageFolder root ``data.root`` is ``--data``.
Choices are typed ``Literal[...]`` (argparse offers them, the check enforces them); numbers
carry their allowed range. Every value is checked when its section is built, so a bad
flag or recipe fails before any data is read, naming the flag, the value and what is allowed.

Precedence, lowest first: the dataclass defaults (the method's ImageNet-scale values), the
built-in-dataset profile (only when no --data is given), a YAML recipe (--config), then
command-line flags. A resumed run starts from its own saved configuration instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import math
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import yaml

from .errors import UserError
from .ops_constants import IMAGENET_MEAN, IMAGENET_STD

SECTIONS = ("data", "augment", "model", "mix", "optim", "runtime")


class ConfigError(UserError):
    """A setting that cannot be used; the message names its flag (or recipe key) and the fix."""


class Range(NamedTuple):
    """Allowed values of a number: low/high bounds (None: unbounded), each closed or open."""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value) -> bool:
        if not math.isfinite(value):
            return False
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


COUNT = Range(1)  # where zero would mean nothing is done
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, low_open=True)
PROBABILITY = Range(0, 1)
BELOW_ONE = Range(0, 1, high_open=True)  # label smoothing, decays, momentum


def setting(default, help: str, range: Range | None = None, flag: str | None = None):
    return field(default=default, metadata={"help": help, "range": range, "flag": flag})


def flag_of(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


@dataclass(frozen=True)
class _Section:
    """Checks every field against its type's choices and its range when built."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            _check_value(getattr(self, f.name), hints[f.name], f)
        self.check()

    def check(self) -> None:
        """Rules between fields of the section."""

    def refuse(self, name: str, message: str):
        f = next(f for f in dataclasses.fields(self) if f.name == name)
        raise ConfigError(f"{flag_of(f)} {_shown(getattr(self, name))}: {message}")


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(_shown(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _choices(hint) -> tuple | None:
    if typing.get_origin(hint) is Literal:
        return typing.get_args(hint)
    for arg in typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else ():
        if typing.get_origin(arg) is Literal:
            return typing.get_args(arg)
    return None


# The checks every input shares (flags, YAML recipes, recipe folders, the programs' own
# flags): one wording of each refusal. ``error`` is the UserError class to raise.

def check_choice(value, choices, where: str, error=None) -> None:
    if value not in choices:
        raise (error or ConfigError)(f"{where} {value}: choose one of {', '.join(map(str, choices))}")


def check_range(value, allowed: Range, where: str, error=None) -> None:
    """``value`` (a number, or a tuple of numbers) within ``allowed``."""
    for item in value if isinstance(value, tuple) else (value,):
        if item not in allowed:
            raise (error or ConfigError)(f"{where} {_shown(value)}: must be {allowed.describe()}")


def number(value, kind: type, allowed: Range, where: str, error=None):
    """``value`` read as ``kind`` (int or float, as a flag or YAML value is) and checked against ``allowed``."""
    try:
        value = _convert(value, kind, where)
    except ConfigError as refused:
        raise (error or ConfigError)(str(refused)) from None
    check_range(value, allowed, where, error)
    return value


def refuse_unknown(where: str, given, known, error=None, noun: str = "setting") -> None:
    """Refuses the first key of ``given`` not in ``known``, naming its close matches."""
    known = list(known)
    for key in given:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else f"; known: {', '.join(known)}"
            raise (error or ConfigError)(f"{where}: unknown {noun} {key!r}{hint}")


def _check_value(value, hint, f: dataclasses.Field) -> None:
    if value is None:
        return
    choices = _choices(hint)
    if choices is not None:
        check_choice(value, choices, flag_of(f))
    allowed: Range | None = f.metadata.get("range")
    if allowed is not None:
        check_range(value, allowed, flag_of(f))


def _ordered(section: _Section, name: str) -> None:
    low, high = getattr(section, name)
    if low > high:
        section.refuse(name, "the first value (low) must not exceed the second (high)")


@dataclass(frozen=True)
class DataConfig(_Section):
    root: str | None = setting(None, "ImageFolder root with train/ and val/, or 'synthetic' (random batches made on the "
                                     "training device: the trainer's speed without data loading) (default: the built-in "
                                     "dataset)", flag="--data")
    synthetic_classes: int = setting(1000, "--data synthetic: classes", Range(2))
    synthetic_images: int = setting(10_000, "--data synthetic: training images per epoch, all processes together", COUNT)
    train_split: str = setting("train", "sub-folder(s) trained on, comma-separated (e.g. train,val), or a file listing image paths")
    val_split: str = setting("val", "sub-folder evaluated on")
    class_names: str | None = setting(None, "names file, one 'folder<TAB>words' line per class (Tiny-ImageNet's and "
                                            "ImageNet's format): per-class reports and predictions carry the words")
    image_size: int = setting(224, "training and evaluation resolution (px)", COUNT)
    batch_size: int = setting(128, "images per step per process", COUNT)
    crop_pct: float = setting(0.875, "evaluation: resize the shorter side to size / crop_pct, centre crop",
                              Range(0, 1, low_open=True))
    data_threads: int = setting(4, "DALI worker threads per process", COUNT)
    pipeline_batch: int = setting(256, "training images DALI prepares per run, in whole batches (amortises its per-run "
                                       "cost; 0: one training batch)", NON_NEGATIVE)
    data_pipelines: int = setting(2, "independent DALI training pipelines per process, sharing its --data-threads (a "
                                     "second one keeps the CPU busy while the other waits inside AutoAugment's conditional "
                                     "operators)", COUNT)
    in_memory: Literal["auto", "on", "off"] = setting(
        "auto", "decode every image once and augment each epoch from the decoded pixels in host memory (with "
                "pad-and-crop; rotation, blur and the policies then run in DALI on the cropped batches): on | off | "
                "auto (on where the augmentation allows it and the decoded train + val sets fit --in-memory-budget)")
    in_memory_budget: float = setting(8.0, "GB of decoded pixels (train + val, per process) --in-memory auto keeps in "
                                           "host memory", POSITIVE)
    progressive_min_size: int = setting(0, "progressive resizing: train the first epochs at this size, rising to "
                                           "--image-size over --progressive-ramp (0: off; evaluation is always at "
                                           "--image-size)", NON_NEGATIVE)
    progressive_ramp: tuple[float, float] = setting((0.2, 0.8), "progressive resizing: the share of --epochs where "
                                                                "the size starts and ends its rise", PROBABILITY)
    progressive_step: int = setting(8, "progressive resizing: sizes are multiples of this many px (a handful of "
                                       "sizes: each is one compiled graph)", COUNT)
    check_data: bool = setting(True, "scan the images for bad files before training (cached)")
    skip_bad_files: bool = setting(False, "leave files the scan finds broken out, instead of stopping")
    mean: tuple[float, float, float] = setting(IMAGENET_MEAN, "per-channel mean, 0..255 units", Range(0, 255))
    std: tuple[float, float, float] = setting(IMAGENET_STD, "per-channel std, 0..255 units", POSITIVE)

    def check(self):
        _ordered(self, "progressive_ramp")
        if self.progressive_min_size > self.image_size:
            self.refuse("progressive_min_size", f"must not exceed --image-size {self.image_size}")
        if self.skip_bad_files and not self.check_data:
            self.refuse("skip_bad_files", "needs the scan that finds the bad files; drop --check-data false")
        if not [s for s in self.train_split.split(",") if s.strip()]:
            self.refuse("train_split", "name at least one split")


@dataclass(frozen=True)
class AugmentConfig(_Section):
    """Applied in this order after decoding: random-resized crop (or pad-and-crop), flip, rotation, blur, policy."""

    scale: tuple[float, float] = setting((0.08, 1.0), "random-resized-crop area range (the method's scale change)",
                                         Range(0, 1, low_open=True))
    ratio: tuple[float, float] = setting((3 / 4, 4 / 3), "random-resized-crop aspect range", POSITIVE)
    pad_crop: int = setting(0, "N > 0: resize to the training size, pad N px of black on every side and crop back at a "
                               "random place (the CIFAR standard) instead of the random-resized crop", NON_NEGATIVE)
    hflip: float = setting(0.5, "horizontal flip probability", PROBABILITY)
    flip_order: Literal["random", "alternate"] = setting(
        "random", "random: each image flipped by --hflip every epoch | alternate: flipped every other epoch, from a "
                  "random start per image (derandomised flips, as airbench; needs --in-memory)")
    rotate_prob: float = setting(0.25, "probability of a random rotation", PROBABILITY)
    rotate_degrees: float = setting(15.0, "rotation angle range, +-degrees", Range(0, 180))
    blur_prob: float = setting(0.1, "probability of a Gaussian blur", PROBABILITY)
    blur_sigma: tuple[float, float] = setting((0.1, 2.0), "Gaussian blur sigma range (px)", POSITIVE)
    auto_augment: Literal["none", "autoaugment", "randaugment", "trivialaugment"] = setting(
        "autoaugment", "the augmentation policy (autoaugment: the ImageNet policy of --aa-policy)")
    randaugment_n: int = setting(2, "RandAugment: operations per image", COUNT)
    randaugment_m: int = setting(9, "RandAugment: magnitude", Range(0, 30))
    # Nearest is what the AutoAugment authors' TensorFlow code used for shear, translate and
    # rotate; on DALI's CPU path it is also far cheaper than linear.
    aa_interp: Literal["nearest", "linear"] = setting(
        "nearest", "interpolation of the policies' shear, translate and rotate: nearest (as the original AutoAugment) "
                   "| linear (as timm)")
    train_resize: Literal["auto", "torch", "dali"] = setting(
        "auto", "the training resize on the CPU: torch (torch's antialiased bilinear, as a DALI operator of ours) | "
                "dali (DALI's) | auto (torch where this build has our DALI plugin, else dali; the GPU always resizes "
                "with DALI)")
    aa_policy: Literal["original", "v0"] = setting(
        "original", "AutoAugment's ImageNet policy: original (the AutoAugment paper's, as timm's 'original') | v0 "
                    "(DALI's, the TPU EfficientNet list, timm's 'v0')")
    policy_min_size: int = setting(0, "progressive resizing: apply --auto-augment only to training images of at least "
                                      "this size (px), so the small early epochs train on crops and flips alone "
                                      "(EfficientNetV2's progressive learning: weaker augmentation for smaller images; "
                                      "0: at every size)", NON_NEGATIVE)
    policy_off_epochs: int = setting(0, "train the last N epochs without --auto-augment's policy, on crops and flips "
                                        "alone (a clean finish; with --mix-off-epochs N, without mixing too)",
                                     NON_NEGATIVE)
    aa_ops: Literal["vipriors", "dali"] = setting(
        "vipriors", "the Color and Contrast operators of every policy: vipriors (PIL's operations, from DALI's integer "
                    "operators: cheaper on the CPU) | dali (DALI's own)")

    aa_backend: Literal["dali", "torch"] = setting(
        "dali", "where --auto-augment's policy runs: dali (DALI's graph, every policy) | torch (over each in-memory "
                "batch at once, on the training device: the paper's ImageNet policy, --aa-policy original, only; "
                "cheaper on a CPU)")

    def check(self):
        if self.aa_backend == "torch" and self.auto_augment != "none" and (
                self.auto_augment != "autoaugment" or self.aa_policy != "original"):
            chosen = (f"--auto-augment {self.auto_augment}" if self.auto_augment != "autoaugment"
                      else f"--aa-policy {self.aa_policy}")
            self.refuse("aa_backend", f"runs only AutoAugment's original ImageNet policy, and {chosen} was asked for; "
                                      "use --aa-backend dali, or --auto-augment autoaugment --aa-policy original")
        for name in ("scale", "ratio", "blur_sigma"):
            _ordered(self, name)


@dataclass(frozen=True)
class ModelConfig(_Section):
    arch: str = setting("resnest200e", "architecture name (timm registry, plus vipriors' own)")
    whiten_init: bool = setting(False, "start the first convolution as the whitening map of the training images' "
                                       "patches (airbench's initialisation)")
    memory_format: Literal["auto", "channels_last", "contiguous"] = setting(
        "auto", "memory format of model and input (auto: the preset for this architecture and device, "
                "vipriors.models.CONTIGUOUS_PREFERRED)")
    drop_rate: float = setting(0.0, "dropout before the classifier, as a probability (timm's drop_rate; 0: none)",
                               BELOW_ONE)
    cpu_grads: Literal["auto", "on", "off"] = setting(
        "auto", "the weight gradient of stride-1 convolutions on small maps as one matrix product, torch's result "
                "faster on a CPU (vipriors.models.cpu_grads; auto: on when training on the CPU)")
    cosine_head: float = setting(0.0, "the logits are this scale times the L2-normalised outputs, so each class's "
                                      "logit is a cosine similarity (0: the network's own logits)", NON_NEGATIVE)


@dataclass(frozen=True)
class MixConfig(_Section):
    """Per-batch mode probabilities (the rest of the mass is "none"), each mode's knobs, SIA.

    The defaults are the method's for ImageNet-scale data: CutMix on every batch.
    """

    cutmix: float = setting(1.0, "probability of a CutMix batch", PROBABILITY)
    ricap: float = setting(0.0, "probability of a RICAP batch", PROBABILITY)
    mixup: float = setting(0.0, "probability of a Mixup batch", PROBABILITY)
    cutout: float = setting(0.0, "probability of a Cutout batch", PROBABILITY)
    cutmix_alpha: float = setting(1.0, "lambda ~ Beta(a, a); box side ratio sqrt(1 - lambda)", POSITIVE)
    ricap_beta: float = setting(0.3, "RICAP boundary (w, h) ~ Beta(b, b) x (W, H)", POSITIVE)
    ricap_per_sample: bool = setting(False, "draw the RICAP boundary per sample, not per batch")
    mixup_alpha: float = setting(0.2, "Mixup lambda ~ Beta(a, a)", POSITIVE)
    mixup_per_sample: bool = setting(False, "draw the Mixup lambda per sample, not per batch")
    cutout_size: float = setting(0.5, "Cutout box side as a fraction of the image side", PROBABILITY)
    mix_off_epochs: int = setting(0, "train the last N epochs without mixing", NON_NEGATIVE)
    mix_min_size: int = setting(0, "progressive resizing: mix only the epochs whose training images are at least "
                                   "this size (px), as --policy-min-size does for the policy (0: at every size)",
                                NON_NEGATIVE)
    # SIA ("stubborn image augmentation") for the classes the model finds hardest.
    stubborn_classes: int = setting(0, "SIA for the k classes of lowest validation accuracy (0: off)", NON_NEGATIVE)
    stubborn_file: str | None = setting(None, "start SIA with the classes in this JSON (a list of names, or another "
                                              "run's per_class_accuracy.json)")
    sia_shift_low: tuple[float, float, float] = setting((0.75, 0.9, 0.75), "SIA mean factor u, lowest (R,G,B)", POSITIVE)
    sia_shift_high: tuple[float, float, float] = setting((0.95, 1.1, 0.95), "SIA mean factor u, highest (R,G,B)", POSITIVE)
    sia_stretch: tuple[float, float] = setting((1.0, 1.5), "SIA contrast factor v range (std multiplier)", POSITIVE)
    # With every image of a class recoloured the same way, the class can become its colour cast.
    sia_prob: float = setting(1.0, "probability that a stubborn-class image gets SIA (the method: 1)", PROBABILITY)

    @property
    def mixed_share(self) -> float:
        """The probability that a batch is mixed (CutMix, RICAP, Mixup or Cutout)."""
        return self.cutmix + self.ricap + self.mixup + self.cutout

    def check(self):
        if self.mixed_share > 1 + 1e-9:
            raise ConfigError(f"--cutmix {self.cutmix:g} --ricap {self.ricap:g} --mixup {self.mixup:g} --cutout "
                              f"{self.cutout:g}: per-batch probabilities of the mixing modes must sum to <= 1")
        if any(lo > hi for lo, hi in zip(self.sia_shift_low, self.sia_shift_high)):
            self.refuse("sia_shift_low", "each channel must not exceed its --sia-shift-high")
        _ordered(self, "sia_stretch")


@dataclass(frozen=True)
class OptimConfig(_Section):
    optimizer: Literal["sgd", "nesterov", "adam", "adamw"] = setting("sgd", "the optimiser")
    epochs: int = setting(250, "training epochs", COUNT)
    lr: float | None = setting(None, "peak learning rate (default: base-lr x global batch / 256)", POSITIVE)
    base_lr: float = setting(0.1, "learning rate per 256 images, for linear scaling", POSITIVE)
    momentum: float = setting(0.9, "SGD momentum", BELOW_ONE)
    weight_decay: float = setting(1e-4, "weight decay (not on norm and bias parameters)", NON_NEGATIVE)
    warmup_epochs: float = setting(1.0, "linear warm-up length, then cosine decay", NON_NEGATIVE)
    norm_bias_lr_scale: float = setting(1.0, "the learning rate of normalisation layers' biases, as a multiple of the "
                                             "rest's (airbench trains them faster)", POSITIVE)
    label_smoothing: float = setting(0.0, "label smoothing of the cross-entropy", BELOW_ONE)
    loss: Literal["cross-entropy", "cosine"] = setting("cross-entropy", "the training loss; cosine: one minus the "
                                                       "cosine of the outputs and the (mixed) label vector, plus "
                                                       "--xent-weight times the cross-entropy (Barz and Denzler, 2020; "
                                                       "needs --cosine-head)")
    xent_weight: float = setting(0.1, "with --loss cosine: the weight of the cross-entropy beside the cosine loss",
                                 NON_NEGATIVE)
    online_smoothing: float = setting(0.0, "online label smoothing (Zhang et al., 2021): the weight of a second "
                                           "cross-entropy, to each class's mean predicted distribution over its "
                                           "correctly classified unmixed training images of the previous epoch "
                                           "(0: off; the paper: 0.5)", BELOW_ONE)
    init_from: str | None = setting(None, "start from this checkpoint's weights with a fresh schedule (the method's CE "
                                          "-> LS stage)")
    ema_decay: float = setting(0.0, "keep an EMA of the weights with this decay, evaluated alongside (0: off)", BELOW_ONE)
    lookahead_k: int = setting(0, "Lookahead: every K optimiser steps the weights step back toward a slow copy of "
                                  "themselves, and at every epoch's end (0: off)", NON_NEGATIVE)
    lookahead_alpha: float = setting(0.5, "Lookahead: the fraction of the way the slow copy moves toward the weights",
                                     Range(0, 1, low_open=True))


@dataclass(frozen=True)
class RuntimeConfig(_Section):
    device: Literal["auto", "cpu", "cuda"] = setting("auto", "where to train (auto: cuda when torch sees a GPU)")
    amp: Literal["auto", "bf16", "fp16", "off"] = setting("auto", "autocast dtype (auto: bf16 where the device runs it "
                                                                  "natively, fp16 on older GPUs, else off)")
    compile: Literal["auto", "on", "off"] = setting("auto", "torch.compile the model (auto: on for CUDA)")
    compile_mode: Literal["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"] | None = setting(
        None, "torch.compile mode")
    seed: int = setting(0, "random seed", NON_NEGATIVE)
    output_dir: str = setting("runs", "parent folder of run folders")
    name: str | None = setting(None, "run folder name (default: arch-data-time)")
    log_every: int = setting(50, "steps between progress/metric updates", COUNT)
    eval_every: int = setting(1, "epochs between evaluations (the last epoch is always evaluated)", COUNT)
    checkpoint_every: int = setting(0, "also keep epoch_N.pt every N epochs (0: only last and best)", NON_NEGATIVE)
    tensorboard: bool = setting(False, "also write TensorBoard scalars to the run folder")

    def check(self):
        if self.name is not None and (not self.name or os.sep in self.name or self.name in (".", "..")):
            self.refuse("name", "give a plain folder name (no path separators); --output-dir sets the parent folder")


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def __post_init__(self):
        if self.mix.mix_off_epochs > self.optim.epochs:
            raise ConfigError(f"--mix-off-epochs {self.mix.mix_off_epochs}: must not exceed --epochs {self.optim.epochs}")
        if self.augment.policy_off_epochs > self.optim.epochs:
            raise ConfigError(f"--policy-off-epochs {self.augment.policy_off_epochs}: must not exceed --epochs "
                              f"{self.optim.epochs}")
        if self.augment.policy_off_epochs and self.augment.auto_augment == "none":
            raise ConfigError(f"--policy-off-epochs {self.augment.policy_off_epochs}: holds --auto-augment's policy "
                              "back, and --auto-augment is none; add a policy or drop --policy-off-epochs")
        self._check_min_size("--policy-min-size", self.augment.policy_min_size, "--auto-augment",
                             None if self.augment.auto_augment != "none" else "--auto-augment none")
        self._check_min_size("--mix-min-size", self.mix.mix_min_size, "mixing",
                             None if self.mix.mixed_share > 0 else "no mixing mode is on")
        if self.optim.online_smoothing and self.mix.mixed_share >= 1 - 1e-9:
            raise ConfigError(f"--online-smoothing {self.optim.online_smoothing:g}: its targets are learnt from the "
                              "unmixed batches, and --cutmix/--ricap/--mixup/--cutout mix every batch; leave some "
                              "unmixed (probabilities summing to < 1) or drop --online-smoothing")
        if self.optim.loss != "cosine" and self.optim.xent_weight != OptimConfig.xent_weight:
            raise ConfigError(f"--xent-weight {self.optim.xent_weight:g}: weighs the cross-entropy beside the cosine "
                              "loss; add --loss cosine (and --cosine-head SCALE), or drop --xent-weight")
        if self.optim.loss == "cosine" and not self.model.cosine_head:
            raise ConfigError("--loss cosine: compares the normalised outputs with the labels, so it needs a cosine "
                              "head: add --cosine-head SCALE (16, say: the logits' range for the cross-entropy beside it)")

    def _check_min_size(self, flag: str, size: int, what: str, idle: str | None) -> None:
        """A size threshold under progressive resizing (``flag``, holding ``what`` back) must have
        something to switch (``idle`` says why not) and a size in the schedule's range."""
        if not size:
            return
        if idle:
            raise ConfigError(f"{flag} {size}: has nothing to switch ({idle}); drop {flag}")
        if not self.data.progressive_min_size:
            raise ConfigError(f"{flag} {size}: holds {what} back from the small epochs of progressive resizing; "
                              f"add --progressive-min-size, or drop {flag}")
        if size > self.data.image_size:
            raise ConfigError(f"{flag} {size}: larger than --image-size {self.data.image_size}, so {what} would never "
                              f"run; give a size up to {self.data.image_size}")

    def replace(self, section: str, **values) -> "TrainConfig":
        """A copy with ``values`` set in ``section``; checked like any config."""
        return dataclasses.replace(self, **{section: dataclasses.replace(getattr(self, section), **values)})


# Defaults for the built-in dataset (64 px synthetic shapes): a demo that learns in minutes on
# a CPU. From scratch on 3,000 images, SGD at the linearly scaled rate spiked the loss in the
# first epochs (resnest14d); AdamW learns steadily.
BUILTIN_PROFILE = {
    "data": {"image_size": 64, "batch_size": 64, "data_threads": 2},
    "augment": {"scale": (0.35, 1.0), "rotate_prob": 0.0, "blur_prob": 0.0, "auto_augment": "none"},
    "model": {"arch": "resnest14d"},
    "mix": {"cutmix": 0.0},
    "optim": {"optimizer": "adamw", "epochs": 12, "base_lr": 0.008, "weight_decay": 0.05},
    "runtime": {"log_every": 10},
}


def to_dict(config) -> dict:
    return dataclasses.asdict(config)


def leaves(cls=TrainConfig):
    """(section, field, type hint) of every setting."""
    for section in dataclasses.fields(cls):
        section_cls = typing.get_type_hints(cls)[section.name]
        hints = typing.get_type_hints(section_cls)
        for f in dataclasses.fields(section_cls):
            yield section.name, f, hints[f.name]


def _convert(value, hint, where: str):
    """Coerces a YAML or command-line value to the field's type, with an error naming ``where``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        if type(None) in args:
            return None
        raise ConfigError(f"{where}: a value is required")
    if origin in (typing.Union, types.UnionType):
        if isinstance(value, str) and value.lower() in ("none", "null", ""):
            return None
        return _convert(value, [a for a in args if a is not type(None)][0], where)
    if origin is Literal:
        if isinstance(value, bool):  # YAML reads a bare on/off as a boolean
            value = "on" if value else "off"
        return str(value)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else [value]
        if len(items) != len(args):
            raise ConfigError(f"{where}: expected {len(args)} comma-separated values, got {value!r}")
        return tuple(_convert(v, a, where) for v, a in zip(items, args))
    if hint is bool:
        if isinstance(value, bool):
            return value
        words = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
        if str(value).lower() not in words:
            raise ConfigError(f"{where}: cannot read {value!r} as true or false")
        return words[str(value).lower()]
    if isinstance(value, (dict, list)) or (hint is not str and isinstance(value, bool)):
        raise ConfigError(f"{where}: cannot read {value!r} as {hint.__name__}")
    try:
        if hint is int and isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            value = int(value)
        return hint(value)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"{where}: cannot read {value!r} as {'a whole number' if hint is int else hint.__name__}") from None


def _where(section: str, name: str) -> str:
    f = next(f for s, f, _ in leaves() if s == section and f.name == name)
    return f"{flag_of(f)} (recipe key {section}.{name})"


def _merge(base: dict, update: dict, where: str) -> dict:
    if not isinstance(update, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {type(update).__name__} {update!r:.60}")
    refuse_unknown(where, update, base)
    merged = dict(base)
    for key, value in update.items():
        merged[key] = _merge(base[key], value, f"{where}.{key}") if isinstance(base[key], dict) else value
    return merged


def from_dict(values: dict) -> TrainConfig:
    merged = _merge(to_dict(TrainConfig()), values, "config")
    sections: dict[str, dict] = {s: {} for s in SECTIONS}
    for section, f, hint in leaves():
        sections[section][f.name] = _convert(merged[section][f.name], hint, _where(section, f.name))
    hints = typing.get_type_hints(TrainConfig)
    return TrainConfig(**{section: hints[section](**kw) for section, kw in sections.items()})


def read_yaml(path: str, what: str):
    """The YAML document in ``path``; a file that cannot be read as YAML is refused, naming ``what``."""
    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f)
    except OSError as error:
        raise ConfigError(f"{what} {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path}: not a text file; give a YAML recipe") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {path}: not valid YAML{line} ({getattr(error, 'problem', None) or error})") from None
    return values


def load_yaml(path: str, what: str = "--config") -> dict:
    """A recipe or saved config as a dict of sections; a file that is not one is refused."""
    values = read_yaml(path, what)
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise ConfigError(f"{what} {path}: expected a mapping of sections ({', '.join(SECTIONS)}), each a mapping of "
                          "settings, e.g. 'optim: {epochs: 30}'")
    return values


def save_yaml(config: TrainConfig, path: str) -> None:
    from .files import write_text_atomic

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return list(value) if isinstance(value, tuple) else value

    write_text_atomic(path, yaml.safe_dump(plain(to_dict(config)), sort_keys=False))


def build_parser(description: str, parser_class=argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = parser_class(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--config", help=f"YAML recipe (sections {'/'.join(SECTIONS)}); flags override it")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    parser.add_argument("--branch-from", metavar="CHECKPOINT",
                        help="start a new run from CHECKPOINT's whole state (weights, optimiser, position in the "
                             "schedule, random streams) with its run's settings and the flags given, into --name "
                             "(default: <run>-from-epoch<N>) beside that run; where those flags act only after "
                             "the checkpoint (--mix-off-epochs), bit for bit the run trained with them from the "
                             "start")
    defaults = to_dict(TrainConfig())
    for section, f, hint in leaves():
        extra = {"nargs": "?", "const": "true"} if hint is bool else {}  # "--flag" alone means true
        # Choices are checked by the config (one message for flags and recipes), listed here for --help.
        choices = _choices(hint)
        help_text = f.metadata["help"] + (f" ({' | '.join(choices)})" if choices else "")
        parser.add_argument(flag_of(f), dest=f"{section}.{f.name}", default=argparse.SUPPRESS,
                            metavar=f.name.upper(), help=f"{help_text} (default: {_shown(defaults[section][f.name])})",
                            **extra)
    return parser


class _RefusingParser(argparse.ArgumentParser):
    """Raises a ConfigError where argparse would print its usage and exit."""

    def error(self, message):
        raise ConfigError(message)


def for_new_run(args: argparse.Namespace) -> TrainConfig:
    """The checked configuration of a new run from train.py's parsed flags (--config, then flags)."""
    return resolve(cli_overrides(args), recipe=load_yaml(args.config) if args.config else None)


def from_argv(argv: list[str]) -> TrainConfig:
    """The checked configuration train.py builds for a new run from ``argv``; a flag it would
    refuse raises ConfigError."""
    args = build_parser("", parser_class=_RefusingParser).parse_args(argv)
    for flag, value in (("--resume", args.resume), ("--branch-from", args.branch_from)):
        if value:
            raise ConfigError(f"{flag} {value}: a new run's flags were expected")
    return for_new_run(args)


def cli_overrides(args: argparse.Namespace) -> dict:
    """The nested dict of settings given on the command line (and only those)."""
    values: dict = {}
    for key, value in vars(args).items():
        if "." in key:
            section, name = key.split(".")
            values.setdefault(section, {})[name] = value
    return values


def resolve(cli: dict, recipe: dict | None = None, saved: dict | None = None) -> TrainConfig:
    """Layers the sources into one checked config. ``saved`` is a resumed run's own config."""
    if saved is not None:
        layers = [saved]
    else:
        data_root = (recipe or {}).get("data", {}).get("root") or cli.get("data", {}).get("root")
        layers = ([] if data_root else [BUILTIN_PROFILE]) + [recipe or {}]
    values = to_dict(TrainConfig())
    for layer in layers + [cli]:
        values = _merge(values, layer, "config")
    return from_dict(values)
