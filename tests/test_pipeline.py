"""The DALI pipelines (CPU): batches, labels, sharding, order, every augmentation, bad files."""
import os
import random

import numpy as np
import pytest
import torch
from PIL import Image

from vipriors.data import check, folder
from vipriors.config import AugmentConfig
from vipriors.data.dali_plugin import resolve_resize
from vipriors.data.loader import TrainBatches, _in_turn, _whole_batches, eval_loader
from vipriors.data.pipeline import Shard

CPU = torch.device("cpu")
# The training resize "auto" picks here (resolved before any pipeline is built, as the trainer does).
RESIZE = resolve_resize("auto", on_gpu=False)
NO_AUG = AugmentConfig(scale=(1.0, 1.0), ratio=(1.0, 1.0), hflip=0.0, rotate_prob=0.0, blur_prob=0.0,
                       auto_augment="none", train_resize=RESIZE)


def constant_dataset(root, classes=3, per_class=8):
    """Image i of the dataset is a constant grey of value 4 * i, so a pixel names its file."""
    i = 0
    for c in range(classes):
        os.makedirs(root / f"class{c}", exist_ok=True)
        for k in range(per_class):
            Image.new("RGB", (20, 20), (4 * i,) * 3).save(root / f"class{c}" / f"{k:02d}.png")
            i += 1
    return folder.scan(str(root))


def noise_dataset(root, n=8):
    rng = np.random.default_rng(0)
    os.makedirs(root / "only", exist_ok=True)
    for k in range(n):
        Image.fromarray((rng.random((32, 32, 3)) * 255).astype(np.uint8)).save(root / "only" / f"{k}.png")
    return folder.scan(str(root))


