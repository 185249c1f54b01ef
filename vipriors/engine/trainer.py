"""The training loop: DALI batches -> fused mix op -> model (AMP, compiled, DDP) -> optimiser.

A run can always continue exactly where it stopped: every checkpoint holds the model,
optimiser, schedule, scaler, EMA, every rank's RNG states and the position inside the
epoch, and the batches of an epoch are a pure function of (seed, epoch, rank).
"""
from __future__ import annotations

import math
import os
import random
import signal
import time

import torch
import torch.nn.functional as F

from .. import distributed, mixing, ops
from ..config import TrainConfig, to_dict
from ..data import dataset
from ..data.dataset import TrainingData
from ..data.stubborn_file import worst_first
from ..errors import UserError
from ..models import count_parameters, create_model, memory_format, normalize_logits, training_options
from ..models.cpu_grads import use_cpu_grads
from ..models.whitening import whiten_first_conv
from . import autos, checkpoint, cpu_share, eta, host_sync
from .metrics import ClassAccuracy
from .online_labels import OnlineLabels
from .run_folder import RunFolder, new_run_path
from .runlog import progress_bar
from .schedule import LearningRate, progressive_sizes, scaled_lr
from .step import TrainStep


class TrainingError(UserError):
    pass


NORM_LAYERS = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)


def build_optimizer(model: torch.nn.Module, name: str, lr: float, momentum: float, weight_decay: float,
                    norm_bias_lr_scale: float = 1.0):
    """Weight decay on weights only (not on norm scales/shifts or biases); each group's
    ``lr_scale`` multiplies the step's learning rate (TrainStep): the norm layers' biases, in
    a group of their own unless ``norm_bias_lr_scale`` is 1, by ``norm_bias_lr_scale``."""
    norm_biases = set() if norm_bias_lr_scale == 1.0 else {
        id(m.bias) for m in model.modules() if isinstance(m, NORM_LAYERS) and m.bias is not None}
    decay, no_decay, fast = [], [], []
    for p in model.parameters():
        if p.requires_grad:
            (fast if id(p) in norm_biases else no_decay if p.ndim <= 1 else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay, "lr_scale": 1.0},
              {"params": no_decay, "weight_decay": 0.0, "lr_scale": 1.0},
              {"params": fast, "weight_decay": 0.0, "lr_scale": norm_bias_lr_scale}]
    groups = groups if fast else groups[:2]
    fused = all(p.device.type in FUSED_OPTIMIZER_DEVICES for group in groups for p in group["params"])
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=name == "nesterov", fused=fused)
    return {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name](groups, lr=lr, fused=fused)


# Where torch's fused optimiser kernels run: one pass over every parameter per step instead of a
# few small operations per tensor (torch's default on a CPU), which is a few percent of a small
# network's step. SGD's arithmetic is the loop's, bit for bit; Adam's can differ in the last bit.
FUSED_OPTIMIZER_DEVICES = ("cpu", "cuda")

# The optimiser group entries that come from the run's settings, not from its checkpoint (a
# checkpoint written without the fused kernels resumes with them).
GROUP_SETTINGS = ("lr_scale", "weight_decay", "momentum", "nesterov", "fused", "lookahead_k", "lookahead_alpha")


