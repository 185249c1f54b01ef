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
