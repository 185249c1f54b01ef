"""Accuracy: top-1 of a score matrix, and per-class counts accumulated on the device,
reduced across ranks only when read."""
from __future__ import annotations

import torch

from . import distributed


def top1(scores, labels) -> float:
    """The share of rows whose highest score is at the row's label (numpy arrays or tensors)."""
    hits = scores.argmax(1) == labels
    return float(hits.sum()) / max(1, len(labels))


class ClassAccuracy:
    """Per-class correct/total counts (exact: evaluation batches carry no padding)."""

    def __init__(self, num_classes: int, device: torch.device):
        self.correct = torch.zeros(num_classes, dtype=torch.int64, device=device)
        self.total = torch.zeros(num_classes, dtype=torch.int64, device=device)
        self.loss_sum = torch.zeros((), dtype=torch.float64, device=device)

    def update(self, logits: torch.Tensor, labels: torch.Tensor, loss_sum: torch.Tensor) -> None:
        n = self.total.numel()
        hits = logits.argmax(dim=1) == labels
        self.correct += torch.bincount(labels[hits], minlength=n)
        self.total += torch.bincount(labels, minlength=n)
        self.loss_sum += loss_sum.double()

    def reduce(self, env: distributed.DistEnv) -> dict:
        correct = distributed.all_reduce_sum(self.correct.clone(), env).cpu()
        total = distributed.all_reduce_sum(self.total.clone(), env).cpu()
        loss_sum = distributed.all_reduce_sum(self.loss_sum.clone(), env).item()
        seen = int(total.sum())
        per_class = (correct.double() / total.clamp(min=1).double()).tolist()
        return {
            "top1": float(correct.sum()) / max(1, seen),
            "loss": loss_sum / max(1, seen),
            "images": seen,
            "per_class": per_class,
            "class_counts": total.tolist(),
        }
