"""A training epoch of our trainer against a plain in-memory PyTorch loop and against the
training step alone, all on the same network, batch and images; prints JSON (not a test).

    python benchmarks/epoch.py --data data/tiny200-50 --arch resnet9s_cifar --size 32 --batch 64

Measured, in one run, one after the other:
  step     ``vipriors.engine.step.TrainStep`` on one fixed uint8 batch, the model's layers
           swapped for the CPU's backward passes as the trainer does: the floor an epoch can reach;
  plain    a plain loop over a uint8 tensor of the decoded images (the peer below: per-batch
           pad-and-crop offset, per-image flip, float normalisation, the same architecture as
           torch builds it, optimiser, label smoothing, autocast (--amp) and channels_last);
  ours     ``scripts/train.py`` itself (in-memory path), one epoch at each size of the
           progressive schedule, images/s as its log reports it (data, mixing, logging included),
           and once more on ``--data synthetic`` (the loop without any data path);
and the recipe's average epoch under progressive resizing, from the per-size rates and the
schedule's count of epochs at each size. With --policy, also an epoch of the trainer with that
policy (RandAugment: 2 operations at magnitude 5) from the files and from the decoded pixels
(and for autoaugment, from the decoded pixels with the policy in torch: --aa-backend torch).
Without --data the images are random pixels (the cost does not depend on them). With --rounds N
all of it runs N times; each figure is then the median of its N values and each ratio the
median of the N ratios taken within a round, each with its range.

    python benchmarks/epoch.py --data data/tiny200-50 --epochs 80 --policy autoaugment --rounds 3
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_training_step, emit, environment  # noqa: E402

from vipriors import config as cfg  # noqa: E402
from vipriors import ops  # noqa: E402
from vipriors.engine.autos import AMP_DTYPES, amp_for  # noqa: E402
from vipriors.engine.schedule import progressive_sizes  # noqa: E402
from vipriors.engine.trainer import train  # noqa: E402
from vipriors.models import create_model  # noqa: E402


def plain_epoch(images: torch.Tensor, labels: torch.Tensor, arch: str, batch: int, classes: int, amp: str) -> float:
    """Images/s of a plain loop over ``images`` (uint8 [N, S, S, 3]): the peer, a handful of lines."""
    torch.manual_seed(0)
    model = create_model(arch, classes).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    mean = torch.tensor(ops.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(ops.IMAGENET_STD).view(1, 3, 1, 1)
    size, steps = images.shape[1], len(images) // batch
    order = torch.randperm(len(images))
    start = None
    for step in range(steps):
        if step == 1:
            start = time.perf_counter()  # the first step warms up, as in the trainer's figure
        index = order[step * batch:(step + 1) * batch]
        x = images[index].permute(0, 3, 1, 2).float()
        x = F.pad(x, (4, 4, 4, 4))
        dy, dx = torch.randint(0, 9, (2,)).tolist()
        x = x[:, :, dy:dy + size, dx:dx + size]
        x = torch.where(torch.rand(len(x), 1, 1, 1) < 0.5, x.flip(3), x)
        x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp == "bf16"):
            loss = F.cross_entropy(model(x), labels[index], label_smoothing=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (steps - 1) * batch / (time.perf_counter() - start)


def step_alone(arch: str, batch: int, size: int, classes: int, steps: int, amp: str) -> float:
    """Images/s of the trainer's step on one fixed batch, its model prepared as the trainer does on a CPU."""
    step = cpu_training_step(arch, batch, size, classes, amp=AMP_DTYPES[amp])
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def random_dataset(root: str, classes: int, per_class: int, size: int) -> None:
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for c in range(classes):
            folder = os.path.join(root, split, f"c{c:03d}")
            os.makedirs(folder, exist_ok=True)
            for k in range(per_class if split == "train" else 1):
                pixels = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8, generator=g).numpy()
                Image.fromarray(pixels).save(os.path.join(folder, f"{k}.png"))


def epoch_rates(argv: list[str], threads: int) -> dict[int, float]:
    """Runs scripts/train.py's trainer with ``argv`` and ``threads`` DALI threads; images/s of each
    epoch by its image size."""
    argv = argv + ["--data-threads", str(threads)]
    config = cfg.resolve(cfg.cli_overrides(cfg.build_parser("epoch benchmark").parse_args(argv)))
    with contextlib.redirect_stdout(sys.stderr):  # stdout carries the JSON alone
        summary = train(config)
    with open(os.path.join(summary["run_dir"], "log.jsonl")) as f:
        epochs = [e for e in map(json.loads, f) if e["event"] == "epoch"]
    return {e["image_size"]: e["images_per_sec"] for e in epochs}


