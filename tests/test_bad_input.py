"""Careless and hostile input at every entry point: one line naming the file or flag and the
fix, exit status 2, no traceback, nothing already written lost (docs/bad-input.md lists them)."""
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from vipriors import predictions
from vipriors.cli import check_data, ensemble, evaluate, predict
from vipriors.cli import train as train_script
from vipriors.data import check

FAST = ["--arch", "resnet10t", "--image-size", "32", "--epochs", "1"]


def one_line_error(capsys, tool, *words):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(f"{tool}: ") and err.count("\n") <= 1 + err.count("\n  "), err
    for word in words:
        assert word in err, (word, err)
    return err


def test_under_torchrun_rank_0_prints_the_mistake_at_once_and_other_ranks_only_after_a_wait(capsys, monkeypatch):
    """torchrun ends every process once one fails: a rank other than 0 that exited at once
    could end rank 0 before its line was out, so it waits first (the job usually ends during
    the wait), then prints its own line, naming its rank, in case the mistake was its alone."""
    from vipriors import cli
    from vipriors.errors import UserError

    def refused() -> int:
        raise UserError("--amp bf61: choose one of auto, bf16, fp16, off")

    waits = []
    monkeypatch.setattr(cli.time, "sleep", waits.append)
    monkeypatch.setenv("RANK", "0")
    assert cli.guarded("train.py", refused) == 2 and waits == []
    one_line_error(capsys, "train.py", "--amp bf61: choose one of")
    monkeypatch.setenv("RANK", "1")
    assert cli.guarded("train.py", refused) == 2 and waits == [cli.RANK_ERROR_GRACE_SECONDS]
    assert capsys.readouterr().err == "train.py (rank 1): --amp bf61: choose one of auto, bf16, fp16, off\n"


@pytest.mark.parametrize("argv, words", [
    (["--amp", "xyz"], ["--amp xyz: choose one of"]),
    (["--epochs", "0"], ["--epochs 0: must be >= 1"]),
    (["--eval-every", "0"], ["--eval-every 0: must be >= 1"]),
    (["--arch", "resnest14"], ["--arch resnest14: not a known architecture", "resnest14d"]),
    (["--device", "cuda"], ["--device cuda: torch sees no CUDA device"]),
    (["--skip-bad-files", "--check-data", "false"], ["--skip-bad-files true: needs the scan"]),
    (["--init-from", "nowhere.pt"], ["--init-from nowhere.pt: no such checkpoint file"]),
    (["--stubborn-file", "nowhere.json"], ["--stubborn-file nowhere.json: no such file"]),
    (["--class-names", "nowhere.tsv"], ["--class-names nowhere.tsv: no such file"]),
    (["--config", "nowhere.yaml"], ["--config nowhere.yaml: No such file"]),
    (["--resume", "nowhere"], ["--resume nowhere: not a run folder"]),
    (["--auto-augment", "autoaugment", "--policy-off-epochs", "3", "--epochs", "2"],
     ["--policy-off-epochs 3: must not exceed --epochs 2"]),
    (["--auto-augment", "none", "--policy-off-epochs", "2"], ["--policy-off-epochs 2: holds --auto-augment's policy back"]),
    (["--aa-backend", "torch", "--auto-augment", "randaugment"],
     ["--aa-backend torch: runs only AutoAugment's original ImageNet policy", "--auto-augment randaugment"]),
    (["--aa-backend", "torch", "--aa-policy", "v0"], ["--aa-backend torch: runs only", "--aa-policy v0"]),
    (["--aa-backend", "torch", "--in-memory", "off"], ["--aa-backend torch: runs the policy over the in-memory",
                                                        "--aa-backend dali"]),
    (["--branch-from", "nowhere.pt"], ["--branch-from nowhere.pt: no checkpoint there", "--checkpoint-every"]),
    (["--branch-from", "nowhere.pt", "--resume", "nowhere"], ["--resume with --branch-from", "give one of them"]),
    (["--branch-from", "nowhere.pt", "--config", "r.yaml"], ["--config with --branch-from", "as flags"]),
    (["--branch-from", "nowhere.pt", "--init-from", "w.pt"], ["--init-from with --branch-from", "give one of them"]),
    (["--branch-from", os.path.join(os.path.dirname(__file__), "fixtures", "format1-run", "last.pt")],
     ["its checkpoint is format 1", "--init-from"]),
])
def test_train_refuses_bad_flags_before_any_work(tmp_path, capsys, argv, words):
    if argv[:2] == ["--device", "cuda"] and __import__("torch").cuda.is_available():
        pytest.skip("a GPU is visible")
    # A data folder with a bad file: the flag's error must come first, before any scan.
    (tmp_path / "data" / "train" / "a").mkdir(parents=True)
    (tmp_path / "data" / "train" / "a" / "broken.jpg").write_bytes(b"")
    out = tmp_path / "runs"
    assert train_script.main(["--data", str(tmp_path / "data"), "--output-dir", str(out)] + argv) == 2
    one_line_error(capsys, "train.py", *words)
    assert not out.exists()


