"""AutoAugment's ImageNet policy (the paper's) over an epoch of in-memory batches: in DALI's graph
against over each batch at once in torch (--aa-backend torch); prints JSON (not a test).

    python benchmarks/policy.py --data data/tiny200-50 --sizes 16,24,32 --rounds 3

Measured, one after the other at each size, on the same decoded images and the same crops and
flips (the in-memory path's), without a training step:
  crops     the crops and flips alone (vipriors.data.memory.MemoryBatches): the floor;
  dali      the crops through DALI's policy graph (loader.CroppedBatchesThroughDali) with our
            Color and Contrast operators (--aa-ops vipriors), the runs and pipelines given;
  dali ops  the same with DALI's own operators (--aa-ops dali);
  torch     the crops with the policy in torch (torch_policy.PolicyInTorch).
Each figure is images/s of one epoch over the train split (or random images without --data);
with --rounds N the median of N, with its range. DALI's threads and torch's are both --threads:
on a small CPU the policy runs on the cores the training step needs, so its cost there is
what it takes from the step.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, environment  # noqa: E402

from vipriors import config as cfg  # noqa: E402
from vipriors.data import memory  # noqa: E402
from vipriors.data.torch_policy import PolicyInTorch  # noqa: E402


def images_per_sec(batches, epoch: int, size: int) -> float:
    start, seen = time.perf_counter(), 0
    for images, _ in batches.epoch(epoch, image_size=size):
        seen += len(images)
    return seen / (time.perf_counter() - start)


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="ImageFolder root with train/ (default: random images)")
    parser.add_argument("--images", type=int, default=10_000, help="random images without --data")
    parser.add_argument("--size", type=int, default=32, help="the decoded size")
    parser.add_argument("--sizes", default="16,24,32", help="the training sizes to time (progressive resizing's)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--pipeline-batch", type=int, default=256, help="DALI's images per run (--pipeline-batch)")
    parser.add_argument("--pipelines", type=int, default=2, help="DALI's pipelines (--data-pipelines)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    for flag, value in (("--threads", args.threads), ("--rounds", args.rounds), ("--images", args.images)):
        if value < 1:
            parser.error(f"{flag} {value}: give at least 1")
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes {args.sizes}: give sizes in px separated by commas, e.g. 16,24,32")
    if any(s < 1 or s > args.size for s in sizes):
        parser.error(f"--sizes {args.sizes}: each size from 1 to --size {args.size}")
    torch.set_num_threads(args.threads)
    from vipriors.data.dali_plugin import resolve_resize
    from vipriors.data.loader import CroppedBatchesThroughDali  # imports DALI

    augment = cfg.AugmentConfig(pad_crop=4, rotate_prob=0, blur_prob=0, auto_augment="autoaugment",
                                aa_policy="original", train_resize=resolve_resize("auto", on_gpu=False))
    if args.data:
        from vipriors.data import folder
        from vipriors.data.loader import decoded_train_images

        samples = folder.scan(os.path.join(args.data, "train"))
        decoded, labels = (decoded_train_images(samples, image_size=args.size, augment=augment, threads=args.threads),
                           samples.labels)
    else:
        generator = torch.Generator().manual_seed(0)
        decoded = torch.randint(0, 256, (args.images, args.size, args.size, 3), dtype=torch.uint8, generator=generator)
        labels = tuple(i % 200 for i in range(args.images))
    cpu = torch.device("cpu")

    def crops(aug):
        return memory.MemoryBatches(decoded, labels, batch_size=args.batch, augment=aug, device=cpu, seed=0)

    def through_dali(ops):
        aug = dataclasses.replace(augment, aa_ops=ops)
        return CroppedBatchesThroughDali(crops(aug), augment=aug, device=cpu, threads=args.threads, seed=0,
                                         pipeline_batch=args.pipeline_batch, pipelines=args.pipelines)

    ways = {"crops and flips alone": crops(augment), "policy in DALI": through_dali("vipriors"),
            "policy in DALI, DALI's operators": through_dali("dali"),
            "policy in torch": PolicyInTorch(crops(augment), seed=0, rank=0, interpolation="nearest")}
    samples_by = {(name, size): [] for name in ways for size in sizes}
    for round_index in range(args.rounds):
        for size in sizes:
            for name, batches in ways.items():
                samples_by[name, size].append(images_per_sec(batches, round_index, size))
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)

    def summary(values, key, digits):
        out = {key: round(statistics.median(values), digits)}
        if len(values) > 1:
            out["range"] = [round(min(values), digits), round(max(values), digits)]
        return out

    results = [{"name": f"{name} at {size}px", **summary(samples_by[name, size], "images_per_sec", 1),
                **({"peer": True} if name == "policy in DALI" else {})}
               for size in sizes for name in ways]
    comparisons = [{"name": f"policy in torch vs {peer} at {size}px",
                    **summary([t / d for t, d in zip(samples_by["policy in torch", size], samples_by[peer, size])],
                              "ratio", 2)}
                   for size in sizes for peer in ("policy in DALI", "policy in DALI, DALI's operators")]
    document = {"benchmark": "policy", "environment": environment(cpu),
                "workload": {"images": len(labels), "size": args.size, "sizes": sizes, "batch": args.batch,
                             "pipeline_batch": args.pipeline_batch, "pipelines": args.pipelines,
                             "threads": args.threads, "rounds": args.rounds, "data": args.data or "random"},
                "results": results, "comparisons": comparisons}
    emit(document, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