class Trainer:
    """Trains ``config`` (resolved by ``autos.resolve``) on ``data``, writing to ``run``."""

    def __init__(self, config: TrainConfig, env: distributed.DistEnv, data: TrainingData, run: RunFolder,
                 branch_from: str | None = None):
        """``branch_from``: a checkpoint whose whole state the new run in ``run`` starts from."""
        self.config, self.env, self.data, self.run, self.device = config, env, data, run, env.device
        self.branch_from = branch_from
        self.classes = data.classes
        d = config.data
        self.image_sizes = progressive_sizes(config.optim.epochs, d.image_size, d.progressive_min_size,
                                             d.progressive_ramp, d.progressive_step)
        self.epoch_seconds: dict[int, float] = {}  # image size -> its latest whole epoch here (the ETA)
        torch.manual_seed(config.runtime.seed + env.rank)
        self._setup_model()
        self._setup_optimisation()
        self.mode_rng = random.Random(config.runtime.seed * 1000 + env.rank)  # the mixing mode of each batch
        self.stubborn = torch.zeros(len(self.classes), dtype=torch.bool, device=self.device)  # SIA's classes
        self.stubborn[[self.classes.index(n) for n in data.stubborn]] = True
        self.sia_on = config.mix.stubborn_classes > 0 or config.mix.stubborn_file is not None
        # Where training (re)starts: epoch, batches already done in it, their loss sums.
        self.epoch, self.epoch_step, self.step = 0, 0, 0
        self.partial = {"loss_sum": 0.0, "seen": 0}
        self.best_top1, self.best_epoch = -1.0, -1
        self.stop_requested = False
        self.stop_vote = distributed.StopVote(env)
        if run.resuming and run.has_checkpoint():
            self._restore(run.load_last(), run.file("last.pt"))
            self.run.log.say(f"vipriors: resuming {run.path} at {self._position()}")
        elif branch_from:
            self._branch(branch_from)
        elif config.optim.init_from:
            self._init_from(config.optim.init_from)
        run.log.keep_epochs_up_to(self.epoch)
        run.start(config)
        self._describe()

    # ------------------------------------------------------------------ set-up

    def _setup_model(self) -> None:
        config, env = self.config, self.env
        self.amp = autos.autocast_dtype(config.runtime.amp)
        self.memory_format = memory_format(config.model.memory_format)
        self.mean = ops.channel_constants(config.data.mean, self.device, "--mean")
        self.std = ops.channel_constants(config.data.std, self.device, "--std", positive=True)
        model = create_model(config.model.arch, len(self.classes), **training_options(config.model.drop_rate))
        normalize_logits(model, config.model.cosine_head)
        model = model.to(self.device, memory_format=self.memory_format)
        self.cpu_grad_layers = use_cpu_grads(model) if config.model.cpu_grads == "on" else 0
        self.whitened = 0
        if config.model.whiten_init and not (self.run.resuming or self.branch_from or config.optim.init_from):
            self._whiten(model)
        self.model_core = model
        self.ema = None
        if config.optim.ema_decay > 0:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(model, decay=config.optim.ema_decay)
        if env.enabled:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        compiled = config.runtime.compile == "on"
        # Under progressive resizing each size is its own static graph (a handful, by
        # --progressive-step), rather than one graph with a dynamic size.
        dynamic = False if len(set(self.image_sizes)) > 1 else None
        self.model = torch.compile(model, mode=config.runtime.compile_mode, dynamic=dynamic) if compiled else model

    def _whiten(self, model: torch.nn.Module, images: int = 512) -> None:
        """--whiten-init from the first training images of epoch 1, at full size."""
        batches, seen = [], 0
        for batch, _ in self.data.train_batches.epoch(0, image_size=self.config.data.image_size):
            batches.append(ops.normalize(batch, self.mean, self.std, torch.float32))
            seen += len(batch)
            if seen >= images:
                break
        self.whitened = whiten_first_conv(model, torch.cat(batches)[:images])

    def _setup_optimisation(self) -> None:
        optim, data = self.config.optim, self.config.data
        self.peak_lr = optim.lr if optim.lr is not None else scaled_lr(optim.base_lr, data.batch_size * self.env.world_size)
        self.optimizer = build_optimizer(self.model_core, optim.optimizer, self.peak_lr, optim.momentum, optim.weight_decay,
                                         optim.norm_bias_lr_scale)
        if optim.lookahead_k:
            from timm.optim import Lookahead

            self.optimizer = Lookahead(self.optimizer, alpha=optim.lookahead_alpha, k=optim.lookahead_k)
        steps_per_epoch = len(self.data.train_batches)
        self.lr = LearningRate(self.peak_lr, round(optim.warmup_epochs * steps_per_epoch), optim.epochs * steps_per_epoch)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)
        self.online = OnlineLabels(len(self.classes), self.device) if optim.online_smoothing else None
        self.train_step = TrainStep(
            self.model, self.optimizer, mean=self.mean, std=self.std, mix=self.config.mix, amp=self.amp,
            memory_format=self.memory_format, label_smoothing=optim.label_smoothing, lr=self.lr,
            scaler=self.scaler, ema=self.ema, ema_source=self.model_core, online=self.online,
            online_weight=optim.online_smoothing,
            cosine_scale=self.config.model.cosine_head if optim.loss == "cosine" else 0.0, xent_weight=optim.xent_weight)

    def _describe(self) -> None:
        config, data = self.config, self.data
        global_batch = config.data.batch_size * self.env.world_size
        extras = [f"EMA {config.optim.ema_decay}"] if self.ema else []
        if config.optim.lookahead_k:
            extras.append(f"Lookahead k {config.optim.lookahead_k}, alpha {config.optim.lookahead_alpha:g}")
        extras += [f"{self.whitened} whitened first-layer filters"] if self.whitened else []
        extras += [f"CPU gradients in {self.cpu_grad_layers} layers"] if self.cpu_grad_layers else []
        if self.online is not None:
            extras.append(f"online label smoothing {config.optim.online_smoothing:g}")
        if config.model.cosine_head:
            extras.append(f"cosine head x{config.model.cosine_head:g}")
        if config.optim.loss == "cosine":
            extras.append(f"cosine loss + {config.optim.xent_weight:g} x cross-entropy")
        self.run.log.say(
            f"vipriors: {config.model.arch} ({count_parameters(self.model_core) / 1e6:.2f} M params, "
            f"{config.model.memory_format}) on {self.device} x{self.env.world_size}, amp {config.runtime.amp}, "
            f"compile {config.runtime.compile}" + "".join(f", {e}" for e in extras) + "\n"
            f"  data {data.root}: {len(data.train)} train / {len(data.val)} val images, "
            f"{len(self.classes)} classes, {config.data.image_size}px\n"
            f"  batch {global_batch} (global), peak lr {self.peak_lr:.4g}, {config.optim.epochs} epochs; "
            f"run folder {self.run.path}" + "".join(f"\n  note: {n}" for n in data.notes)
        )
        self.run.log.record("start", config=to_dict(config), data_root=data.root, train_images=len(data.train),
                            val_images=len(data.val), notes=data.notes,
                            world_size=self.env.world_size, device=str(self.device),
                            params=count_parameters(self.model_core), start_epoch=self.epoch, start_step=self.epoch_step)

    # ------------------------------------------------------------------ checkpoints

    def _rng_states(self) -> list[dict]:
        mine = {"torch": torch.get_rng_state(), "mode": self.mode_rng.getstate()}
        if self.device.type == "cuda":
            mine["cuda"] = torch.cuda.get_rng_state(self.device)
        return distributed.gather_objects(mine, self.env)

    def _state(self) -> dict:
        rng = self._rng_states()  # every rank takes part in the gather
        online = self.online.state_dict(self.env) if self.online is not None else None  # every rank takes part
        return {
            "model": self.model_core.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema else None,
            "epoch": self.epoch, "epoch_step": self.epoch_step, "step": self.step, "partial": dict(self.partial),
            "best_top1": self.best_top1, "best_epoch": self.best_epoch, "stubborn": self.stubborn.cpu(),
            "classes": list(self.classes), "class_words": list(self.data.class_words), "config": to_dict(self.config),
            "rng": rng, "world_size": self.env.world_size, "online_labels": online,
        }

    def _save(self, improved: bool = False) -> None:
        state = self._state()
        every = self.config.runtime.checkpoint_every
        keep = f"epoch_{self.epoch}.pt" if every and self.epoch_step == 0 and self.epoch % every == 0 else None
        best = None
        if improved:
            best = {k: state[k] for k in ("model", "ema", "classes", "class_words", "config", "best_top1")}
            best["epoch"] = self.best_epoch
        self.run.save(state, best=best, keep_as=keep)

    def _check_classes(self, state: dict, path: str) -> None:
        if list(state["classes"]) != list(self.classes):
            raise TrainingError(f"{path} was trained on {len(state['classes'])} classes ({state['classes'][:3]}...), "
                                f"the data here has {len(self.classes)} ({list(self.classes[:3])}...); use the same class folders")

    def _restore(self, state: dict, path: str) -> None:
        self._check_classes(state, path)
        self.model_core.load_state_dict(state["model"])
        settings = [{key: group[key] for key in GROUP_SETTINGS if key in group} for group in self.optimizer.param_groups]
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError as error:  # another grouping of the parameters
            raise TrainingError(f"{path}: its optimiser state does not fit these settings ({error}); "
                                "resume with the run's own --norm-bias-lr-scale") from None
        # Loading replaces the groups with the saved ones; their hyperparameters are this run's
        # settings (a --weight-decay, --momentum or --norm-bias-lr-scale given on resume
        # applies, as --lr does), their state (momentum buffers) the saved run's.
        for group, mine in zip(self.optimizer.param_groups, settings):
            group.update(mine)
        self.scaler.load_state_dict(state["scaler"])
        if self.ema and state.get("ema") is not None:
            self.ema.module.load_state_dict(state["ema"])
        if self.online is not None and state.get("online_labels") is not None:
            self.online.load_state_dict(state["online_labels"], self.env)
        self.epoch, self.epoch_step, self.step = state["epoch"], state["epoch_step"], state["step"]
        self.partial = dict(state["partial"])
        self.best_top1, self.best_epoch = state["best_top1"], state["best_epoch"]
        self.stubborn.copy_(state["stubborn"])
        if state["world_size"] == self.env.world_size:
            mine = state["rng"][self.env.rank]
            torch.set_rng_state(mine["torch"])
            self.mode_rng.setstate(mine["mode"])
            if "cuda" in mine and self.device.type == "cuda":
                torch.cuda.set_rng_state(mine["cuda"], self.device)
        else:
            self.run.log.say(f"note: the run had {state['world_size']} processes, now {self.env.world_size}: "
                             "training continues, but not bit for bit as before")

    def _position(self) -> str:
        return f"epoch {self.epoch + 1}" + (f", step {self.epoch_step}" if self.epoch_step else "")

    def _branch(self, path: str) -> None:
        """Starts from ``path``'s whole state, so the branch trains on exactly as its run would
        have with the branch's settings, wherever those act only after the checkpoint. Its log
        begins with the run's history up to the checkpoint; its best.pt is its own."""
        self._restore(checkpoint.load(path), path)
        self.best_top1, self.best_epoch = -1.0, -1
        self.run.log.start_from(os.path.join(os.path.dirname(path), "log.jsonl"), self.epoch)
        self.run.log.record("branch", checkpoint=os.path.abspath(path), epoch=self.epoch, epoch_step=self.epoch_step)
        self.run.log.say(f"vipriors: branching from {path} at {self._position()} into {self.run.path}")

    def _init_from(self, path: str) -> None:
        state = checkpoint.load(path)
        self._check_classes(state, path)
        self.model_core.load_state_dict(state["model"])
        if self.ema:
            self.ema.module.load_state_dict(state["model"])
        self.run.log.say(f"vipriors: weights from {path} (fresh optimiser and schedule)")

    # ------------------------------------------------------------------ the loop

    def _stop_agreed(self) -> bool:
        """Whether the ranks agree to stop here (all at the same step: under DDP one step after
        the first was asked, distributed.StopVote)."""
        return self.stop_vote.poll(self.stop_requested)

    def _train_epoch(self, epoch: int) -> dict | None:
        """One epoch from ``self.epoch_step``; None when a stop signal ended it early."""
        self.model.train()
        mix = self.config.mix
        mixing_on = (epoch < self.config.optim.epochs - mix.mix_off_epochs
                     and self.image_sizes[epoch] >= mix.mix_min_size)
        policy_on = epoch < self.config.optim.epochs - self.config.augment.policy_off_epochs
        stubborn = self.stubborn if self.sia_on else None
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        seen, timed_images, timer_start = 0, 0, None
        total = len(self.data.train_batches)
        bar = progress_bar(total, f"epoch {epoch + 1}", self.env.is_main)
        bar.update(self.epoch_step)
        batches = self.data.train_batches.epoch(epoch, skip=self.epoch_step, image_size=self.image_sizes[epoch],
                                                policy=policy_on)
        for images, labels in batches:
            mode = mixing.choose_mode(mix, self.mode_rng) if mixing_on else "none"
            loss = self.train_step(images, labels, mode, stubborn, step=self.step)
            self.step += 1
            self.epoch_step += 1
            loss_sum += loss.double() * labels.numel()
            seen += labels.numel()
            if timer_start is None:  # the first step carries compilation and warm-up: not timed
                with host_sync.allowed("the epoch's timer starts, once per epoch"):
                    self._sync()
                timer_start = time.perf_counter()
            else:
                timed_images += labels.numel()
            bar.update(1)
            if self.epoch_step % self.config.runtime.log_every == 0:
                with host_sync.allowed("the running loss, every --log-every steps"):
                    mean_loss = (loss_sum / seen).item()
                self._check_finite(mean_loss, epoch)
                bar.set_postfix(loss=f"{mean_loss:.3f}", lr=f"{self.lr(self.step):.3g}")
            if self._stop_agreed() and self.epoch_step < total:
                with host_sync.allowed("a stop: the loss so far goes into the checkpoint"):
                    self._carry(loss_sum, seen)
                bar.close()
                return None
        if self.online is not None:
            self.online.end_epoch(self.env)
        with host_sync.allowed("the epoch's loss and time, once per epoch"):
            self._sync()
            bar.close()
            self._carry(loss_sum, seen)
            elapsed = time.perf_counter() - timer_start if timer_start else 0.0
            totals = torch.tensor([self.partial["loss_sum"], float(self.partial["seen"])], dtype=torch.float64,
                                  device=self.device)
            totals = distributed.all_reduce_sum(totals, self.env)
            mean_loss = (totals[0] / totals[1]).item()
        self._check_finite(mean_loss, epoch)
        rate = timed_images * self.env.world_size / elapsed if elapsed else None
        return {"train_loss": mean_loss, "images_per_sec": rate, "image_size": self.image_sizes[epoch],
                "images_per_sec_per_process": rate / self.env.world_size if rate else None}

    def _carry(self, loss_sum: torch.Tensor, seen: int) -> None:
        """Adds this stretch of the epoch to the sums a checkpoint carries across a restart."""
        self.partial = {"loss_sum": self.partial["loss_sum"] + loss_sum.item(), "seen": self.partial["seen"] + seen}

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module | None = None) -> dict:
        model = model or self.model
        model.eval()
        meter = ClassAccuracy(len(self.classes), self.device)
        for images, labels in self.data.val_loader:
            x = ops.normalize(images, self.mean, self.std, self.amp or torch.float32)
            x = x if self.memory_format is torch.channels_last else x.contiguous()
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                logits = model(x).float()
            meter.update(logits, labels, F.cross_entropy(logits, labels, reduction="none"))
        with host_sync.allowed("the evaluation's counts, once per evaluation"):
            return meter.reduce(self.env)

    def _update_stubborn(self, evaluation: dict) -> list[str]:
        """The method's loop: the k classes of lowest validation accuracy get SIA next epoch."""
        k = self.config.mix.stubborn_classes
        if k == 0:  # a fixed set from --stubborn-file
            return [self.classes[c] for c in torch.nonzero(self.stubborn).flatten().tolist()]
        evaluated = [c for c, n in enumerate(evaluation["class_counts"]) if n > 0]
        # Lowest accuracy first; among equal accuracies (dozens of classes sit at 0% early on
        # with many classes) the highest validation loss, so the set is the hardest classes.
        accuracy = {self.classes[c]: evaluation["per_class"][c] for c in evaluated}
        loss = {self.classes[c]: evaluation["per_class_loss"][c] for c in evaluated}
        worst = worst_first(accuracy, loss)[:k]
        self.stubborn.zero_()
        self.stubborn[[self.classes.index(name) for name in worst]] = True
        return worst

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _check_finite(self, loss: float, epoch: int) -> None:
        if not math.isfinite(loss):
            raise TrainingError(
                f"the training loss became {loss} in epoch {epoch + 1}; the last good checkpoint is kept in "
                f"{self.run.path}. Lower --lr/--base-lr or use --amp bf16/off, then --resume {self.run.path}"
            )

    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True
        steps = "this step and the next (the ranks stop together)" if self.env.enabled else "this step"
        self.run.log.say(f"\nvipriors: {signal.Signals(signum).name} received: finishing {steps}, then saving")

    def fit(self) -> dict:
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._fit()
        finally:
            self.stop_vote.close()
            for s, h in handlers.items():
                signal.signal(s, h)

    def _fit(self) -> dict:
        epochs = self.config.optim.epochs
        evaluation = None
        while self.epoch < epochs:
            epoch, start, whole = self.epoch, time.perf_counter(), self.epoch_step == 0
            train = self._train_epoch(epoch)
            if train is None:
                self._save()
                return self._stopped()
            if self.config.optim.lookahead_k:
                # The weights an epoch ends with (evaluated, saved, predicted) are the slow ones,
                # as timm's trainer does it; the step is the same whatever --eval-every says.
                self.optimizer.sync_lookahead()
            evaluated = (epoch + 1) % self.config.runtime.eval_every == 0 or epoch + 1 == epochs
            improved, ema_eval, stubborn = False, None, None
            if evaluated:
                evaluation = self.evaluate()
                ema_eval = self.evaluate(self.ema.module) if self.ema else None
                stubborn = self._update_stubborn(evaluation) if self.sia_on else []
                improved = evaluation["top1"] > self.best_top1
                if improved:
                    self.best_top1, self.best_epoch = evaluation["top1"], epoch
                self.run.write_per_class(self.classes, self.data.class_words, evaluation, epoch + 1)
            # The epoch's log line goes before its checkpoint: a resume drops the lines of
            # epochs after its checkpoint, so a kill between the two never loses a line.
            seconds = time.perf_counter() - start
            if whole:  # a resumed epoch's part says nothing of a whole epoch's time
                self.epoch_seconds[self.image_sizes[epoch]] = seconds
            self._log_epoch(epoch, train, evaluation if evaluated else None, ema_eval, stubborn, seconds)
            self.epoch, self.epoch_step, self.partial = epoch + 1, 0, {"loss_sum": 0.0, "seen": 0}
            self._save(improved)
            if self.epoch < epochs and self._stop_agreed():
                return self._stopped()
        summary = {"run_dir": self.run.path, "stopped": False, "final_top1": evaluation["top1"] if evaluation else None,
                   "best_top1": self.best_top1, "best_epoch": self.best_epoch + 1}
        if evaluation is not None:
            self.run.log.say(f"done: val top-1 {100 * evaluation['top1']:.2f}% (best {100 * self.best_top1:.2f}% at epoch "
                             f"{self.best_epoch + 1}); checkpoints in {self.run.path}")
        self.run.log.record("end", **summary)
        return summary

    def _stopped(self) -> dict:
        command = f"torchrun --nproc_per_node={self.env.world_size} scripts/train.py --resume {self.run.path}"
        where = f"in epoch {self.epoch + 1} at step {self.epoch_step}" if self.epoch_step else f"after epoch {self.epoch}"
        self.run.log.say(f"vipriors: stopped {where}; everything is saved. Continue with:\n  {command}")
        self.run.log.record("stopped", epoch=self.epoch + 1, epoch_step=self.epoch_step, step=self.step)
        return {"run_dir": self.run.path, "stopped": True, "best_top1": self.best_top1}

    def _log_epoch(self, epoch, train, evaluation, ema_eval, stubborn, seconds) -> None:
        epochs, lr = self.config.optim.epochs, self.lr(self.step)
        rate = f"{train['images_per_sec']:.0f} img/s" if train["images_per_sec"] else "-"
        if train["images_per_sec"] and self.env.world_size > 1:
            rate += f" ({train['images_per_sec'] / self.env.world_size:.0f} per process)"
        if train["image_size"] != self.config.data.image_size:
            rate += f" at {train['image_size']}px"
        log = self.run.log
        left = "" if epoch + 1 == epochs else eta.describe(
            eta.remaining_seconds(self.epoch_seconds, self.image_sizes[epoch + 1:]))
        timing = f"{seconds:.1f}s" + (f"  {left}" if left else "")
        if evaluation is None:  # between evaluations (--eval-every)
            log.say(f"epoch {epoch + 1}/{epochs}  loss {train['train_loss']:.4f}  lr {lr:.3g}  {rate}  {timing}")
            log.record("epoch", epoch=epoch + 1, step=self.step, lr=lr, epoch_seconds=seconds, **train)
            return
        ema_text = f"  EMA {100 * ema_eval['top1']:.2f}%" if ema_eval else ""
        log.say(
            f"epoch {epoch + 1}/{epochs}  loss {train['train_loss']:.4f}  val top-1 {100 * evaluation['top1']:.2f}%{ema_text} "
            f"(best {100 * self.best_top1:.2f}%)  lr {lr:.3g}  {rate}  {timing}"
        )
        extra = {"ema_val_top1": ema_eval["top1"]} if ema_eval else {}
        log.record("epoch", epoch=epoch + 1, step=self.step, lr=lr, val_top1=evaluation["top1"],
                   val_loss=evaluation["loss"], val_images=evaluation["images"], per_class_top1=evaluation["per_class"],
                   per_class_val_loss=evaluation["per_class_loss"],
                   stubborn=stubborn, epoch_seconds=seconds, **train, **extra)
        self.run.scalars({"train/loss": train["train_loss"], "train/lr": lr, "val/top1": evaluation["top1"],
                          "val/loss": evaluation["loss"], **({"val/ema_top1": ema_eval["top1"]} if ema_eval else {})},
                         epoch + 1)


def train(config: TrainConfig, resume_dir: str | None = None, branch_from: str | None = None) -> dict:
    """Trains ``config`` (a new run, the run in ``resume_dir``, or a new run starting from the
    checkpoint ``branch_from``); returns the summary."""
    config = autos.resolve(config)  # everything checkable is checked before any work
    env = distributed.init(config.runtime.device)
    try:
        path = resume_dir or distributed.broadcast_object(new_run_path(config), env)
        run = RunFolder(path, env, resume=resume_dir is not None)
        succeeded = False
        try:
            trainer = Trainer(config, env, dataset.prepare(config, env), run, branch_from=branch_from)
            # After the checkpoint is restored: a resume refused there leaves the log as it was.
            crowded = cpu_share.check(torch.get_num_threads()) if env.device.type == "cpu" else None
            if crowded:
                run.log.say(f"warning: {crowded}")
                run.log.record("warning", message=crowded)
            succeeded = True
            return trainer.fit()
        finally:
            run.release(succeeded)
    finally:
        distributed.shutdown(env)
