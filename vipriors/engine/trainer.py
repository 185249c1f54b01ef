"""The training loop: DALI batches -> fused mix op -> model (AMP, compiled, DDP) -> optimiser.

A run can always continue exactly where it stopped: every checkpoint holds the model,
optimiser, schedule, scaler, EMA, every rank's RNG states and the position inside the
epoch, and the batches of an epoch are a pure function of (seed, epoch, rank).
"""
from __future__ import annotations

import dataclasses
import os
import random
import signal
import sys
import time

import torch
import torch.nn.functional as F

from .. import mixing, ops
from ..data import check, folder, synthetic
from ..data.pipeline import Shard
from ..models import count_parameters, create_model, preferred_memory_format
from . import checkpoint, distributed, report
from .config import TrainConfig, save_yaml, to_dict
from .losses import mixed_cross_entropy
from .metrics import ClassAccuracy
from .runlog import RunLog, progress_bar
from .schedule import build_scheduler, scaled_lr


class TrainingError(RuntimeError):
    pass


def autocast_dtype(requested: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype, or None for full float32."""
    choices = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}
    if requested in choices:
        return choices[requested]
    if requested != "auto":
        raise ValueError(f"--amp must be auto, bf16, fp16 or off, got {requested!r}")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # On a CPU, bf16 pays off only with native bf16 instructions (AVX512-BF16 / AMX).
    return torch.bfloat16 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else None


def use_compile(requested: str, device: torch.device) -> bool:
    if requested not in ("auto", "on", "off"):
        raise ValueError(f"--compile must be auto, on or off, got {requested!r}")
    # On a CPU the compile time (minutes on few cores) outweighs its gain for short runs.
    return requested == "on" or (requested == "auto" and device.type == "cuda")


def build_optimizer(model: torch.nn.Module, name: str, lr: float, momentum: float, weight_decay: float):
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 else decay).append(p)  # norm scales/shifts and biases
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if name in ("sgd", "nesterov"):
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, nesterov=name == "nesterov")
    if name == "adam":
        return torch.optim.Adam(groups, lr=lr)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    raise ValueError(f"--optimizer must be sgd, nesterov, adam or adamw, got {name!r}")


def dataset_root(config: TrainConfig, env: distributed.DistEnv) -> str:
    if config.data.root:
        return config.data.root
    if env.is_main:
        synthetic.ensure_dataset()
    distributed.barrier(env)
    return synthetic.ensure_dataset()


class Trainer:
    def __init__(self, config: TrainConfig, env: distributed.DistEnv, resume_dir: str | None = None):
        self.config, self.env, self.device = config, env, env.device
        torch.manual_seed(config.runtime.seed + env.rank)
        self._setup_data()
        self._setup_model()
        self._setup_optimisation()
        # Where training (re)starts: epoch, batches already done in it, their loss sums.
        self.epoch, self.epoch_step, self.step = 0, 0, 0
        self.partial = {"loss_sum": 0.0, "seen": 0}
        self.best_top1, self.best_epoch = -1.0, -1
        self.stop_requested = False
        self.run_dir = self._prepare_run_dir(resume_dir)
        self.log = RunLog(self.run_dir, env.is_main)
        self.tensorboard = self._tensorboard()
        if resume_dir:
            self._restore(checkpoint.load(os.path.join(self.run_dir, "last.pt")))
        elif config.optim.init_from:
            self._init_from(config.optim.init_from)
        self._describe()

    # ------------------------------------------------------------------ set-up

    def _setup_data(self) -> None:
        config, env = self.config, self.env
        data = config.data
        self.root = dataset_root(config, env)
        self.train_samples = folder.scan_splits(self.root, data.train_split)
        self.val_samples = folder.scan_splits(self.root, data.val_split, self.train_samples.classes)
        self.classes = self.train_samples.classes
        self.data_notes = self._check_files()
        per_rank = len(self.train_samples) // env.world_size
        if per_rank < data.batch_size:
            raise TrainingError(
                f"--batch-size {data.batch_size} is larger than the {per_rank} training images each of the "
                f"{env.world_size} process(es) gets from {self.root}; lower --batch-size"
            )
        if data.pipeline_batch < 0:
            raise TrainingError(f"--pipeline-batch {data.pipeline_batch}: give 0 (one training batch) or more images")
        if data.pipelines < 1:
            raise TrainingError(f"--data-pipelines {data.pipelines}: give 1 or more (2 keeps a CPU loader busiest)")
        shard, threads = Shard(env.rank, env.world_size), max(1, data.threads)
        from ..data.dali_plugin import resolve_resize
        from ..data.loader import TrainBatches, eval_loader  # imports DALI

        # "auto" becomes what this machine runs, and the run's saved config says so: a resume
        # elsewhere then runs the same resize or stops with the reason.
        try:
            config.augment = dataclasses.replace(
                config.augment, resize=resolve_resize(config.augment.resize, self.device.type == "cuda"))
        except ValueError as error:
            raise TrainingError(str(error)) from None

        self.train_batches = TrainBatches(
            self.train_samples, batch_size=data.batch_size, image_size=data.image_size, augment=config.augment,
            device=self.device, threads=threads, seed=config.runtime.seed, shard=shard,
            pipeline_batch=data.pipeline_batch, pipelines=data.pipelines)
        self.val_loader = eval_loader(
            self.val_samples, batch_size=data.batch_size, image_size=data.image_size, crop_pct=data.crop_pct,
            device=self.device, threads=threads, shard=shard)
        self.mean = ops.channel_constants(data.mean, self.device, "--mean")
        self.std = ops.channel_constants(data.std, self.device, "--std", positive=True)
        self.mode_rng = random.Random(config.runtime.seed * 1000 + env.rank)  # the mixing mode of each batch
        self.stubborn = torch.zeros(len(self.classes), dtype=torch.bool, device=self.device)  # SIA's classes
        self.sia_on = config.mix.stubborn_classes > 0 or config.mix.stubborn_file is not None
        if config.mix.stubborn_file:
            names = report.stubborn_from_file(config.mix.stubborn_file, self.classes, config.mix.stubborn_classes)
            self.stubborn[[self.classes.index(n) for n in names]] = True

    def _check_files(self) -> list[str]:
        """Scans every image once (cached) so that no bad file can crash an epoch."""
        data, notes = self.config.data, []
        trained = {s.strip() for s in data.train_split.split(",")}
        if data.val_split in trained:
            notes.append(f"validating on '{data.val_split}', which is also trained on: its accuracy is not a held-out estimate")
        if not data.check:
            return notes
        found = None
        if self.env.is_main:
            found = check.check_files(list(self.train_samples.files + self.val_samples.files), self.root,
                                      progress=sys.stderr.isatty())
        found = distributed.broadcast_object(found, self.env)
        if found.errors and not data.skip_bad_files:
            raise folder.DatasetError(found.text() + "\nFix or remove these files, or pass --skip-bad-files to train without them.")
        if found.errors:
            bad = found.bad_files
            self.train_samples = self.train_samples.without(bad)
            self.val_samples = self.val_samples.without(bad)
            notes.append(f"left out {len(bad)} bad files (--skip-bad-files); see scripts/check_data.py for the list")
        return notes

    def _setup_model(self) -> None:
        config, env = self.config, self.env
        runtime = config.runtime
        self.amp = autocast_dtype(runtime.amp, self.device)
        self.memory_format = preferred_memory_format(config.model.arch, config.model.memory_format, self.device.type)
        model = create_model(config.model.arch, len(self.classes)).to(self.device, memory_format=self.memory_format)
        self.model_core = model
        self.ema = None
        if config.optim.ema_decay > 0:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(model, decay=config.optim.ema_decay)
        if env.enabled:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.compiled = use_compile(runtime.compile, self.device)
        self.model = torch.compile(model, mode=runtime.compile_mode) if self.compiled else model

    def _setup_optimisation(self) -> None:
        optim, data = self.config.optim, self.config.data
        global_batch = data.batch_size * self.env.world_size
        self.peak_lr = optim.lr if optim.lr is not None else scaled_lr(optim.base_lr, global_batch)
        self.optimizer = build_optimizer(self.model_core, optim.optimizer, self.peak_lr, optim.momentum, optim.weight_decay)
        steps_per_epoch = len(self.train_batches)
        self.scheduler = build_scheduler(self.optimizer, round(optim.warmup_epochs * steps_per_epoch), optim.epochs * steps_per_epoch)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)

    def _prepare_run_dir(self, resume_dir: str | None) -> str:
        if resume_dir:
            return resume_dir
        runtime = self.config.runtime
        data_name = os.path.basename(os.path.normpath(self.config.data.root)) if self.config.data.root else "builtin"
        name = runtime.name or f"{self.config.model.arch}-{data_name}-{time.strftime('%Y%m%d-%H%M%S')}"
        run_dir = distributed.broadcast_object(os.path.join(runtime.output_dir, name), self.env)
        if self.env.is_main:
            if os.path.exists(os.path.join(run_dir, "last.pt")):
                raise TrainingError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or pick another --name")
            os.makedirs(run_dir, exist_ok=True)
            save_yaml(self.config, os.path.join(run_dir, "config.yaml"))
        distributed.barrier(self.env)
        return run_dir

    def _tensorboard(self):
        if not (self.config.runtime.tensorboard and self.env.is_main):
            return None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ValueError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
        return SummaryWriter(os.path.join(self.run_dir, "tensorboard"))

    def _describe(self) -> None:
        amp = {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp]
        fmt = "channels_last" if self.memory_format is torch.channels_last else "contiguous"
        global_batch = self.config.data.batch_size * self.env.world_size
        extras = [f"EMA {self.config.optim.ema_decay}"] if self.ema else []
        self.log.say(
            f"vipriors: {self.config.model.arch} ({count_parameters(self.model_core) / 1e6:.2f} M params, {fmt}) on "
            f"{self.device} x{self.env.world_size}, amp {amp}, compile {'on' if self.compiled else 'off'}"
            + "".join(f", {e}" for e in extras) + "\n"
            f"  data {self.root}: {len(self.train_samples)} train / {len(self.val_samples)} val images, "
            f"{len(self.classes)} classes, {self.config.data.image_size}px\n"
            f"  batch {global_batch} (global), peak lr {self.peak_lr:.4g}, {self.config.optim.epochs} epochs; run folder {self.run_dir}"
            + "".join(f"\n  note: {n}" for n in self.data_notes)
        )
        self.log.record("start", config=to_dict(self.config), data_root=self.root, notes=self.data_notes,
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
        return {
            "model": self.model_core.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema else None,
            "epoch": self.epoch, "epoch_step": self.epoch_step, "step": self.step, "partial": dict(self.partial),
            "best_top1": self.best_top1, "best_epoch": self.best_epoch, "stubborn": self.stubborn.cpu(),
            "classes": list(self.classes), "config": to_dict(self.config), "rng": rng, "world_size": self.env.world_size,
        }

    def _save(self, improved: bool = False) -> None:
        state = self._state()
        if not self.env.is_main:
            return
        checkpoint.save_atomic(state, os.path.join(self.run_dir, "last.pt"))
        every = self.config.runtime.checkpoint_every
        if every and self.epoch_step == 0 and self.epoch % every == 0:
            checkpoint.save_atomic(state, os.path.join(self.run_dir, f"epoch_{self.epoch}.pt"))
        if improved:
            best = {k: state[k] for k in ("model", "ema", "classes", "config", "best_top1")}
            checkpoint.save_atomic(dict(best, epoch=self.best_epoch), os.path.join(self.run_dir, "best.pt"))

    def _check_classes(self, state: dict, path: str) -> None:
        if list(state["classes"]) != list(self.classes):
            raise TrainingError(f"{path} was trained on {len(state['classes'])} classes ({state['classes'][:3]}...), "
                                f"the data here has {len(self.classes)} ({list(self.classes[:3])}...); use the same class folders")

    def _restore(self, state: dict) -> None:
        self._check_classes(state, os.path.join(self.run_dir, "last.pt"))
        self.model_core.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self._apply_peak_lr()  # a --lr given on resume wins over the saved one
        self.scaler.load_state_dict(state["scaler"])
        if self.ema and state.get("ema") is not None:
            self.ema.module.load_state_dict(state["ema"])
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
            self.log.say(f"note: the run had {state['world_size']} processes, now {self.env.world_size}: "
                         "training continues, but not bit for bit as before")
        where = f"epoch {self.epoch + 1}" + (f", step {self.epoch_step}" if self.epoch_step else "")
        self.log.say(f"vipriors: resuming {self.run_dir} at {where}")

    def _apply_peak_lr(self) -> None:
        groups = self.optimizer.param_groups
        self.scheduler.base_lrs = [self.peak_lr] * len(groups)
        factor = self.scheduler.lr_lambdas[0](self.scheduler.last_epoch)
        for group in groups:
            group["initial_lr"], group["lr"] = self.peak_lr, self.peak_lr * factor
        self.scheduler._last_lr = [g["lr"] for g in groups]

    def _init_from(self, path: str) -> None:
        state = checkpoint.load(path)
        self._check_classes(state, path)
        self.model_core.load_state_dict(state["model"])
        if self.ema:
            self.ema.module.load_state_dict(state["model"])
        self.log.say(f"vipriors: weights from {path} (fresh optimiser and schedule)")

    # ------------------------------------------------------------------ the loop

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        x = ops.normalize(images, self.mean, self.std, self.amp or torch.float32)
        return x if self.memory_format is torch.channels_last else x.contiguous()

    def _mixed_inputs(self, images: torch.Tensor, labels: torch.Tensor, epoch: int):
        """The training input and its label mix, in one pass of the fused op."""
        settings = self.config.mix
        mixing_on = epoch < self.config.optim.epochs - settings.off_last_epochs
        mode = mixing.choose_mode(settings, self.mode_rng) if mixing_on else "none"
        plan = mixing.draw(mode, labels, images.shape[1], images.shape[2], settings, self.stubborn if self.sia_on else None)
        x = ops.mix_normalize(images, *plan.op_args(), self.mean, self.std, self.amp or torch.float32)
        x = x if self.memory_format is torch.channels_last else x.contiguous()
        return x, plan.target_index, plan.target_weight

    def _train_step(self, images: torch.Tensor, labels: torch.Tensor, epoch: int) -> torch.Tensor:
        x, target_index, target_weight = self._mixed_inputs(images, labels, epoch)
        with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
            logits = self.model(x)
        loss = mixed_cross_entropy(logits, target_index, target_weight, self.config.optim.label_smoothing)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        if self.ema:
            self.ema.update(self.model_core, step=self.step)
        return loss.detach()

    def _stop_agreed(self, local_step: int) -> bool:
        """Whether every rank has been asked to stop (they must stop at the same step)."""
        if not self.env.enabled:
            return self.stop_requested
        if local_step % self.config.runtime.log_every:
            return False
        flag = torch.tensor([float(self.stop_requested)], device=self.device)
        return distributed.all_reduce_sum(flag, self.env).item() > 0  # device sync, every log_every steps

    def _train_epoch(self, epoch: int) -> dict | None:
        """One epoch from ``self.epoch_step``; None when a stop signal ended it early."""
        self.model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        seen, timed_images, timer_start = 0, 0, None
        total = len(self.train_batches)
        bar = progress_bar(total, f"epoch {epoch + 1}", self.env.is_main)
        bar.update(self.epoch_step)
        for images, labels in self.train_batches.epoch(epoch, skip=self.epoch_step):
            loss = self._train_step(images, labels, epoch)
            self.step += 1
            self.epoch_step += 1
            loss_sum += loss.double() * labels.numel()
            seen += labels.numel()
            if timer_start is None:  # the first step carries compilation and warm-up: not timed
                self._sync()  # device sync, once per epoch
                timer_start = time.perf_counter()
            else:
                timed_images += labels.numel()
            bar.update(1)
            if self.epoch_step % self.config.runtime.log_every == 0:
                mean_loss = (loss_sum / seen).item()  # device sync, every log_every steps
                self._check_finite(mean_loss, epoch)
                bar.set_postfix(loss=f"{mean_loss:.3f}", lr=f"{self.scheduler.get_last_lr()[0]:.3g}")
            if self._stop_agreed(self.epoch_step) and self.epoch_step < total:
                self._carry(loss_sum, seen)
                bar.close()
                return None
        self._sync()
        bar.close()
        self._carry(loss_sum, seen)
        elapsed = time.perf_counter() - timer_start if timer_start else 0.0
        totals = torch.tensor([self.partial["loss_sum"], float(self.partial["seen"])], dtype=torch.float64, device=self.device)
        totals = distributed.all_reduce_sum(totals, self.env)
        mean_loss = (totals[0] / totals[1]).item()
        self._check_finite(mean_loss, epoch)
        return {"train_loss": mean_loss, "images_per_sec": timed_images * self.env.world_size / elapsed if elapsed else None}

    def _carry(self, loss_sum: torch.Tensor, seen: int) -> None:
        """Adds this stretch of the epoch to the sums a checkpoint carries across a restart."""
        self.partial = {"loss_sum": self.partial["loss_sum"] + loss_sum.item(), "seen": self.partial["seen"] + seen}

    @torch.no_grad()
    def evaluate(self, model: torch.nn.Module | None = None) -> dict:
        model = model or self.model
        model.eval()
        meter = ClassAccuracy(len(self.classes), self.device)
        for images, labels in self.val_loader:
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                logits = model(self._inputs(images)).float()
            meter.update(logits, labels, F.cross_entropy(logits, labels, reduction="sum"))
        return meter.reduce(self.env)

    def _update_stubborn(self, evaluation: dict) -> list[str]:
        """The method's loop: the k classes of lowest validation accuracy get SIA next epoch."""
        k = self.config.mix.stubborn_classes
        if k == 0:  # a fixed set from --stubborn-file
            return [self.classes[c] for c in torch.nonzero(self.stubborn).flatten().tolist()]
        evaluated = [c for c, n in enumerate(evaluation["class_counts"]) if n > 0]
        worst = sorted(evaluated, key=lambda c: (evaluation["per_class"][c], c))[:k]
        self.stubborn.zero_()
        self.stubborn[worst] = True
        return [self.classes[c] for c in worst]

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def _check_finite(self, loss: float, epoch: int) -> None:
        if not torch.isfinite(torch.tensor(loss)):
            raise TrainingError(
                f"the training loss became {loss} in epoch {epoch + 1}; the last good checkpoint is kept in "
                f"{self.run_dir}. Lower --lr/--base-lr or use --amp bf16/off, then --resume {self.run_dir}"
            )

    def _on_signal(self, signum, frame) -> None:
        self.stop_requested = True
        self.log.say(f"\nvipriors: {signal.Signals(signum).name} received: finishing this step, then saving")

    def fit(self) -> dict:
        handlers = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            return self._fit()
        finally:
            for s, h in handlers.items():
                signal.signal(s, h)
            if self.tensorboard:
                self.tensorboard.close()

    def _fit(self) -> dict:
        epochs = self.config.optim.epochs
        evaluation = None
        while self.epoch < epochs:
            epoch, start = self.epoch, time.perf_counter()
            train = self._train_epoch(epoch)
            if train is None:
                self._save()
                return self._stopped()
            evaluated = (epoch + 1) % self.config.runtime.eval_every == 0 or epoch + 1 == epochs
            improved, ema_eval, stubborn = False, None, None
            if evaluated:
                evaluation = self.evaluate()
                ema_eval = self.evaluate(self.ema.module) if self.ema else None
                stubborn = self._update_stubborn(evaluation) if self.sia_on else []
                improved = evaluation["top1"] > self.best_top1
                if improved:
                    self.best_top1, self.best_epoch = evaluation["top1"], epoch
            self.epoch, self.epoch_step, self.partial = epoch + 1, 0, {"loss_sum": 0.0, "seen": 0}
            self._save(improved)
            if evaluated and self.env.is_main:
                report.write_per_class(self.run_dir, self.classes, evaluation["per_class"], evaluation["class_counts"], epoch + 1)
            self._log_epoch(epoch, train, evaluation if evaluated else None, ema_eval, stubborn, time.perf_counter() - start)
            if self.epoch < epochs and self._stop_agreed(0):
                return self._stopped()
        summary = {"run_dir": self.run_dir, "stopped": False, "final_top1": evaluation["top1"] if evaluation else None,
                   "best_top1": self.best_top1, "best_epoch": self.best_epoch + 1}
        if evaluation is not None:
            self.log.say(f"done: val top-1 {100 * evaluation['top1']:.2f}% (best {100 * self.best_top1:.2f}% at epoch "
                         f"{self.best_epoch + 1}); checkpoints in {self.run_dir}")
        self.log.record("end", **summary)
        return summary

    def _stopped(self) -> dict:
        command = f"torchrun --nproc_per_node={self.env.world_size} scripts/train.py --resume {self.run_dir}"
        where = f"in epoch {self.epoch + 1} at step {self.epoch_step}" if self.epoch_step else f"after epoch {self.epoch}"
        self.log.say(f"vipriors: stopped {where}; everything is saved. Continue with:\n  {command}")
        self.log.record("stopped", epoch=self.epoch + 1, epoch_step=self.epoch_step, step=self.step)
        return {"run_dir": self.run_dir, "stopped": True, "best_top1": self.best_top1}

    def _log_epoch(self, epoch, train, evaluation, ema_eval, stubborn, seconds) -> None:
        epochs, lr = self.config.optim.epochs, self.scheduler.get_last_lr()[0]
        rate = f"{train['images_per_sec']:.0f} img/s" if train["images_per_sec"] else "-"
        if evaluation is None:  # between evaluations (--eval-every)
            self.log.say(f"epoch {epoch + 1}/{epochs}  loss {train['train_loss']:.4f}  lr {lr:.3g}  {rate}  {seconds:.1f}s")
            self.log.record("epoch", epoch=epoch + 1, step=self.step, lr=lr, epoch_seconds=seconds, **train)
            return
        ema_text = f"  EMA {100 * ema_eval['top1']:.2f}%" if ema_eval else ""
        self.log.say(
            f"epoch {epoch + 1}/{epochs}  loss {train['train_loss']:.4f}  val top-1 {100 * evaluation['top1']:.2f}%{ema_text} "
            f"(best {100 * self.best_top1:.2f}%)  lr {lr:.3g}  {rate}  {seconds:.1f}s"
        )
        extra = {"ema_val_top1": ema_eval["top1"]} if ema_eval else {}
        self.log.record("epoch", epoch=epoch + 1, step=self.step, lr=lr, val_top1=evaluation["top1"],
                        val_loss=evaluation["loss"], val_images=evaluation["images"], per_class_top1=evaluation["per_class"],
                        stubborn=stubborn, epoch_seconds=seconds, **train, **extra)
        if self.tensorboard:
            for key, value in {"train/loss": train["train_loss"], "train/lr": lr, "val/top1": evaluation["top1"],
                               "val/loss": evaluation["loss"], **({"val/ema_top1": ema_eval["top1"]} if ema_eval else {})}.items():
                self.tensorboard.add_scalar(key, value, epoch + 1)


def train(config: TrainConfig, resume_dir: str | None = None) -> dict:
    env = distributed.init(config.runtime.device)
    try:
        return Trainer(config, env, resume_dir).fit()
    finally:
        distributed.shutdown(env)
