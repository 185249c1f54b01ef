"""Dataset building: the official VIPriors layout from a miniature ImageNet, and subsets."""
import os
import pickle

import pytest

from vipriors.data import splits
from vipriors.files import list_images
from vipriors.data.folder import DatasetError

TOOLKIT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "vipriors-toolkit")
WNIDS = ["n01440764", "n01443537", "n02104029"]


def write_jpeg(path, value):
    from PIL import Image

    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new("RGB", (8, 8), (value, value, value)).save(path, format="JPEG")


@pytest.fixture
def mini(tmp_path):
    """A miniature ImageNet (3 classes) and toolkit pickles in the official formats."""
    imagenet, toolkit = tmp_path / "imagenet", tmp_path / "toolkit"
    train, val, test = [], [], []
    for c, wnid in enumerate(WNIDS):
        for k in range(4):
            name = f"{wnid}_{k}.JPEG"
            write_jpeg(str(imagenet / "train" / wnid / name), 10 * c + k)
            (train if k < 2 else val).append([wnid, name])
        for k in range(2):
            name = f"ILSVRC2012_val_0000{c}{k}.JPEG"
            write_jpeg(str(imagenet / "val" / wnid / name), 100 + 10 * c + k)
            test.append(f"{wnid}/{name}")
    test = test[::-1]  # the pickle's order, not the folder order, defines the ids
    toolkit.mkdir()
    for name, data in (("train", train), ("val", val), ("test", test)):
        with open(toolkit / f"{name}.pickle", "wb") as f:
            pickle.dump(data, f)
    return imagenet, toolkit, test


def listing(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_vipriors_layout_matches_the_official_script(mini, tmp_path):
    imagenet, toolkit, test = mini
    out = tmp_path / "out"
    report = splits.build_vipriors(str(imagenet), str(toolkit), str(out), progress=False)
    expected = [f"train/{w}/{w}_{k}.JPEG" for w in WNIDS for k in (0, 1)]
    expected += [f"val/{w}/{w}_{k}.JPEG" for w in WNIDS for k in (2, 3)]
    expected += [f"test/imgs/img_{i}.JPEG" for i in range(6)]
    assert listing(out) == sorted(expected + ["classes.txt", splits.GROUND_TRUTH])
    assert report.created == 18 and report.kept == 0
    # img_<i> is the i-th entry of test.pickle, hard-linked, and the ground truth follows it.
    first_source = imagenet / "val" / test[0]
    assert os.path.samefile(out / "test" / "imgs" / "img_0.JPEG", first_source)
    truth = (out / splits.GROUND_TRUTH).read_text().splitlines()
    assert truth[0] == "Image IDs,Labels"
    assert truth[1] == f"img_0.JPEG,{WNIDS.index(test[0].split('/')[0])}"


def test_rerun_is_idempotent_and_completes_a_broken_run(mini, tmp_path):
    imagenet, toolkit, _ = mini
    out = tmp_path / "out"
    splits.build_vipriors(str(imagenet), str(toolkit), str(out), progress=False)
    os.unlink(out / "train" / WNIDS[0] / f"{WNIDS[0]}_0.JPEG")  # a half-finished run
    (out / "test" / "imgs" / ".img_3.JPEG.123-abcd.partial").write_bytes(b"junk")  # a write cut short
    (out / "val" / WNIDS[1] / f"{WNIDS[1]}_2.JPEG").unlink()
    (out / "val" / WNIDS[1] / f"{WNIDS[1]}_2.JPEG").write_bytes(b"stale")  # a wrong file in place
    report = splits.build_vipriors(str(imagenet), str(toolkit), str(out), progress=False)
    assert (report.created, report.replaced, report.kept) == (1, 1, 16)
    assert [p.name for p in out.rglob("*.partial")] == [".img_3.JPEG.123-abcd.partial"], "only the old leftover"
    assert ".img_3.JPEG.123-abcd.partial" not in list_images(str(out / "test" / "imgs")), "hidden: never an image"
    assert splits.build_vipriors(str(imagenet), str(toolkit), str(out), progress=False).kept == 18


def test_missing_sources_are_listed_before_anything_is_written(mini, tmp_path):
    imagenet, toolkit, test = mini
    os.unlink(imagenet / "val" / test[1])
    os.unlink(imagenet / "train" / WNIDS[2] / f"{WNIDS[2]}_1.JPEG")
    out = tmp_path / "out"
    with pytest.raises(DatasetError, match="2 source images .* missing, nothing was written"):
        splits.build_vipriors(str(imagenet), str(toolkit), str(out), progress=False)
    assert not out.exists()


def test_copy_and_symlink_modes(mini, tmp_path):
    imagenet, toolkit, _ = mini
    splits.build_vipriors(str(imagenet), str(toolkit), str(tmp_path / "copy"), mode="copy", progress=False)
    copied = tmp_path / "copy" / "test" / "imgs" / "img_0.JPEG"
    assert copied.is_file() and not copied.is_symlink() and os.stat(copied).st_nlink == 1
    assert splits.build_vipriors(str(imagenet), str(toolkit), str(tmp_path / "copy"), mode="copy", progress=False).kept == 18
    splits.build_vipriors(str(imagenet), str(toolkit), str(tmp_path / "sym"), mode="symlink", progress=False)
    assert (tmp_path / "sym" / "test" / "imgs" / "img_0.JPEG").is_symlink()


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "payload, message",
    [
        ([["n01440764", Evil()]], "refuses to load"),
        ({"n01440764": "a.JPEG"}, "expected a non-empty list"),
        ([["n01440764", "../../etc/passwd"]], "not a plain file"),
        ([["cat", "a.JPEG"]], "not a WordNet id"),
        (["n01440764/sub/a.JPEG"], "expected \\[wnid, filename\\]"),
        ([["n01440764", 3]], "not a plain file"),
    ],
)
def test_split_pickles_are_read_safely(tmp_path, payload, message):
    path = tmp_path / "train.pickle"
    with open(path, "wb") as f:
        pickle.dump(payload, f)
    with pytest.raises(splits.SplitFileError, match=message):
        splits.load_split(str(path))


