"""Cross-entropy on mixed labels, without materialising one-hot targets."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def mixed_cross_entropy(logits: torch.Tensor, target_index: torch.Tensor, target_weight: torch.Tensor,
                        label_smoothing: float = 0.0, online_table: torch.Tensor | None = None,
                        online_weight: float = 0.0) -> torch.Tensor:
    """Mean over the batch of ``sum_k w_k * CE_ls(logits, t_k)``.

    ``target_index``/``target_weight``: [B, K] label pairs from a mixing plan (weights sum
    to 1). With label smoothing eps, ``CE_ls(z, t) = (1 - eps) * -log p_t + eps * mean_c -log p_c``,
    the same as ``F.cross_entropy(z, soft_targets, label_smoothing=eps)``. With an
    ``online_table`` ([C, C], row t: class t's soft target, ``online_labels``) the loss is
    ``(1 - online_weight)`` times that plus ``online_weight`` times the cross-entropy to
    ``sum_k w_k * online_table[t_k]``.
    """
    log_p = F.log_softmax(logits.float(), dim=1)
    picked = (log_p.gather(1, target_index) * target_weight).sum(dim=1)
    hard = -((1.0 - label_smoothing) * picked + label_smoothing * log_p.mean(dim=1)).mean()
    if online_table is None or online_weight == 0:
        return hard
    soft_targets = (online_table[target_index] * target_weight[..., None]).sum(dim=1)  # [B, C]
    soft = -(soft_targets * log_p).sum(dim=1).mean()
    return (1.0 - online_weight) * hard + online_weight * soft


def mixed_cosine_loss(unit_outputs: torch.Tensor, target_index: torch.Tensor, target_weight: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``1 - cos(output, target)`` (Barz and Denzler, 2020), with
    ``unit_outputs`` [B, C] already L2-normalised and the target the mixing plan's label
    vector ``sum_k w_k * onehot(t_k)``: the cosine is ``<u, t> / |t|``."""
    target = torch.zeros_like(unit_outputs, dtype=torch.float32).scatter_add_(1, target_index, target_weight.float())
    cosine = (unit_outputs.float() * target).sum(dim=1) / target.norm(dim=1)
    return (1.0 - cosine).mean()
