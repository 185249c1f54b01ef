"""vipriors.recipe.stages: a stage runs once, is kept when finished, resumes when interrupted,
and a stage that fails or is killed ends in a StageFailed naming it (no traceback)."""
import json
import os
import sys

import pytest

from vipriors.recipe import runner, stages
from vipriors.recipe.launch import Launch, Slot, slots
from vipriors.recipe.spec import RecipeError

# A stand-in for train.py: writes its arguments, its threads and GPU and a finished log into
# the run folder the flags name, or fails as the environment asks; "meet" waits (30 s, or
# FAKE_MEET_SECONDS) until every stage named in FAKE_MEET has started, which only stages side
# by side can do.
FAKE_TRAIN = r"""
import json, os, signal, sys, time
args = sys.argv[1:]
how = os.environ.get("FAKE_STAGE", "ok")
if how == "killed":
    os.kill(os.getpid(), signal.SIGKILL)
if how == "fails":
    sys.exit(2)
if "--name" in args and how == "fails:" + args[args.index("--name") + 1]:  # after a moment, so that a stage beside it has started
    time.sleep(0.5)
    sys.exit(2)
run = args[args.index("--resume") + 1] if "--resume" in args else os.path.join(args[args.index("--output-dir") + 1],
                                                                               args[args.index("--name") + 1])
os.makedirs(run, exist_ok=True)
print("training", os.path.basename(run), flush=True)
if how == "meet":
    others = [os.path.join(os.path.dirname(run), name) for name in os.environ["FAKE_MEET"].split(",")]
    deadline = time.time() + float(os.environ.get("FAKE_MEET_SECONDS", "30"))
    while not all(os.path.isdir(o) for o in others):
        if time.time() > deadline:
            sys.exit(3)
        time.sleep(0.05)
with open(os.path.join(run, "env.txt"), "w") as f:
    f.write(os.environ.get("OMP_NUM_THREADS", "-") + " " + os.environ.get("CUDA_VISIBLE_DEVICES", "-"))
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


def _train_in(runs, launch):
    return lambda name, slot: stages.train(name, ["--epochs", "2"], runs, launch, slot)


def test_with_jobs_stages_run_side_by_side_each_with_its_share(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FAKE_STAGE", "meet")
    monkeypatch.setenv("FAKE_MEET", "m1,m2")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5")
    launch = FakeLaunch(jobs=2)
    done = runner.side_by_side(_train_in(str(tmp_path), launch), ["m1", "m2"], launch)
    assert [stage.name for stage in done] == ["m1", "m2"] and all(stage.seconds == 3.0 for stage in done)
    threads = str(max(1, len(os.sched_getaffinity(0)) // 2))
    envs = sorted((tmp_path / name / "env.txt").read_text() for name in ("m1", "m2"))
    assert envs == [f"{threads} 4", f"{threads} 5"], "each stage gets half the threads and a GPU of its own"
    assert all(f"--data-threads {threads} --epochs 2" in calls(str(tmp_path / n))[0] for n in ("m1", "m2"))
    out = capsys.readouterr().out
    assert "[m1] training m1" in out and "[m2] training m2" in out, "side-by-side output says whose it is"


def test_one_job_runs_the_stages_in_order_on_everything(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_STAGE", "meet")
    monkeypatch.setenv("FAKE_MEET", "m1,m2")
    launch = FakeLaunch()
    monkeypatch.setenv("FAKE_MEET_SECONDS", "1")
    with pytest.raises(stages.StageFailed, match="stage m1 .* failed"):  # m1 waits for m2, which never starts
        runner.side_by_side(_train_in(str(tmp_path), launch), ["m1", "m2"], launch)
    assert not (tmp_path / "m2").exists()


def test_a_failure_side_by_side_lets_the_running_stage_finish_then_names_the_failed_one(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_STAGE", "fails:m1")
    launch = FakeLaunch(jobs=2)
    with pytest.raises(stages.StageFailed, match="stage m1 .* failed"):
        runner.side_by_side(_train_in(str(tmp_path), launch), ["m1", "m2"], launch)
    assert stages.finished(str(tmp_path / "m2")), "the other stage ran to its end, kept for the next run"


def test_slots_share_the_threads_and_deal_out_the_gpus():
    assert slots(2, cpus=2, gpus=[]) == [Slot(1), Slot(1)]
    assert [(s.threads, s.gpu) for s in slots(3, cpus=16, gpus=["0", "1"])] == [(5, "0"), (5, "1"), (5, "0")]
    assert slots(4, cpus=2, gpus=[])[3].threads == 1, "at least one thread each"
    assert Slot(3, "2").env() == {"OMP_NUM_THREADS": "3", "CUDA_VISIBLE_DEVICES": "2"}
    assert Slot(3).env() == {"OMP_NUM_THREADS": "3"} and Slot(3).train_args() == ["--data-threads", "3"]


@pytest.mark.parametrize("kwargs, expected", [
    (dict(jobs=0), "--jobs 0: must be >= 1"),
    (dict(jobs=2, nproc_per_node=2), "--jobs 2: runs single-process trainings side by side"),
    (dict(jobs=2, nnodes="2", node_rank=0, master_addr="h", master_port=1), "--jobs 2: runs single-process"),
])
def test_jobs_that_cannot_run_are_refused(kwargs, expected):
    with pytest.raises(RecipeError, match=expected):
        Launch(**kwargs)
