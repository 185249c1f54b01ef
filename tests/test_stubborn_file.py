"""--stubborn-file: SIA's starting classes from a list of names or from a run's per-class file,
ranked as the stubborn-class loop ranks them."""
import json

import pytest

from vipriors.data import stubborn_file
from vipriors.engine import report
from vipriors.errors import UserError

CLASSES = ("n01", "n02", "n03", "n04", "n05")


def test_ties_in_accuracy_go_to_the_highest_validation_loss(tmp_path):
    accuracy, loss = [0.0, 0.0, 0.5, 0.0, 0.25], [4.0, 6.0, 1.0, 5.0, 2.0]
    report.write_per_class(str(tmp_path), CLASSES, accuracy, [2] * 5, 3, loss=loss)
    path = str(tmp_path / "per_class_accuracy.json")
    table = json.loads(open(path).read())
    assert table["per_class_val_loss"] == dict(zip(CLASSES, loss))
    # Three classes at 0%: by loss n02, n04, n01 (by name alone it would be n01, n02, n04).
    assert stubborn_file.read(path, CLASSES, 2) == ["n02", "n04"]
    assert stubborn_file.read(path, CLASSES, 4) == ["n02", "n04", "n01", "n05"]


def test_a_table_without_losses_breaks_ties_by_name_and_a_list_is_taken_as_given(tmp_path):
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"per_class_top1": {"n03": 0.0, "n01": 0.0, "n02": 0.5}}))
    assert stubborn_file.read(str(table), CLASSES, 2) == ["n01", "n03"]
    names = tmp_path / "names.json"
    names.write_text(json.dumps(["n05", "n02"]))
    assert stubborn_file.read(str(names), CLASSES, 1) == ["n05", "n02"]
    names.write_text(json.dumps({"n09": 0.0}))
    with pytest.raises(UserError, match="--stubborn-file .*names.json: 1 names are not classes"):
        stubborn_file.read(str(names), CLASSES, 1)
