"""The trainer's promises, end to end on the built-in data: exact resume after a stop
signal, DDP ranks in lockstep, non-finite losses caught, the CE -> LS stage, EMA, SIA sets."""
import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from vipriors.engine import checkpoint
from vipriors.engine import config as cfg
from vipriors.engine import distributed
from vipriors.engine.trainer import Trainer, TrainingError, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import train as train_script  # noqa: E402

pytestmark = pytest.mark.slow
FAST = ["--arch", "resnet10t", "--log-every", "5", "--image-size", "32"]


def config(*argv):
    return cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(list(FAST) + list(argv))))


def epochs_logged(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        return [e for e in map(json.loads, f) if e["event"] == "epoch"]


def test_a_stopped_run_resumes_exactly(builtin_cache, tmp_path, monkeypatch):
    common = ["--epochs", "2", "--cutmix", "0.5", "--ricap", "0.3", "--stubborn-classes", "2", "--ema-decay", "0.9",
              "--output-dir", str(tmp_path)]
    straight = train(config(*common, "--name", "straight"))

    original_step = Trainer._train_step

    def step_then_signal(self, images, labels, epoch):
        loss = original_step(self, images, labels, epoch)
        if self.step == 30:  # during the 31st step, mid-way through the first epoch (46 steps)
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    monkeypatch.setattr(Trainer, "_train_step", step_then_signal)
    stopped = train(config(*common, "--name", "stopped"))
    assert stopped["stopped"]
    state = checkpoint.load(os.path.join(stopped["run_dir"], "last.pt"))
    assert (state["epoch"], state["epoch_step"], state["step"]) == (0, 31, 31)  # the step in flight finished
    monkeypatch.setattr(Trainer, "_train_step", original_step)
    assert train_script.main(["--resume", stopped["run_dir"]]) == 0

    a, b = epochs_logged(straight["run_dir"]), epochs_logged(stopped["run_dir"])
    assert [e["train_loss"] for e in a] == [e["train_loss"] for e in b]
    assert [e["val_top1"] for e in a] == [e["val_top1"] for e in b]
    assert [e["stubborn"] for e in a] == [e["stubborn"] for e in b]
    wa = checkpoint.load(os.path.join(straight["run_dir"], "last.pt"))
    wb = checkpoint.load(os.path.join(stopped["run_dir"], "last.pt"))
    for key in ("model", "ema"):
        assert all(torch.equal(wa[key][k], wb[key][k]) for k in wa[key]), f"{key} weights differ after resume"


def test_ddp_ranks_stay_identical(builtin_cache, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         os.path.join(REPO, "tests", "helpers", "ddp_weights.py"), str(tmp_path), *FAST, "--epochs", "1",
         "--batch-size", "32", "--cutmix", "0.5", "--output-dir", str(tmp_path), "--name", "ddp"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    log = epochs_logged(str(tmp_path / "ddp"))
    assert log[0]["val_images"] == 500


def test_a_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(builtin_cache, tmp_path, capsys):
    first = train(config("--epochs", "2", "--optimizer", "sgd", "--output-dir", str(tmp_path), "--name", "boom",
                         "--mix-off-epochs", "2"))
    assert not first["stopped"]
    good = checkpoint.load(os.path.join(first["run_dir"], "last.pt"))
    assert train_script.main(["--resume", first["run_dir"], "--epochs", "3", "--lr", "1e12"]) == 2
    assert "the training loss became" in capsys.readouterr().err
    after = checkpoint.load(os.path.join(first["run_dir"], "last.pt"))
    assert after["epoch"] == good["epoch"] == 2
    assert all(torch.equal(good["model"][k], after["model"][k]) for k in good["model"])


def test_label_smoothing_stage_starts_from_the_ce_weights(builtin_cache, tmp_path):
    ce = train(config("--epochs", "1", "--output-dir", str(tmp_path), "--name", "ce"))
    best = os.path.join(ce["run_dir"], "best.pt")
    env = distributed.init("cpu")
    trainer = Trainer(config("--epochs", "1", "--label-smoothing", "0.1", "--init-from", best,
                             "--output-dir", str(tmp_path), "--name", "ls"), env)
    weights = checkpoint.load(best)["model"]
    assert all(torch.equal(trainer.model_core.state_dict()[k], weights[k]) for k in weights)
    assert trainer.epoch == 0 and trainer.scheduler.last_epoch == 0 and not trainer.optimizer.state
    summary = trainer.fit()
    assert summary["best_top1"] > 0.15
    with pytest.raises(TrainingError, match="trained on 2 classes.*the data here has 10"):
        bad = os.path.join(tmp_path, "other.pt")
        checkpoint.save_atomic(dict(checkpoint.load(best), classes=["a", "b"]), bad)
        Trainer(config("--init-from", bad, "--output-dir", str(tmp_path), "--name", "bad"), env)


def test_ema_is_evaluated_and_stubborn_classes_come_from_a_file(builtin_cache, tmp_path):
    names = ["star_dots", "cross_stripes"]
    (tmp_path / "hard.json").write_text(json.dumps(names))
    summary = train(config("--epochs", "1", "--ema-decay", "0.99", "--stubborn-file", str(tmp_path / "hard.json"),
                           "--output-dir", str(tmp_path), "--name", "ema"))
    entry = epochs_logged(summary["run_dir"])[0]
    assert 0 <= entry["ema_val_top1"] <= 1 and sorted(entry["stubborn"]) == sorted(names)
    assert checkpoint.load(os.path.join(summary["run_dir"], "best.pt"))["ema"] is not None
    table = json.load(open(os.path.join(summary["run_dir"], "per_class_accuracy.json")))["per_class_top1"]
    assert len(table) == 10
    (tmp_path / "bad.json").write_text(json.dumps(["zebra"]))
    with pytest.raises(ValueError, match="not classes of this dataset"):
        train(config("--stubborn-file", str(tmp_path / "bad.json"), "--output-dir", str(tmp_path), "--name", "x"))


def test_tensorboard_is_optional(builtin_cache, tmp_path):
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="pip install tensorboard"):
            train(config("--epochs", "1", "--tensorboard", "--output-dir", str(tmp_path), "--name", "tb"))
        return
    summary = train(config("--epochs", "1", "--tensorboard", "--output-dir", str(tmp_path), "--name", "tb"))
    assert os.listdir(os.path.join(summary["run_dir"], "tensorboard"))


def test_evaluation_every_n_epochs_still_ends_with_one(builtin_cache, tmp_path):
    summary = train(config("--epochs", "3", "--eval-every", "2", "--output-dir", str(tmp_path), "--name", "sparse"))
    log = epochs_logged(summary["run_dir"])
    assert [e["epoch"] for e in log] == [1, 2, 3]
    assert ["val_top1" in e for e in log] == [False, True, True]
