"""The DALI graphs, declarative and nothing else (the loader turns them into tensors).

Outputs stay uint8 HWC and labels int32: normalisation, mixing and the float cast happen
later in one fused op (vipriors.ops), so the pipeline never moves floats.
"""
from __future__ import annotations

from dataclasses import dataclass

from nvidia.dali import fn, pipeline_def, types

READER_NAME = "reader"


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1


@pipeline_def(enable_conditionals=False)
def train_pipeline(files, labels, shard: Shard, image_size: int, scale, ratio, hflip: float, on_gpu: bool,
                   shuffle_seed: int):
    # A full permutation of the whole dataset every epoch, the same on every rank (so the
    # shards stay disjoint). The reader's `random_shuffle` would only mix a 1024-sample
    # buffer: with class-sorted files, batches would come out class-correlated.
    jpegs, label = fn.readers.file(
        files=list(files), labels=list(labels), shuffle_after_epoch=True, seed=shuffle_seed,
        shard_id=shard.index, num_shards=shard.count, pad_last_batch=True, name=READER_NAME,
    )
    images = fn.decoders.image_random_crop(
        jpegs, device="mixed" if on_gpu else "cpu", output_type=types.RGB,
        random_area=list(scale), random_aspect_ratio=list(ratio), num_attempts=10,
    )
    images = fn.resize(images, size=[image_size, image_size], antialias=True)
    if hflip > 0:
        images = fn.flip(images, horizontal=fn.random.coin_flip(probability=hflip))
    return images, label.gpu() if on_gpu else label


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
