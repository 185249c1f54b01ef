"""The DALI graphs, declarative and nothing else (the loader turns them into tensors).

Outputs stay uint8 HWC and labels int32: normalisation, mixing and the float cast happen
later in one fused op (vipriors.ops), so the pipeline never moves floats. Everything runs
on the GPU ("mixed" decoding, then GPU operators) when one is used, on the CPU otherwise.
"""
from __future__ import annotations

from nvidia.dali import fn, pipeline_def, types

from ..config import AugmentConfig
from . import dali_plugin
from .policies import apply_policy
from .shard import Shard  # noqa: F401  (re-exported: the pipelines' shard argument)

READER_NAME = "reader"


def _with_probability(p: float):
    return fn.random.coin_flip(probability=p, dtype=types.BOOL)


@pipeline_def(enable_conditionals=True)
def train_pipeline(files, labels, shard: Shard, image_size: int, augment: AugmentConfig, on_gpu: bool):
    # The file list comes permuted for this epoch (vipriors.data.loader.TrainBatches): the
    # reader only shards it. (Its own random_shuffle would mix a 1024-sample buffer only.)
    jpegs, label = fn.readers.file(
        files=list(files), labels=list(labels), random_shuffle=False,
        shard_id=shard.index, num_shards=shard.count, pad_last_batch=True, name=READER_NAME,
    )
    decoder = "mixed" if on_gpu else "cpu"
    if augment.pad_crop > 0:
        images = fn.decoders.image(jpegs, device=decoder, output_type=types.RGB)
        images = _pad_and_crop(_resize(images, image_size, augment, on_gpu), image_size, augment.pad_crop)
    else:
        images = fn.decoders.image_random_crop(
            jpegs, device=decoder, output_type=types.RGB,
            random_area=list(augment.scale), random_aspect_ratio=list(augment.ratio), num_attempts=10,
        )
        images = _resize(images, image_size, augment, on_gpu)
    if augment.hflip > 0:
        images = fn.flip(images, horizontal=fn.random.coin_flip(probability=augment.hflip))
    return _after_crop_and_flip(images, augment, image_size, on_gpu), label.gpu() if on_gpu else label


def _after_crop_and_flip(images, augment: AugmentConfig, image_size: int, on_gpu: bool):
    """Rotation, blur and the policy, in that order: the augmentation after the crop and flip.
    The policy is left out below ``augment.policy_min_size`` (the small epochs of progressive resizing)."""
    if augment.rotate_prob > 0:
        if _with_probability(augment.rotate_prob):
            angle = fn.random.uniform(range=[-augment.rotate_degrees, augment.rotate_degrees])
            images = fn.rotate(images, angle=angle, keep_size=True, fill_value=0)
    if augment.blur_prob > 0:
        if _with_probability(augment.blur_prob):
            images = fn.gaussian_blur(images, sigma=fn.random.uniform(range=list(augment.blur_sigma)))
    if image_size < augment.policy_min_size:
        return images
    return apply_policy(images, augment, image_size, on_gpu)


@pipeline_def(enable_conditionals=True)
def cropped_pipeline(source, image_size: int, augment: AugmentConfig, on_gpu: bool):
    """The training pipeline's second half on batches already cropped and flipped (the
    in-memory path's, vipriors.data.memory): ``source`` yields uint8 [B, S, S, 3] arrays."""
    images = fn.external_source(source=source, batch=True, layout="HWC", dtype=types.UINT8, no_copy=False)
    return _after_crop_and_flip(images.gpu() if on_gpu else images, augment, image_size, on_gpu)


@pipeline_def(enable_conditionals=False)
def decode_pipeline(files, labels, image_size: int, augment: AugmentConfig):
    """The training pipeline's deterministic first half (decode, resize), on the CPU: the
    pixels the in-memory path keeps (vipriors.data.memory)."""
    jpegs, label = fn.readers.file(files=list(files), labels=list(labels), random_shuffle=False,
                                   pad_last_batch=True, name=READER_NAME)
    images = fn.decoders.image(jpegs, device="cpu", output_type=types.RGB)
    return _resize(images, image_size, augment, False), label


def _resize(images, image_size: int, augment: AugmentConfig, on_gpu: bool):
    # The choice is resolved before any pipeline is built (vipriors.engine.autos), and saved with the run.
    if augment.train_resize == "auto":
        raise ValueError("train_resize 'auto' reached the pipeline: resolve it with dali_plugin.resolve_resize first")
    if augment.train_resize == "torch":
        dali_plugin.resolve_resize("torch", on_gpu)  # registers our operator, or says why it cannot
        return fn.vipriors_resize(images, height=image_size, width=image_size)
    return fn.resize(images, size=[image_size, image_size], antialias=True)


def _pad_and_crop(images, image_size: int, pad: int):
    # A crop window reaching past the border is filled with zeros (out_of_bounds_policy="pad"):
    # its top-left corner is drawn uniformly from the whole pixels in [-pad, pad] on each axis.
    window = [image_size, image_size]
    images = fn.crop(images, crop=[image_size + 2 * pad] * 2, out_of_bounds_policy="pad")
    offsets = [i / (2 * pad) for i in range(2 * pad + 1)]  # whole-pixel shifts, each equally likely
    return fn.crop(images, crop=window, crop_pos_x=fn.random.uniform(values=offsets),
                   crop_pos_y=fn.random.uniform(values=offsets))


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
