"""The recipe runner: the shipped recipes load and their members' flags check; bad recipes are
refused before any work; a whole CPU recipe (members, LS stage, vote, final stage, --predict)
runs on a few synthetic images and keeps what is done; the vipriors recipe's launch path
trains under real torchrun with two gloo processes and writes the submission's ids."""
import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from vipriors import predictions
from vipriors.cli import recipe as recipe_cli
from vipriors.data import synthetic
from vipriors.recipe import runner, spec
from vipriors.recipe.launch import Launch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(REPO, "recipes")
SHIPPED = sorted(d for d in os.listdir(RECIPES) if os.path.isfile(os.path.join(RECIPES, d, "recipe.yaml")))


def test_every_recipe_folder_has_a_recipe():
    folders = sorted(d for d in os.listdir(RECIPES) if os.path.isdir(os.path.join(RECIPES, d)))
    assert SHIPPED and SHIPPED == folders, "a folder under recipes/ without recipe.yaml is not a recipe"


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_recipes_and_their_chains_check(name):
    """Every members file of every recipe folder loads and every stage's train.py flags check."""
    recipe = spec.load_recipe(os.path.join(RECIPES, name))
    if recipe.class_names and not os.path.isfile(recipe.class_names):
        # The names file is part of the shared data, absent from some checkouts: every other
        # flag is still checked.
        recipe = dataclasses.replace(recipe, class_names=None)
    files = [f for f in os.listdir(recipe.folder) if f.endswith(".yaml") and f != "recipe.yaml"]
    chains = [f for f in files if "members" in spec.read_yaml(os.path.join(recipe.folder, f), "x")]
    assert recipe.members in chains
    for chain in chains:
        members = spec.load_members(os.path.join(recipe.folder, chain), recipe)
        runner.check_commands(recipe, members, runner.Options(Launch()))
    runner.check_final(recipe, spec.load_members(os.path.join(recipe.folder, recipe.members), recipe))


def write_recipe(folder, recipe: str, members: str, base: str = "data: {image_size: 32}\n"):
    os.makedirs(folder, exist_ok=True)
    (folder / "recipe.yaml").write_text(recipe)
    (folder / "members.yaml").write_text(members)
    (folder / "base.yaml").write_text(base)
    return folder


MEMBER = "members:\n  - {name: a, config: base.yaml}\n"


