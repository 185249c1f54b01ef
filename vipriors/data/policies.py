"""The automatic-augmentation policies (AutoAugment, RandAugment, TrivialAugment) as DALI subgraphs.

They are DALI's own (nvidia.dali.auto_aug) with, by default ("vipriors" operators), two of
their colour operations rebuilt from DALI's integer operators, because on the CPU the
originals dominate the policies' cost. Both compute what PIL's ImageEnhance does (as the
AutoAugment authors' code), as DALI's do, to within 2 grey levels of PIL (tests/test_policies.py):

- Color, a blend with the grey image L = 0.299 R + 0.587 G + 0.114 B: out = L + f (x - L).
  DALI's (fn.saturation) costs several times ours on the CPU.
- Contrast, around the grey image's mean m: out = m + f (x - m). DALI's runs it as float
  arithmetic, ours as one brightness_contrast, several times cheaper. On the GPU DALI's is kept:
  there the mean cannot be a named argument.

The "dali" operators (--aa-ops dali) keep DALI's originals.
"""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
from nvidia.dali import fn, types
from nvidia.dali.auto_aug import augmentations as dali_augmentations
from nvidia.dali.auto_aug import auto_augment, rand_augment, trivial_augment
from nvidia.dali.auto_aug.core import Policy, augmentation

from ..config import AugmentConfig
from .image_net_policy import ORIGINAL_IMAGE_NET

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


def _suite(augmentations, augment: AugmentConfig, on_gpu: bool):
    if augment.aa_ops == "dali":
        return list(augmentations)
    swap = _our_operators(augmentations, on_gpu)
    return [swap[id(aug)] for aug in augmentations]


def original_image_net_augmentations() -> dict:
    """DALI augmentations with the magnitudes of the AutoAugment authors' code (as timm's):
    level l of 0-10 keeps int(0.4 l) + 4 bits (Posterize), inverts pixels >= int(25.6 l)
    (Solarize), rotates by +-3 l degrees, shears by +-0.03 l, enhances by 0.1 + 0.18 l."""
    levels = np.arange(11)
    enhance = dict(mag_range=(0.1, 1.9), randomly_negate=False)
    return {
        "posterize": dali_augmentations.posterize.augmentation(
            mag_range=(levels * 4 // 10 + 4).astype(np.float32), randomly_negate=False,
            mag_to_param=dali_augmentations.poster_mask_uint8),
        "solarize": dali_augmentations.solarize.augmentation(
            mag_range=np.minimum(256, levels * 256 // 10).astype(np.float32), randomly_negate=False),
        "rotate": dali_augmentations.rotate.augmentation(mag_range=(0, 30), randomly_negate=True),
        "shear_x": dali_augmentations.shear_x.augmentation(mag_range=(0, 0.3), randomly_negate=True),
        "color": dali_augmentations.color.augmentation(mag_to_param=None, **enhance),
        "contrast": dali_augmentations.contrast.augmentation(mag_to_param=None, **enhance),
        "sharpness": dali_augmentations.sharpness.augmentation(
            mag_to_param=dali_augmentations.sharpness_kernel_shifted, **enhance),
        "auto_contrast": dali_augmentations.auto_contrast,
        "equalize": dali_augmentations.equalize,
        "invert": dali_augmentations.invert,
    }


def _image_net_policy(augment: AugmentConfig, on_gpu: bool) -> Policy:
    # The paper's policy has one sub-policy with equalize at probability 0 (kept, to stay the
    # paper's); DALI warns about it on every build, which tells the user nothing they can act on.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The augmentation `equalize` in policy `OriginalImageNetPolicy` "
                                                  "is used with probability 0", category=UserWarning)
        return _build_image_net_policy(augment, on_gpu)


def _build_image_net_policy(augment: AugmentConfig, on_gpu: bool) -> Policy:
    if augment.aa_policy == "original":
        ops = original_image_net_augmentations()
        # Equalize, AutoContrast and Invert take no magnitude: DALI wants None for their level.
        policy = Policy("OriginalImageNetPolicy", 11, [
            [(ops[name], p, None if ops[name].mag_range is None else level) for name, p, level in sub_policy]
            for sub_policy in ORIGINAL_IMAGE_NET])
    else:
        policy = auto_augment.get_image_net_policy(use_shape=True)
    if augment.aa_ops == "dali":
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


def apply_policy(images, augment: AugmentConfig, image_size: int, on_gpu: bool):
    """``images`` after ``augment.auto_augment`` (unchanged for "none"); they are image_size square."""
    common = dict(shape=(image_size, image_size), interp_type=_INTERPOLATION[augment.aa_interp], fill_value=128)
    with _without_dali_alias_warnings():
        if augment.auto_augment == "autoaugment":  # an ImageNet policy: the paper's or DALI's (--aa-policy)
            if augment.aa_policy == "original":
                del common["shape"]  # it has no translations; DALI refuses an argument no operation uses
            return auto_augment.apply_auto_augment(_image_net_policy(augment, on_gpu), images, **common)
        if augment.auto_augment == "randaugment":
            suite = _suite(rand_augment.get_rand_augment_suite(use_shape=True), augment, on_gpu)
            return rand_augment.apply_rand_augment(suite, images, n=augment.randaugment_n, m=augment.randaugment_m,
                                                   num_magnitude_bins=31, **common)
        if augment.auto_augment == "trivialaugment":
            suite = _suite(trivial_augment.get_trivial_augment_wide_suite(use_shape=True), augment, on_gpu)
            return trivial_augment.apply_trivial_augment(suite, images, num_magnitude_bins=31, **common)
    return images
