"""The training loop: DALI batches → fused normalise op → model (AMP, compiled, DDP) → SGD."""
from __future__ import annotations

import os
import random
import sys
import time

import torch
import torch.nn.functional as F

from .. import mixing, ops
from ..data import check, folder, synthetic
from ..data.pipeline import Shard
from ..models import count_parameters, create_model, preferred_memory_format
from . import checkpoint, distributed
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
        data, optim, runtime = config.data, config.optim, config.runtime
        torch.manual_seed(runtime.seed + env.rank)

        root = dataset_root(config, env)
        self.train_samples = folder.scan_splits(root, data.train_split)
        self.val_samples = folder.scan_splits(root, data.val_split, self.train_samples.classes)
        self.classes = self.train_samples.classes
        self.data_notes = self._check_files(root)
        per_rank = len(self.train_samples) // env.world_size
        if per_rank < data.batch_size:
            raise TrainingError(
                f"--batch-size {data.batch_size} is larger than the {per_rank} training images each of the "
                f"{env.world_size} process(es) gets from {root}; lower --batch-size"
            )
        shard = Shard(env.rank, env.world_size)
        threads = max(1, data.threads)
        from ..data.loader import eval_loader, train_loader  # imports DALI

        self.train_loader = train_loader(
            self.train_samples, batch_size=data.batch_size, image_size=data.image_size, augment=config.augment,
            device=self.device, threads=threads, seed=runtime.seed, shard=shard)
        self.val_loader = eval_loader(
            self.val_samples, batch_size=data.batch_size, image_size=data.image_size, crop_pct=data.crop_pct,
            device=self.device, threads=threads, shard=shard)

        self.amp = autocast_dtype(runtime.amp, self.device)
        self.mean = ops.channel_constants(data.mean, self.device, "--mean")
        self.std = ops.channel_constants(data.std, self.device, "--std", positive=True)
        self.memory_format = preferred_memory_format(config.model.arch, config.model.memory_format, self.device.type)
        self.mode_rng = random.Random(runtime.seed * 1000 + env.rank)  # the mixing mode of each batch
        # Classes whose images get SIA; chosen after each evaluation when enabled.
        self.stubborn = torch.zeros(len(self.classes), dtype=torch.bool, device=self.device)

        model = create_model(config.model.arch, len(self.classes)).to(self.device, memory_format=self.memory_format)
        self.model_core = model
        if env.enabled:
            model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self.compiled = use_compile(runtime.compile, self.device)
        self.model = torch.compile(model, mode=runtime.compile_mode) if self.compiled else model

        global_batch = data.batch_size * env.world_size
        self.peak_lr = optim.lr if optim.lr is not None else scaled_lr(optim.base_lr, global_batch)
        self.optimizer = build_optimizer(self.model_core, optim.optimizer, self.peak_lr, optim.momentum, optim.weight_decay)
        steps_per_epoch = len(self.train_loader)
        self.total_steps = optim.epochs * steps_per_epoch
        self.scheduler = build_scheduler(self.optimizer, round(optim.warmup_epochs * steps_per_epoch), self.total_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp == torch.float16)

        self.start_epoch, self.step, self.best_top1, self.best_epoch = 0, 0, -1.0, -1
        self.run_dir = self._prepare_run_dir(resume_dir)
        self.log = RunLog(self.run_dir, env.is_main)
        if resume_dir:
            self._restore(checkpoint.load(os.path.join(self.run_dir, "last.pt")))
        self._describe(root, global_batch)

    # ------------------------------------------------------------------ set-up helpers

    def _check_files(self, root: str) -> list[str]:
        """Scans every image once (cached) so that no bad file can crash an epoch."""
        data, notes = self.config.data, []
        trained = {s.strip() for s in data.train_split.split(",")}
        if data.val_split in trained:
            notes.append(f"validating on '{data.val_split}', which is also trained on: its accuracy is not a held-out estimate")
        if not data.check:
            return notes
        report = None
        if self.env.is_main:
            report = check.check_files(list(self.train_samples.files + self.val_samples.files), root,
                                       progress=sys.stderr.isatty())
        report = distributed.broadcast_object(report, self.env)
        if report.errors and not data.skip_bad_files:
            raise folder.DatasetError(report.text() + "\nFix or remove these files, or pass --skip-bad-files to train without them.")
        if report.errors:
            bad = report.bad_files
            self.train_samples = self.train_samples.without(bad)
            self.val_samples = self.val_samples.without(bad)
            notes.append(f"left out {len(bad)} bad files (--skip-bad-files); see scripts/check_data.py for the list")
        return notes

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

    def _describe(self, root: str, global_batch: int) -> None:
        amp = {None: "off", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp]
        fmt = "channels_last" if self.memory_format is torch.channels_last else "contiguous"
        self.log.say(
            f"vipriors: {self.config.model.arch} ({count_parameters(self.model_core) / 1e6:.2f} M params, {fmt}) on "
            f"{self.device} x{self.env.world_size}, amp {amp}, compile {'on' if self.compiled else 'off'}\n"
            f"  data {root}: {len(self.train_samples)} train / {len(self.val_samples)} val images, "
            f"{len(self.classes)} classes, {self.config.data.image_size}px\n"
            f"  batch {global_batch} (global), peak lr {self.peak_lr:.4g}, {self.config.optim.epochs} epochs; run folder {self.run_dir}"
            + "".join(f"\n  note: {n}" for n in self.data_notes)
        )
        self.log.record("start", config=to_dict(self.config), data_root=root, notes=self.data_notes, world_size=self.env.world_size,
                        device=str(self.device), params=count_parameters(self.model_core), start_epoch=self.start_epoch)

    def _state(self, epoch: int) -> dict:
        return {
            "model": self.model_core.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
            "epoch": epoch, "step": self.step, "best_top1": self.best_top1, "best_epoch": self.best_epoch,
            "classes": list(self.classes), "config": to_dict(self.config), "torch_rng": torch.get_rng_state(),
            "mode_rng": self.mode_rng.getstate(), "stubborn": self.stubborn.cpu(),
        }

    def _restore(self, state: dict) -> None:
        if list(state["classes"]) != list(self.classes):
            raise TrainingError(f"{self.run_dir}/last.pt was trained on {len(state['classes'])} classes, "
                                f"the data now has {len(self.classes)}; resume with the same --data")
        self.model_core.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        self.mode_rng.setstate(state["mode_rng"])
        self.stubborn.copy_(state["stubborn"])
        self.start_epoch, self.step = state["epoch"] + 1, state["step"]
        self.best_top1, self.best_epoch = state["best_top1"], state["best_epoch"]
        self.log.say(f"vipriors: resuming {self.run_dir} at epoch {self.start_epoch + 1}")

    # ------------------------------------------------------------------ the loop

    def _inputs(self, images: torch.Tensor) -> torch.Tensor:
        x = ops.normalize(images, self.mean, self.std, self.amp or torch.float32)
        return x if self.memory_format is torch.channels_last else x.contiguous()

    def _mixed_inputs(self, images: torch.Tensor, labels: torch.Tensor, epoch: int):
        """The training input and its label mix, in one pass of the fused op."""
        settings = self.config.mix
        mixing_on = epoch < self.config.optim.epochs - settings.off_last_epochs
        mode = mixing.choose_mode(settings, self.mode_rng) if mixing_on else "none"
        stubborn = self.stubborn if settings.stubborn_classes > 0 else None
        plan = mixing.draw(mode, labels, images.shape[1], images.shape[2], settings, stubborn)
        x = ops.mix_normalize(images, *plan.op_args(), self.mean, self.std, self.amp or torch.float32)
        x = x if self.memory_format is torch.channels_last else x.contiguous()
        return x, plan.target_index, plan.target_weight

    def _train_epoch(self, epoch: int) -> dict:
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        seen, timed_images, timer_start = 0, 0, None
        smoothing = self.config.optim.label_smoothing
        bar = progress_bar(len(self.train_loader), f"epoch {epoch + 1}", self.env.is_main)
        for i, (images, labels) in enumerate(self.train_loader):
            x, target_index, target_weight = self._mixed_inputs(images, labels, epoch)
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                logits = self.model(x)
            loss = mixed_cross_entropy(logits, target_index, target_weight, smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            self.step += 1
            loss_sum += loss.detach() * labels.numel()
            seen += labels.numel()
            if timer_start is None:  # the first step carries compilation and warm-up: not timed
                self._sync()  # device sync, once per epoch
                timer_start = time.perf_counter()
            else:
                timed_images += labels.numel()
            bar.update(1)
            if (i + 1) % self.config.runtime.log_every == 0:
                mean_loss = (loss_sum / seen).item()  # device sync, every log_every steps
                self._check_finite(mean_loss, epoch)
                bar.set_postfix(loss=f"{mean_loss:.3f}", lr=f"{self.scheduler.get_last_lr()[0]:.3g}")
        self._sync()
        bar.close()
        elapsed = time.perf_counter() - timer_start if timer_start else 0.0
        totals = distributed.all_reduce_sum(torch.stack([loss_sum.double(), torch.tensor(float(seen), device=self.device, dtype=torch.float64)]), self.env)
        mean_loss = (totals[0] / totals[1]).item()
        self._check_finite(mean_loss, epoch)
        return {"train_loss": mean_loss, "images_per_sec": timed_images * self.env.world_size / elapsed if elapsed else None}

    @torch.no_grad()
    def evaluate(self) -> dict:
        self.model.eval()
        meter = ClassAccuracy(len(self.classes), self.device)
        for images, labels in self.val_loader:
            with torch.autocast(self.device.type, dtype=self.amp or torch.float32, enabled=self.amp is not None):
                logits = self.model(self._inputs(images)).float()
            meter.update(logits, labels, F.cross_entropy(logits, labels, reduction="sum"))
        return meter.reduce(self.env)

    def _update_stubborn(self, evaluation: dict) -> list[str]:
        """The method's loop: the k classes of lowest validation accuracy get SIA next epoch."""
        k = self.config.mix.stubborn_classes
        if k == 0:
            return []
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

    def _save(self, epoch: int, improved: bool) -> None:
        if not self.env.is_main:
            return
        state = self._state(epoch)
        checkpoint.save_atomic(state, os.path.join(self.run_dir, "last.pt"))
        if improved:
            best = {k: state[k] for k in ("model", "epoch", "classes", "config", "best_top1")}
            checkpoint.save_atomic(best, os.path.join(self.run_dir, "best.pt"))

    def fit(self) -> dict:
        epochs = self.config.optim.epochs
        evaluation = None
        for epoch in range(self.start_epoch, epochs):
            start = time.perf_counter()
            train = self._train_epoch(epoch)
            evaluation = self.evaluate()
            stubborn = self._update_stubborn(evaluation)
            improved = evaluation["top1"] > self.best_top1
            if improved:
                self.best_top1, self.best_epoch = evaluation["top1"], epoch
            self._save(epoch, improved)
            seconds = time.perf_counter() - start
            rate = f"{train['images_per_sec']:.0f} img/s" if train["images_per_sec"] else "-"
            self.log.say(
                f"epoch {epoch + 1}/{epochs}  loss {train['train_loss']:.4f}  val top-1 {100 * evaluation['top1']:.2f}% "
                f"(best {100 * self.best_top1:.2f}%)  lr {self.scheduler.get_last_lr()[0]:.3g}  {rate}  {seconds:.1f}s"
            )
            self.log.record("epoch", epoch=epoch + 1, step=self.step, lr=self.scheduler.get_last_lr()[0],
                            val_top1=evaluation["top1"], val_loss=evaluation["loss"], val_images=evaluation["images"],
                            per_class_top1=evaluation["per_class"], stubborn=stubborn, epoch_seconds=seconds, **train)
        summary = {
            "run_dir": self.run_dir,
            "final_top1": evaluation["top1"] if evaluation else None,
            "best_top1": self.best_top1, "best_epoch": self.best_epoch + 1,
        }
        if evaluation is not None:
            self.log.say(
                f"done: val top-1 {100 * evaluation['top1']:.2f}% (best {100 * self.best_top1:.2f}% at epoch "
                f"{self.best_epoch + 1}); checkpoints in {self.run_dir}"
            )
        self.log.record("end", **summary)
        return summary


def train(config: TrainConfig, resume_dir: str | None = None) -> dict:
    env = distributed.init(config.runtime.device)
    try:
        return Trainer(config, env, resume_dir).fit()
    finally:
        distributed.shutdown(env)
