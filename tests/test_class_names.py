"""Names files (folder<TAB>words): read strictly, matched to the classes, refused when wrong."""
import json

import pytest

from vipriors.data import class_names
from vipriors.engine import report
from vipriors.errors import UserError


def test_words_in_class_order_with_gaps(tmp_path):
    path = tmp_path / "classes.tsv"
    path.write_text("n01\tgoldfish, Carassius auratus\n\nn03\t  tree frog \nn99\tnot a class here\n")
    assert class_names.words_for(("n01", "n02", "n03"), str(path)) == ("goldfish, Carassius auratus", "", "tree frog")
    assert class_names.words_for(("n01", "n02"), None) == ("", "")
    assert class_names.label("n01", "goldfish, Carassius auratus") == "n01 goldfish, Carassius auratus"
    assert class_names.label("n02", "") == "n02"


@pytest.mark.parametrize("content, expected", [
    (b"n01 goldfish\n", "line 1 is not 'folder<TAB>words'"),
    (b"n01\tgoldfish\n\tno folder\n", "line 2 is not 'folder<TAB>words'"),
    (b"\xff\xfe\x00n\x00", "not UTF-8 text"),
    (b"m01\tsomething else\n", "names none of the 2 classes"),
])
def test_a_wrong_names_file_is_refused(tmp_path, content, expected):
    path = tmp_path / "names.tsv"
    path.write_bytes(content)
    with pytest.raises(UserError, match=expected) as error:
        class_names.words_for(("n01", "n02"), str(path))
    assert str(path) in str(error.value) and "--class-names" in str(error.value)


def test_the_per_class_report_keeps_the_key_and_adds_the_words(tmp_path):
    report.write_per_class(str(tmp_path), ("n01", "n02"), [0.5, 0.25], [4, 4], 3, ("goldfish", ""))
    table = json.loads((tmp_path / "per_class_accuracy.json").read_text())
    assert table["per_class_top1"] == {"n01": 0.5, "n02": 0.25}
    assert table["class_words"] == {"n01": "goldfish", "n02": ""}
    report.write_per_class(str(tmp_path), ("n01", "n02"), [0.5, 0.25], [4, 4], 3)
    assert "class_words" not in json.loads((tmp_path / "per_class_accuracy.json").read_text())
    assert (tmp_path / "worst_classes.png").stat().st_size > 0
