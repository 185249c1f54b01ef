"""Training and evaluation from decoded pixels held in memory: decode once, augment every epoch.

A data-efficient dataset is small: Tiny-200's 20,000 images at 32 px are 60 MB decoded. The
file pipeline decodes and resizes every image again each epoch; here DALI decodes and
resizes each image once (the same operators, so the pixels are the file pipeline's), and
every epoch's pad-and-crop and flip run as one gather over the uint8 batch, which costs
nothing next to the training step. Rotation, blur and the policies, where asked for, then
run in DALI's graph on those batches (vipriors.data.loader.CroppedBatchesThroughDali).

The batches of an epoch are a pure function of (seed, epoch, rank), as in the file
pipeline: the same permutation of the images (``shard.epoch_order``), the rank's
contiguous shard of it, and crop offsets and flips drawn for the epoch from a generator
seeded with (seed, epoch). So a run resumed at any step sees the batches it would have
seen. The draws differ from DALI's, so a run keeps the path it started on (the resolved
``--in-memory`` is saved with the run).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..config import AugmentConfig
from .shard import Shard, epoch_order

# What the in-memory path can do: pad-and-crop and flips here, and after them rotation, blur
# and the policies in DALI's graph fed with the cropped batches (vipriors.data.loader), or the
# ImageNet policy in torch (vipriors.data.torch_policy). Only the random-resized crop needs the
# original file.
def unsupported_augmentation(augment: AugmentConfig) -> str | None:
    """Why ``augment`` needs the file pipeline, or None when the in-memory path runs it."""
    if augment.pad_crop == 0:
        return "the random-resized crop (--pad-crop 0) reads the original file"
    return None


def needs_dali(augment: AugmentConfig) -> bool:
    """Whether ``augment`` has operators after the crop and flip that run in DALI (rotation, blur, a
    policy unless --aa-backend torch runs it)."""
    return augment.rotate_prob > 0 or augment.blur_prob > 0 or (augment.auto_augment != "none"
                                                                 and augment.aa_backend == "dali")


def decoded_gb(images: int, image_size: int) -> float:
    """The size of ``images`` decoded uint8 RGB images of ``image_size`` px, in GB."""
    return images * image_size * image_size * 3 / 1e9


def pad_images(images: torch.Tensor, pad: int) -> torch.Tensor:
    """uint8 [N, H, W, 3] with ``pad`` px of zeros on every side: [N, H + 2 pad, W + 2 pad, 3]."""
    return F.pad(images, (0, 0, pad, pad, pad, pad))


def crop_padded(padded: torch.Tensor, index: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor,
                pad: int) -> torch.Tensor:
    """Windows of images ``index`` of ``padded`` (the decoded set with ``pad`` px of zeros on
    every side), each at its ``offsets`` (y, x) in [0, 2 * pad], mirrored where ``flips``: one
    gather, [B, H, W, 3], as the file pipeline's ``fn.crop(out_of_bounds_policy="pad")`` then
    ``fn.flip`` compute them."""
    batch, height, width = len(index), padded.shape[1] - 2 * pad, padded.shape[2] - 2 * pad
    device = padded.device
    ys = offsets[:, 0:1] + torch.arange(height, device=device)  # [B, H]
    cols = torch.arange(width, device=device)
    cols = torch.where(flips.view(-1, 1), width - 1 - cols, cols)  # [B, W]
    xs = offsets[:, 1:2] + cols
    return padded[index.view(-1, 1, 1), ys.view(batch, height, 1), xs.view(batch, 1, width)]


def crop_and_flip(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad-and-crop and flip of a uint8 [B, H, W, 3] batch (``crop_padded`` of the whole batch)."""
    index = torch.arange(len(images), device=images.device)
    return crop_padded(pad_images(images, pad), index, offsets, flips, pad)


def resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """A uint8 [B, H, W, 3] batch resized to ``size`` x ``size`` (bilinear, antialiased, as the
    file pipeline's resize), for the small sizes of progressive resizing."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    nchw = images.permute(0, 3, 1, 2)
    if images.device.type == "cpu":  # torch's uint8 SIMD kernel (the one our DALI resize runs)
        out = F.interpolate(nchw, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    else:
        out = F.interpolate(nchw.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out = out.round_().clamp_(0, 255).to(torch.uint8)
    return out.permute(0, 2, 3, 1).contiguous()


class MemoryBatches:
    """The training batches of each epoch from decoded ``images`` (uint8 [N, S, S, 3], host): each
    batch is cut from the padded set on the host and moved to ``device``."""

    def __init__(self, images: torch.Tensor, labels: tuple[int, ...], *, batch_size: int, augment: AugmentConfig,
                 device: torch.device, seed: int, shard: Shard = Shard()):
        # Padded once, so a batch is one gather from the decoded set.
        self.padded = pad_images(images, augment.pad_crop)
        self.size, self.batch_size, self.augment, self.device, self.seed = images.shape[1], batch_size, augment, device, seed
        self.labels = torch.tensor(labels, dtype=torch.int64)
        self.shard = shard
        n = len(labels)
        self.steps_per_epoch = (n // shard.count) // batch_size
        # Alternating flips: each image's first-epoch flip, fixed for the run.
        self.first_flip = torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.5

    def __len__(self) -> int:
        return self.steps_per_epoch

    def draws(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Every image's crop offset [N, 2] and flip [N] in ``epoch``, by image index."""
        n, pad, augment = len(self.labels), self.augment.pad_crop, self.augment
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
        if augment.flip_order == "alternate":
            flips = self.first_flip ^ bool(epoch % 2) if augment.hflip > 0 else torch.zeros(n, dtype=torch.bool)
        else:
            flips = torch.rand(n, generator=generator) < augment.hflip
        return offsets, flips

    def host_epoch(self, epoch: int, skip: int = 0, steps=None):
        """Yields the cropped and flipped batches of ``epoch`` at the decoded size, on the host,
        from step ``skip`` on (or those of ``steps``, ascending)."""
        order = torch.tensor(epoch_order(self.seed, epoch, len(self.labels)), dtype=torch.int64)
        begin, end = self.shard.range(len(order))
        mine = order[begin:end]
        offsets, flips = self.draws(epoch)
        for step in (range(skip, self.steps_per_epoch) if steps is None else steps):
            index = mine[step * self.batch_size:(step + 1) * self.batch_size]
            yield crop_padded(self.padded, index, offsets[index], flips[index], self.augment.pad_crop), self.labels[index]

    def epoch(self, epoch: int, skip: int = 0, image_size: int | None = None, policy: bool = True):
        """Yields the batches of ``epoch`` at ``image_size`` (default: the decoded size), from step
        ``skip`` on: crops and flips, which carry no policy whatever ``policy`` says."""
        size = image_size or self.size
        for images, labels in self.host_epoch(epoch, skip):
            yield resize(images.to(self.device, non_blocking=True), size), labels.to(self.device, non_blocking=True)


class MemoryEval:
    """Evaluation batches from decoded ``images`` (the evaluation pipeline's output), the
    rank's contiguous shard, every image exactly once across ranks."""

    def __init__(self, images: torch.Tensor, labels: tuple[int, ...], *, batch_size: int, device: torch.device,
                 shard: Shard = Shard()):
        begin, end = shard.range(len(labels))
        self.images = images[begin:end]
        self.labels = torch.tensor(labels[begin:end], dtype=torch.int64)
        self.batch_size, self.device = batch_size, device

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __iter__(self):
        for start in range(0, len(self.labels), self.batch_size):
            yield (self.images[start:start + self.batch_size].to(self.device, non_blocking=True),
                   self.labels[start:start + self.batch_size].to(self.device, non_blocking=True))
