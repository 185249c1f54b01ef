"""Cross-entropy on mixed labels, without materialising one-hot targets."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def mixed_cross_entropy(logits: torch.Tensor, target_index: torch.Tensor, target_weight: torch.Tensor,
                        label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean over the batch of ``sum_k w_k * CE_ls(logits, t_k)``.

    ``target_index``/``target_weight``: [B, K] label pairs from a mixing plan (weights sum
    to 1). With label smoothing eps, ``CE_ls(z, t) = (1 - eps) * -log p_t + eps * mean_c -log p_c``,
    the same as ``F.cross_entropy(z, soft_targets, label_smoothing=eps)``.
    """
    log_p = F.log_softmax(logits.float(), dim=1)
    picked = (log_p.gather(1, target_index) * target_weight).sum(dim=1)
    return -((1.0 - label_smoothing) * picked + label_smoothing * log_p.mean(dim=1)).mean()
