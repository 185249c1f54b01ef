"""The small scripts run end to end on the built-in dataset."""
from PIL import Image

from vipriors.cli import cifar10_recipe, show_augmentations


def test_show_augmentations_writes_a_grid(builtin_cache, tmp_path):
    out = tmp_path / "grid.png"
    assert show_augmentations.main(["--size", "32", "--batch", "4", "--out", str(out)]) == 0
    image = Image.open(out)
    assert image.size == (110 + 4 * 32, 6 * 32)


def test_show_augmentations_explains_a_bad_folder(tmp_path, capsys):
    assert show_augmentations.main(["--data", str(tmp_path / "missing"), "--out", str(tmp_path / "g.png")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_cifar10_recipe_names_its_chains_before_any_work(tmp_path, capsys):
    args = ["--source", str(tmp_path), "--data", str(tmp_path / "data"), "--runs", str(tmp_path / "runs")]
    assert cifar10_recipe.main(args + ["--ablation", "ablation-99ep.yaml"]) == 2
    err = capsys.readouterr().err
    assert "ablation-99ep.yaml: no such recipe file" in err and "ablation-18ep.yaml" in err and "ablation.yaml" in err
    assert cifar10_recipe.main(args + ["--recipe", "base.yaml"]) == 2  # shared settings, not members
    err = capsys.readouterr().err
    assert "base.yaml: no such recipe file" in err and "members.yaml" in err and "members-resnet9.yaml" in err
    assert not (tmp_path / "data").exists()
    assert cifar10_recipe.main(["--source", str(tmp_path / "missing")]) == 2
    assert "give --source" in capsys.readouterr().err
