"""Training-loader throughput: our DALI pipeline against timm's create_loader; prints JSON.

    python benchmarks/pipeline.py [--threads 2] [--images 8192] [--out FILE]

Same files, same work: random-resized crop, horizontal flip and AutoAugment's ImageNet
policy to the same output size: the AutoAugment paper's (our default, timm's "original"),
and in one row the TPU EfficientNet list (DALI's own ImageNet policy, timm's "v0"; timm runs
it as "v0r", its v0 with the Posterize today's Pillow accepts), with the same number of CPU threads (DALI)
or worker processes (timm). Our policy's shear, translate and rotate are timed both with
nearest interpolation (our default, as the AutoAugment authors' code) and with linear
(the same work as timm's bilinear). Two workloads: ImageNet-sized JPEGs (about 500 x 375,
generated from CIFAR-10 pictures when ../shared/data is here, else from smooth noise) at
224 px, and the CIFAR-10 JPEGs at 32 px. Our loader hands over uint8 batches (normalising
happens later, fused into the mix op); timm's hands over normalised float32 batches, as a
timm user gets them. Both hand out batches of --batch. Ours runs its defaults: the resize
by torch's antialiased bilinear kernel as a DALI operator of ours (vipriors.data.dali_plugin),
the policy's Color and Contrast from DALI's integer operators (vipriors.data.policies), and
two DALI pipelines sharing the threads, each preparing --pipeline-batch 256 images per run;
the next rows take those away one at a time.
Not a test: nothing is asserted.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, environment  # noqa: E402

from vipriors.data import folder  # noqa: E402
from vipriors.config import AugmentConfig, DataConfig  # noqa: E402
from vipriors.data.dali_plugin import resolve_resize  # noqa: E402

CIFAR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "cifar10", "train")


def make_imagenet_like(root: str, count: int) -> None:
    """``count`` JPEGs of 500 x 375 in 10 class folders, from CIFAR pictures when present."""
    from PIL import Image

    rng = np.random.default_rng(0)
    sources = []
    if os.path.isdir(CIFAR):
        classes = sorted(os.listdir(CIFAR))
        sources = [os.path.join(CIFAR, c, sorted(os.listdir(os.path.join(CIFAR, c)))[k]) for k in range(count // 10 + 1) for c in classes]
    for i in range(count):
        folder_name = os.path.join(root, f"class{i % 10}")
        os.makedirs(folder_name, exist_ok=True)
        if sources:
            image = Image.open(sources[i]).convert("RGB").resize((500, 375), Image.BICUBIC)
            pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 6, (375, 500, 3))
        else:
            pixels = np.cumsum(rng.normal(0, 4, (375, 500, 3)), axis=1) % 255
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(os.path.join(folder_name, f"{i:05d}.jpg"), quality=90)


def rate(it, batches: int, warmup: int) -> float:
    """Images/s over ``batches`` batches of one epoch, after ``warmup`` batches.

    Both loaders prepare work ahead (DALI: 2 runs of --pipeline-batch images; timm: 2
    batches per worker): the warm-up drains what was prepared before the clock starts, and
    the timed window is long against what is prepared at any moment, so the figure is the
    steady-state rate, not a burst out of the queues."""
    for _ in range(warmup):
        next(it)
    start, n = time.perf_counter(), 0
    for _ in range(batches):
        images, _ = next(it)
        n += images.shape[0]
    return n / (time.perf_counter() - start)


def ours(samples, size, batch, threads, batches, warmup, auto_augment=True, **changes):
    """Our loader with its defaults, but for ``changes``: any of AugmentConfig's train_resize,
    aa_policy, aa_interp and aa_ops, DataConfig's pipeline_batch and data_pipelines."""
    from vipriors.data.loader import TrainBatches

    augment = AugmentConfig(scale=(0.08, 1.0), hflip=0.5, rotate_prob=0.0, blur_prob=0.0,
                            auto_augment="autoaugment" if auto_augment else "none",
                            **{k: v for k, v in changes.items() if k in ("train_resize", "aa_policy", "aa_interp", "aa_ops")})
    augment = dataclasses.replace(augment, train_resize=resolve_resize(augment.train_resize, on_gpu=False))
    defaults = DataConfig()
    loader = TrainBatches(samples, batch_size=batch, image_size=size, augment=augment, device=torch.device("cpu"),
                          threads=threads, seed=0, pipeline_batch=changes.get("pipeline_batch", defaults.pipeline_batch),
                          pipelines=changes.get("data_pipelines", defaults.data_pipelines))
    return rate(loader.epoch(0), batches, warmup)