def test_train_refuses_an_output_dir_that_is_a_file_and_a_bad_recipe(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert train_script.main(FAST + ["--output-dir", str(tmp_path / "file")]) == 2
    one_line_error(capsys, "train.py", "is a file, not a folder")
    (tmp_path / "r.yaml").write_bytes(b"\xff\xfe\x00binary")
    assert train_script.main(["--config", str(tmp_path / "r.yaml")]) == 2
    one_line_error(capsys, "train.py", "not a text file")


def test_resume_of_a_truncated_checkpoint_is_explained(tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(os.path.join(os.path.dirname(__file__), "fixtures", "format1-run"), run)
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(data[: len(data) // 3])
    assert train_script.main(["--resume", str(run)]) == 2
    one_line_error(capsys, "train.py", "unreadable checkpoint, truncated or corrupt", "best.pt")


def gif_named_jpg(path):
    Image.new("P", (16, 16)).save(path, format="GIF")


def test_the_scan_judges_files_by_what_dali_decodes(tmp_path, monkeypatch):
    gif_named_jpg(tmp_path / "gif.jpg")
    Image.new("RGB", (16, 16)).save(tmp_path / "ok.png")
    assert check.inspect_image(str(tmp_path / "gif.jpg"))[0] == "unsupported-format"
    assert check.inspect_image(str(tmp_path / "ok.png")) == ("note", "PNG file")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # a 16 x 16 image now counts as a bomb
    assert check.inspect_image(str(tmp_path / "ok.png"))[0] == "too-large"


def test_check_data_reports_bombs_and_foreign_formats_without_crashing(tmp_path, monkeypatch, capsys):
    folder = tmp_path / "data" / "train" / "a"
    folder.mkdir(parents=True)
    gif_named_jpg(folder / "gif.jpg")
    Image.new("RGB", (64, 64)).save(folder / "big.jpg")
    monkeypatch.setenv("VIPRIORS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    assert check_data.main([str(tmp_path / "data"), "--splits", "train"]) == 1
    out = capsys.readouterr().out
    assert "gif.jpg: a format the training decoder (DALI) cannot read" in out and "big.jpg: too large" in out


@pytest.mark.slow
def test_predict_scans_the_folder_first(builtin_cache, tmp_path, capsys):
    imgs = tmp_path / "test" / "imgs"
    imgs.mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(imgs / "img_0.JPEG", format="JPEG")
    (imgs / "img_1.JPEG").write_bytes(b"")
    best = os.path.join(os.path.dirname(__file__), "fixtures", "format1-run", "best.pt")
    out = tmp_path / "p.npz"
    assert predict.main(["--checkpoint", best, "--split", str(tmp_path / "test"), "--out", str(out)]) == 2
    err = capsys.readouterr().err  # the scan's report: one line per bad file, then the fix
    assert err.startswith("predict.py: checked 2 images") and "img_1.JPEG: zero bytes" in err
    assert "Traceback" not in err and err.rstrip().endswith("Fix or remove these files, then predict again.")
    assert not out.exists()


def test_predict_refuses_a_missing_checkpoint_and_bad_shift(tmp_path, capsys):
    assert predict.main(["--checkpoint", str(tmp_path / "nope.pt")]) == 2
    one_line_error(capsys, "predict.py", "no checkpoint there")
    best = os.path.join(os.path.dirname(__file__), "fixtures", "format1-run", "best.pt")
    assert predict.main(["--checkpoint", best, "--tta", "flip-shift", "--tta-shift", "40"]) == 2
    one_line_error(capsys, "predict.py", "--tta-shift 40: must be between 1 and the image side - 1 (31)")
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--checkpoint", best, "--device", "tpu"])
    assert exit_info.value.code == 2
    assert "--device: invalid choice: 'tpu'" in capsys.readouterr().err


def write_predictions(path, labels=(0, 1), probs=((0.9, 0.1), (0.2, 0.8))):
    predictions.save(str(path), ["a.jpg", "b.jpg"][: len(labels)], np.array(probs)[: len(labels)], list(labels),
                     ["x", "y"], "m", {})


@pytest.mark.parametrize("make, words", [
    (lambda p: p.write_bytes(b""), ["cannot read it as a prediction file"]),
    (lambda p: p.write_bytes(b"PK\x03\x04garbage"), ["cannot read it as a prediction file"]),
    (lambda p: (write_predictions(p), p.write_bytes(p.read_bytes()[:200])), ["cannot read it as a prediction file"]),
    (lambda p: write_predictions(p, labels=(), probs=np.zeros((0, 2))), ["holds no predictions"]),
    (lambda p: write_predictions(p, labels=(0, 7)), ["labels must all be class indices in 0..1"]),
    (lambda p: write_predictions(p, labels=(0, -1)), ["labels must all be class indices in 0..1, or all -1"]),
])
def test_ensemble_refuses_bad_prediction_files(tmp_path, capsys, make, words):
    path = tmp_path / "p.npz"
    make(path)
    assert ensemble.main(["--val", str(path), "--out-dir", str(tmp_path / "e")]) == 2
    one_line_error(capsys, "ensemble.py", str(path), *words)
    assert not (tmp_path / "e").exists()


def test_ensemble_refuses_zero_picks(tmp_path, capsys):
    write_predictions(tmp_path / "p.npz")
    assert ensemble.main(["--val", str(tmp_path / "p.npz"), "--max-picks", "0", "--out-dir", str(tmp_path / "e")]) == 2
    one_line_error(capsys, "ensemble.py", "--max-picks 0: must be >= 1")


@pytest.mark.parametrize("truth, words", [
    ("Image IDs,Labels\n", ["a header and no rows"]),
    ("Image IDs,Labels\na.jpg,0\n".encode("utf-16"), ["not a UTF-8 text CSV"]),
    (b"\x00\x01\x02\xff\xfe binary", ["not a UTF-8 text CSV"]),
])
def test_evaluate_refuses_unreadable_ground_truth(tmp_path, capsys, truth, words):
    gt = tmp_path / "gt.csv"
    gt.write_bytes(truth if isinstance(truth, bytes) else truth.encode())
    sub = tmp_path / "sub.csv"
    sub.write_text("Image IDs,Predictions\na.jpg,0\n")
    assert evaluate.main([str(sub), str(gt)]) == 2
    one_line_error(capsys, "evaluate.py", str(gt), *words)
