"""The trainer's promises, end to end on the built-in data: it learns and keeps its files,
resumes exactly after a stop signal, catches non-finite losses, runs the CE -> LS stage,
EMA and the stubborn-class loop; its predictions feed the ensemble."""
import json
import os
import re
import shutil
import signal

import pytest
import torch

from vipriors import config as cfg
from vipriors import predictions
from vipriors.cli import ensemble as ensemble_script
from vipriors.cli import predict
from vipriors.cli import train as train_script
from vipriors.data import dali_plugin, synthetic
from vipriors.engine import checkpoint
from vipriors.engine.step import TrainStep
from vipriors.engine.trainer import Trainer, TrainingError, train

pytestmark = pytest.mark.slow
FAST = ["--arch", "resnet10t", "--log-every", "5", "--image-size", "32"]


def config(*argv):
    return cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(list(FAST) + list(argv))))


def events(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def epochs_logged(run_dir):
    return [e for e in events(run_dir) if e["event"] == "epoch"]


def events_told(run_dir):
    """The run's event names without the warnings a crowded machine adds (vipriors.engine.cpu_share)."""
    return [e["event"] for e in events(run_dir) if e["event"] != "warning"]


@pytest.fixture(scope="module")
def learned_run(builtin_cache, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return train(config("--image-size", "64", "--epochs", "6", "--output-dir", str(out), "--name", "learn"))


def test_short_run_learns(learned_run):
    # 10 balanced classes: chance is 10%; six CPU epochs of resnet10t reach ~40%.
    assert learned_run["best_top1"] > 0.25, learned_run


def test_run_folder_holds_config_log_and_checkpoints(learned_run):
    run_dir = learned_run["run_dir"]
    assert sorted(f for f in os.listdir(run_dir) if not f.startswith(".")) == [
        "best.pt", "config.yaml", "last.pt", "log.jsonl", "per_class_accuracy.json", "worst_classes.png"]
    log = events(run_dir)
    assert events_told(run_dir) == ["start"] + ["epoch"] * 6 + ["end"]
    assert all(e["val_images"] == 500 for e in log if e["event"] == "epoch")
    saved = cfg.load_yaml(os.path.join(run_dir, "config.yaml"))
    assert saved["model"]["arch"] == "resnet10t"
    # Every "auto" is saved as what ran.
    assert saved["augment"]["train_resize"] == ("torch" if dali_plugin.load() else "dali")
    assert saved["runtime"]["device"] == "cpu" and saved["runtime"]["compile"] == "off"
    assert saved["runtime"]["amp"] in ("bf16", "off") and saved["model"]["memory_format"] == "channels_last"
    last = checkpoint.load(os.path.join(run_dir, "last.pt"))
    assert last["epoch"] == 6 and last["epoch_step"] == 0 and last["step"] == 6 * (3000 // 64)
    assert len(last["classes"]) == 10 and checkpoint.format_of(last) == checkpoint.FORMAT


def test_resume_continues_where_it_stopped(learned_run, tmp_path, capsys):
    run_dir = str(tmp_path / "run")  # a copy: the module's run stays as it was trained
    shutil.copytree(learned_run["run_dir"], run_dir)
    assert train_script.main(["--resume", run_dir, "--epochs", "7"]) == 0
    assert [e["epoch"] for e in epochs_logged(run_dir)] == [1, 2, 3, 4, 5, 6, 7]
    assert "resuming" in capsys.readouterr().out
    assert checkpoint.load(os.path.join(run_dir, "last.pt"))["step"] == 7 * (3000 // 64)
    assert cfg.load_yaml(os.path.join(run_dir, "config.yaml"))["optim"]["epochs"] == 7, "the config that ran is saved"


def test_a_resume_with_another_parameter_grouping_is_refused(learned_run, tmp_path, capsys, monkeypatch):
    from vipriors.engine import cpu_share

    run_dir = str(tmp_path / "run")
    shutil.copytree(learned_run["run_dir"], run_dir)
    before = {f: open(os.path.join(run_dir, f), "rb").read() for f in ("last.pt", "log.jsonl")}
    # On a crowded machine too: the crowding warning goes into the log only once the resume is accepted.
    monkeypatch.setattr(cpu_share, "check", lambda threads: "other processes keep every core busy")
    assert train_script.main(["--resume", run_dir, "--norm-bias-lr-scale", "8"]) == 2
    assert "resume with the run's own --norm-bias-lr-scale" in capsys.readouterr().err
    assert {f: open(os.path.join(run_dir, f), "rb").read() for f in before} == before


def test_predict_matches_the_trainer_and_feeds_the_ensemble(learned_run, tmp_path, capsys):
    best = os.path.join(learned_run["run_dir"], "best.pt")
    val_file = str(tmp_path / "val.npz")
    assert predict.main(["--checkpoint", best, "--split", "val", "--out", val_file]) == 0
    val = predictions.load(val_file)
    assert len(val.ids) == 500 and val.has_labels
    assert val.accuracy() == pytest.approx(learned_run["best_top1"], abs=0.01)

    # A folder the model has never seen, laid out like the challenge's test set.
    imgs = tmp_path / "test" / "imgs"
    imgs.mkdir(parents=True)
    for i, source in enumerate(sorted(val.ids)[:12]):
        shutil.copy(os.path.join(synthetic.default_root(), "val", source), imgs / f"img_{i}.JPEG")
    test_file = str(tmp_path / "test.npz")
    assert predict.main(["--checkpoint", best, "--split", str(tmp_path / "test"), "--tta", "flip-shift", "--out", test_file]) == 0
    assert predict.main(["--checkpoint", best, "--split", "val", "--tta", "flip-shift", "--tta-shift", "0",
                         "--out", str(tmp_path / "bad.npz")]) == 2
    assert "--tta-shift 0: must be between 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()
    test = predictions.load(test_file)
    assert list(test.ids) == [f"img_{i}.JPEG" for i in range(12)]  # numeric order: img_10 after img_9
    assert (test.labels == -1).all()

    out = tmp_path / "ensemble"
    assert ensemble_script.main(["--val", val_file, "--test", test_file, "--out-dir", str(out)]) == 0
    assert len((out / "submission.csv").read_text().splitlines()) == 13


def test_mixing_and_the_stubborn_loop(builtin_cache, tmp_path):
    summary = train(config("--epochs", "2", "--cutmix", "0.4", "--ricap", "0.3", "--mixup", "0.2", "--cutout", "0.1",
                           "--stubborn-classes", "2", "--mix-off-epochs", "1", "--output-dir", str(tmp_path), "--name", "mix"))
    classes = sorted(os.listdir(os.path.join(synthetic.default_root(), "train")))
    for entry in epochs_logged(summary["run_dir"]):
        accuracy = entry["per_class_top1"]
        loss = entry["per_class_val_loss"]
        worst = sorted(range(len(accuracy)), key=lambda c: (accuracy[c], -loss[c], c))[:2]
        assert entry["stubborn"] == [classes[c] for c in worst]
    assert checkpoint.load(os.path.join(summary["run_dir"], "last.pt"))["stubborn"].sum() == 2


def test_a_stopped_run_resumes_exactly(builtin_cache, tmp_path, monkeypatch):
    common = ["--epochs", "2", "--cutmix", "0.5", "--ricap", "0.3", "--stubborn-classes", "2", "--ema-decay", "0.9",
              "--lookahead-k", "4", "--online-smoothing", "0.5", "--output-dir", str(tmp_path)]
    straight = train(config(*common, "--name", "straight"))

    original_step = TrainStep.__call__

    def step_then_signal(self, images, labels, mode, stubborn=None, step=0):
        loss = original_step(self, images, labels, mode, stubborn, step)
        if step == 30:  # during the 31st step, mid-way through the first epoch (46 steps)
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    monkeypatch.setattr(TrainStep, "__call__", step_then_signal)
    stopped = train(config(*common, "--name", "stopped"))
    assert stopped["stopped"]
    last = os.path.join(stopped["run_dir"], "last.pt")
    state = checkpoint.load(last)
    assert (state["epoch"], state["epoch_step"], state["step"]) == (0, 31, 31)  # the step in flight finished
    # Written as format 2 did (with a learning-rate scheduler's state, now derived from the
    # step count and ignored): such a run resumes exactly too.
    torch.save({**state, "format": 2, "scheduler": {"last_epoch": 999, "base_lrs": [123.0]}}, last)
    monkeypatch.setattr(TrainStep, "__call__", original_step)
    assert train_script.main(["--resume", stopped["run_dir"]]) == 0

    a, b = epochs_logged(straight["run_dir"]), epochs_logged(stopped["run_dir"])
    assert [e["train_loss"] for e in a] == [e["train_loss"] for e in b]
    assert [e["val_top1"] for e in a] == [e["val_top1"] for e in b]
    assert [e["stubborn"] for e in a] == [e["stubborn"] for e in b]
    wa = checkpoint.load(os.path.join(straight["run_dir"], "last.pt"))
    wb = checkpoint.load(os.path.join(stopped["run_dir"], "last.pt"))
    for key in ("model", "ema"):
        assert all(torch.equal(wa[key][k], wb[key][k]) for k in wa[key]), f"{key} weights differ after resume"
    # Online label smoothing's targets, learnt in the first epoch from the sums the stop saved mid-way.
    assert torch.equal(wa["online_labels"]["table"], wb["online_labels"]["table"])
    assert not torch.equal(wa["online_labels"]["table"], torch.eye(10))


@pytest.mark.parametrize("policy", [[], ["--auto-augment", "randaugment", "--data-pipelines", "2", "--policy-min-size", "24"],
                                    ["--auto-augment", "autoaugment", "--aa-backend", "torch", "--policy-min-size", "24"]],
                         ids=["crops-and-flips", "randaugment-in-dali-from-24px", "autoaugment-in-torch-from-24px"])
def test_in_memory_progressive_run_resumes_exactly_mid_schedule(builtin_cache, tmp_path, monkeypatch, policy, capsys):
    # resnet9s_cifar: resnet10t's 1 x 1 feature maps meet a oneDNN bf16 fault on a change of size (see DESIGN.md).
    common = ["--arch", "resnet9s_cifar", "--epochs", "3", "--pad-crop", "4", "--flip-order", "alternate",
              "--progressive-min-size", "16", "--in-memory", "on",
              "--progressive-ramp", "0,1", "--label-smoothing", "0.1", "--output-dir", str(tmp_path)] + policy
    straight = train(config(*common, "--name", "straight"))
    logged = epochs_logged(straight["run_dir"])
    assert [e["image_size"] for e in logged] == [16, 24, 32]
    assert "in memory" in " ".join(events(straight["run_dir"])[0]["notes"])
    # The time left after each epoch but the last (tests/test_eta.py: what it projects).
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    # seconds or minutes, as fast as the machine runs them
    assert [bool(re.search(r"  ~[\d-]+ (s|min) left$", line)) for line in lines] == [True, True, False], lines
    original_step = TrainStep.__call__

    def step_then_signal(self, images, labels, mode, stubborn=None, step=0):
        loss = original_step(self, images, labels, mode, stubborn, step)
        if step == 60:  # in the second epoch, at 24 px
            assert images.shape[1] == 24
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    monkeypatch.setattr(TrainStep, "__call__", step_then_signal)
    stopped = train(config(*common, "--name", "stopped"))
    assert stopped["stopped"]
    monkeypatch.setattr(TrainStep, "__call__", original_step)
    capsys.readouterr()
    assert train_script.main(["--resume", stopped["run_dir"]]) == 0
    # The resumed epoch's part is not an epoch's time: no projection until a whole epoch ends.
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]
    assert lines[0].startswith("epoch 2/3") and "left" not in lines[0], lines
    a, b = logged, epochs_logged(stopped["run_dir"])
    assert [e["train_loss"] for e in a] == [e["train_loss"] for e in b]
    wa = checkpoint.load(os.path.join(straight["run_dir"], "last.pt"))["model"]
    wb = checkpoint.load(os.path.join(stopped["run_dir"], "last.pt"))["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_mixing_waits_for_its_minimum_size(builtin_cache, tmp_path, monkeypatch):
    seen = []
    original_step = TrainStep.__call__

    def record(self, images, labels, mode, stubborn=None, step=0):
        seen.append((images.shape[1], mode))
        return original_step(self, images, labels, mode, stubborn, step)

    monkeypatch.setattr(TrainStep, "__call__", record)
    train(config("--arch", "resnet9s_cifar", "--epochs", "3", "--pad-crop", "4", "--in-memory", "on",
                 "--progressive-min-size", "16", "--progressive-ramp", "0,1", "--cutmix", "1", "--mix-min-size", "24",
                 "--output-dir", str(tmp_path)))
    assert {size for size, _ in seen} == {16, 24, 32}
    assert {mode for size, mode in seen if size == 16} == {"none"}
    assert {mode for size, mode in seen if size >= 24} == {"cutmix"}


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


def test_label_smoothing_stage_starts_from_the_ce_weights(builtin_cache, tmp_path, monkeypatch):
    ce = train(config("--epochs", "1", "--output-dir", str(tmp_path), "--name", "ce"))
    best = os.path.join(ce["run_dir"], "best.pt")
    seen = {}
    original_fit = Trainer.fit

    def fit_and_look(self):
        seen.update(weights={k: v.clone() for k, v in self.model_core.state_dict().items()}, epoch=self.epoch, step=self.step,
                    optimizer_state=dict(self.optimizer.state))
        return original_fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_and_look)
    summary = train(config("--epochs", "1", "--label-smoothing", "0.1", "--init-from", best,
                           "--output-dir", str(tmp_path), "--name", "ls"))
    weights = checkpoint.load(best)["model"]
    assert all(torch.equal(seen["weights"][k], weights[k]) for k in weights)
    assert seen["epoch"] == 0 and seen["step"] == 0 and not seen["optimizer_state"]
    assert summary["best_top1"] > 0.15
    bad = os.path.join(tmp_path, "other.pt")
    checkpoint.save(dict(checkpoint.load(best), classes=["a", "b"]), bad)
    with pytest.raises(TrainingError, match="trained on 2 classes.*the data here has 10"):
        train(config("--init-from", bad, "--output-dir", str(tmp_path), "--name", "bad"))
    assert not os.path.exists(os.path.join(tmp_path, "bad")), "a refused run leaves no folder behind"


def test_ema_is_evaluated_and_stubborn_classes_come_from_a_file(builtin_cache, tmp_path):
    names = ["star_dots", "cross_stripes"]
    (tmp_path / "hard.json").write_text(json.dumps(names))
    summary = train(config("--epochs", "1", "--ema-decay", "0.99", "--stubborn-file", str(tmp_path / "hard.json"),
                           "--output-dir", str(tmp_path), "--name", "ema"))
    entry = epochs_logged(summary["run_dir"])[0]
    assert 0 <= entry["ema_val_top1"] <= 1 and sorted(entry["stubborn"]) == sorted(names)
    assert checkpoint.load(os.path.join(summary["run_dir"], "best.pt"))["ema"] is not None
    table = json.load(open(os.path.join(summary["run_dir"], "per_class_accuracy.json")))
    assert len(table["per_class_top1"]) == 10 and len(table["per_class_val_loss"]) == 10
    classes = checkpoint.load(os.path.join(summary["run_dir"], "last.pt"))["classes"]
    assert table["per_class_val_loss"] == pytest.approx(dict(zip(classes, entry["per_class_val_loss"])), abs=1e-4)
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


def test_optimiser_settings_given_on_resume_apply(tmp_path, monkeypatch):
    # --data synthetic: no dataset to build. The saved optimiser groups carry the run's old
    # scale, weight decay and momentum; the resumed run must train with the ones given now,
    # as a --lr on resume does, and keep the saved momentum buffers.
    tiny = ["--data", "synthetic", "--arch", "resnet9s_cifar", "--image-size", "16", "--batch-size", "8",
            "--synthetic-classes", "3", "--synthetic-images", "16", "--output-dir", str(tmp_path), "--name", "run"]
    assert train_script.main(tiny + ["--epochs", "1", "--norm-bias-lr-scale", "8", "--weight-decay", "1e-3",
                                     "--lookahead-k", "2"]) == 0
    seen = {}
    original_fit = Trainer.fit

    def fit_and_look(self):
        groups = sorted(self.optimizer.param_groups, key=lambda g: (g["lr_scale"], -g["weight_decay"]))
        seen["groups"] = [(g["lr_scale"], g["weight_decay"], g["momentum"]) for g in groups]
        seen["lookahead"] = {(g["lookahead_k"], g["lookahead_alpha"], g["lookahead_step"]) for g in groups}
        params = [p for g in groups for p in g["params"]]
        saved = self.optimizer.state_dict()["state"]  # by the parameters' place in the groups
        seen["buffers"] = (sum("momentum_buffer" in saved.get(i, {}) for i in range(len(params))), len(params))
        return original_fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_and_look)
    assert train_script.main(["--resume", str(tmp_path / "run"), "--epochs", "2", "--norm-bias-lr-scale", "4",
                              "--weight-decay", "2e-4", "--momentum", "0.8", "--lookahead-k", "5",
                              "--lookahead-alpha", "0.25"]) == 0
    assert seen["groups"] == [(1.0, 2e-4, 0.8), (1.0, 0.0, 0.8), (4.0, 0.0, 0.8)]
    assert seen["lookahead"] == {(5, 0.25, 2)}  # the new k and alpha, the saved count of steps (16 images / 8)
    assert seen["buffers"][0] == seen["buffers"][1] > 0  # the saved run's state, every parameter's


def test_the_optimiser_runs_fused_and_a_checkpoint_without_fused_kernels_resumes_with_them(tmp_path, monkeypatch):
    from vipriors.engine import checkpoint

    tiny = ["--data", "synthetic", "--arch", "resnet9s_cifar", "--image-size", "16", "--batch-size", "8",
            "--synthetic-classes", "3", "--synthetic-images", "16", "--output-dir", str(tmp_path), "--name", "run"]
    seen = []
    original_fit = Trainer.fit

    def fit_and_look(self):
        seen.append({g["fused"] for g in self.optimizer.param_groups})
        return original_fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_and_look)
    assert train_script.main(tiny + ["--epochs", "1"]) == 0
    last = str(tmp_path / "run" / "last.pt")
    state = checkpoint.load(last)
    assert {g["fused"] for g in state["optimizer"]["param_groups"]} == {True}
    for group in state["optimizer"]["param_groups"]:  # as torch's per-tensor loop saves its groups
        group["fused"] = None
    checkpoint.save(state, last)
    assert train_script.main(["--resume", str(tmp_path / "run"), "--epochs", "2"]) == 0
    assert seen == [{True}, {True}]


def test_lookahead_ends_every_epoch_on_its_slow_weights(tmp_path, monkeypatch):
    tiny = ["--data", "synthetic", "--arch", "resnet9s_cifar", "--image-size", "16", "--batch-size", "8",
            "--synthetic-classes", "3", "--synthetic-images", "40", "--epochs", "2", "--output-dir", str(tmp_path)]
    trainers = {}
    original_fit = Trainer.fit

    def fit_and_keep(self):
        trainers[self.run.path] = self
        return original_fit(self)

    monkeypatch.setattr(Trainer, "fit", fit_and_keep)
    assert train_script.main(tiny + ["--name", "plain"]) == 0
    assert train_script.main(tiny + ["--name", "lookahead", "--lookahead-k", "3", "--lookahead-alpha", "0.5"]) == 0
    trainer = trainers[str(tmp_path / "lookahead")]
    params = [p for g in trainer.optimizer.param_groups for p in g["params"]]
    assert {g["lookahead_step"] for g in trainer.optimizer.param_groups} == {10}  # 2 epochs of 5 steps
    # The epoch's end synced the weights with the slow copy (10 steps are not a multiple of k, so
    # without the sync they would differ), and that is what last.pt holds.
    state = trainer.optimizer.state_dict()["state"]  # by the parameters' place in the groups
    assert all(torch.equal(p, state[i]["lookahead_slow_buff"]) for i, p in enumerate(params))
    saved = checkpoint.load(str(tmp_path / "lookahead" / "last.pt"))["model"]
    assert all(torch.equal(v, trainer.model_core.state_dict()[k]) for k, v in saved.items())
    plain = checkpoint.load(str(tmp_path / "plain" / "last.pt"))["model"]
    assert not all(torch.equal(plain[k], saved[k]) for k in plain if saved[k].is_floating_point())


def test_a_branch_trains_on_as_its_run_would_have_with_the_branch_settings(builtin_cache, tmp_path, capsys):
    # Mixing stops for the last epoch: a branch from the run's epoch-2 checkpoint with that
    # setting must be, bit for bit, the run trained with it from the start.
    common = ["--epochs", "3", "--cutmix", "0.5", "--output-dir", str(tmp_path)]
    run = train(config(*common, "--checkpoint-every", "2", "--name", "run"))["run_dir"]
    straight = train(config(*common, "--mix-off-epochs", "1", "--name", "straight"))["run_dir"]
    source = {f: open(os.path.join(run, f), "rb").read() for f in ("last.pt", "log.jsonl", "config.yaml")}
    at_two = os.path.join(run, "epoch_2.pt")
    assert train_script.main(["--branch-from", at_two, "--mix-off-epochs", "1"]) == 0
    assert "branching from" in capsys.readouterr().out
    branch = os.path.join(str(tmp_path), "run-from-epoch2")  # the default name, beside the run
    a, b = epochs_logged(straight), epochs_logged(branch)
    assert [e["epoch"] for e in b] == [1, 2, 3]  # the run's history, then the branch's own epoch
    assert [e["train_loss"] for e in a] == [e["train_loss"] for e in b]
    assert events_told(branch) == ["start", "epoch", "epoch", "branch", "start", "epoch", "end"]
    wa = checkpoint.load(os.path.join(straight, "last.pt"))["model"]
    wb = checkpoint.load(os.path.join(branch, "last.pt"))["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert cfg.load_yaml(os.path.join(branch, "config.yaml"))["mix"]["mix_off_epochs"] == 1
    assert os.path.isfile(os.path.join(branch, "best.pt")), "the branch's evaluation writes its own best.pt"
    # The run itself is untouched, and a branch into a folder holding a run is refused.
    assert {f: open(os.path.join(run, f), "rb").read() for f in source} == source
    assert train_script.main(["--branch-from", at_two, "--name", "run"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert {f: open(os.path.join(run, f), "rb").read() for f in source} == source


def test_a_clean_finish_trains_the_last_epochs_without_the_policy_and_the_mixing(builtin_cache, tmp_path):
    # --policy-off-epochs 1 --mix-off-epochs 1: the first epoch is the run's with both, the
    # last the run's own continuation without them (a branch from its checkpoint), bit for bit.
    common = ["--epochs", "2", "--cutmix", "0.5", "--auto-augment", "autoaugment", "--output-dir", str(tmp_path)]
    run = train(config(*common, "--checkpoint-every", "1", "--name", "run"))["run_dir"]
    clean = train(config(*common, "--policy-off-epochs", "1", "--mix-off-epochs", "1", "--name", "clean"))["run_dir"]
    assert train_script.main(["--branch-from", os.path.join(run, "epoch_1.pt"), "--auto-augment", "none",
                              "--mix-off-epochs", "1", "--name", "branch"]) == 0
    branch = os.path.join(str(tmp_path), "branch")
    a, b, c = (epochs_logged(d) for d in (run, clean, branch))
    assert a[0]["train_loss"] == b[0]["train_loss"]
    assert b[1]["train_loss"] == c[1]["train_loss"] != a[1]["train_loss"]
    wb = checkpoint.load(os.path.join(clean, "last.pt"))["model"]
    wc = checkpoint.load(os.path.join(branch, "last.pt"))["model"]
    assert all(torch.equal(wb[k], wc[k]) for k in wb)
