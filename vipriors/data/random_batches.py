"""``--data synthetic``: random uint8 batches made on the training device, for measuring the
whole trainer (mixing, AMP, compile, DDP, optimiser, evaluation, checkpoints) without a
dataset or a data loader in the way, as DeepLearningExamples' synthetic backend and timm's
benchmark do. No DALI anywhere on this path.

A few distinct batches are drawn once (a function of (seed, rank)) and handed out in turn,
so a step costs nothing but the training itself, and any step of any epoch is reproducible.
"""
from __future__ import annotations

import torch

from .folder import Samples

SYNTHETIC = "synthetic"  # the --data value that chooses this source
POOL = 4  # distinct batches per rank
VAL_IMAGES = 512  # per rank


def is_synthetic(root: str | None) -> bool:
    return root == SYNTHETIC


def class_names(classes: int) -> tuple[str, ...]:
    return tuple(f"class{c:04d}" for c in range(classes))


def samples(classes: int, images: int, split: str) -> Samples:
    """A stand-in file list: ``images`` names, labels cycling through the classes."""
    return Samples(f"{SYNTHETIC}/{split}", class_names(classes), tuple(f"{split}/{i}" for i in range(images)),
                   tuple(i % classes for i in range(images)))


def _pool(count: int, batch_size: int, image_size: int, classes: int, device: torch.device, seed: int):
    generator = torch.Generator(device=device).manual_seed(seed)
    images = torch.randint(0, 256, (count, batch_size, image_size, image_size, 3), dtype=torch.uint8,
                           generator=generator, device=device)
    labels = torch.randint(0, classes, (count, batch_size), generator=generator, device=device)
    return images, labels


class RandomBatches:
    """``steps`` training batches an epoch, from a pool drawn once per image size."""

    def __init__(self, *, steps: int, batch_size: int, image_size: int, classes: int, device: torch.device, seed: int,
                 rank: int = 0):
        self.steps, self.batch_size, self.image_size, self.classes = steps, batch_size, image_size, classes
        self.device, self.seed = device, seed * 1009 + rank
        self._pools: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.steps

    def epoch(self, epoch: int, skip: int = 0, image_size: int | None = None, policy: bool = True):
        """The batches of ``epoch`` from step ``skip`` on (random images: no augmentation, so
        ``policy`` changes nothing)."""
        size = image_size or self.image_size
        if size not in self._pools:
            self._pools[size] = _pool(min(POOL, self.steps), self.batch_size, size, self.classes, self.device,
                                      self.seed + size)
        images, labels = self._pools[size]
        for step in range(skip, self.steps):
            k = (epoch * self.steps + step) % len(images)
            yield images[k], labels[k]


class RandomEval:
    """A small validation set of random images (every class, ``VAL_IMAGES`` per rank)."""

    def __init__(self, *, batch_size: int, image_size: int, classes: int, device: torch.device, seed: int, rank: int = 0):
        batches = -(-VAL_IMAGES // batch_size)
        self.images, self.labels = _pool(batches, batch_size, image_size, classes, device, seed * 1009 + rank + 7)

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self):
        return zip(self.images, self.labels)
