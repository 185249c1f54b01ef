"""One optimisation step from a uint8 batch, as the trainer runs it (the training-step
benchmark runs this same code): the mixing plan and the fused mix op, the forward pass
under autocast, the mixed-label loss (with online label smoothing's targets where on),
backward, the step's learning rate, optimiser and EMA."""
from __future__ import annotations

import torch

from .. import mixing, ops
from ..config import MixConfig
from .losses import mixed_cosine_loss, mixed_cross_entropy
from .online_labels import OnlineLabels


class TrainStep:
    def __init__(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, mean: torch.Tensor,
                 std: torch.Tensor, mix: MixConfig, amp: torch.dtype | None, memory_format: torch.memory_format,
                 label_smoothing: float = 0.0, lr=None, scaler: torch.amp.GradScaler | None = None,
                 ema=None, ema_source: torch.nn.Module | None = None, online: OnlineLabels | None = None,
                 online_weight: float = 0.0, cosine_scale: float = 0.0, xent_weight: float = 1.0):
        """``model`` is what runs (compiled, DDP-wrapped); ``ema_source`` the plain module the EMA follows;
        ``lr`` maps the steps done to the learning rate of the next (None: the optimiser's own);
        ``online``: online label smoothing's targets, blended in with ``online_weight`` and
        learnt from the unmixed batches; ``cosine_scale`` (the model's cosine head's scale, 0: none):
        the cosine loss on the logits divided by it, plus ``xent_weight`` times the cross-entropy."""
        self.model, self.optimizer, self.lr, self.ema = model, optimizer, lr, ema
        self.online, self.online_weight = online, online_weight
        self.scaler = scaler or torch.amp.GradScaler(enabled=False)
        self.mean, self.std, self.mix, self.amp = mean, std, mix, amp
        self.memory_format, self.label_smoothing = memory_format, label_smoothing
        self.cosine_scale, self.xent_weight = cosine_scale, xent_weight
        self.ema_source = ema_source if ema_source is not None else model
        # Every per-step constant lives on the device once: the step never waits for the host.
        self.sia_range = mixing.sia_range(mix, mean.device)

    def inputs(self, images: torch.Tensor, labels: torch.Tensor, mode: str, stubborn: torch.Tensor | None):
        """The training input and its label mix, in one pass of the fused op."""
        plan = mixing.draw(mode, labels, images.shape[1], images.shape[2], self.mix, stubborn, self.sia_range)
        x = ops.mix_inputs(images, plan, self.mean, self.std, self.amp or torch.float32)
        x = x if self.memory_format is torch.channels_last else x.contiguous()
        return x, plan.target_index, plan.target_weight

    def __call__(self, images: torch.Tensor, labels: torch.Tensor, mode: str, stubborn: torch.Tensor | None = None,
                 step: int = 0) -> torch.Tensor:
        """Trains on one batch; returns the (detached) loss. ``step`` counts the steps done before."""
        x, target_index, target_weight = self.inputs(images, labels, mode, stubborn)
        with torch.autocast(images.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            logits = self.model(x)
        table = self.online.table if self.online is not None else None
        loss = mixed_cross_entropy(logits, target_index, target_weight, self.label_smoothing, table, self.online_weight)
        if self.cosine_scale:
            loss = mixed_cosine_loss(logits / self.cosine_scale, target_index, target_weight) + self.xent_weight * loss
        if self.online is not None and mode == "none":
            self.online.accumulate(logits.detach(), labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.lr is not None:
            lr = self.lr(step)
            for group in self.optimizer.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.ema is not None:
            self.ema.update(self.ema_source, step=step)
        return loss.detach()