def ours_synthetic(arch: str, batch: int, size: int, images: int, out: str, threads: int, amp: str) -> float:
    """Our trainer on --data synthetic: the loop's cost over the step, without any data path."""
    return epoch_rates(["--data", "synthetic", "--arch", arch, "--batch-size", str(batch), "--image-size", str(size),
                        "--synthetic-classes", "200", "--synthetic-images", str(images), "--cutmix", "0",
                        "--label-smoothing", "0.1", "--optimizer", "nesterov", "--epochs", "1", "--amp", amp,
                        "--memory-format", "channels_last", "--compile", "off", "--output-dir", out, "--name",
                        "synthetic-benchmark", "--log-every", "1000"], threads)[size]


def ours(root: str, arch: str, batch: int, size: int, sizes: list[int], out: str, threads: int,
         amp: str) -> dict[int, float]:
    """Our trainer, one epoch per size in ``sizes`` (the last at full size), images/s per size."""
    argv = ["--data", root, "--arch", arch, "--batch-size", str(batch), "--image-size", str(size), "--pad-crop", "4",
            "--rotate-prob", "0", "--blur-prob", "0", "--auto-augment", "none", "--cutmix", "0", "--crop-pct", "1",
            "--label-smoothing", "0.1", "--optimizer", "nesterov", "--epochs", str(len(sizes)), "--eval-every",
            str(len(sizes)), "--in-memory", "on", "--amp", amp, "--memory-format", "channels_last", "--compile", "off",
            "--output-dir", out, "--name", "epoch-benchmark", "--log-every", "1000"]
    if len(sizes) > 1:
        argv += ["--progressive-min-size", str(sizes[0]), "--progressive-ramp", "0,1",
                 "--progressive-step", str(sizes[1] - sizes[0])]
    return epoch_rates(argv, threads)


def ours_with_policy(root: str, arch: str, batch: int, size: int, policy: str, in_memory: str, out: str,
                     threads: int, amp: str, backend: str = "dali") -> float:
    """Our trainer, one epoch at full size with ``policy`` (RandAugment: 2 operations at
    magnitude 5), from the files or from the decoded pixels (``in_memory``), run by ``backend``."""
    argv = ["--data", root, "--arch", arch, "--batch-size", str(batch), "--image-size", str(size), "--pad-crop", "4",
            "--rotate-prob", "0", "--blur-prob", "0", "--auto-augment", policy, "--randaugment-n", "2",
            "--randaugment-m", "5", "--cutmix", "0", "--crop-pct", "1", "--label-smoothing", "0.1", "--optimizer",
            "nesterov", "--epochs", "1", "--in-memory", in_memory, "--amp", amp, "--memory-format", "channels_last",
            "--compile", "off", "--output-dir", out, "--name", f"policy-{in_memory}-{backend}", "--log-every", "1000",
            "--aa-backend", backend]
    return epoch_rates(argv, threads)[size]


