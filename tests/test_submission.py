"""Strict scoring of submission CSVs, and scripts/evaluate.py."""

import pytest

from vipriors import submission

from vipriors.cli import evaluate


def write_csv(path, rows, header="Image IDs,Predictions"):
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return str(path)


@pytest.fixture
def truth(tmp_path):
    return write_csv(tmp_path / "truth.csv", [(f"img_{i}.JPEG", i % 3) for i in range(6)], "Image IDs,Labels")


def test_round_trip_and_exact_score(tmp_path, truth):
    path = str(tmp_path / "sub.csv")
    submission.write(path, [f"img_{i}.JPEG" for i in range(6)], [0, 1, 2, 0, 0, 0])
    assert open(path).readline().strip() == "Image IDs,Predictions"
    result = submission.score(submission.read(path, 3), submission.read(truth))
    assert result.top1 == pytest.approx(4 / 6) and result.scored == 6 and result.missing == 0
    assert result.per_class == {0: 1.0, 1: 0.5, 2: 0.5}


@pytest.mark.parametrize(
    "rows, message",
    [
        ([(f"img_{i}.JPEG", 0) for i in range(5)], "1 of 6 ids have no prediction: 'img_5.JPEG'"),
        ([(f"img_{i}.JPEG", 0) for i in range(6)] + [("img_2.JPEG", 1)], "1 duplicated ids: 'img_2.JPEG'"),
        ([(f"img_{i}.JPEG", 0) for i in range(6)] + [("img_9.JPEG", 1)], "not in the ground truth: 'img_9.JPEG'"),
        ([(f"img_{i}.JPEG", "cat") for i in range(6)], "6 malformed rows"),
        ([(f"img_{i}.JPEG", 7) for i in range(6)], "6 predictions outside 0..2"),
    ],
)
def test_bad_submissions_are_refused_with_counts_and_examples(tmp_path, truth, rows, message, capsys):
    path = write_csv(tmp_path / "sub.csv", rows)
    assert evaluate.main([path, truth]) == 2
    assert message in capsys.readouterr().err


def test_partial_scoring_says_what_was_missing(tmp_path, truth, capsys):
    path = write_csv(tmp_path / "sub.csv", [(f"img_{i}.JPEG", i % 3) for i in range(4)])
    assert evaluate.main([path, truth, "--allow-partial", "--per-class"]) == 0
    out = capsys.readouterr().out
    assert "top-1 100.00% on 4 images (2 ids had no prediction" in out


def test_unreadable_files(tmp_path, truth):
    with pytest.raises(submission.SubmissionError, match="No such file"):
        submission.read(str(tmp_path / "none.csv"))
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(submission.SubmissionError, match="empty, or no header"):
        submission.read(str(tmp_path / "empty.csv"))
