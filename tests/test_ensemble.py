"""Soft vote and greedy screening on hand-made probabilities, the file checks, the script."""

import numpy as np
import pytest

from vipriors import ensemble, predictions

from vipriors.cli import ensemble as ensemble_script

LABELS = np.array([0, 1, 2, 0, 1, 2])
IDS = [f"img_{i}.JPEG" for i in range(6)]
CLASSES = ["a", "b", "c"]


def probs_from(predicted, confidence=0.6):
    p = np.full((len(predicted), 3), (1 - confidence) / 2)
    p[np.arange(len(predicted)), predicted] = confidence
    return p


def save(tmp_path, name, probs, labels=LABELS, ids=IDS, classes=CLASSES):
    path = str(tmp_path / f"{name}.npz")
    predictions.save(path, ids, probs, labels, classes, name, {"model": {"arch": name}})
    return path


def test_round_trip(tmp_path):
    p = predictions.load(save(tmp_path, "m", probs_from([0, 1, 2, 0, 1, 1])))
    assert p.model == "m" and list(p.ids) == IDS and p.probs.dtype == np.float32
    assert p.accuracy() == pytest.approx(5 / 6) and p.config == {"model": {"arch": "m"}}


def test_a_saved_file_keeps_the_models_top1_on_near_ties(tmp_path):
    # Two classes a hair apart: half precision would round them equal and pick the first.
    probs = probs_from([0, 1, 2, 0, 1, 2]).astype(np.float32)
    probs[4] = [0.3333, 0.33336, 0.33334]  # right (label 1), by 2e-5
    assert probs[4].astype(np.float16).argmax() == 0, "half precision rounds the three equal"
    saved = predictions.load(save(tmp_path, "m", probs))
    assert np.array_equal(saved.probs, probs) and saved.accuracy() == 1.0


def test_soft_vote_beats_each_member():
    # Each member is wrong on a different pair of images, but with low confidence there.
    a = probs_from([0, 1, 2, 0, 1, 2]); a[0] = [0.30, 0.40, 0.30]; a[1] = [0.40, 0.30, 0.30]
    b = probs_from([0, 1, 2, 0, 1, 2]); b[2] = [0.30, 0.40, 0.30]; b[3] = [0.30, 0.40, 0.30]
    files = [predictions.Predictions(np.array(IDS), p, LABELS, np.array(CLASSES), n, {}) for n, p in (("a", a), ("b", b))]
    members = [f.accuracy() for f in files]
    vote = ensemble.soft_vote(files)
    assert float((vote.argmax(1) == LABELS).mean()) == 1.0 > max(members)


def test_an_always_right_model_wins_and_a_duplicate_does_not_help(tmp_path):
    paths = [save(tmp_path, "noisy", probs_from([0, 2, 2, 1, 1, 0])),
             save(tmp_path, "oracle", probs_from(LABELS, 0.5)),
             save(tmp_path, "weak", probs_from([1, 1, 1, 1, 1, 1]))]
    files = [predictions.load(p) for p in paths]
    selection = ensemble.greedy_select(files)
    assert selection.picks[0] == 1 and selection.accuracy == 1.0
    assert selection.weights[1] >= 1 and selection.weights[2] == 0
    # A copy of a member adds nothing: the ensemble's accuracy stays that of the original.
    duplicated = [files[0], predictions.load(save(tmp_path, "noisy_copy", files[0].probs))]
    again = ensemble.greedy_select(duplicated)
    assert again.accuracy == files[0].accuracy()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(ids=IDS[::-1]), "image ids differ at"),
        (dict(classes=["a", "b", "z"]), "different class lists"),
        (dict(labels=np.array([0, 1, 2, 0, 1, 0])), "different labels"),
    ],
)
def test_mismatched_files_are_named(tmp_path, change, message):
    good = save(tmp_path, "good", probs_from(LABELS))
    bad = save(tmp_path, "bad", probs_from(LABELS), **change)
    with pytest.raises(predictions.PredictionFileError, match=message):
        predictions.check_compatible([predictions.load(good), predictions.load(bad)])


def test_bad_files_are_refused(tmp_path):
    logits = np.random.default_rng(0).normal(size=(6, 3)) * 5
    with pytest.raises(predictions.PredictionFileError, match="rows must sum to 1"):
        predictions.load(save(tmp_path, "logits", logits))
    nan = probs_from(LABELS); nan[0, 0] = np.nan
    with pytest.raises(predictions.PredictionFileError, match="NaN"):
        predictions.load(save(tmp_path, "nan", nan))
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(predictions.PredictionFileError, match="not a vipriors prediction file"):
        predictions.load(str(tmp_path / "other.npz"))


def test_script_screens_on_val_and_writes_the_test_submission(tmp_path, capsys):
    val = [save(tmp_path, "m1", probs_from([0, 1, 2, 0, 0, 0])), save(tmp_path, "m2", probs_from([1, 1, 2, 0, 1, 2]))]
    test_dir = tmp_path / "test"
    test_dir.mkdir()
    unknown = np.full(4, -1)
    test_ids = [f"img_{i}.JPEG" for i in range(4)]
    test = [save(test_dir, "m1", probs_from([0, 0, 0, 0]), unknown, test_ids),
            save(test_dir, "m2", probs_from([2, 2, 2, 2]), unknown, test_ids)]
    out = tmp_path / "ens"
    assert ensemble_script.main(["--val", *val, "--test", *test, "--out-dir", str(out)]) == 0
    lines = (out / "submission.csv").read_text().splitlines()
    assert lines[0] == "Image IDs,Predictions" and len(lines) == 5 and lines[1].startswith("img_0.JPEG,")
    printed = capsys.readouterr().out
    assert "ensemble" in printed and "m2" in printed
    assert ensemble_script.main(["--val", *val, "--test", test[1], test[0], "--out-dir", str(out)]) == 2
    assert "same models as --val" in capsys.readouterr().err
