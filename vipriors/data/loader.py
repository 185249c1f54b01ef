"""The one boundary between DALI and torch: batches out of here are plain tensors.

A batch is ``(images, labels)``: uint8 [B, H, W, 3] NHWC and int64 [B], both on the
training device. Each rank reads its own shard. Evaluation batches never include the
reader's padding, so across ranks every image is seen exactly once.
"""
from __future__ import annotations

import collections
import dataclasses

import torch

from .folder import Samples
from .pipeline import READER_NAME, AugmentConfig, Shard, cropped_pipeline, decode_pipeline, eval_pipeline, train_pipeline
from .shard import epoch_order


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
    the shards are disjoint) and its own DALI seeds, in pipelines built for that epoch. So
    a run resumed at any epoch, or any step of one, sees exactly the batches it would have
    seen, and every rank takes the same number of steps (DDP needs that).

    DALI prepares ``pipeline_batch`` images per run (rounded up to whole training batches)
    and they are handed out ``batch_size`` at a time: each DALI run, and each operator of
    a conditional policy like AutoAugment, has a fixed cost that a small batch pays often
    (the README's loader table measures it).

    ``pipelines`` independent DALI pipelines split the rank's shard and the threads between
    them, and their runs are taken in turn. Within one pipeline, AutoAugment's conditional
    split (25 sub-policies, each a small sub-batch) leaves threads idle between operators;
    a second pipeline fills those gaps. The augmentation draws depend on both settings, so
    a run keeps the values it started with.
    """

    def __init__(self, samples: Samples, *, batch_size: int, image_size: int, augment: AugmentConfig, device: torch.device,
                 threads: int, seed: int, shard: Shard = Shard(), pipeline_batch: int = 0, pipelines: int = 1):
        self.samples, self.batch_size, self.image_size, self.augment = samples, batch_size, image_size, augment
        self.device, self.threads, self.seed, self.shard = device, threads, seed, shard
        self.steps_per_epoch = (len(samples) // shard.count) // batch_size
        self.batches_per_run = max(1, -(-pipeline_batch // batch_size))
        # DALI refuses more shards than files: a tiny dataset gets fewer pipelines.
        self.pipelines = max(1, min(pipelines, len(samples) // shard.count))

    def __len__(self) -> int:
        return self.steps_per_epoch

    def epoch(self, epoch: int, skip: int = 0, image_size: int | None = None, policy: bool = True):
        """Yields the batches of ``epoch`` at ``image_size`` (default: the configured size),
        leaving out the first ``skip`` (already trained on); ``policy`` False leaves the policy
        out (the crops and flips are the same draws). Below the configured size (progressive
        resizing) the pad-and-crop's padding shrinks in proportion."""
        n = len(self.samples)
        order = epoch_order(self.seed, epoch, n)
        size = image_size or self.image_size
        augment = self.augment if policy else _without_policy(self.augment)
        if size != self.image_size and augment.pad_crop:
            augment = dataclasses.replace(augment, pad_crop=max(1, round(augment.pad_crop * size / self.image_size)))
        files = [self.samples.files[i] for i in order]
        labels = [self.samples.labels[i] for i in order]
        loaders = []
        for k in range(self.pipelines):
            # The rank's shard is the union of its pipelines' shards, whatever their number.
            shard = Shard(self.shard.index * self.pipelines + k, self.shard.count * self.pipelines)
            threads = max(1, self.threads // self.pipelines + (k < self.threads % self.pipelines))
            dali_seed = self.seed * 1_000_003 + epoch * 1009 + shard.index
            kwargs, on_gpu = _pipeline_kwargs(self.batch_size * self.batches_per_run, threads, self.device, dali_seed)
            pipe = train_pipeline(files, labels, shard, size, augment, on_gpu, **kwargs)
            pipe.build()
            loaders.append(DaliLoader(pipe, self.device))
        batches = _whole_batches(_in_turn(loaders), self.batch_size)
        for step, batch in enumerate(batches):
            if step >= self.steps_per_epoch:
                return
            if step >= skip:
                yield batch


def _without_policy(augment: AugmentConfig) -> AugmentConfig:
    """The same augmentation without --auto-augment's policy (--policy-off-epochs)."""
    return dataclasses.replace(augment, auto_augment="none")


def _in_turn(loaders):
    """One run from each loader in turn; a loader that has run out drops out."""
    iterators = [iter(loader) for loader in loaders]
    while iterators:
        for it in list(iterators):
            try:
                yield next(it)
            except StopIteration:
                iterators.remove(it)


def _whole_batches(runs, size: int):
    """Cuts a stream of (images, labels) runs into batches of exactly ``size``; a run's
    remainder (a pipeline's last, partial run) is completed from the next run."""
    held: list[tuple[torch.Tensor, torch.Tensor]] = []
    held_count = 0
    for images, labels in runs:
        start = 0
        if held_count:
            start = min(size - held_count, images.shape[0])
            held.append((images[:start], labels[:start]))
            held_count += start
            if held_count < size:
                continue
            yield torch.cat([h[0] for h in held]), torch.cat([h[1] for h in held])
            held, held_count = [], 0
        end = start + (images.shape[0] - start) // size * size
        for s in range(start, end, size):
            yield images[s:s + size], labels[s:s + size]
        if end < images.shape[0]:
            held, held_count = [(images[end:], labels[end:])], images.shape[0] - end


class CroppedBatchesThroughDali:
    """The in-memory path with rotation, blur or a policy: the crops and flips of the decoded
    pixels (``cropped``, a vipriors.data.memory.MemoryBatches) run through the rest of the
    file pipeline's graph, so nothing is decoded again each epoch.

    Each epoch gets its own pipelines and seeds (from the run's seed, the epoch and the
    rank), fed the epoch's cropped batches from its first step: a run resumed mid-epoch
    drops the outputs it already trained on and sees the batches it would have seen. As in
    TrainBatches, DALI prepares ``pipeline_batch`` images per run (whole training batches)
    and ``pipelines`` pipelines, sharing the threads, take the runs in turn.
    """

    def __init__(self, cropped, *, augment: AugmentConfig, device: torch.device, threads: int, seed: int,
                 shard: Shard = Shard(), pipeline_batch: int = 0, pipelines: int = 1):
        self.cropped, self.augment, self.device, self.threads = cropped, augment, device, threads
        self.seed, self.shard = seed, shard
        self.batches_per_run = max(1, -(-pipeline_batch // cropped.batch_size))
        self.pipelines = max(1, min(pipelines, -(-len(cropped) // self.batches_per_run)))

    def __len__(self) -> int:
        return len(self.cropped)

    def epoch(self, epoch: int, skip: int = 0, image_size: int | None = None, policy: bool = True):
        """Yields the batches of ``epoch`` at ``image_size`` (default: the decoded size), from step
        ``skip`` on; ``policy`` False: the crops and flips alone."""
        from .memory import resize

        size = image_size or self.cropped.size
        augment = self.augment if policy else _without_policy(self.augment)
        steps, per_run = len(self.cropped), self.batches_per_run
        runs = [list(range(start, min(start + per_run, steps))) for start in range(0, steps, per_run)]
        pipes, pending = [], []
        for k in range(self.pipelines):
            mine = [step for run in runs[k::self.pipelines] for step in run]
            labels: collections.deque = collections.deque()
            source = _run_source(self.cropped.host_epoch(epoch, steps=mine), per_run, size, labels, resize)
            threads = max(1, self.threads // self.pipelines + (k < self.threads % self.pipelines))
            dali_seed = self.seed * 1_000_003 + epoch * 1009 + self.shard.index * self.pipelines + k
            kwargs, on_gpu = _pipeline_kwargs(self.cropped.batch_size * per_run, threads, self.device, dali_seed)
            pipe = cropped_pipeline(source, size, augment, on_gpu, **kwargs)
            pipe.build()
            pipes.append(pipe)
            pending.append(labels)
        step = 0
        for index in range(len(runs)):
            k = index % self.pipelines
            (images,) = pipes[k].run()
            images = _to_torch(images, self.device)
            labels = pending[k].popleft().to(self.device, non_blocking=True)
            for start in range(0, len(images), self.cropped.batch_size):
                if step >= skip:
                    yield images[start:start + self.cropped.batch_size], labels[start:start + self.cropped.batch_size]
                step += 1


def _run_source(batches, per_run: int, size: int, labels: collections.deque, resize):
    """DALI's source: ``batches`` (host images and labels) joined ``per_run`` at a time and
    resized to ``size``; each run's labels are queued for the loop that takes its output."""
    held = []
    for batch in batches:
        held.append(batch)
        if len(held) == per_run:
            yield _joined(held, size, labels, resize)
            held = []
    if held:
        yield _joined(held, size, labels, resize)


def _joined(held, size: int, labels: collections.deque, resize):
    labels.append(torch.cat([batch_labels for _, batch_labels in held]))
    return resize(torch.cat([images for images, _ in held]), size).numpy()


def _to_torch(images, device: torch.device) -> torch.Tensor:
    """A DALI batch of same-shaped images as one torch tensor on ``device`` (a copy: DALI reuses its buffers)."""
    from nvidia.dali.plugin.pytorch import feed_ndarray

    dense = images.as_tensor()
    out = torch.empty(dense.shape(), dtype=torch.uint8,
                      device=device if hasattr(images, "as_cpu") else torch.device("cpu"))
    feed_ndarray(dense, out)
    return out.to(device, non_blocking=True)


DECODE_BATCH = 256  # images per DALI run when a set is decoded once


def _every_image(pipe, count: int) -> torch.Tensor:
    """All ``count`` images a CPU pipeline reads, in order, as one uint8 [N, H, W, 3] host tensor."""
    pipe.build()
    decoded = torch.cat([images.clone() for images, _ in DaliLoader(pipe, torch.device("cpu"))])
    assert decoded.shape[0] == count, (decoded.shape, count)
    return decoded


def decoded_train_images(samples: Samples, *, image_size: int, augment: AugmentConfig, threads: int) -> torch.Tensor:
    """Every training image decoded and resized as the training pipeline does before its
    pad-and-crop: uint8 [N, S, S, 3] on the host, in ``samples``' order."""
    kwargs, _ = _pipeline_kwargs(DECODE_BATCH, threads, torch.device("cpu"), 0)
    return _every_image(decode_pipeline(samples.files, samples.labels, image_size, augment, **kwargs), len(samples))


def decoded_eval_images(samples: Samples, *, image_size: int, crop_pct: float, threads: int) -> torch.Tensor:
    """Every evaluation image as the evaluation pipeline gives it: uint8 [N, S, S, 3] on the host."""
    kwargs, _ = _pipeline_kwargs(DECODE_BATCH, threads, torch.device("cpu"), 0)
    pipe = eval_pipeline(samples.files, samples.labels, Shard(), image_size, crop_pct, False, **kwargs)
    return _every_image(pipe, len(samples))


def eval_loader(samples: Samples, *, batch_size: int, image_size: int, crop_pct: float,
                device: torch.device, threads: int, shard: Shard = Shard()) -> DaliLoader:
    kwargs, on_gpu = _pipeline_kwargs(batch_size, threads, device, 0)
    pipe = eval_pipeline(samples.files, samples.labels, shard, image_size, crop_pct, on_gpu, **kwargs)
    pipe.build()
    return DaliLoader(pipe, device)
