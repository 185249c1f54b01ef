"""The automatic-augmentation policies (AutoAugment, RandAugment, TrivialAugment) as DALI subgraphs.

They are DALI's own (nvidia.dali.auto_aug) with, by default ("vipriors" operators), two of
their colour operations rebuilt from DALI's integer operators, because on the CPU the
originals dominate the policies' cost. Both compute what PIL's ImageEnhance does (as the
AutoAugment authors' code), as DALI's do, to within 2 grey levels of PIL (tests/test_policies.py):

- Color, a blend with the grey image L = 0.299 R + 0.587 G + 0.114 B: out = L + f (x - L).
  DALI's (fn.saturation) costs 0.93 ms per 224 px image on one CPU thread, ours 0.20.
- Contrast, around the grey image's mean m: out = m + f (x - m). DALI's runs it as float
  arithmetic (0.57 ms), ours as one brightness_contrast (0.11). On the GPU DALI's is kept:
  there the mean cannot be a named argument.

The "dali" operators keep DALI's originals, so that a run saved before ours existed resumes
with the pixels it ran with.
"""
from __future__ import annotations

import contextlib
import warnings

from nvidia.dali import fn, types
from nvidia.dali.auto_aug import auto_augment, rand_augment, trivial_augment
from nvidia.dali.auto_aug.core import Policy, augmentation

from .augment import Augment

_INTERPOLATION = {"nearest": types.INTERP_NN, "linear": types.INTERP_LINEAR}


def _grey(images):
    return fn.color_space_conversion(images, image_type=types.RGB, output_type=types.GRAY)


def pil_color(images, factor):
    """PIL's ImageEnhance.Color: L + f (x - L), computed as f x + (1 - f) L in int16, then saturated."""
    grey = fn.color_space_conversion(_grey(images), image_type=types.GRAY, output_type=types.RGB)
    scaled = fn.brightness_contrast(images, contrast=factor, contrast_center=0.0, dtype=types.INT16)
    rest = fn.brightness_contrast(grey, brightness=1.0 - factor, dtype=types.INT16)
    return fn.cast(scaled + rest, dtype=types.UINT8)


def pil_contrast(images, factor):
    """PIL's ImageEnhance.Contrast: m + f (x - m), m the mean of the grey image (CPU only)."""
    return fn.brightness_contrast(images, contrast=factor, contrast_center=fn.reductions.mean(_grey(images)))


def _rebuilt(original, op):
    # The same magnitudes and parameters as DALI's augmentation; the parameter stays on the
    # CPU because the operators take it as a named (per-sample) argument.
    return augmentation(op, mag_range=original.mag_range, randomly_negate=original.randomly_negate,
                        mag_to_param=original.mag_to_param, param_device="cpu", name=original.name)


def _our_operators(augmentations, on_gpu: bool):
    """Maps each of DALI's augmentations to the one to run: ours for color (and contrast on the CPU)."""
    ours = {"color": pil_color} if on_gpu else {"color": pil_color, "contrast": pil_contrast}
    return {id(aug): _rebuilt(aug, ours[aug.name]) if aug.name in ours else aug for aug in augmentations}


def _suite(augmentations, augment: Augment, on_gpu: bool):
    if augment.policy_ops == "dali":
        return list(augmentations)
    swap = _our_operators(augmentations, on_gpu)
    return [swap[id(aug)] for aug in augmentations]


def _image_net_policy(augment: Augment, on_gpu: bool) -> Policy:
    policy = auto_augment.get_image_net_policy(use_shape=True)
    if augment.policy_ops == "dali":
        return policy
    swap = _our_operators(policy.augmentations.values(), on_gpu)
    return Policy(policy.name, policy.num_magnitude_bins,
                  [[(swap[id(aug)], probability, magnitude) for aug, probability, magnitude in sub_policy]
                   for sub_policy in policy.sub_policies])


@contextlib.contextmanager
def _without_dali_alias_warnings():
    """DALI's own auto_aug calls a deprecated alias of one of its operators and forces the
    warning through its own filter; drop just that message from the user's log."""
    original = warnings.showwarning

    def show(message, *args, **kwargs):
        if "moved out from the experimental phase" not in str(message):
            original(message, *args, **kwargs)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original


def apply_policy(images, augment: Augment, image_size: int, on_gpu: bool):
    """``images`` after ``augment.policy`` (unchanged for "none"); they are image_size square."""
    common = dict(shape=(image_size, image_size), interp_type=_INTERPOLATION[augment.policy_interp], fill_value=128)
    with _without_dali_alias_warnings():
        if augment.policy == "autoaugment":  # the ImageNet policy (Cubuk et al.)
            return auto_augment.apply_auto_augment(_image_net_policy(augment, on_gpu), images, **common)
        if augment.policy == "randaugment":
            suite = _suite(rand_augment.get_rand_augment_suite(use_shape=True), augment, on_gpu)
            return rand_augment.apply_rand_augment(suite, images, n=augment.randaugment_n, m=augment.randaugment_m,
                                                   num_magnitude_bins=31, **common)
        if augment.policy == "trivialaugment":
            suite = _suite(trivial_augment.get_trivial_augment_wide_suite(use_shape=True), augment, on_gpu)
            return trivial_augment.apply_trivial_augment(suite, images, num_magnitude_bins=31, **common)
    return images
