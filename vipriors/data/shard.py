"""Which images one process reads: its part of a list (DDP ranks, DALI pipelines), and each
epoch's order of the training images."""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def range(self, n: int) -> tuple[int, int]:
        """The contiguous part of ``n`` items this shard reads (DALI's file reader shards so)."""
        return n * self.index // self.count, n * (self.index + 1) // self.count


def epoch_order(seed: int, epoch: int, n: int) -> list[int]:
    """The permutation of the ``n`` training images that ``epoch`` reads (the same on every rank)."""
    return random.Random(f"{seed}/{epoch}").sample(range(n), n)
