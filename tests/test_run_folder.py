"""The run folder: claimed for the run's life, never overwritten, its log whole after a kill."""
import json
import os

import pytest

from vipriors import config as cfg, distributed
from vipriors.cli import train as train_script
from vipriors.engine import checkpoint
from vipriors.engine.run_folder import RunFolder, RunFolderError
from vipriors.engine.runlog import RunLog

ENV = distributed.DistEnv(0, 1, 0, None)
FAST = ["--arch", "resnet10t", "--image-size", "32", "--log-every", "5"]


def test_a_claimed_folder_is_refused_to_a_second_run(tmp_path):
    first = RunFolder(str(tmp_path / "run"), ENV, resume=False)
    with pytest.raises(RunFolderError, match=f"{tmp_path}/run is in use by another run \\(process {os.getpid()}\\)"):
        RunFolder(str(tmp_path / "run"), ENV, resume=False)
    with pytest.raises(RunFolderError, match="in use by another run"):
        RunFolder(str(tmp_path / "run"), ENV, resume=True)
    first.release(succeeded=False)
    assert not (tmp_path / "run").exists(), "a folder the run made and never wrote to goes again"


def test_a_folder_with_files_is_never_taken_by_a_new_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("x")
    with pytest.raises(RunFolderError, match="stopped before its first checkpoint.*--resume .*or remove the folder"):
        RunFolder(str(run), ENV, resume=False)
    (run / "last.pt").write_bytes(b"x")
    with pytest.raises(RunFolderError, match="already holds a run; continue it with --resume"):
        RunFolder(str(run), ENV, resume=False)
    assert sorted(os.listdir(run)) == [".lock", "config.yaml", "last.pt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    RunFolder(str(empty), ENV, resume=False).release(succeeded=False)
    assert empty.exists(), "a folder the user made is never removed"


def test_a_file_in_the_way_is_explained(tmp_path):
    (tmp_path / "run").write_text("x")
    with pytest.raises(RunFolderError, match="a file is in the way"):
        RunFolder(str(tmp_path / "run"), ENV, resume=False)


def test_the_log_keeps_one_line_per_checkpointed_epoch(tmp_path):
    log = RunLog(str(tmp_path), enabled=True)
    for epoch in (1, 2, 3):
        log.record("epoch", epoch=epoch)
    with open(log.path, "a") as f:
        f.write('{"event": "epo')  # a line cut by a kill mid-write
    log.keep_epochs_up_to(2)
    with open(log.path) as f:
        assert [json.loads(line)["epoch"] for line in f] == [1, 2]


@pytest.mark.slow
def test_a_kill_between_the_log_and_the_checkpoint_loses_no_line(builtin_cache, tmp_path, monkeypatch):
    run = tmp_path / "killed"
    original_save = RunFolder.save

    at_kill = {}

    def killed_at_epoch_2(self, state, best=None, keep_as=None):
        if state["epoch"] == 2:  # killed here: what is on disk is what a real kill leaves
            with open(run / "log.jsonl") as f:
                at_kill["logged"] = [e["epoch"] for e in map(json.loads, f) if e["event"] == "epoch"]
            at_kill["checkpointed"] = checkpoint.load(str(run / "last.pt"))["epoch"]
            raise KeyboardInterrupt
        original_save(self, state, best, keep_as)

    monkeypatch.setattr(RunFolder, "save", killed_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        train_script.main(FAST + ["--epochs", "3", "--output-dir", str(tmp_path), "--name", "killed"])
    monkeypatch.setattr(RunFolder, "save", original_save)
    # The kill fell between the two writes: epoch 2 logged, its checkpoint not yet written.
    assert at_kill == {"logged": [1, 2], "checkpointed": 1}
    assert train_script.main(["--resume", str(run)]) == 0
    with open(run / "log.jsonl") as f:
        epochs = [e["epoch"] for e in map(json.loads, f) if e["event"] == "epoch"]
    assert epochs == [1, 2, 3]


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_is_resumed_from_the_start(builtin_cache, tmp_path, capsys):
    config = cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(FAST + ["--epochs", "1"])))
    run = tmp_path / "early"
    run.mkdir()
    cfg.save_yaml(config, str(run / "config.yaml"))
    assert train_script.main(FAST + ["--epochs", "1", "--output-dir", str(tmp_path), "--name", "early"]) == 2
    assert "stopped before its first checkpoint" in capsys.readouterr().err
    assert train_script.main(["--resume", str(run)]) == 0
    assert (run / "last.pt").exists()
