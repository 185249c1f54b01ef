"""Writes a PNG grid of one batch as the model sees it after each mixing mode (and with SIA).

    python scripts/show_augmentations.py [--data DIR] [--size 128] [--batch 8] [--out augmentations.png]

Rows: the decoded batch, then none + SIA, CutMix, RICAP, Mixup, Cutout. Without --data the
built-in dataset is used.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from PIL import Image, ImageDraw

from .. import mixing, ops
from ..config import COUNT, MixConfig, Range, check_range
from ..data import folder, synthetic
from ..files import write_atomic
from . import guarded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="ImageFolder root with a train/ folder (default: the built-in dataset)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--size", type=int, default=128, help="side of each tile (px)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="augmentations.png")
    args = parser.parse_args(argv)
    return guarded("show_augmentations.py", lambda: show(args))


def show(args: argparse.Namespace) -> int:
    check_range(args.size, Range(2), "--size")
    check_range(args.batch, COUNT, "--batch")
    root = args.data or synthetic.ensure_dataset()
    samples = folder.scan(os.path.join(root, args.split))
    from ..data.loader import eval_loader

    torch.manual_seed(args.seed)
    order = torch.randperm(len(samples))[: args.batch]
    picked = folder.Samples(samples.root, samples.classes, tuple(samples.files[i] for i in order),
                            tuple(samples.labels[i] for i in order))
    images, labels = next(iter(eval_loader(picked, batch_size=args.batch, image_size=args.size, crop_pct=1.0,
                                           device=torch.device("cpu"), threads=2)))
    stubborn = torch.ones(len(samples.classes), dtype=torch.bool)  # show SIA on every image
    settings = MixConfig()
    # Unit std and adding the mean back shows pixel values, with Cutout's mean-colour fill.
    mean, unit = ops.channel_constants(ops.IMAGENET_MEAN, "cpu", "mean"), torch.ones(3)
    rows = [("decoded", images)]
    for mode in mixing.MODES:
        plan = mixing.draw(mode, labels, args.size, args.size, settings, stubborn if mode == "none" else None)
        pixels = ops.mix_inputs(images, plan, mean, unit, torch.float32) + mean.view(1, 3, 1, 1)
        rows.append((f"{mode} + SIA" if mode == "none" else mode, pixels.permute(0, 2, 3, 1).round().clamp(0, 255).byte()))

    label_width, n = 110, images.shape[0]
    grid = Image.new("RGB", (label_width + n * args.size, len(rows) * args.size), "white")
    draw = ImageDraw.Draw(grid)
    for r, (name, batch) in enumerate(rows):
        draw.text((6, r * args.size + args.size // 2 - 6), name, fill="black")
        for i in range(n):
            grid.paste(Image.fromarray(np.ascontiguousarray(batch[i].numpy())), (label_width + i * args.size, r * args.size))
    write_atomic(args.out, lambda f: grid.save(f, format="PNG"), binary=True)
    print(f"wrote {args.out}: {len(rows)} rows x {n} images from {root}/{args.split}")
    return 0