@pytest.mark.parametrize("recipe_text, members_text, expected", [
    ("data: d\nruns: r\ntta: flipp\n", MEMBER, "tta flipp: choose one of none, flip, flip-shift"),
    ("data: d\nruns: r\nsplitt: {train: 5}\n", MEMBER, "unknown key 'splitt' (did you mean split?)"),
    ("runs: r\n", MEMBER, "'data' is required"),
    ("data: d\nruns: r\nsplit: {train: 5}\n", MEMBER, "'split' needs 'source'"),
    ("data: d\nruns: r\nsource: s\nsplit: {train: 0}\n", MEMBER, "split.train 0: must be >= 1"),
    ("data: d\nruns: r\nsubmission: test\n", MEMBER, "add a 'final' stage"),
    ("data: d\nruns: r\njobs: 0\n", MEMBER, "recipe.yaml: jobs 0: must be >= 1"),
    ("data: d\nruns: r\nfinal: {members: [a]}\n", MEMBER, "final.train_split is required"),
    ("data: d\nruns: r\n", "members:\n  - {name: a, config: base.yaml}\n  - {name: a, config: base.yaml}\n",
     "name 'a' is used twice"),
    ("data: d\nruns: r\n", "members:\n  - {name: a, config: nope.yaml}\n", "config nope.yaml: no such file"),
    ("data: d\nruns: r\n", "members:\n  - {name: a/b, config: base.yaml}\n", "must be a folder name"),
    ("data: d\nruns: r\n", "members:\n  - {name: a, config: base.yaml, lsepochs: 3}\n",
     "unknown key 'lsepochs' (did you mean ls_epochs?)"),
    ("data: d\nruns: r\n", "members:\n  - {name: a, config: base.yaml, args: --epochs 3}\n", "'args' must be a list"),
    ("data: d\nruns: r\n", "data: {image_size: 32}\n", "expected 'members:'"),
    ("data: d\nruns: r\n", "members:\n  - {name: a, config: base.yaml, args: [--epohcs, '3']}\n",
     "member a: unrecognized arguments: --epohcs 3"),
    ("data: d\nruns: r\n", "members:\n  - {name: a, config: base.yaml, ls_epochs: 2, ls_args: [--lr, '-1']}\n",
     "member a: --lr -1: must be > 0"),
    ("data: d\nruns: r\nfinal: {train_split: 'train,val', members: [b]}\n", MEMBER, "final.members names ['b']"),
    # A rule between flags that needs no data is found before the first member trains.
    ("data: d\nruns: r\n", MEMBER + "  - {name: b, config: base.yaml, args: [--in-memory, 'off', --flip-order, alternate]}\n",
     "member b: --flip-order alternate: needs the in-memory path"),
    ("data: d\nruns: r\n", "members:\n  - {name: a, config: base.yaml, args: [--branch-from, x/epoch_2.pt]}\n",
     "member a: --branch-from x/epoch_2.pt: a new run's flags were expected"),
])
def test_a_bad_recipe_is_refused_before_any_work(tmp_path, capsys, recipe_text, members_text, expected):
    folder = write_recipe(tmp_path / "r", recipe_text, members_text)
    assert recipe_cli.main([str(folder), "--data", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("recipe.py: ") and expected in err and err.count("\n") == 1, err
    assert not (tmp_path / "data").exists() and not (tmp_path / "r" / "r").exists()


def test_flags_that_name_files_and_members_are_checked(tmp_path, capsys):
    folder = write_recipe(tmp_path / "r", "data: d\nruns: r\n", MEMBER)
    for args, expected in ([["--only", "a,zz"], "--only zz: not members here; the members are a"],
                           [["--ablation", "nope.yaml"], "--ablation nope.yaml: no such file"],
                           [["--train-args", "--epochs 0"], "member a: --epochs 0: must be >= 1"],
                           [["--train-args", "--arch resnet9s_cifra"], "member a: --arch resnet9s_cifra: not a known "
                                                                       "architecture. Close names: resnet9s_cifar"],
                           [["--train-args", "--init-from /missing.pt"], "member a: --init-from /missing.pt: no such "
                                                                         "checkpoint file"],
                           [["--out", "x"], "--out: only with --predict FOLDER"],
                           [["--predict", str(tmp_path / "none")], "no such folder"],
                           [["--predict", str(tmp_path)], "has no final stage"],
                           [["--ablation", "nope.yaml", "--predict", str(tmp_path)],
                            "an --ablation chain has no final stage; give --members FILE"],
                           [["--nnodes", "2"], "--nnodes 2: give --node-rank"]):
        assert recipe_cli.main([str(folder), *args]) == 2, args
        assert expected in capsys.readouterr().err
    assert recipe_cli.main([str(tmp_path / "nothing")]) == 2
    assert "not a recipe folder (no recipe.yaml); the recipes are recipes/cifar10-500" in capsys.readouterr().err
    assert recipe_cli.main([str(folder)]) == 2  # data d: not built by the recipe, not there
    assert "no such folder; prepare it first, or give --data" in capsys.readouterr().err


def test_a_members_file_of_the_recipe_folder_wins_over_one_in_the_working_directory(tmp_path, monkeypatch):
    folder = write_recipe(tmp_path / "r", "data: d\nruns: r\n", MEMBER)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "members.yaml").write_text("members:\n  - {name: decoy, config: base.yaml}\n")
    recipe = spec.load_recipe(str(folder))
    assert spec.members_path(recipe, "members.yaml", "--members") == str(folder / "members.yaml")
    other = tmp_path / "mine.yaml"
    other.write_text(MEMBER)
    assert spec.members_path(recipe, str(other), "--members") == str(other)  # else the path as given


@pytest.mark.parametrize("recipe_jobs, flags, expected", [
    ("", [], 1), ("jobs: 2\n", [], 2), ("jobs: 2\n", ["--jobs", "1"], 1), ("", ["--jobs", "3"], 3),
    ("jobs: 2\n", ["--nproc-per-node", "2"], 1)])
def test_the_recipes_jobs_are_the_default_of_the_flag(tmp_path, monkeypatch, recipe_jobs, flags, expected):
    """--jobs wins; a recipe's jobs give way to a torchrun launch, which spans its processes instead."""
    (tmp_path / "d").mkdir()
    folder = write_recipe(tmp_path / "r", f"data: {tmp_path / 'd'}\nruns: {tmp_path / 'runs'}\n{recipe_jobs}", MEMBER)
    seen = []
    monkeypatch.setattr(runner, "run_members", lambda recipe, members, options, chain: seen.append(options.launch))
    assert recipe_cli.main([str(folder), *flags]) == 0
    assert [launch.jobs for launch in seen] == [expected]


def test_launch_commands():
    plain = Launch().train_command(["--epochs", "1"])
    assert plain == [sys.executable, os.path.join(REPO, "scripts", "train.py"), "--epochs", "1"]
    two = Launch(nproc_per_node=2).train_command([])
    assert two[1:5] == ["-m", "torch.distributed.run", "--nproc-per-node=2", "--nnodes=1"] and "--standalone" in two
    nodes = Launch(8, "4", 2, "c10d", "head:29400", "job7")
    command = nodes.train_command(["--x"])
    assert {"--node-rank=2", "--rdzv-backend=c10d", "--rdzv-endpoint=head:29400", "--rdzv-id=job7",
            "--nnodes=4", "--nproc-per-node=8"} <= set(command) and "--standalone" not in command
    assert command[-2:] == [os.path.join(REPO, "scripts", "train.py"), "--x"]
    assert not nodes.is_main_node and Launch(8, "4", 0, master_addr="head", master_port=29500).is_main_node


# ---------------------------------------------------------------- end to end (slow)

CLASSES = synthetic.CLASSES[:3]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """An ImageFolder of 3 classes x 16 images, 32 px, and its names file."""
    root = tmp_path_factory.mktemp("source")
    full = synthetic.write_dataset(str(root / "all"), synthetic.SyntheticSpec(image_size=32, train_per_class=16,
                                                                              val_per_class=4))
    for name in synthetic.CLASSES[3:]:
        shutil.rmtree(os.path.join(full, "train", name))
        shutil.rmtree(os.path.join(full, "val", name))
    names = root / "classes.tsv"
    names.write_text("".join(f"{c}\t{c.replace('_', ' with ')}, a test class\n" for c in CLASSES))
    return os.path.join(full, "train"), str(names), os.path.join(full, "val")


def carved(train_source, tmp_path, extra: str = "") -> str:
    """recipe.yaml lines that carve 8 + 8 images per class of ``train_source`` into tmp_path/data."""
    return (f"source: {train_source}\nsplit: {{train: 8, val: 8}}\ndata: {tmp_path / 'data'}\n"
            f"runs: {tmp_path / 'runs'}\n{extra}")


TINY = ("data: {image_size: 32, batch_size: 8, crop_pct: 1.0, data_threads: 1, pipeline_batch: 0, data_pipelines: 1}\n"
        "augment: {pad_crop: 2, rotate_prob: 0.0, blur_prob: 0.0, auto_augment: none}\n"
        "model: {arch: resnet9s_cifar}\n"
        "optim: {epochs: 2, warmup_epochs: 0.5, base_lr: 0.1}\n"
        "runtime: {log_every: 50, compile: off}\n")


def direct_recipe(folder, train_source, tmp_path, members_text: str):
    """A recipe folder that carves the split and trains only the final models on train+val."""
    return write_recipe(folder, carved(train_source, tmp_path, "final: {train_split: 'train,val', direct: true}\n"),
                        members_text, TINY)


@pytest.mark.slow
def test_a_cpu_recipe_runs_end_to_end_and_keeps_what_is_done(source, tmp_path, capsys):
    train_source, names, other_images = source
    folder = write_recipe(
        tmp_path / "tiny", carved(train_source, tmp_path, f"class_names: {names}\ntta: flip\n"
                                                          "final: {train_split: 'train,val'}\n"),
        "members:\n  - {name: a, config: base.yaml, ls_epochs: 1, ls: 0.2}\n"
        "  - {name: b, config: base.yaml, args: [--seed, '1', --stubborn-classes, '1']}\n", TINY)
    assert recipe_cli.main([str(folder)]) == 0
    out = capsys.readouterr().out
    runs = tmp_path / "runs"
    summary = json.loads((runs / "summary.json").read_text())
    assert [r["name"] for r in summary["rows"]] == ["a", "a + LS stage", "b"]
    assert [f["name"] for f in summary["final"]] == ["a (final: train,val)", "b (final: train,val)"]
    assert "vote (equal weights)" in out and 0 <= summary["vote_top1"] <= 1 and summary["val_images"] == 24
    vote = json.loads((runs / "ensemble" / "ensemble.json").read_text())
    assert [m["model"] for m in vote["members"]] == ["a-ls", "b"]
    # The LS stage starts from the CE stage's weights; the final models train on 16 + 8 images per class.
    ls_config = (runs / "a-ls" / "config.yaml").read_text()
    assert "label_smoothing: 0.2" in ls_config and str(runs / "a" / "last.pt") in ls_config
    for final in ("a-final", "a-ls-final", "b-final"):
        log = [json.loads(line) for line in (runs / final / "log.jsonl").read_text().splitlines()]
        assert log[0]["train_images"] == 48 and [e["event"] for e in log].count("end") == 1
    assert (runs / "b" / "stubborn_classes.json").exists()
    assert "stubborn_file" in (runs / "b-final" / "config.yaml").read_text()
    # Class names where a person reads classes, the folder name kept as the key.
    per_class = json.loads((runs / "a" / "per_class_accuracy.json").read_text())
    assert set(per_class["per_class_top1"]) == set(CLASSES)
    assert per_class["class_words"]["circle_stripes"] == "circle with stripes, a test class"
    val = predictions.load(str(runs / "a-ls" / "val-flip.npz"))
    assert list(val.classes) == sorted(CLASSES)
    assert val.class_words[list(val.classes).index("circle_stripes")] == "circle with stripes, a test class"

    # Again: everything is kept (no run is trained, no file predicted again).
    logs = {p: p.read_text() for p in runs.glob("*/log.jsonl")}
    assert recipe_cli.main([str(folder)]) == 0
    out = capsys.readouterr().out
    assert out.count("already trained, kept") == 6 and "scripts/train.py" not in out and "predict.py" not in out
    assert {p: p.read_text() for p in runs.glob("*/log.jsonl")} == logs

    # An interrupted stage resumes: its folder without the end of its log.
    log = runs / "b-final" / "log.jsonl"
    log.write_text("".join(line + "\n" for line in logs[log].splitlines() if '"event": "end"' not in line))
    assert recipe_cli.main([str(folder), "--only", "b"]) == 0
    assert f"--resume {runs / 'b-final'}" in capsys.readouterr().out

    # Any folder: the final models' vote, scored when it is an ImageFolder of the same classes.
    assert recipe_cli.main([str(folder), "--predict", other_images, "--out", str(tmp_path / "pred")]) == 0
    assert "images, the equal-weight vote of 2 final models; top-1" in capsys.readouterr().out
    voted = predictions.load(str(tmp_path / "pred" / "vote.npz"))
    assert len(voted.ids) == 12 and voted.has_labels and voted.class_words[2] != ""
    with open(tmp_path / "pred" / "submission.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Image IDs", "Predictions"] and [r[0] for r in rows[1:]] == list(voted.ids)


@pytest.mark.slow
def test_a_failing_stage_ends_the_runner_with_one_line_naming_it(source, tmp_path, capfd):
    train_source, _, _ = source
    # A batch larger than the 24 training images: train.py refuses it once the stage has its data.
    folder = write_recipe(
        tmp_path / "fails", carved(train_source, tmp_path), "members:\n  - {name: a, config: base.yaml, args: [--batch-size, '64']}\n", TINY)
    assert recipe_cli.main([str(folder)]) == 2
    err = capfd.readouterr().err  # the stage's own process writes its message to the same stderr
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and "--batch-size 64: larger than the 24 training images" in err
    assert last.startswith("recipe.py: stage a (run folder ") and "failed (exit status 2" in last
    assert "run the same recipe command again" in last


@pytest.mark.slow
def test_a_direct_recipe_trains_only_the_final_models(source, tmp_path, capsys):
    train_source, names, other_images = source
    folder = direct_recipe(tmp_path / "direct", train_source, tmp_path,
                           "members:\n  - {name: a, config: base.yaml, args: [--epochs, '3']}\n")
    assert recipe_cli.main([str(folder)]) == 0
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == ["a-final"], "no train-only stage"
    summary = json.loads((runs / "summary.json").read_text())
    assert summary["rows"] == [] and "vote_top1" not in summary and summary["final"][0]["name"] == "a (final: train,val)"
    log = [json.loads(line) for line in (runs / "a-final" / "log.jsonl").read_text().splitlines()]
    epochs = [e for e in log if e["event"] == "epoch"]
    assert log[0]["train_images"] == 48 and len(epochs) == 3 and "val_top1" in epochs[-1]
    assert sum("val_top1" in e for e in epochs) == 1, "evaluated once, after the last epoch"
    assert recipe_cli.main([str(folder), "--predict", other_images, "--out", str(tmp_path / "pred")]) == 0
    assert "images, the final model's prediction; top-1" in capsys.readouterr().out
    # Another members file's final models are voted with --members: here the same member
    # (its final kept, not trained again), into a folder of that file's own by default.
    (folder / "other.yaml").write_text("members:\n  - {name: a, config: base.yaml, args: [--epochs, '3']}\n")
    assert recipe_cli.main([str(folder), "--members", "other.yaml", "--predict", other_images]) == 0
    out = capsys.readouterr().out
    assert "scripts/train.py" not in out
    voted = runs / f"predict-{os.path.basename(os.path.normpath(other_images))}-other" / "vote.npz"
    assert np.allclose(predictions.load(str(voted)).probs, predictions.load(str(tmp_path / "pred" / "vote.npz")).probs)
    # The recipe's own members file, however its path is written, votes into the plain folder.
    assert recipe_cli.main([str(folder), "--members", str(folder / "members.yaml"), "--predict", other_images]) == 0
    assert (runs / f"predict-{os.path.basename(os.path.normpath(other_images))}" / "vote.npz").is_file()
    # --validate: the yardstick of a direct recipe, the members on train only and their vote;
    # one member's estimate is its own top-1, with no vote folders.
    capsys.readouterr()
    assert recipe_cli.main([str(folder), "--validate"]) == 0
    out = capsys.readouterr().out
    validated = json.loads((runs / "summary-validate.json").read_text())
    assert [r["name"] for r in validated["rows"]] == ["a"]
    assert validated["vote_top1"] == validated["rows"][0]["val_top1"] and "vote_greedy_top1" not in validated
    assert "the estimate (one member: its own top-1)" in out and "vote of 1" not in out
    assert not (runs / "ensemble").exists() and not (runs / "ensemble-greedy").exists()
    assert "final" not in validated and validated["val_images"] == 24
    log = [json.loads(line) for line in (runs / "a" / "log.jsonl").read_text().splitlines()]
    assert log[0]["train_images"] == 24
    # Another members file's vote and summary go to names of its own: the recipe's are kept.
    (folder / "pair.yaml").write_text("members:\n  - {name: a, config: base.yaml, args: [--epochs, '3']}\n"
                                      "  - {name: b, config: base.yaml, args: [--epochs, '2', --seed, '1']}\n")
    assert recipe_cli.main([str(folder), "--validate", "--members", "pair.yaml"]) == 0
    assert "vote (equal weights)" in capsys.readouterr().out
    pair = json.loads((runs / "summary-validate-pair.json").read_text())
    assert pair["members"] == "pair.yaml" and [r["name"] for r in pair["rows"]] == ["a", "b"]
    vote = json.loads((runs / "ensemble-pair" / "ensemble.json").read_text())
    assert [m["model"] for m in vote["members"]] == ["a", "b"] and (runs / "ensemble-greedy-pair").is_dir()
    assert json.loads((runs / "summary-validate.json").read_text()) == validated
    assert not (runs / "ensemble").exists() and not (runs / "ensemble-greedy").exists()
    # The same file cut to one member: its estimate replaces the summary, and the pair's vote,
    # which would otherwise sit beside it as if current, is removed (member a's run is reused).
    (folder / "pair.yaml").write_text("members:\n  - {name: a, config: base.yaml, args: [--epochs, '3']}\n")
    assert recipe_cli.main([str(folder), "--validate", "--members", "pair.yaml"]) == 0
    assert "ensemble-pair: removed, an earlier call's vote" in capsys.readouterr().out
    single = json.loads((runs / "summary-validate-pair.json").read_text())
    assert [r["name"] for r in single["rows"]] == ["a"] and single["vote_top1"] == pair["rows"][0]["val_top1"]
    assert not (runs / "ensemble-pair").exists() and not (runs / "ensemble-greedy-pair").exists()
    bad = write_recipe(tmp_path / "bad", "data: d\nruns: r\nfinal: {train_split: 'train,val', direct: 'yes'}\n",
                       "members:\n  - {name: a, config: base.yaml}\n", TINY)
    with pytest.raises(spec.RecipeError, match="final.direct 'yes': give true or false"):
        spec.load_recipe(str(bad))


def vipriors_layout(root, train_source, val_source, test_images: int = 6):
    """The layout build_dataset.py vipriors writes: train/<wnid>, val/<wnid>, test/imgs/img_<i>.JPEG."""
    shutil.copytree(train_source, root / "train")
    shutil.copytree(val_source, root / "val")
    (root / "test" / "imgs").mkdir(parents=True)
    pool = sorted(p for p in (root / "val").rglob("*.jpg"))
    for i in range(test_images):
        shutil.copy(pool[i * 2], root / "test" / "imgs" / f"img_{i}.JPEG")
    return root


@pytest.mark.slow
def test_with_jobs_the_final_models_train_side_by_side(source, tmp_path, capsys):
    train_source, _, other_images = source
    folder = direct_recipe(tmp_path / "jobs", train_source, tmp_path,
                           "members:\n  - {name: a, config: base.yaml}\n  - {name: b, config: base.yaml, args: [--seed, '1']}\n")
    assert recipe_cli.main([str(folder), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    runs = tmp_path / "runs"
    summary = json.loads((runs / "summary.json").read_text())
    assert [f["name"] for f in summary["final"]] == ["a (final: train,val)", "b (final: train,val)"]
    assert 0 < summary["final_wall_minutes"] and "final models, 2 side by side" in out
    assert "[a-final] epoch 2/2" in out and "[b-final] epoch 2/2" in out
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    for name in ("a-final", "b-final"):
        assert f"data_threads: {threads}" in (runs / name / "config.yaml").read_text()
    # Side by side: both trainings were launched before either finished. (Their log times do not
    # say it: each trains for under a second, less than a process takes to import torch.)
    launched = [out.index(f"[{n}] $ ") for n in ("a-final", "b-final")]
    done = [out.index(f"[{n}] done: ") for n in ("a-final", "b-final")]
    assert max(launched) < min(done), "the second training started after the first had finished"
    assert recipe_cli.main([str(folder), "--jobs", "2", "--predict", other_images, "--out", str(tmp_path / "pred")]) == 0
    out = capsys.readouterr().out
    assert "the equal-weight vote of 2 final models" in out and "[a-final predict] $ " in out
    assert sorted(p.name for p in (tmp_path / "pred").glob("*.npz")) == ["a-final-none.npz", "b-final-none.npz", "vote.npz"]


@pytest.mark.slow
def test_the_vipriors_recipe_trains_under_torchrun_and_writes_the_submission(source, tmp_path):
    train_source, _, val_source = source
    data = vipriors_layout(tmp_path / "vipriors", train_source, val_source)
    tiny = ("--arch resnet9s_cifar --image-size 32 --batch-size 4 --epochs 1 --data-threads 1 --compile off "
            "--pipeline-batch 0 --data-pipelines 1 --stubborn-classes 1 --log-every 50")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "recipe.py"), os.path.join(RECIPES, "vipriors"),
         "--data", str(data), "--runs", str(tmp_path / "runs"), "--only", "resnest101_ce", "--nproc-per-node", "2",
         "--train-args", tiny], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("torch.distributed.run --nproc-per-node=2") == 4  # CE, LS, and both on train+val
    runs = tmp_path / "runs"
    for stage in ("resnest101_ce", "resnest101_ce-ls", "resnest101_ce-final", "resnest101_ce-ls-final"):
        first = json.loads((runs / stage / "log.jsonl").read_text().splitlines()[0])
        assert first["world_size"] == 2, stage
    assert "label_smoothing: 0.1" in (runs / "resnest101_ce-ls" / "config.yaml").read_text()
    summary = json.loads((runs / "summary.json").read_text())  # one member: the estimate is its own
    assert summary["vote_top1"] == summary["rows"][-1]["val_top1"] and not (runs / "ensemble").exists()
    with open(runs / "submission" / "submission.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["Image IDs", "Predictions"]
    assert [r[0] for r in rows[1:]] == [f"img_{i}.JPEG" for i in range(6)]
    assert all(0 <= int(r[1]) < len(CLASSES) for r in rows[1:])
    assert np.isclose(predictions.load(str(runs / "submission" / "vote.npz")).probs.sum(1), 1, atol=1e-2).all()
