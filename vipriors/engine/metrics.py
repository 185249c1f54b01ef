"""Accuracy during training: per-class counts accumulated on the device,
reduced across ranks only when read."""
from __future__ import annotations

import torch

from .. import distributed


class ClassAccuracy:
    """Per-class correct/total counts and loss sums (exact: evaluation batches carry no padding).

    Updates are fixed-shape scatters (no boolean indexing), so they never wait for the device.
    """

    def __init__(self, num_classes: int, device: torch.device):
        self.correct = torch.zeros(num_classes, dtype=torch.int64, device=device)
        self.total = torch.zeros(num_classes, dtype=torch.int64, device=device)
        self.loss = torch.zeros(num_classes, dtype=torch.float64, device=device)

    def update(self, logits: torch.Tensor, labels: torch.Tensor, losses: torch.Tensor) -> None:
        """``losses``: each image's loss, [B]."""
        hits = logits.argmax(dim=1) == labels
        self.correct.index_add_(0, labels, hits.long())
        self.total.index_add_(0, labels, torch.ones_like(labels))
        self.loss.index_add_(0, labels, losses.double())

    def reduce(self, env: distributed.DistEnv) -> dict:
        correct = distributed.all_reduce_sum(self.correct.clone(), env).cpu()
        total = distributed.all_reduce_sum(self.total.clone(), env).cpu()
        loss = distributed.all_reduce_sum(self.loss.clone(), env).cpu()
        seen = int(total.sum())
        per_class = (correct.double() / total.clamp(min=1).double()).tolist()
        return {
            "top1": float(correct.sum()) / max(1, seen),
            "loss": float(loss.sum()) / max(1, seen),
            "images": seen,
            "per_class": per_class,
            "per_class_loss": (loss / total.clamp(min=1).double()).tolist(),
            "class_counts": total.tolist(),
        }
