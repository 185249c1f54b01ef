"""The in-memory path (vipriors.data.memory): the decoded pixels are the file pipeline's, the
same crop and flip give the same batch either way, epochs are reproducible and resumable
mid-way, shards cover every image once, alternating flips alternate, small sizes resize;
with rotation, blur or a policy, DALI gets those crops and flips and keeps all of that."""
import dataclasses
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from vipriors import config as cfg
from vipriors.config import AugmentConfig
from vipriors.data import folder, memory
from vipriors.data.dali_plugin import resolve_resize
from vipriors.data.loader import (CroppedBatchesThroughDali, TrainBatches, decoded_eval_images, decoded_train_images,
                                  eval_loader)
from vipriors.data.shard import Shard
from vipriors.engine import autos

CPU = torch.device("cpu")
PAD_FLIP = AugmentConfig(pad_crop=3, hflip=0.5, rotate_prob=0.0, blur_prob=0.0, auto_augment="none",
                         train_resize=resolve_resize("auto", on_gpu=False))


def noise_dataset(root, classes=2, per_class=6, size=(20, 14)):
    """JPEGs of noise, not square and not at the training size, so decode and resize both matter."""
    rng = np.random.default_rng(0)
    for c in range(classes):
        os.makedirs(root / f"c{c}", exist_ok=True)
        for k in range(per_class):
            pixels = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / f"c{c}" / f"{k}.jpg", quality=90)
    return folder.scan(str(root))


def every_crop_and_flip(image: torch.Tensor, pad: int):
    """Every (offset, flip) of one decoded image and the window it gives."""
    for oy in range(2 * pad + 1):
        for ox in range(2 * pad + 1):
            for flip in (False, True):
                window = memory.crop_and_flip(image[None], torch.tensor([[oy, ox]]), torch.tensor([flip]), pad)[0]
                yield (oy, ox, flip), window


def test_crop_and_flip_by_hand():
    image = torch.arange(1, 1 + 3 * 2 * 3, dtype=torch.uint8).view(1, 3, 2, 3)  # H 3, W 2, no zero pixel
    out = memory.crop_and_flip(image, torch.tensor([[0, 2]]), torch.tensor([True]), pad=1)
    # The window starts one row above the image and one column right of its left edge
    # (padded rows 0-2, columns 2-3: source rows -1..1, columns 1..2); mirrored, output column 1
    # shows source column 1 and column 0 the zero border.
    expected = torch.zeros_like(image)
    expected[0, 1:, 1] = image[0, :2, 1]
    assert torch.equal(out, expected)


def test_decoded_pixels_are_the_file_pipelines_and_every_batch_is_a_crop_and_flip_of_them(tmp_path):
    samples = noise_dataset(tmp_path)
    decoded = decoded_train_images(samples, image_size=12, augment=PAD_FLIP, threads=1)
    assert decoded.shape == (12, 12, 12, 3) and decoded.dtype == torch.uint8
    files = TrainBatches(samples, batch_size=4, image_size=12, augment=PAD_FLIP, device=CPU, threads=1, seed=3)
    from vipriors.data.shard import epoch_order

    order = epoch_order(3, 0, len(samples))
    flips = set()
    for step, (images, _) in enumerate(files.epoch(0)):
        for k, window in enumerate(images):
            source = decoded[order[step * 4 + k]]
            found = [draw for draw, candidate in every_crop_and_flip(source, 3) if torch.equal(candidate, window)]
            assert found, "the file pipeline's window is a crop and flip of the decoded image"
            flips.update(flip for _, _, flip in found)
    assert flips == {False, True}, "both flips occur"


def test_evaluation_images_are_the_evaluation_pipelines(tmp_path):
    samples = noise_dataset(tmp_path)
    decoded = decoded_eval_images(samples, image_size=10, crop_pct=0.875, threads=1)
    streamed = torch.cat([images for images, _ in eval_loader(samples, batch_size=5, image_size=10, crop_pct=0.875,
                                                               device=CPU, threads=1)])
    assert torch.equal(decoded, streamed)
    split = [memory.MemoryEval(decoded, samples.labels, batch_size=4, device=CPU, shard=Shard(r, 2)) for r in range(2)]
    assert torch.equal(torch.cat([images for part in split for images, _ in part]), decoded)
    assert [y for part in split for _, labels in part for y in labels.tolist()] == list(samples.labels)


def batches(memory_batches, epoch, **kwargs):
    return [(images.clone(), labels.clone()) for images, labels in memory_batches.epoch(epoch, **kwargs)]


