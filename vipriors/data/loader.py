"""The one boundary between DALI and torch: batches out of here are plain tensors.

A batch is ``(images, labels)``: uint8 [B, H, W, 3] NHWC and int64 [B], both on the
training device. Each rank reads its own shard. Evaluation batches never include the
reader's padding, so across ranks every image is seen exactly once.
"""
from __future__ import annotations

import random

import torch

from .folder import Samples
from .pipeline import READER_NAME, Augment, Shard, eval_pipeline, train_pipeline


class DaliLoader:
    def __init__(self, pipe, device: torch.device, train: bool):
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        self.device = device
        self._iterator = DALIGenericIterator(
            pipe, ["images", "labels"], reader_name=READER_NAME, auto_reset=True,
            last_batch_policy=LastBatchPolicy.DROP if train else LastBatchPolicy.PARTIAL,
        )

    def __len__(self) -> int:
        return len(self._iterator)

    def __iter__(self):
        for outputs in self._iterator:
            batch = outputs[0]
            images = batch["images"].to(self.device, non_blocking=True)
            labels = batch["labels"].view(-1).to(self.device, dtype=torch.int64, non_blocking=True)
            yield images, labels


def _pipeline_kwargs(batch_size, threads, device, seed, shard):
    on_gpu = device.type == "cuda"
    return dict(
        batch_size=batch_size, num_threads=threads, seed=seed + 1000 * shard.index,
        device_id=device.index if on_gpu else None, prefetch_queue_depth=2,
    ), on_gpu


def train_loader(samples: Samples, *, batch_size: int, image_size: int, augment: Augment,
                 device: torch.device, threads: int, seed: int, shard: Shard = Shard()) -> DaliLoader:
    kwargs, on_gpu = _pipeline_kwargs(batch_size, threads, device, seed, shard)
    # The reader walks the list in order during the first epoch and permutes it after each
    # epoch, so the list is permuted here for the first one (same seed on every rank).
    order = random.Random(seed).sample(range(len(samples)), len(samples))
    files = [samples.files[i] for i in order]
    labels = [samples.labels[i] for i in order]
    pipe = train_pipeline(files, labels, shard, image_size, augment, on_gpu, shuffle_seed=seed, **kwargs)
    pipe.build()
    return DaliLoader(pipe, device, train=True)


def eval_loader(samples: Samples, *, batch_size: int, image_size: int, crop_pct: float,
                device: torch.device, threads: int, shard: Shard = Shard()) -> DaliLoader:
    kwargs, on_gpu = _pipeline_kwargs(batch_size, threads, device, 0, shard)
    pipe = eval_pipeline(samples.files, samples.labels, shard, image_size, crop_pct, on_gpu, **kwargs)
    pipe.build()
    return DaliLoader(pipe, device, train=False)
