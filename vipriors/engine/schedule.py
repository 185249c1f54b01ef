"""Learning-rate schedule: linear warm-up, then cosine decay to zero, stepped per iteration."""
from __future__ import annotations

import math
from dataclasses import dataclass


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


@dataclass(frozen=True)
class LearningRate:
    """The learning rate of every step, a pure function of the steps done before it: a run
    resumes from its step count alone, and a --lr given on resume applies from the next step."""
    peak: float
    warmup_steps: int
    total_steps: int

    def __call__(self, step: int) -> float:
        return self.peak * warmup_cosine(step, self.warmup_steps, self.total_steps)


def scaled_lr(base_lr: float, global_batch: int) -> float:
    """The linear scaling rule: base_lr per 256 images."""
    return base_lr * global_batch / 256


def progressive_size(epoch: int, epochs: int, full: int, minimum: int, ramp: tuple[float, float], step: int) -> int:
    """The training image size of ``epoch`` (0-based) under progressive resizing.

    ``minimum`` until ``ramp[0] * epochs``, then rising linearly to ``full`` at
    ``ramp[1] * epochs`` (FFCV's ImageNet schedule), rounded to a multiple of ``step``
    so that only a handful of sizes occur; ``full`` from there on, and always in the last
    epoch (the model is evaluated at full size). ``minimum`` 0 is off.
    """
    if minimum <= 0 or minimum >= full:
        return full
    start, end = ramp[0] * epochs, ramp[1] * epochs
    if epoch >= end or epoch == epochs - 1:
        return full
    share = 0.0 if epoch < start else (epoch - start) / (end - start)
    size = step * round((minimum + share * (full - minimum)) / step)
    return max(minimum, min(full, size))


def progressive_sizes(epochs: int, full: int, minimum: int, ramp: tuple[float, float], step: int) -> list[int]:
    """Every epoch's training size, in order."""
    return [progressive_size(e, epochs, full, minimum, ramp, step) for e in range(epochs)]
