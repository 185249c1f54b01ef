"""vipriors.cli.predict's choice of folder (the trained model's predictions are tested with
the trainer, in test_trainer.py)."""
import os

from vipriors.cli.predict import split_path, unlabelled_images


def test_the_data_roots_split_wins_over_a_folder_of_that_name_here(tmp_path, monkeypatch):
    root = tmp_path / "data"
    (root / "val").mkdir(parents=True)
    (tmp_path / "val").mkdir()
    monkeypatch.chdir(tmp_path)
    assert split_path("val", str(root)) == os.path.join(str(root), "val")
    (tmp_path / "extra").mkdir()
    assert split_path("extra", str(root)) == "extra", "a folder the root lacks is taken as given"
    assert split_path(str(tmp_path / "val"), str(root)) == str(tmp_path / "val"), "an absolute path is itself"


def test_a_flat_folder_is_listed_in_numeric_order(tmp_path):
    for name in ("img_10.JPEG", "img_2.JPEG", "img_1.JPEG"):
        (tmp_path / name).write_bytes(b"")
    files = unlabelled_images(str(tmp_path))
    assert [os.path.basename(f) for f in files] == ["img_1.JPEG", "img_2.JPEG", "img_10.JPEG"]
