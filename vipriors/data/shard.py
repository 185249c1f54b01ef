"""Which part of a list of images one process reads (DDP ranks, DALI pipelines)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def range(self, n: int) -> tuple[int, int]:
        """The contiguous part of ``n`` items this shard reads (DALI's file reader shards so)."""
        return n * self.index // self.count, n * (self.index + 1) // self.count
