"""vipriors.recipe.stages: a stage runs once, is kept when finished, resumes when interrupted,
and a stage that fails or is killed ends in a StageFailed naming it (no traceback)."""
import json
import os
import sys

import pytest

from vipriors.recipe import stages
from vipriors.recipe.launch import Launch

# A stand-in for train.py: writes its arguments and a finished log into the run folder the
# flags name, or fails as the environment asks.
FAKE_TRAIN = r"""
import json, os, signal, sys
args = sys.argv[1:]
how = os.environ.get("FAKE_STAGE", "ok")
if how == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
if how == "fails":
    sys.exit(2)
run = args[args.index("--resume") + 1] if "--resume" in args else os.path.join(args[args.index("--output-dir") + 1],
                                                                               args[args.index("--name") + 1])
os.makedirs(run, exist_ok=True)
with open(os.path.join(run, "calls.txt"), "a") as f:
    f.write(" ".join(args) + "\n")
with open(os.path.join(run, "log.jsonl"), "a") as f:
    for epoch in (1, 2):
        f.write(json.dumps({"event": "epoch", "epoch": epoch, "epoch_seconds": 1.5, "stubborn": [f"c{epoch}"]}) + "\n")
    f.write(json.dumps({"event": "end"}) + "\n")
"""


class FakeLaunch(Launch):
    def train_command(self, args):
        return [sys.executable, "-c", FAKE_TRAIN, *args]

    def predict_command(self, args):
        out = args[args.index("--out") + 1]
        return [sys.executable, "-c", f"open({out!r}, 'w').write('p')"]


def calls(run_dir):
    with open(os.path.join(run_dir, "calls.txt")) as f:
        return f.read().splitlines()


def test_a_stage_trains_once_then_is_kept(tmp_path, capsys):
    runs = str(tmp_path)
    stage = stages.train("m1", ["--epochs", "2"], runs, FakeLaunch())
    assert stage.run_dir == os.path.join(runs, "m1") and stage.seconds == 3.0
    again = stages.train("m1", ["--epochs", "2"], runs, FakeLaunch())
    assert again.seconds == 3.0 and len(calls(stage.run_dir)) == 1, "a finished stage is not run again"
    assert "m1: already trained, kept" in capsys.readouterr().out
    assert stages.finished(stage.run_dir) and stages.last_stubborn(stage.run_dir) == ["c2"]


def test_an_interrupted_stage_resumes_its_own_folder(tmp_path):
    run_dir = tmp_path / "m1"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text("optim: {epochs: 2}\n")
    (run_dir / "log.jsonl").write_text(json.dumps({"event": "epoch", "epoch": 1, "epoch_seconds": 1.5}) + "\n")
    stages.train("m1", ["--epochs", "2"], str(tmp_path), FakeLaunch())
    assert calls(str(run_dir)) == [f"--resume {run_dir}"]


@pytest.mark.parametrize("how, status", [("fails", "exit status 2"), ("killed", "exit status -9")])
def test_a_failed_or_killed_stage_names_itself_and_its_log(tmp_path, monkeypatch, how, status):
    monkeypatch.setenv("FAKE_STAGE", how)
    with pytest.raises(stages.StageFailed) as failure:
        stages.train("m1", [], str(tmp_path), FakeLaunch())
    message = str(failure.value)
    assert "stage m1" in message and status in message and os.path.join(str(tmp_path), "m1", "log.jsonl") in message
    assert "run the same recipe command again" in message


def test_a_prediction_newer_than_its_checkpoint_is_kept(tmp_path):
    checkpoint, out = tmp_path / "last.pt", tmp_path / "val.npz"
    checkpoint.write_bytes(b"weights")
    stages.predict(str(checkpoint), "val", str(out), "none", FakeLaunch())
    assert out.read_text() == "p"
    out.write_text("kept")
    assert stages.predict(str(checkpoint), "val", str(out), "none", FakeLaunch()) == 0.0
    assert out.read_text() == "kept"
    os.utime(checkpoint, (os.path.getmtime(out) + 10,) * 2)  # a newer checkpoint: predicted again
    stages.predict(str(checkpoint), "val", str(out), "none", FakeLaunch())
    assert out.read_text() == "p"


def test_a_missing_or_broken_log_reads_as_nothing_done(tmp_path):
    assert not stages.finished(str(tmp_path / "none")) and stages.training_seconds(str(tmp_path / "none")) == 0.0
    (tmp_path / "log.jsonl").write_text("{not json\n")
    assert stages.last_stubborn(str(tmp_path)) == [] and not stages.finished(str(tmp_path))
