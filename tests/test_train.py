"""End to end on the built-in dataset: the trainer learns, keeps its files, resumes; torchrun DDP."""
import json
import os
import subprocess
import sys

import pytest
import torch

from vipriors import predictions
from vipriors.data import dali_plugin, synthetic
from vipriors.engine import config as cfg
from vipriors.engine.trainer import TrainingError, train
from vipriors.models import UnknownArchError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "scripts"))
import ensemble as ensemble_script  # noqa: E402
import predict  # noqa: E402
import train as train_script  # noqa: E402

FAST = ["--arch", "resnet10t", "--log-every", "5"]


def events(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def learned_run(builtin_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    config = cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(
        FAST + ["--epochs", "6", "--output-dir", str(out), "--name", "learn"])))
    return train(config)


@pytest.mark.slow
def test_short_run_learns(learned_run):
    # 10 balanced classes: chance is 10%; six CPU epochs of resnet10t reach ~40%.
    assert learned_run["best_top1"] > 0.25, learned_run


@pytest.mark.slow
def test_run_folder_holds_config_log_and_checkpoints(learned_run):
    run_dir = learned_run["run_dir"]
    assert sorted(f for f in os.listdir(run_dir) if not f.startswith(".")) == [
        "best.pt", "config.yaml", "last.pt", "log.jsonl", "per_class_accuracy.json", "worst_classes.png"]
    log = events(run_dir)
    assert [e["event"] for e in log] == ["start"] + ["epoch"] * 6 + ["end"]
    assert all(e["val_images"] == 500 for e in log if e["event"] == "epoch")
    saved = cfg.load_yaml(os.path.join(run_dir, "config.yaml"))
    assert saved["model"]["arch"] == "resnet10t"
    assert saved["augment"]["resize"] == ("torch" if dali_plugin.load() else "dali"), "auto is saved as what ran"
    last = torch.load(os.path.join(run_dir, "last.pt"), weights_only=False)
    assert last["epoch"] == 6 and last["epoch_step"] == 0 and last["step"] == 6 * (3000 // 64)
    assert len(last["classes"]) == 10


@pytest.mark.slow
def test_resume_continues_where_it_stopped(learned_run, capsys):
    run_dir = learned_run["run_dir"]
    assert train_script.main(["--resume", run_dir, "--epochs", "7"]) == 0
    log = events(run_dir)
    epochs = [e["epoch"] for e in log if e["event"] == "epoch"]
    assert epochs == [1, 2, 3, 4, 5, 6, 7]
    assert "resuming" in capsys.readouterr().out
    assert torch.load(os.path.join(run_dir, "last.pt"), weights_only=False)["step"] == 7 * (3000 // 64)


@pytest.mark.slow
def test_an_existing_run_is_never_overwritten(learned_run):
    run_dir = learned_run["run_dir"]
    config = cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(
        FAST + ["--epochs", "1", "--output-dir", os.path.dirname(run_dir), "--name", os.path.basename(run_dir)])))
    with pytest.raises(TrainingError, match="already holds a run.*--resume"):
        train(config)


def test_wrong_input_fails_before_any_work(builtin_cache, tmp_path):
    def config(*argv):
        return cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(list(argv) + ["--output-dir", str(tmp_path)])))

    with pytest.raises(TrainingError, match="--batch-size 5000 is larger than the 3000"):
        train(config("--batch-size", "5000"))
    with pytest.raises(TrainingError, match="--pipeline-batch -1: give 0"):
        train(config("--pipeline-batch", "-1"))
    with pytest.raises(TrainingError, match="--data-pipelines 0: give 1 or more"):
        train(config("--data-pipelines", "0"))
    with pytest.raises(UnknownArchError, match="resnest14d"):
        train(config("--arch", "resnest14"))
    with pytest.raises(Exception, match="no such folder"):
        train(config("--data", str(tmp_path / "nowhere")))
    assert not os.listdir(tmp_path)
    assert train_script.main(["--epochs", "ten"]) == 2
    assert train_script.main(["--resume", str(tmp_path / "gone")]) == 2


@pytest.mark.slow
def test_torchrun_two_processes_cover_validation_once(builtin_cache, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         os.path.join(REPO, "scripts", "train.py"), *FAST, "--epochs", "1", "--batch-size", "32",
         "--output-dir", str(tmp_path), "--name", "ddp"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    log = events(str(tmp_path / "ddp"))
    epoch = [e for e in log if e["event"] == "epoch"][0]
    assert log[0]["world_size"] == 2
    assert epoch["val_images"] == 500  # each validation image once across both ranks
    assert "x2" in result.stdout


@pytest.mark.slow
def test_mixing_and_the_stubborn_loop(builtin_cache, tmp_path):
    config = cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(
        FAST + ["--epochs", "2", "--cutmix", "0.4", "--ricap", "0.3", "--mixup", "0.2", "--cutout", "0.1",
                "--stubborn-classes", "2", "--mix-off-epochs", "1", "--output-dir", str(tmp_path), "--name", "mix"])))
    summary = train(config)
    log = [e for e in events(summary["run_dir"]) if e["event"] == "epoch"]
    classes = sorted(os.listdir(os.path.join(synthetic.default_root(), "train")))
    for entry in log:
        accuracy = entry["per_class_top1"]
        worst = sorted(range(len(accuracy)), key=lambda c: (accuracy[c], c))[:2]
        assert entry["stubborn"] == [classes[c] for c in worst]
    assert torch.load(os.path.join(summary["run_dir"], "last.pt"), weights_only=False)["stubborn"].sum() == 2


@pytest.mark.slow
def test_predict_matches_the_trainer_and_feeds_the_ensemble(learned_run, tmp_path, capsys):
    import shutil

    best = os.path.join(learned_run["run_dir"], "best.pt")
    val_file = str(tmp_path / "val.npz")
    assert predict.main(["--checkpoint", best, "--split", "val", "--out", val_file]) == 0
    val = predictions.load(val_file)
    assert len(val.ids) == 500 and val.has_labels
    # best.pt's own figure: the resume test may have trained the run one more epoch into a new best.
    assert val.accuracy() == pytest.approx(torch.load(best, weights_only=False)["best_top1"], abs=0.01)

    # A folder the model has never seen, laid out like the challenge's test set.
    imgs = tmp_path / "test" / "imgs"
    imgs.mkdir(parents=True)
    for i, source in enumerate(sorted(val.ids)[:12]):
        shutil.copy(os.path.join(synthetic.default_root(), "val", source), imgs / f"img_{i}.JPEG")
    test_file = str(tmp_path / "test.npz")
    assert predict.main(["--checkpoint", best, "--split", str(tmp_path / "test"), "--tta", "flip-shift", "--out", test_file]) == 0
    assert predict.main(["--checkpoint", best, "--split", "val", "--tta", "flip-shift", "--tta-shift", "0",
                         "--out", str(tmp_path / "bad.npz")]) == 2
    assert "--tta-shift must be between 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()
    test = predictions.load(test_file)
    assert list(test.ids) == [f"img_{i}.JPEG" for i in range(12)]  # numeric order: img_10 after img_9
    assert (test.labels == -1).all()

    out = tmp_path / "ensemble"
    assert ensemble_script.main(["--val", val_file, "--test", test_file, "--out-dir", str(out)]) == 0
    assert len((out / "submission.csv").read_text().splitlines()) == 13


def test_predict_explains_a_missing_checkpoint(tmp_path, capsys):
    assert predict.main(["--checkpoint", str(tmp_path / "nope.pt")]) == 2
    assert "no checkpoint there" in capsys.readouterr().err