@pytest.mark.skipif(not os.path.isdir(TOOLKIT), reason="../shared/data/vipriors-toolkit is not here")
def test_the_official_pickles_have_the_challenge_shape():
    train = splits.load_split(os.path.join(TOOLKIT, "train.pickle"))
    val = splits.load_split(os.path.join(TOOLKIT, "val.pickle"))
    test = splits.load_split(os.path.join(TOOLKIT, "test.pickle"))
    for entries in (train, val):
        per_class = {}
        for wnid, _ in entries:
            per_class[wnid] = per_class.get(wnid, 0) + 1
        assert len(per_class) == 1000 and set(per_class.values()) == {50}
    assert not set(train) & set(val)
    assert len(test) == 50000 and len(set(test)) == 50000
    assert {w for w, _ in test} == {w for w, _ in train}


def test_subset_first_n_by_name_and_seeded(tmp_path):
    source = tmp_path / "source"
    for cls in ("cat", "dog"):
        for k in range(6):
            write_jpeg(str(source / cls / f"{k:02d}.jpg"), k)
    out = tmp_path / "out"
    splits.build_subset(str(source), str(out), 3, 2, 1, progress=False)
    assert sorted(os.listdir(out / "train" / "cat")) == ["00.jpg", "01.jpg", "02.jpg"]
    assert sorted(os.listdir(out / "val" / "dog")) == ["03.jpg", "04.jpg"]
    assert sorted(os.listdir(out / "test" / "dog")) == ["05.jpg"]
    a = splits.subset_plan(str(source), str(tmp_path / "a"), 3, 2, seed=7)
    b = splits.subset_plan(str(source), str(tmp_path / "a"), 3, 2, seed=7)
    c = splits.subset_plan(str(source), str(tmp_path / "a"), 3, 2, seed=8)
    assert a == b and a != c
    with pytest.raises(DatasetError, match="cat: 6 images, 9 needed"):
        splits.build_subset(str(source), str(tmp_path / "x"), 5, 4, progress=False)
