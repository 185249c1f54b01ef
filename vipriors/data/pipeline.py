"""The DALI graphs, declarative and nothing else (the loader turns them into tensors).

Outputs stay uint8 HWC and labels int32: normalisation, mixing and the float cast happen
later in one fused op (vipriors.ops), so the pipeline never moves floats. Everything runs
on the GPU ("mixed" decoding, then GPU operators) when one is used, on the CPU otherwise.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

from nvidia.dali import fn, pipeline_def, types

from .augment import Augment

READER_NAME = "reader"


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


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1


def _with_probability(p: float):
    return fn.random.coin_flip(probability=p, dtype=types.BOOL)


@pipeline_def(enable_conditionals=True)
def train_pipeline(files, labels, shard: Shard, image_size: int, augment: Augment, on_gpu: bool):
    # The file list comes permuted for this epoch (vipriors.data.loader.TrainBatches): the
    # reader only shards it. (Its own random_shuffle would mix a 1024-sample buffer only.)
    jpegs, label = fn.readers.file(
        files=list(files), labels=list(labels), random_shuffle=False,
        shard_id=shard.index, num_shards=shard.count, pad_last_batch=True, name=READER_NAME,
    )
    decoder = "mixed" if on_gpu else "cpu"
    if augment.pad_crop > 0:
        images = fn.decoders.image(jpegs, device=decoder, output_type=types.RGB)
        images = fn.resize(images, size=[image_size, image_size], antialias=True)
        images = _pad_and_crop(images, image_size, augment.pad_crop)
    else:
        images = fn.decoders.image_random_crop(
            jpegs, device=decoder, output_type=types.RGB,
            random_area=list(augment.scale), random_aspect_ratio=list(augment.ratio), num_attempts=10,
        )
        images = fn.resize(images, size=[image_size, image_size], antialias=True)
    if augment.hflip > 0:
        images = fn.flip(images, horizontal=fn.random.coin_flip(probability=augment.hflip))
    if augment.rotate_prob > 0:
        if _with_probability(augment.rotate_prob):
            angle = fn.random.uniform(range=[-augment.rotate_degrees, augment.rotate_degrees])
            images = fn.rotate(images, angle=angle, keep_size=True, fill_value=0)
    if augment.blur_prob > 0:
        if _with_probability(augment.blur_prob):
            images = fn.gaussian_blur(images, sigma=fn.random.uniform(range=list(augment.blur_sigma)))
    images = _policy(images, augment, image_size)
    return images, label.gpu() if on_gpu else label


def _pad_and_crop(images, image_size: int, pad: int):
    # A crop window reaching past the border is filled with zeros (out_of_bounds_policy="pad"):
    # its top-left corner is drawn uniformly from the whole pixels in [-pad, pad] on each axis.
    window = [image_size, image_size]
    images = fn.crop(images, crop=[image_size + 2 * pad] * 2, out_of_bounds_policy="pad")
    offsets = [i / (2 * pad) for i in range(2 * pad + 1)]  # whole-pixel shifts, each equally likely
    return fn.crop(images, crop=window, crop_pos_x=fn.random.uniform(values=offsets),
                   crop_pos_y=fn.random.uniform(values=offsets))


_INTERPOLATION = {"nearest": types.INTERP_NN, "linear": types.INTERP_LINEAR}


def _policy(images, augment: Augment, image_size: int):
    from nvidia.dali.auto_aug import auto_augment, rand_augment, trivial_augment

    common = dict(shape=(image_size, image_size), interp_type=_INTERPOLATION[augment.policy_interp])
    with _without_dali_alias_warnings():
        if augment.policy == "autoaugment":  # the ImageNet policy (Cubuk et al.)
            return auto_augment.auto_augment_image_net(images, **common)
        if augment.policy == "randaugment":
            return rand_augment.rand_augment(images, n=augment.randaugment_n, m=augment.randaugment_m, **common)
        if augment.policy == "trivialaugment":
            return trivial_augment.trivial_augment_wide(images, **common)
    return images


@pipeline_def(enable_conditionals=False)
def eval_pipeline(files, labels, shard: Shard, image_size: int, crop_pct: float, on_gpu: bool):
    jpegs, label = fn.readers.file(
        files=list(files), labels=list(labels), random_shuffle=False, shard_id=shard.index,
        num_shards=shard.count, pad_last_batch=True, name=READER_NAME,
    )
    images = fn.decoders.image(jpegs, device="mixed" if on_gpu else "cpu", output_type=types.RGB)
    images = fn.resize(images, resize_shorter=round(image_size / crop_pct), antialias=True)
    images = fn.crop(images, crop=[image_size, image_size], out_of_bounds_policy="pad")
    return images, label.gpu() if on_gpu else label