def timm_loader(root, size, batch, workers, batches, warmup, policy="original"):
    from timm.data import create_dataset, create_loader

    dataset = create_dataset("", root=root, split="", is_training=True)
    loader = create_loader(dataset, input_size=(3, size, size), batch_size=batch, is_training=True, use_prefetcher=False,
                           auto_augment=policy, num_workers=workers, hflip=0.5, scale=(0.08, 1.0),
                           persistent_workers=True)
    return rate(iter(loader), batches, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="DALI threads = timm workers")
    parser.add_argument("--images", type=int, default=8192, help="ImageNet-like JPEGs to generate")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=96, help="timed batches per loader, all within one epoch")
    parser.add_argument("--warmup", type=int, default=12, help="untimed batches first (drains what the loaders prepared ahead)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args()
    if args.images < (args.warmup + args.batches) * args.batch:
        parser.error(f"--images {args.images}: one epoch must hold ({args.warmup} warm-up + {args.batches} timed) "
                     f"batches of {args.batch}; raise --images or lower --batches / --warmup")
    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        make_imagenet_like(tmp, args.images)
        # (name, root, size, AutoAugment, changes from our defaults, timm's policy); the first
        # rows take our loader's speed-ups away one at a time
        aa = "imagenet-like 500x375 -> 224, AutoAugment"
        dali = dict(train_resize="dali")
        workloads = [(f"{aa} (ours: torch's resize, nearest geometry, our colour operators, 2 pipelines)", tmp, 224, True, {},
                      "original"),
                     (f"{aa}, DALI's resize", tmp, 224, True, dali, "original"),
                     (f"{aa}, DALI's resize and colour operators", tmp, 224, True, dict(dali, aa_ops="dali"), "original"),
                     (f"{aa}, DALI's resize and colour operators, one pipeline", tmp, 224, True,
                      dict(dali, aa_ops="dali", data_pipelines=1), "original"),
                     (f"{aa}, DALI's resize and colour operators, one pipeline, one run per batch", tmp, 224, True,
                      dict(dali, aa_ops="dali", data_pipelines=1, pipeline_batch=0), "original"),
                     (f"{aa}, geometry linear (timm's)", tmp, 224, True, dict(aa_interp="linear"), "original"),
                     (f"{aa}, both with the v0 list (ours: DALI's ImageNet policy; timm: v0r)", tmp, 224, True,
                      dict(aa_policy="v0"), "v0r"),
                     ("imagenet-like 500x375 -> 224, no AutoAugment", tmp, 224, False, {}, None)]
        if os.path.isdir(CIFAR):
            workloads.append(("cifar10 32x32 -> 32", os.path.realpath(CIFAR), 32, True, {}, "original"))
        timm_rates = {}  # timm's loader once per (files, size, policy)
        for name, root, size, auto_augment, changes, timm_policy in workloads:
            samples = folder.scan(root)
            a = ours(samples, size, args.batch, args.threads, args.batches, args.warmup, auto_augment, **changes)
            key = (root, size, timm_policy)
            if key not in timm_rates:
                timm_rates[key] = timm_loader(root, size, args.batch, args.threads, args.batches, args.warmup, timm_policy)
            b = timm_rates[key]
            results.append({"workload": name, "images": len(samples), "ours_images_per_sec": round(a, 1),
                            "timm_images_per_sec": round(b, 1), "speedup": round(a / b, 2)})
            print(f"{name:110s} ours {a:8.1f} img/s   timm {b:8.1f} img/s   x{a / b:.2f}", file=sys.stderr)
    emit({"benchmark": "pipeline", "environment": environment(torch.device("cpu")),
          "workload": {"threads_or_workers": args.threads, "batch": args.batch, "batches": args.batches, "warmup": args.warmup,
                       "augment": "random-resized crop (0.08-1) + flip + AutoAugment, the paper's ImageNet policy (timm: original) unless noted"},
          "results": results}, args.out)


if __name__ == "__main__":
    main()
