"""--data synthetic (vipriors.data.random_batches): batches of any size and class count made on
the device, reproducible at any step, the trainer end to end on them with an exact resume
after SIGTERM, and no DALI import anywhere on the way."""
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from vipriors.data import random_batches
from vipriors.engine import checkpoint
from vipriors.engine.step import TrainStep

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYNTHETIC = ["--data", "synthetic", "--arch", "resnet9s_cifar", "--image-size", "16", "--batch-size", "8",
             "--synthetic-classes", "7", "--synthetic-images", "80", "--epochs", "2", "--log-every", "2",
             "--optimizer", "nesterov", "--stubborn-classes", "2", "--cutmix", "0.5", "--ema-decay", "0.9"]


def test_batches_have_the_asked_shape_and_repeat_exactly():
    batches = random_batches.RandomBatches(steps=6, batch_size=4, image_size=10, classes=3, device=torch.device("cpu"),
                                           seed=2)
    first = [(x.clone(), y.clone()) for x, y in batches.epoch(1)]
    assert len(first) == 6 and first[0][0].shape == (4, 10, 10, 3) and first[0][0].dtype == torch.uint8
    assert all(int(y.max()) < 3 for _, y in first)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first[2:], batches.epoch(1, skip=2)))
    small, _ = next(batches.epoch(0, image_size=6))
    assert small.shape == (4, 6, 6, 3)
    other_rank = random_batches.RandomBatches(steps=6, batch_size=4, image_size=10, classes=3,
                                              device=torch.device("cpu"), seed=2, rank=1)
    assert not torch.equal(next(other_rank.epoch(1))[0], first[0][0])


def events(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
def test_the_trainer_runs_on_synthetic_data_and_resumes_exactly(tmp_path, monkeypatch):
    from vipriors import config as cfg
    from vipriors.cli import train as train_script
    from vipriors.engine.trainer import train

    def config(*argv):
        return cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(SYNTHETIC + ["--output-dir", str(tmp_path),
                                                                                          *argv])))
    straight = train(config("--name", "straight"))
    logged = [e for e in events(straight["run_dir"]) if e["event"] == "epoch"]
    assert len(logged) == 2 and all(e["images_per_sec"] > 0 for e in logged) and logged[0]["val_images"] == 512
    original = TrainStep.__call__

    def step_then_signal(self, images, labels, mode, stubborn=None, step=0):
        loss = original(self, images, labels, mode, stubborn, step)
        if step == 13:  # in the second epoch (10 steps each)
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    monkeypatch.setattr(TrainStep, "__call__", step_then_signal)
    assert train(config("--name", "stopped"))["stopped"]
    monkeypatch.setattr(TrainStep, "__call__", original)
    stopped = str(tmp_path / "stopped")
    assert train_script.main(["--resume", stopped]) == 0
    resumed = [e for e in events(stopped) if e["event"] == "epoch"]
    assert [e["train_loss"] for e in resumed] == [e["train_loss"] for e in logged]
    a = checkpoint.load(os.path.join(straight["run_dir"], "last.pt"))
    b = checkpoint.load(os.path.join(stopped, "last.pt"))
    for key in ("model", "ema"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key


# Any import of nvidia.dali fails, so the run proves that neither `import vipriors` nor the
# synthetic path needs DALI (the GPU machines of the device check have none).
NO_DALI = """
import sys
tried = []
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "nvidia.dali" or name.startswith("nvidia.dali."):
            tried.append(name)
            raise ImportError("DALI is blocked in this test")
sys.meta_path.insert(0, Block())
import vipriors
from vipriors.cli import train
status = train.main(sys.argv[1:])
sys.exit(f"tried to import {tried}" if tried else status)
"""


@pytest.mark.slow
def test_import_and_the_synthetic_path_need_no_dali(tmp_path):
    result = subprocess.run([sys.executable, "-c", NO_DALI, *SYNTHETIC, "--epochs", "1", "--output-dir", str(tmp_path),
                             "--name", "no-dali"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "done: val top-1" in result.stdout


def test_too_few_images_for_a_batch_or_a_stubborn_file_are_refused(tmp_path):
    from vipriors import config as cfg
    from vipriors.data import dataset
    from vipriors import distributed
    from vipriors.engine import autos
    from vipriors.errors import UserError

    def prepare(*argv):
        config = autos.resolve(cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(
            ["--data", "synthetic", "--arch", "resnet9s_cifar", *argv]))))
        return dataset.prepare(config, distributed.DistEnv(0, 1, 0, torch.device("cpu")))

    assert len(prepare("--batch-size", "4", "--synthetic-images", "10").train_batches) == 2
    with pytest.raises(UserError, match="--synthetic-images 3: fewer than one batch of 4"):
        prepare("--batch-size", "4", "--synthetic-images", "3")
    names = tmp_path / "stubborn.json"
    names.write_text('["class0001"]')
    with pytest.raises(UserError, match="--data synthetic has no classes to name"):
        prepare("--stubborn-file", str(names))
