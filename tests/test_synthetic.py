import filecmp
import json
import os

import numpy as np
import pytest
from PIL import Image

from vipriors.data import folder, synthetic

TINY = synthetic.SyntheticSpec(seed=3, image_size=32, train_per_class=3, val_per_class=1)


def all_files(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_layout_and_manifest(tmp_path):
    root = synthetic.write_dataset(str(tmp_path / "data"), TINY)
    train = folder.scan(os.path.join(root, "train"))
    val = folder.scan(os.path.join(root, "val"), train.classes)
    assert train.classes == tuple(sorted(synthetic.CLASSES))
    assert len(train) == 3 * len(synthetic.CLASSES) and len(val) == len(synthetic.CLASSES)
    assert sorted(set(train.labels)) == list(range(len(synthetic.CLASSES)))
    image = Image.open(train.files[0])
    assert image.format == "JPEG" and image.mode == "RGB" and image.size == (32, 32)
    with open(os.path.join(root, synthetic.MANIFEST)) as f:
        assert json.load(f)["seed"] == 3
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".synthetic-")], "staging folder left behind"


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = synthetic.write_dataset(str(tmp_path / "a"), TINY)
    b = synthetic.write_dataset(str(tmp_path / "b"), TINY)
    files = all_files(a)
    assert files == all_files(b)
    match, mismatch, errors = filecmp.cmpfiles(a, b, files, shallow=False)
    assert not mismatch and not errors
    c = synthetic.write_dataset(str(tmp_path / "c"), synthetic.SyntheticSpec(seed=4, image_size=32, train_per_class=3, val_per_class=1))
    first = os.path.join("train", sorted(synthetic.CLASSES)[0], "00000.jpg")
    assert not filecmp.cmp(os.path.join(a, first), os.path.join(c, first), shallow=False)


def test_images_vary_within_a_class():
    rng = np.random.default_rng(0)
    images = np.stack([synthetic.render(0, rng, 32).astype(np.float32) for _ in range(6)])
    assert images.std(axis=0).mean() > 20  # colour, pose and clutter differ from image to image


def test_ensure_dataset_reuses_and_refuses_foreign_folders(tmp_path):
    root = str(tmp_path / "data")
    assert synthetic.ensure_dataset(root, TINY) == root
    stamp = os.path.getmtime(os.path.join(root, synthetic.MANIFEST))
    assert synthetic.ensure_dataset(root, TINY) == root
    assert os.path.getmtime(os.path.join(root, synthetic.MANIFEST)) == stamp
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with pytest.raises(ValueError, match="not a complete built-in dataset"):
        synthetic.ensure_dataset(str(foreign), TINY)
