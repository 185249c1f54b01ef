"""Checkpoints: written atomically, loaded without running code, and versioned: a file of
the first format still gives its weights to prediction and --init-from, but never resumes."""
import os
import shutil

import pytest
import torch

from vipriors import predictions
from vipriors.cli import predict
from vipriors.cli import train as train_script
from vipriors.engine import checkpoint

FORMAT1 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "format1-run")


class Payload:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def crafted(path, marker):
    torch.save({"model": {}, "classes": ["a"], "config": {}, "trap": Payload(marker)}, path)


def test_a_new_checkpoint_round_trips_with_its_format(tmp_path):
    path = str(tmp_path / "x.pt")
    checkpoint.save({"model": {"w": torch.ones(2)}, "classes": ["a"], "rng": [(3, (1, 2), None)]}, path)
    state = checkpoint.load(path)
    assert checkpoint.format_of(state) == checkpoint.FORMAT and torch.equal(state["model"]["w"], torch.ones(2))
    assert state["rng"][0] == (3, (1, 2), None)
    assert os.listdir(tmp_path) == ["x.pt"], "no temporary file is left behind"


def test_a_crafted_checkpoint_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "ran"
    path = str(tmp_path / "evil.pt")
    crafted(path, marker)
    with pytest.raises(checkpoint.CheckpointError, match="refused: it holds Python objects"):
        checkpoint.load(path)
    assert not marker.exists()


def test_unreadable_files_are_explained(tmp_path):
    with pytest.raises(checkpoint.CheckpointError, match="no checkpoint there"):
        checkpoint.load(str(tmp_path / "none.pt"))
    good = str(tmp_path / "good.pt")
    checkpoint.save({"model": {"w": torch.ones(1000)}, "classes": ["a"]}, good)
    data = open(good, "rb").read()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(checkpoint.CheckpointError, match="truncated or corrupt"):
        checkpoint.load(str(tmp_path / "cut.pt"))
    torch.save({"weights": torch.ones(1)}, tmp_path / "other.pt")
    with pytest.raises(checkpoint.CheckpointError, match="not a vipriors checkpoint"):
        checkpoint.load(str(tmp_path / "other.pt"))


@pytest.mark.slow
def test_crafted_checkpoints_are_refused_by_every_entry_point(builtin_cache, tmp_path, capsys):
    marker = tmp_path / "ran"
    evil = str(tmp_path / "evil.pt")
    crafted(evil, marker)
    assert predict.main(["--checkpoint", evil, "--out", str(tmp_path / "p.npz")]) == 2
    assert train_script.main(["--init-from", evil, "--epochs", "1", "--output-dir", str(tmp_path / "runs")]) == 2
    run = tmp_path / "resumable"
    shutil.copytree(FORMAT1, run)
    shutil.copy(evil, run / "last.pt")
    assert train_script.main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("refused: it holds Python objects") == 3, err
    assert not marker.exists()
    assert not (tmp_path / "p.npz").exists() and not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_format1_weights_still_predict_and_start_a_run_but_never_resume(builtin_cache, tmp_path, capsys):
    out = str(tmp_path / "val.npz")
    assert predict.main(["--checkpoint", os.path.join(FORMAT1, "best.pt"), "--out", out]) == 0
    assert len(predictions.load(out).ids) == 500
    assert train_script.main(["--init-from", os.path.join(FORMAT1, "best.pt"), "--arch", "test_efficientnet",
                              "--image-size", "32", "--epochs", "1", "--output-dir", str(tmp_path), "--name", "ls"]) == 0
    run = tmp_path / "old"
    shutil.copytree(FORMAT1, run)
    before = {f: open(run / f, "rb").read() for f in os.listdir(run)}
    assert train_script.main(["--resume", str(run)]) == 2
    err = capsys.readouterr().err
    assert "its checkpoint is format 1" in err and f"--init-from {run}/best.pt" in err
    assert {f: open(run / f, "rb").read() for f in os.listdir(run)} == before, "nothing of the old run is touched"
