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
    def __init__(self, pipe, device: torch.device):
        from nvidia.dali.plugin.pytorch import DALIGenericIterator, LastBatchPolicy

        self.device = device
        # PARTIAL: the last batch holds only the shard's real images (never the reader's padding).
        self._iterator = DALIGenericIterator(
            pipe, ["images", "labels"], reader_name=READER_NAME, auto_reset=True,
            last_batch_policy=LastBatchPolicy.PARTIAL,
        )

    def __len__(self) -> int:
        return len(self._iterator)

    def __iter__(self):
        for outputs in self._iterator:
            batch = outputs[0]
            images = batch["images"].to(self.device, non_blocking=True)
            labels = batch["labels"].view(-1).to(self.device, dtype=torch.int64, non_blocking=True)
            yield images, labels


def _pipeline_kwargs(batch_size, threads, device, seed):
    on_gpu = device.type == "cuda"
    return dict(
        batch_size=batch_size, num_threads=threads, seed=seed % (2**31 - 1),
        device_id=device.index if on_gpu else None, prefetch_queue_depth=2,
    ), on_gpu


class TrainBatches:
    """The training batches of each epoch, a pure function of (seed, epoch, rank).

    Every epoch gets its own permutation of the whole file list (the same on all ranks, so
    the shards are disjoint) and its own DALI seed, in a pipeline built for that epoch. So
    a run resumed at any epoch, or any step of one, sees exactly the batches it would have
    seen, and every rank takes the same number of steps (DDP needs that).

    DALI prepares ``pipeline_batch`` images per run (rounded up to whole training batches)
    and they are handed out ``batch_size`` at a time: each DALI run, and each operator of
    a conditional policy like AutoAugment, has a fixed cost that a small batch pays often
    (on 2 CPU cores, 64 -> 256 raised the 224 px AutoAugment loader from 873-941 to 1075-1094 img/s).
    The augmentation draws depend on it, so a run keeps the value it started with.
    """

    def __init__(self, samples: Samples, *, batch_size: int, image_size: int, augment: Augment,
                 device: torch.device, threads: int, seed: int, shard: Shard = Shard(), pipeline_batch: int = 0):
        self.samples, self.batch_size, self.image_size, self.augment = samples, batch_size, image_size, augment
        self.device, self.threads, self.seed, self.shard = device, threads, seed, shard
        self.steps_per_epoch = (len(samples) // shard.count) // batch_size
        self.batches_per_run = max(1, -(-pipeline_batch // batch_size))

    def __len__(self) -> int:
        return self.steps_per_epoch

    def epoch(self, epoch: int, skip: int = 0):
        """Yields the batches of ``epoch``, leaving out the first ``skip`` (already trained on)."""
        n = len(self.samples)
        order = random.Random(f"{self.seed}/{epoch}").sample(range(n), n)
        files = [self.samples.files[i] for i in order]
        labels = [self.samples.labels[i] for i in order]
        dali_seed = self.seed * 1_000_003 + epoch * 1009 + self.shard.index
        kwargs, on_gpu = _pipeline_kwargs(self.batch_size * self.batches_per_run, self.threads, self.device, dali_seed)
        pipe = train_pipeline(files, labels, self.shard, self.image_size, self.augment, on_gpu, **kwargs)
        pipe.build()
        step, b = 0, self.batch_size
        for images, labels in DaliLoader(pipe, self.device):
            for start in range(0, images.shape[0] - b + 1, b):  # whole training batches only
                if step >= self.steps_per_epoch:
                    return
                if step >= skip:
                    yield images[start:start + b], labels[start:start + b]
                step += 1


def eval_loader(samples: Samples, *, batch_size: int, image_size: int, crop_pct: float,
                device: torch.device, threads: int, shard: Shard = Shard()) -> DaliLoader:
    kwargs, on_gpu = _pipeline_kwargs(batch_size, threads, device, 0)
    pipe = eval_pipeline(samples.files, samples.labels, shard, image_size, crop_pct, on_gpu, **kwargs)
    pipe.build()
    return DaliLoader(pipe, device)