def test_epochs_are_reproducible_resumable_and_sharded(tmp_path):
    samples = noise_dataset(tmp_path, per_class=7)  # 14 images
    decoded = decoded_train_images(samples, image_size=12, augment=PAD_FLIP, threads=1)
    one = memory.MemoryBatches(decoded, samples.labels, batch_size=3, augment=PAD_FLIP, device=CPU, seed=1)
    assert len(one) == 4
    first = batches(one, 2)
    again = batches(one, 2)
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first[2:], batches(one, 2, skip=2)))
    assert not torch.equal(first[0][0], batches(one, 3)[0][0]), "each epoch draws anew"
    # Two ranks: disjoint halves of the epoch's order, 7 images each, two batches of 3.
    from vipriors.data.shard import epoch_order

    order = epoch_order(1, 0, 14)
    ranks = [memory.MemoryBatches(decoded, samples.labels, batch_size=3, augment=PAD_FLIP, device=CPU, seed=1,
                                  shard=Shard(r, 2)) for r in range(2)]
    seen = [labels.tolist() for r in ranks for _, labels in r.epoch(0)]
    assert seen == [[samples.labels[i] for i in order[s:s + 3]] for s in (0, 3, 7, 10)]


def test_alternating_flips_flip_each_image_every_other_epoch(tmp_path):
    samples = noise_dataset(tmp_path)
    decoded = decoded_train_images(samples, image_size=12, augment=PAD_FLIP, threads=1)
    alternate = dataclasses.replace(PAD_FLIP, flip_order="alternate")
    loader = memory.MemoryBatches(decoded, samples.labels, batch_size=4, augment=alternate, device=CPU, seed=0)
    flips = [loader.draws(epoch)[1] for epoch in range(4)]
    assert torch.equal(flips[0], ~flips[1]) and torch.equal(flips[0], flips[2]) and torch.equal(flips[1], flips[3])
    assert 0 < int(flips[0].sum()) < len(samples), "the first epoch's flips are random per image"
    never = dataclasses.replace(alternate, hflip=0.0)
    assert not memory.MemoryBatches(decoded, samples.labels, batch_size=4, augment=never, device=CPU,
                                    seed=0).draws(1)[1].any()


def through_dali(samples, augment, **kwargs):
    decoded = decoded_train_images(samples, image_size=12, augment=PAD_FLIP, threads=1)
    cropped = memory.MemoryBatches(decoded, samples.labels, batch_size=3, augment=augment, device=CPU, seed=1,
                                   shard=kwargs.get("shard", Shard()))
    return cropped, CroppedBatchesThroughDali(cropped, augment=augment, device=CPU, threads=1, seed=1, **kwargs)


@pytest.mark.parametrize("runs", [dict(pipeline_batch=0, pipelines=1), dict(pipeline_batch=7, pipelines=1),
                                  dict(pipeline_batch=6, pipelines=2)])
def test_dali_after_the_crops_gets_the_crops_and_flips_of_the_in_memory_path(tmp_path, runs):
    samples = noise_dataset(tmp_path, per_class=8)  # 16 images: 5 batches of 3
    nearly_none = dataclasses.replace(PAD_FLIP, blur_prob=1.0, blur_sigma=(0.01, 0.011))  # a blur that moves no pixel
    cropped, through = through_dali(samples, nearly_none, **runs)
    assert len(through) == len(cropped) == 5
    for epoch in (0, 1):
        for (a, la), (b, lb) in zip(cropped.epoch(epoch), through.epoch(epoch), strict=True):
            assert torch.equal(a, b) and torch.equal(la, lb)


def test_a_policy_after_the_crops_is_reproducible_resumable_and_sharded(tmp_path):
    samples = noise_dataset(tmp_path, per_class=8)
    policy = dataclasses.replace(PAD_FLIP, auto_augment="randaugment", randaugment_n=2, randaugment_m=20)
    cropped, through = through_dali(samples, policy, pipeline_batch=6, pipelines=2)
    first = batches(through, 0)
    assert len(first) == 5 and first[0][0].shape == (3, 12, 12, 3) and first[0][0].dtype == torch.uint8
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, batches(through, 0))), "the same epoch twice"
    resumed = batches(through, 0, skip=3)
    assert len(resumed) == 2 and all(torch.equal(a[0], b[0]) for a, b in zip(first[3:], resumed))
    plain = batches(cropped, 0)
    assert [b[1].tolist() for b in first] == [b[1].tolist() for b in plain]
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(first, plain)), "the policy changed some images"
    assert not torch.equal(first[0][0], batches(through, 1)[0][0]), "each epoch draws anew"
    unaugmented = batches(through, 0, policy=False)  # --policy-off-epochs: the crops and flips alone
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(unaugmented, plain, strict=True))
    small = batches(through, 0, image_size=8)
    assert small[0][0].shape == (3, 8, 8, 3)
    # Two ranks: each rank's batches hold the labels of the in-memory path's shard.
    for rank in range(2):
        cropped_r, through_r = through_dali(samples, policy, shard=Shard(rank, 2), pipeline_batch=3)
        assert [b[1].tolist() for b in batches(through_r, 0)] == [b[1].tolist() for b in batches(cropped_r, 0)]


