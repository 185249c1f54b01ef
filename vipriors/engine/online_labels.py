"""Online label smoothing (Zhang et al., "Delving Deep into Label Smoothing", 2021): soft
targets that say which classes a class is confused with, learnt by the model as it trains.

Class y's soft target is the mean predicted distribution over the training images of class y
that the model classified correctly in the previous epoch; until a class has such an image,
its target is its one-hot label. Only unmixed batches are counted: a CutMix or RICAP image's
prediction spreads over the classes pasted into it, which is not a confusion of its label.
The loss blends the hard-label cross-entropy with the cross-entropy to these targets
(``losses.mixed_cross_entropy``, ``online_weight``); on a mixed batch each pasted label
brings its class's target, weighted by its area.

Everything stays on the device (no host read per step); the epoch's sums are summed over the
ranks when the epoch ends, and a checkpoint carries the table and the sums of an epoch in
progress, so a resumed run continues bit for bit.
"""
from __future__ import annotations

import torch

from .. import distributed


class OnlineLabels:
    def __init__(self, classes: int, device: torch.device):
        self.table = torch.eye(classes, device=device)  # row y: the soft target of class y
        self.sums = torch.zeros(classes, classes, device=device)
        self.counts = torch.zeros(classes, device=device)

    @torch.no_grad()
    def accumulate(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        """Adds the predicted distributions of the correctly classified images of an unmixed batch."""
        probabilities = torch.softmax(logits.float(), dim=1)
        correct = (probabilities.argmax(dim=1) == labels).float()
        self.sums.index_add_(0, labels, probabilities * correct[:, None])
        self.counts.index_add_(0, labels, correct)

    @torch.no_grad()
    def end_epoch(self, env: distributed.DistEnv) -> None:
        """The epoch's means (summed over the ranks) become the targets of the classes seen; others keep theirs."""
        sums = distributed.all_reduce_sum(self.sums, env)
        counts = distributed.all_reduce_sum(self.counts, env)
        seen = (counts > 0)[:, None]
        self.table = torch.where(seen, sums / counts.clamp_min(1)[:, None], self.table)
        self.sums.zero_()
        self.counts.zero_()

    def state_dict(self, env: distributed.DistEnv) -> dict:
        """The table and the epoch's sums so far over every rank (each rank takes part), as copies."""
        sums, counts = (distributed.all_reduce_sum(t.clone(), env).cpu() for t in (self.sums, self.counts))
        return {"table": self.table.cpu().clone(), "sums": sums, "counts": counts}

    def load_state_dict(self, state: dict, env: distributed.DistEnv) -> None:
        """Rank 0 takes the saved sums (every rank's), the others start theirs from zero, so the
        epoch's sum over the ranks is what it would have been without the stop."""
        device = self.table.device
        self.table = state["table"].to(device)
        self.sums = state["sums"].to(device)
        self.counts = state["counts"].to(device)
        if not env.is_main:
            self.sums.zero_()
            self.counts.zero_()
