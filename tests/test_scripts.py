"""The small scripts run end to end on the built-in dataset."""
from PIL import Image

from vipriors.cli import show_augmentations


def test_show_augmentations_writes_a_grid(builtin_cache, tmp_path):
    out = tmp_path / "grid.png"
    assert show_augmentations.main(["--size", "32", "--batch", "4", "--out", str(out)]) == 0
    image = Image.open(out)
    assert image.size == (110 + 4 * 32, 6 * 32)


def test_show_augmentations_explains_a_bad_folder(tmp_path, capsys):
    assert show_augmentations.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "g.png")]) == 2
    assert "no such folder" in capsys.readouterr().err