def test_small_sizes_are_the_antialiased_resize_of_the_full_size_batch(tmp_path):
    samples = noise_dataset(tmp_path)
    decoded = decoded_train_images(samples, image_size=12, augment=PAD_FLIP, threads=1)
    loader = memory.MemoryBatches(decoded, samples.labels, batch_size=4, augment=PAD_FLIP, device=CPU, seed=0)
    full, small = batches(loader, 0), batches(loader, 0, image_size=8)
    assert small[0][0].shape == (4, 8, 8, 3) and small[0][0].dtype == torch.uint8
    expected = F.interpolate(full[0][0].permute(0, 3, 1, 2).float(), size=(8, 8), mode="bilinear", antialias=True)
    assert (small[0][0].permute(0, 3, 1, 2).float() - expected).abs().max() <= 1.0


def resolved(*argv):
    return autos.resolve(cfg.resolve(cfg.cli_overrides(cfg.build_parser("t").parse_args(list(argv)))))


def test_in_memory_auto_follows_the_augmentation_and_the_budget(tmp_path):
    noise_dataset(tmp_path / "train")
    noise_dataset(tmp_path / "val")
    light = ["--data", str(tmp_path), "--arch", "resnet9s_cifar", "--pad-crop", "2", "--rotate-prob", "0",
             "--blur-prob", "0", "--auto-augment", "none", "--image-size", "16"]
    assert resolved(*light).data.in_memory == "on"
    assert resolved(*light, "--in-memory-budget", "1e-6").data.in_memory == "off"  # 24 images of 16 px: 18 kB
    assert resolved(*light, "--in-memory", "off").data.in_memory == "off"
    # Rotation, blur and the policies run in DALI on the cropped batches; the random-resized crop reads the files.
    assert resolved(*light, "--rotate-prob", "0.5", "--auto-augment", "trivialaugment").data.in_memory == "on"
    assert resolved(*light, "--pad-crop", "0").data.in_memory == "off"
    with pytest.raises(cfg.ConfigError, match=r"--in-memory on: the random-resized crop \(--pad-crop 0\) reads"):
        resolved(*light, "--in-memory", "on", "--pad-crop", "0")
    assert resolved(*light, "--flip-order", "alternate", "--auto-augment", "randaugment").data.in_memory == "on"
    with pytest.raises(cfg.ConfigError, match="--flip-order alternate: needs the in-memory path"):
        resolved(*light, "--pad-crop", "0", "--flip-order", "alternate")
    with pytest.raises(cfg.ConfigError, match="--flip-order alternate: needs the in-memory path"):
        resolved(*light, "--in-memory", "off", "--flip-order", "alternate")
    with pytest.raises(cfg.ConfigError, match="raise --in-memory-budget"):
        resolved(*light, "--in-memory-budget", "1e-6", "--flip-order", "alternate")
    torch_policy = ["--auto-augment", "autoaugment", "--aa-backend", "torch"]
    assert resolved(*light, *torch_policy).data.in_memory == "on"
    with pytest.raises(cfg.ConfigError, match="--aa-backend torch: needs the in-memory path.*raise --in-memory-budget"):
        resolved(*light, *torch_policy, "--in-memory-budget", "1e-6")
    with pytest.raises(cfg.ConfigError, match="--aa-backend torch: runs the policy over the in-memory path's batches"):
        resolved(*light, *torch_policy, "--pad-crop", "0")


def test_a_compiled_schedule_of_too_many_sizes_is_refused():
    args = ["--arch", "resnet9s_cifar", "--image-size", "64", "--progressive-min-size", "8", "--epochs", "50"]
    assert resolved(*args, "--compile", "on", "--progressive-step", "16").runtime.compile == "on"  # 8..64: 5 sizes
    with pytest.raises(cfg.ConfigError, match="--progressive-step 4: 15 training sizes"):
        resolved(*args, "--compile", "on", "--progressive-step", "4")
    assert resolved(*args, "--compile", "off", "--progressive-step", "4").runtime.compile == "off"