def ids_of(images):
    return (images[:, 0, 0, 0].int() // 4).tolist()


def test_batches_are_uint8_nhwc_with_their_folders_labels(tmp_path):
    samples = constant_dataset(tmp_path)
    loader = TrainBatches(samples, batch_size=6, image_size=16, augment=NO_AUG, device=CPU, threads=1, seed=0)
    images, labels = next(loader.epoch(0))
    assert images.shape == (6, 16, 16, 3) and images.dtype == torch.uint8 and images.is_contiguous()
    assert labels.dtype == torch.int64 and labels.shape == (6,)
    assert [samples.labels[i] for i in ids_of(images)] == labels.tolist()


# pipeline_batch 10: DALI runs of 12 images, handed out 4 at a time; pipelines 2: each rank's
# 12 files split 6 + 6, whose runs of 4 leave remainders of 2 that make one batch together.
@pytest.mark.parametrize("pipeline_batch,pipelines", [(0, 1), (10, 1), (0, 2)])
def test_two_shards_cover_every_file_once_per_epoch(tmp_path, pipeline_batch, pipelines, epochs=2):
    samples = constant_dataset(tmp_path)  # 24 files: 12 per shard, 3 batches of 4
    loaders = [TrainBatches(samples, batch_size=4, image_size=8, augment=NO_AUG, device=CPU, threads=1, seed=5,
                            shard=Shard(rank, 2), pipeline_batch=pipeline_batch, pipelines=pipelines) for rank in range(2)]
    orders = []
    for epoch in range(epochs):
        seen = [i for loader in loaders for images, _ in loader.epoch(epoch) for i in ids_of(images)]
        assert sorted(seen) == list(range(24))
        orders.append(seen)
    assert orders[0] != orders[1], "each epoch has its own order"


def test_an_epoch_is_reproducible_and_can_start_mid_way(tmp_path):
    samples = constant_dataset(tmp_path, per_class=5)  # 15 files, batches of 4: 3 steps (the rest dropped)
    loader = TrainBatches(samples, batch_size=4, image_size=8, augment=NO_AUG, device=CPU, threads=1, seed=1)
    assert len(loader) == 3
    full = [ids_of(images) for images, _ in loader.epoch(4)]
    assert len(full) == 3 and full == [ids_of(images) for images, _ in loader.epoch(4)]
    assert [ids_of(images) for images, _ in loader.epoch(4, skip=2)] == full[2:]
    # DALI runs of 8 images (the last one 7, of which one whole batch): the same batches.
    chunked = TrainBatches(samples, batch_size=4, image_size=8, augment=NO_AUG, device=CPU, threads=1, seed=1,
                           pipeline_batch=8)
    assert [ids_of(images) for images, _ in chunked.epoch(4)] == full
    assert [ids_of(images) for images, _ in chunked.epoch(4, skip=1)] == full[1:]


def test_two_pipelines_split_the_epoch_reproducibly(tmp_path):
    samples = constant_dataset(tmp_path, per_class=5)  # 15 files: pipelines of 7 and 8, batches of 4
    loader = TrainBatches(samples, batch_size=4, image_size=8, augment=NO_AUG, device=CPU, threads=2, seed=1,
                          pipelines=2)
    assert len(loader) == 3
    full = [ids_of(images) for images, _ in loader.epoch(4)]
    # The epoch's permuted files 0-6 go to the first pipeline, 7-14 to the second; runs of
    # one batch are taken in turn, and the first's last run (3 files) is completed by the second's.
    order = random.Random("1/4").sample(range(15), 15)
    assert full == [order[0:4], order[7:11], order[4:7] + order[11:12]]
    assert full == [ids_of(images) for images, _ in loader.epoch(4)]
    assert [ids_of(images) for images, _ in loader.epoch(4, skip=2)] == full[2:]
    tiny = folder.Samples(samples.root, samples.classes, samples.files[:1], samples.labels[:1])  # fewer files than pipelines
    assert [ids_of(images) for images, _ in TrainBatches(tiny, batch_size=1, image_size=8, augment=NO_AUG, device=CPU,
                                                          threads=2, seed=1, pipelines=2).epoch(0)] == [[0]]


def test_runs_are_cut_into_whole_batches_across_run_boundaries():
    runs = [torch.arange(a, b) for a, b in [(0, 4), (4, 7), (7, 11), (11, 12), (12, 17)]]
    batches = list(_whole_batches(((r, -r) for r in runs), 4))
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    assert all(torch.equal(labels, -images) for images, labels in batches)
    assert list(_in_turn([[1, 2, 3], [10], [20, 21]])) == [1, 10, 20, 2, 21, 3]


def test_evaluation_reads_in_file_order_and_every_image_once_across_ranks(tmp_path):
    samples = constant_dataset(tmp_path, per_class=7)  # 21 files: shards of 11 and 10, batches of 4
    single = [i for images, _ in eval_loader(samples, batch_size=4, image_size=8, crop_pct=1.0, device=CPU, threads=1)
              for i in ids_of(images)]
    assert single == list(range(21))
    sharded = [i for rank in range(2) for images, _ in eval_loader(
        samples, batch_size=4, image_size=8, crop_pct=1.0, device=CPU, threads=1, shard=Shard(rank, 2)) for i in ids_of(images)]
    assert sorted(sharded) == list(range(21))


def batch(samples, augment, seed=3):
    loader = TrainBatches(samples, batch_size=8, image_size=32, augment=augment, device=CPU, threads=1, seed=seed)
    return next(loader.epoch(0))[0]


@pytest.mark.parametrize(
    "change",
    [dict(hflip=1.0), dict(rotate_prob=1.0, rotate_degrees=30), dict(blur_prob=1.0, blur_sigma=(1.0, 2.0)),
     dict(auto_augment="autoaugment"), dict(auto_augment="randaugment"), dict(auto_augment="trivialaugment"), dict(scale=(0.2, 0.5))],
)
def test_each_augmentation_is_applied_and_probability_zero_is_identity(tmp_path, change):
    samples = noise_dataset(tmp_path)
    base = batch(samples, NO_AUG)
    assert torch.equal(batch(samples, NO_AUG), base), "same seed, same batch"
    augmented = batch(samples, AugmentConfig(**{**NO_AUG.__dict__, **change}))
    assert augmented.shape == base.shape
    differs = [not torch.equal(a, b) for a, b in zip(augmented, base)]
    if change.get("hflip") == 1.0:
        assert torch.equal(augmented, base.flip(2))
    elif "auto_augment" in change:
        assert sum(differs) >= 4  # a policy may pick a no-op for a few images
    else:
        assert all(differs)
    off = {k: (0.0 if k.endswith(("prob", "hflip")) else v) for k, v in change.items() if k != "auto_augment" and k != "scale"}
    if off:
        assert torch.equal(batch(samples, AugmentConfig(**{**NO_AUG.__dict__, **off})), base)


def test_the_policy_is_left_out_below_its_minimum_size(tmp_path):
    # Progressive resizing's small epochs (TrainBatches.epoch's image_size) train on the crop
    # and flip alone: the same batch as without a policy, the crop and flip draws unchanged.
    samples = noise_dataset(tmp_path)
    augment = AugmentConfig(**{**NO_AUG.__dict__, "hflip": 0.5, "pad_crop": 4})
    policy = AugmentConfig(**{**augment.__dict__, "auto_augment": "autoaugment", "policy_min_size": 24})

    def at(augment, size):
        loader = TrainBatches(samples, batch_size=8, image_size=32, augment=augment, device=CPU, threads=1, seed=3)
        return next(loader.epoch(0, image_size=size))[0]

    assert torch.equal(at(policy, 16), at(augment, 16))
    for size in (24, 32):
        differs = [not torch.equal(a, b) for a, b in zip(at(policy, size), at(augment, size))]
        assert sum(differs) >= 4, f"the policy runs at {size} px"


def test_an_epoch_without_the_policy_is_the_same_crops_and_flips_alone(tmp_path):
    # --policy-off-epochs: the last epochs' batches are those of the same run without a policy.
    samples = noise_dataset(tmp_path)
    augment = AugmentConfig(**{**NO_AUG.__dict__, "hflip": 0.5, "pad_crop": 4})
    policy = AugmentConfig(**{**augment.__dict__, "auto_augment": "autoaugment"})

    def first(augment, **kwargs):
        loader = TrainBatches(samples, batch_size=8, image_size=32, augment=augment, device=CPU, threads=1, seed=3)
        return next(loader.epoch(1, **kwargs))[0]

    assert torch.equal(first(policy, policy=False), first(augment))
    assert sum(not torch.equal(a, b) for a, b in zip(first(policy), first(augment))) >= 4, "the policy runs by default"


def test_policy_geometry_is_nearest_by_default_and_linear_on_request(tmp_path):
    # TrivialAugment applies one operation per image: where the two interpolations disagree,
    # that operation moved pixels, and nearest may only copy input colours (or the fill, 128).
    samples = noise_dataset(tmp_path)
    base = batch(samples, NO_AUG)
    policy = {**NO_AUG.__dict__, "auto_augment": "trivialaugment"}
    assert AugmentConfig(**policy).aa_interp == "nearest"
    nearest = batch(samples, AugmentConfig(**policy))
    linear = batch(samples, AugmentConfig(**{**policy, "aa_interp": "linear"}))
    moved = [i for i in range(len(base)) if not torch.equal(nearest[i], linear[i])]
    assert moved, "with this seed some image gets shear, translate or rotate"
    for i in moved:
        palette = {tuple(p) for p in base[i].reshape(-1, 3).tolist()} | {(128, 128, 128)}
        assert {tuple(p) for p in nearest[i].reshape(-1, 3).tolist()} <= palette
        assert not {tuple(p) for p in linear[i].reshape(-1, 3).tolist()} <= palette
    with pytest.raises(ValueError, match="--aa-interp cubic: choose one of nearest, linear"):
        AugmentConfig(aa_interp="cubic")


def test_pad_crop_shifts_each_image_by_whole_pixels_within_the_padding(tmp_path):
    samples = noise_dataset(tmp_path)
    base = batch(samples, NO_AUG)
    padded = batch(samples, AugmentConfig(**{**NO_AUG.__dict__, "pad_crop": 3}))
    assert padded.shape == base.shape
    shifts = set()
    for image, original in zip(padded, base):
        canvas = torch.zeros(38, 38, 3, dtype=torch.uint8)
        canvas[3:35, 3:35] = original
        found = [(dy, dx) for dy in range(7) for dx in range(7) if torch.equal(canvas[dy:dy + 32, dx:dx + 32], image)]
        assert len(found) == 1, "each output is the padded image cropped at one whole-pixel offset"
        shifts.add(found[0])
    assert len(shifts) > 4, "offsets vary between images"


def test_merged_splits_and_file_lists(tmp_path):
    constant_dataset(tmp_path / "train", classes=2, per_class=3)
    constant_dataset(tmp_path / "val", classes=2, per_class=2)
    merged = folder.scan_splits(str(tmp_path), "train,val")
    assert len(merged) == 10 and merged.classes == ("class0", "class1")
    listing = tmp_path / "list.txt"
    listing.write_text("# good files\ntrain/class1/00.png\n\nval/class0/01.png\n")
    listed = folder.scan_splits(str(tmp_path), "list.txt", merged.classes)
    assert listed.labels == (1, 0) and listed.files[0] == str(tmp_path / "train/class1/00.png")
    listing.write_text("train/class1/missing.png\n")
    with pytest.raises(folder.DatasetError, match="1 listed files do not exist"):
        folder.scan_splits(str(tmp_path), "list.txt")


def bad_dataset(root):
    rng = np.random.default_rng(0)
    good = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
    for split in ("train", "val"):
        for cls in ("a", "b"):
            os.makedirs(root / split / cls, exist_ok=True)
            Image.fromarray(good).save(root / split / cls / "good.jpg")
    a = root / "train" / "a"
    Image.fromarray(good).convert("L").save(a / "gray.jpg")
    Image.fromarray(good).convert("CMYK").save(a / "cmyk.jpg")
    Image.fromarray(good).save(a / "png_named.jpg", format="PNG")
    data = (a / "good.jpg").read_bytes()
    (a / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (a / "text.jpg").write_text("not an image")
    (a / "zero.jpg").write_bytes(b"")


def test_the_scan_names_each_bad_file_and_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("VIPRIORS_CACHE", str(tmp_path / "cache"))
    bad_dataset(tmp_path / "data")
    (tmp_path / "data" / "train" / "empty").mkdir()
    (tmp_path / "data" / "val" / "zebra").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "data" / "val" / "zebra" / "z.jpg")
    report = check.check_dataset(str(tmp_path / "data"), ["train", "val"])
    kinds = {(os.path.basename(p.path), p.kind) for p in report.errors}
    assert kinds == {("truncated.jpg", "corrupt"), ("text.jpg", "not-an-image"), ("zero.jpg", "empty"),
                     ("empty", "empty-class"), ("val", "classes")}
    noted = {os.path.basename(p.path) for p in report.notes}
    assert {"gray.jpg", "cmyk.jpg", "png_named.jpg"} <= noted
    text = report.text()
    assert "re-copy it from its source, or delete it" in text and "zebra" in text
    again = check.check_dataset(str(tmp_path / "data"), ["train", "val"])
    assert again.from_cache == again.checked and len(again.errors) == len(report.errors)


def test_odd_but_valid_files_decode_as_rgb_like_pillow(tmp_path):
    bad_dataset(tmp_path)
    names = ["gray.jpg", "cmyk.jpg", "png_named.jpg"]
    files = tuple(str(tmp_path / "train" / "a" / n) for n in names)
    samples = folder.Samples(str(tmp_path), ("a",), files, (0, 0, 0))
    images, _ = next(iter(eval_loader(samples, batch_size=3, image_size=24, crop_pct=1.0, device=CPU, threads=1)))
    for image, path in zip(images, files):
        expected = torch.from_numpy(np.array(Image.open(path).convert("RGB")))
        assert (image.int() - expected.int()).abs().max() <= 1


@pytest.mark.slow
def test_training_stops_on_bad_files_or_leaves_them_out(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIPRIORS_CACHE", str(tmp_path / "cache"))
    bad_dataset(tmp_path / "data")
    from vipriors.cli import train as train_script

    common = ["--data", str(tmp_path / "data"), "--arch", "resnet10t", "--epochs", "1", "--image-size", "16",
              "--batch-size", "2", "--output-dir", str(tmp_path / "runs"), "--auto-augment", "none"]
    assert train_script.main(common + ["--name", "stops"]) == 2
    err = capsys.readouterr().err
    assert "truncated.jpg" in err and "--skip-bad-files" in err
    assert not (tmp_path / "runs" / "stops").exists(), "nothing is written before the data is known good"
    assert train_script.main(common + ["--name", "skips", "--skip-bad-files"]) == 0
    assert "left out 3 bad files" in capsys.readouterr().out
