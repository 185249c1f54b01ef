import pytest

from vipriors.data import folder


def make_tree(root, layout):
    for cls, names in layout.items():
        (root / cls).mkdir(parents=True)
        for name in names:
            (root / cls / name).write_bytes(b"x")


def test_sorted_classes_and_labels(tmp_path):
    make_tree(tmp_path / "train", {"b": ["2.jpg", "1.JPEG"], "a": ["x.png", "notes.txt"]})
    samples = folder.scan(str(tmp_path / "train"))
    assert samples.classes == ("a", "b")
    assert [p.split("/")[-1] for p in samples.files] == ["x.png", "1.JPEG", "2.jpg"]
    assert samples.labels == (0, 1, 1)


def test_errors_name_the_folder_and_the_fix(tmp_path):
    with pytest.raises(folder.DatasetError, match="no such folder"):
        folder.scan(str(tmp_path / "missing"))
    (tmp_path / "flat").mkdir()
    with pytest.raises(folder.DatasetError, match="no class folders"):
        folder.scan(str(tmp_path / "flat"))
    make_tree(tmp_path / "train", {"a": ["1.jpg"], "empty": []})
    with pytest.raises(folder.DatasetError, match="empty.*empty class folder"):
        folder.scan(str(tmp_path / "train"))
    make_tree(tmp_path / "val", {"a": ["1.jpg"], "zebra": ["2.jpg"]})
    with pytest.raises(folder.DatasetError, match="zebra.*not among"):
        folder.scan(str(tmp_path / "val"), ("a", "b"))


def test_evaluation_split_may_lack_a_class(tmp_path):
    make_tree(tmp_path / "val", {"b": ["1.jpg"]})
    samples = folder.scan(str(tmp_path / "val"), ("a", "b"))
    assert samples.labels == (1,)


def test_a_file_list_that_is_not_text_is_refused(tmp_path):
    (tmp_path / "list.txt").write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(folder.DatasetError, match="not a UTF-8 text file"):
        folder.scan_splits(str(tmp_path), "list.txt")


FOLDER_KINDS = {"missing", "no-classes", "classes", "empty-class", "absent-classes", "no-images"}


def test_check_data_judges_the_folders_by_the_rules_training_applies(tmp_path, monkeypatch):
    from vipriors.data import check

    monkeypatch.setenv("VIPRIORS_CACHE", str(tmp_path / "cache"))
    make_tree(tmp_path / "train", {"a": ["1.jpg"], "b": ["2.jpg"], "c": ["3.jpg"]})
    make_tree(tmp_path / "val", {"a": ["4.jpg"], "b": []})  # b's folder is empty, c's is missing
    assert folder.scan(str(tmp_path / "val"), ("a", "b", "c")).labels == (0,), "training accepts this split"
    report = check.check_dataset(str(tmp_path), ["train", "val"])
    assert not [p for p in report.errors if p.kind in FOLDER_KINDS]
    [note] = [p for p in report.notes if p.kind in FOLDER_KINDS]
    assert note.kind == "absent-classes" and "2 of the training classes have no images here" in note.detail
    make_tree(tmp_path / "val2", {"a": ["5.jpg"], "zebra": ["6.jpg"]})
    with pytest.raises(folder.DatasetError, match="zebra"):
        folder.scan(str(tmp_path / "val2"), ("a", "b", "c"))
    report = check.check_dataset(str(tmp_path), ["train", "val2"])
    assert [p.kind for p in report.errors if p.kind in FOLDER_KINDS] == ["classes"], "and refuses what training refuses"