def one_round(args, root: str, decoded: torch.Tensor, labels: torch.Tensor, classes: int, sizes: list[int],
              out: str, amp: str) -> dict[str, float]:
    """Every measurement once, one after the other: images/s by name."""
    rates = {f"ours at {s}px": r for s, r in sorted(ours(root, args.arch, args.batch, args.size, sizes, out,
                                                             args.threads, amp).items())}
    rates["plain loop"] = plain_epoch(decoded, labels, args.arch, args.batch, classes, amp)
    rates["step alone"] = step_alone(args.arch, args.batch, args.size, classes,
                                     steps=max(10, len(decoded) // args.batch // 2), amp=amp)
    rates["ours on --data synthetic"] = ours_synthetic(args.arch, args.batch, args.size, len(decoded), out,
                                                       args.threads, amp)
    if args.policy != "none":
        for where, label in (("off", "from the files"), ("on", "in memory")):
            rates[f"ours with {args.policy} {label}"] = ours_with_policy(root, args.arch, args.batch, args.size,
                                                                         args.policy, where, out, args.threads, amp)
    if args.policy == "autoaugment":  # the paper's ImageNet policy also runs in torch (--aa-backend torch)
        rates["ours with autoaugment in memory, in torch"] = ours_with_policy(
            root, args.arch, args.batch, args.size, args.policy, "on", out, args.threads, amp, backend="torch")
    return rates


def round_ratios(rates: dict[str, float], args, schedule: list[int]) -> dict[str, float]:
    """The comparisons of one round: ratios of rates measured within minutes of each other, so the
    machine's drift from one round to the next does not enter them."""
    full = rates[f"ours at {args.size}px"]
    average = len(schedule) / sum(1 / rates[f"ours at {s}px"] for s in schedule)
    ratios = {"ours full size vs step alone": full / rates["step alone"],
              "ours on --data synthetic vs step alone": rates["ours on --data synthetic"] / rates["step alone"],
              "ours full size vs plain loop": full / rates["plain loop"],
              "ours progressive average vs plain loop": average / rates["plain loop"],
              "average_images_per_sec": average}
    if args.policy != "none":
        ratios[f"{args.policy}: in memory vs from the files"] = (rates[f"ours with {args.policy} in memory"]
                                                                 / rates[f"ours with {args.policy} from the files"])
    if args.policy == "autoaugment":
        ratios["autoaugment in memory: in torch vs in DALI"] = (rates["ours with autoaugment in memory, in torch"]
                                                                / rates["ours with autoaugment in memory"])
    return ratios


def summarise(samples: list[float], key: str, digits: int) -> dict:
    """``key``: the median of the rounds' values and, over several rounds, "range": their range."""
    entry = {key: round(statistics.median(samples), digits)}
    if len(samples) > 1:
        entry["range"] = [round(min(samples), digits), round(max(samples), digits)]
    return entry


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="ImageFolder root with train/ and val/ (default: random images)")
    parser.add_argument("--arch", default="resnet9s_cifar")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--min-size", type=int, default=16, help="progressive resizing's first size")
    parser.add_argument("--step-size", type=int, default=8, help="progressive resizing's step")
    parser.add_argument("--epochs", type=int, default=100, help="the recipe's epochs, for the schedule's average")
    parser.add_argument("--ramp", default="0.2,0.8", help="the recipe's --progressive-ramp")
    parser.add_argument("--images", type=int, default=2000, help="random images without --data")
    parser.add_argument("--policy", default="none", help="also an epoch with this --auto-augment, from the files and "
                                                         "in memory (e.g. randaugment)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch's and DALI's threads (default: torch's; 1: as each of a recipe's --jobs 2 on 2 cores)")
    parser.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto",
                        help="autocast of every loop (auto: what the trainer picks on this CPU, bf16 only with bf16 "
                             "instructions)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure everything this many times, round after round; each figure is the median of "
                             "the rounds and each ratio the median of the rounds' ratios, both with their range (a "
                             "small machine's speed drifts by more than the 5%% one ratio is asked to resolve)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: give at least 1")
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: give at least 1")
    torch.set_num_threads(args.threads)
    amp = amp_for(args.amp, "cpu")
    device = torch.device("cpu")
    ramp = tuple(float(v) for v in args.ramp.split(","))
    schedule = progressive_sizes(args.epochs, args.size, args.min_size, ramp, args.step_size)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            root = os.path.join(tmp, "data")
            random_dataset(root, 10, args.images // 10, args.size)
        sizes = list(range(args.min_size, args.size + 1, args.step_size))
        sizes = sizes if sizes[-1] == args.size else sizes + [args.size]
        from vipriors.data import folder
        from vipriors.data.dali_plugin import resolve_resize
        from vipriors.data.loader import decoded_train_images

        samples = folder.scan(os.path.join(root, "train"))
        augment = cfg.AugmentConfig(pad_crop=4, rotate_prob=0, blur_prob=0, auto_augment="none",
                                    train_resize=resolve_resize("auto", on_gpu=False))
        decoded = decoded_train_images(samples, image_size=args.size, augment=augment, threads=args.threads)
        labels = torch.tensor(samples.labels)
        rounds = []
        for index in range(args.rounds):
            rounds.append(one_round(args, root, decoded, labels, len(samples.classes), sizes,
                                    os.path.join(tmp, f"runs{index}"), amp))
            print(f"round {index + 1}/{args.rounds}: " + ", ".join(f"{k} {v:.0f}" for k, v in rounds[-1].items()),
                  file=sys.stderr)
    ratios = [round_ratios(r, args, schedule) for r in rounds]
    order = ["step alone", "plain loop", "ours on --data synthetic"]
    names = order + [n for n in rounds[0] if n not in order]
    results = [{"name": name, **summarise([r[name] for r in rounds], "images_per_sec", 1),
                **({"peer": True} if name == "plain loop" else {})} for name in names]
    comparisons = []
    for name in ratios[0]:
        if name == "average_images_per_sec":
            continue
        comparison = {"name": name, **summarise([r[name] for r in ratios], "ratio", 3)}
        if name == "ours progressive average vs plain loop":
            comparison["average_images_per_sec"] = round(statistics.median(
                r["average_images_per_sec"] for r in ratios), 1)
        comparisons.append(comparison)
    document = {
        "benchmark": "epoch",
        "environment": environment(device),
        "workload": {"arch": args.arch, "batch": args.batch, "size": args.size, "images": len(samples),
                     "threads": args.threads, "amp": amp, "rounds": args.rounds,
                     "data": args.data or "random", "schedule": {"epochs": args.epochs, "min_size": args.min_size,
                                                                 "ramp": list(ramp), "step": args.step_size}},
        "results": results,
        "comparisons": comparisons,
    }
    emit(document, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
