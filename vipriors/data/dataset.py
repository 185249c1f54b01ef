"""A run's data, ready to train on: the root (or the built-in dataset), the two splits,
the scan for bad files, the loaders, and SIA's starting classes from --stubborn-file.

Checks run cheapest first: listing the folders, the batch size against the images each
process gets and the stubborn file, then the (cached) scan of every image, then DALI.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass

from ..config import TrainConfig
from .. import distributed
from ..errors import UserError
from . import check, class_names, folder, random_batches, stubborn_file, synthetic
from .shard import Shard


@dataclass
class TrainingData:
    root: str
    train: folder.Samples
    val: folder.Samples
    notes: list[str]
    stubborn: list[str]  # class names SIA starts with (from --stubborn-file)
    class_words: tuple[str, ...]  # each class's words from --class-names ("" without one)
    train_batches: object  # loader.TrainBatches
    val_loader: object  # loader.DaliLoader

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes


def dataset_root(config: TrainConfig, env: distributed.DistEnv) -> str:
    if config.data.root:
        return config.data.root
    if env.is_main:
        synthetic.ensure_dataset()
    distributed.barrier(env)
    return synthetic.ensure_dataset()


def scan_for_bad_files(samples: list[folder.Samples], root: str, env: distributed.DistEnv, skip: bool,
                       fix: str = "Fix or remove these files, or pass --skip-bad-files to train without them."
                       ) -> tuple[list[folder.Samples], list[str]]:
    """``samples`` less the files the scan finds broken (with ``skip``), or an error listing them and ``fix``."""
    found = check.check_files([f for s in samples for f in s.files], root, progress=sys.stderr.isatty()) \
        if env.is_main else None
    found = distributed.broadcast_object(found, env)
    if found.errors and not skip:
        raise folder.DatasetError(f"{found.text()}\n{fix}")
    if not found.errors:
        return samples, []
    bad = found.bad_files
    return [s.without(bad) for s in samples], [f"left out {len(bad)} bad files (--skip-bad-files); "
                                               "scripts/check_data.py lists them"]


def _check_batch_size(config: TrainConfig, train: folder.Samples, env: distributed.DistEnv, root: str) -> None:
    per_rank = len(train) // env.world_size
    if per_rank < config.data.batch_size:
        raise UserError(f"--batch-size {config.data.batch_size}: larger than the {per_rank} training images each of the "
                        f"{env.world_size} process(es) gets from {root}; lower --batch-size")


def prepare(config: TrainConfig, env: distributed.DistEnv) -> TrainingData:
    data = config.data
    if random_batches.is_synthetic(data.root):
        return _synthetic(config, env)
    root = dataset_root(config, env)
    train = folder.scan_splits(root, data.train_split)
    val = folder.scan_splits(root, data.val_split, train.classes)
    _check_batch_size(config, train, env, root)
    class_words = class_names.words_for(train.classes, data.class_names)
    stubborn = []
    if config.mix.stubborn_file:
        stubborn = stubborn_file.read(config.mix.stubborn_file, train.classes, config.mix.stubborn_classes)
    notes = []
    if data.val_split in {s.strip() for s in data.train_split.split(",")}:
        notes.append(f"validating on '{data.val_split}', which is also trained on: its accuracy is not a held-out estimate")
    if data.check_data:
        (train, val), skipped = scan_for_bad_files([train, val], root, env, data.skip_bad_files)
        notes += skipped
        _check_batch_size(config, train, env, root)
    shard = Shard(env.rank, env.world_size)
    if data.in_memory == "on":
        train_batches, val_loader = _in_memory(config, train, val, env, shard)
        notes.append(f"in memory: {len(train)} + {len(val)} images decoded once, augmented from the decoded pixels")
        return TrainingData(root, train, val, notes, stubborn, class_words, train_batches, val_loader)
    from .loader import TrainBatches, eval_loader  # imports DALI

    train_batches = TrainBatches(
        train, batch_size=data.batch_size, image_size=data.image_size, augment=config.augment, device=env.device,
        threads=data.data_threads, seed=config.runtime.seed, shard=shard, pipeline_batch=data.pipeline_batch,
        pipelines=data.data_pipelines)
    val_loader = eval_loader(val, batch_size=data.batch_size, image_size=data.image_size, crop_pct=data.crop_pct,
                             device=env.device, threads=data.data_threads, shard=shard)
    return TrainingData(root, train, val, notes, stubborn, class_words, train_batches, val_loader)


def _in_memory(config: TrainConfig, train: folder.Samples, val: folder.Samples, env: distributed.DistEnv, shard: Shard):
    """The training batches and evaluation loader from images decoded once (vipriors.data.memory)."""
    from . import memory
    from .loader import CroppedBatchesThroughDali, decoded_eval_images, decoded_train_images  # imports DALI
    from .torch_policy import PolicyInTorch

    data = config.data
    train_images = decoded_train_images(train, image_size=data.image_size, augment=config.augment,
                                        threads=data.data_threads)
    val_images = decoded_eval_images(val, image_size=data.image_size, crop_pct=data.crop_pct, threads=data.data_threads)
    batches = memory.MemoryBatches(train_images, train.labels, batch_size=data.batch_size, augment=config.augment,
                                   device=env.device, seed=config.runtime.seed, shard=shard)
    augment = config.augment
    in_torch = augment.aa_backend == "torch" and augment.auto_augment != "none"
    if memory.needs_dali(augment):  # rotation and blur, and the policy unless torch runs it
        batches = CroppedBatchesThroughDali(
            batches, augment=dataclasses.replace(augment, auto_augment="none") if in_torch else augment,
            device=env.device, threads=data.data_threads, seed=config.runtime.seed, shard=shard,
            pipeline_batch=data.pipeline_batch, pipelines=data.data_pipelines)
    if in_torch:
        batches = PolicyInTorch(batches, seed=config.runtime.seed, rank=shard.index, interpolation=augment.aa_interp,
                                min_size=augment.policy_min_size)
    return batches, memory.MemoryEval(val_images, val.labels, batch_size=data.batch_size, device=env.device, shard=shard)


def _synthetic(config: TrainConfig, env: distributed.DistEnv) -> TrainingData:
    """Random batches made on the training device (``--data synthetic``); no file is read."""
    data, classes = config.data, config.data.synthetic_classes
    steps = data.synthetic_images // (data.batch_size * env.world_size)
    if steps < 1:
        raise UserError(f"--synthetic-images {data.synthetic_images}: fewer than one batch of {data.batch_size} for each "
                        f"of the {env.world_size} process(es); raise it or lower --batch-size")
    if config.mix.stubborn_file:
        raise UserError(f"--stubborn-file {config.mix.stubborn_file}: --data synthetic has no classes to name; "
                        "use --stubborn-classes K")
    seed = config.runtime.seed
    batches = random_batches.RandomBatches(steps=steps, batch_size=data.batch_size, image_size=data.image_size,
                                           classes=classes, device=env.device, seed=seed, rank=env.rank)
    val_loader = random_batches.RandomEval(batch_size=data.batch_size, image_size=data.image_size, classes=classes,
                                           device=env.device, seed=seed, rank=env.rank)
    train = random_batches.samples(classes, steps * data.batch_size * env.world_size, "train")
    val = random_batches.samples(classes, len(val_loader) * data.batch_size * env.world_size, "val")
    return TrainingData(random_batches.SYNTHETIC, train, val, ["synthetic data: random batches made on the device"], [],
                        ("",) * classes, batches, val_loader)
