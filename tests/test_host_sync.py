"""The training step never waits for the host: no scalar read, no host-to-device copy of a
Python value, no data-dependent shape, outside the loop's marked places (engine/host_sync).

On the CPU a dispatch mode of ours sees every ATen call and fails on those that would block
a GPU stream; on a GPU the same runs under torch.cuda.set_sync_debug_mode("error")."""
import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from vipriors import config as cfg
from vipriors import mixing
from vipriors.data import dataset
from vipriors import distributed
from vipriors.engine import autos, host_sync
from vipriors.engine.metrics import ClassAccuracy
from vipriors.engine.run_folder import RunFolder
from vipriors.engine.step import TrainStep
from vipriors.engine.trainer import Trainer

aten = torch.ops.aten
# Calls that make the host wait for the device: a scalar read (.item(), .tolist(), bool()),
# a tensor from Python values (torch.tensor(...): a host-to-device copy on a GPU), and the
# ops whose output shape depends on the data.
BLOCKING = {aten._local_scalar_dense, aten.lift_fresh, aten.nonzero, aten.masked_select, aten._unique2,
            aten.unique_dim, aten.unique_consecutive, aten.repeat_interleave}


class HostSync(AssertionError):
    pass


def _boolean_index(args) -> bool:
    indices = args[1] if len(args) > 1 else ()
    return any(isinstance(t, torch.Tensor) and t.dtype == torch.bool for t in indices or ())


class FailOnHostSync(TorchDispatchMode):
    """Raises HostSync on a blocking call made outside ``host_sync.allowed()``."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = func.overloadpacket
        self.seen.add(packet)
        if not host_sync.is_allowed():
            if packet in BLOCKING:
                raise HostSync(f"{func} in the training step")
            if packet in (aten.index, aten.index_put, aten.index_put_) and _boolean_index(args):
                raise HostSync(f"{func} with a boolean mask (a data-dependent shape) in the training step")
            if packet in (aten._to_copy, aten.copy_):
                devices = {a.device for a in args if isinstance(a, torch.Tensor)}
                target = (kwargs or {}).get("device")
                if len(devices) > 1 or (target is not None and {torch.device(target)} != devices):
                    raise HostSync(f"{func} across devices in the training step")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def no_host_sync():
    if torch.cuda.is_available():
        torch.cuda.set_sync_debug_mode("error")
    try:
        with FailOnHostSync() as mode:
            yield mode
    finally:
        if torch.cuda.is_available():
            torch.cuda.set_sync_debug_mode("default")


EVERY_MODE = ["--cutmix", "0.25", "--ricap", "0.25", "--mixup", "0.25", "--cutout", "0.1", "--stubborn-classes", "3",
              "--ema-decay", "0.9", "--sia-prob", "0.5"]


def trainer(tmp_path, *extra):
    argv = ["--data", "synthetic", "--arch", "resnet9s_cifar", "--image-size", "16", "--batch-size", "8",
            "--synthetic-classes", "5", "--synthetic-images", "48", "--epochs", "2", "--log-every", "4",
            "--optimizer", "nesterov", "--output-dir", str(tmp_path), "--name", "sync", *EVERY_MODE, *extra]
    config = autos.resolve(cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(argv))))
    env = distributed.init(config.runtime.device)
    run = RunFolder(str(tmp_path / "sync"), env, resume=False)
    return Trainer(config, env, dataset.prepare(config, env), run), run


@pytest.fixture
def ready(tmp_path):
    made, run = trainer(tmp_path)
    made.stubborn[:3] = True  # SIA on from the first step
    yield made
    run.release(True)


def step_all_modes(t: Trainer) -> None:
    images, labels = next(t.data.train_batches.epoch(0))
    for step, mode in enumerate(mixing.MODES):
        t.train_step(images, labels, mode, t.stubborn, step=step)


def test_every_mixing_mode_with_sia_and_ema_steps_without_a_host_sync(ready):
    with no_host_sync() as mode:
        step_all_modes(ready)
    assert aten.convolution_backward in mode.seen, "the mode saw the step's ATen calls"


def test_an_epoch_and_an_evaluation_sync_only_in_the_marked_places(ready):
    with no_host_sync():
        assert ready._train_epoch(0)["train_loss"] > 0
        evaluation = ready.evaluate()
    assert evaluation["images"] == 512


def test_evaluation_counts_without_data_dependent_shapes():
    meter = ClassAccuracy(4, torch.device("cpu"))
    logits, labels, losses = torch.eye(4)[[0, 1, 2, 2]], torch.tensor([0, 1, 3, 2]), torch.ones(4)
    with no_host_sync():
        meter.update(logits, labels, losses)
    counts = meter.reduce(distributed.DistEnv(0, 1, 0, torch.device("cpu")))
    assert counts["per_class"] == [1.0, 1.0, 1.0, 0.0] and counts["class_counts"] == [1, 1, 1, 1]


@pytest.mark.parametrize("mutant", ["item", "python tensor", "boolean mask"])
def test_a_sync_added_to_the_step_is_caught(ready, monkeypatch, mutant):
    original = TrainStep.__call__

    def step_with_a_sync(self, images, labels, mode, stubborn=None, step=0):
        loss = original(self, images, labels, mode, stubborn, step)
        if mutant == "item":
            loss.item()
        elif mutant == "python tensor":
            torch.tensor([0.5, 0.5], device=loss.device)
        else:
            labels[labels > 2]
        return loss

    monkeypatch.setattr(TrainStep, "__call__", step_with_a_sync)
    with pytest.raises((HostSync, RuntimeError)), no_host_sync():
        step_all_modes(ready)
    with host_sync.allowed("the test"), no_host_sync():
        step_all_modes(ready)  # the same reads in a marked place pass
