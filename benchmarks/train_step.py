"""Training-step throughput on synthetic tensors; prints JSON (not a test).

    python benchmarks/train_step.py --archs resnest14d,pyramidnet56_a48_cifar --size 64 --batch 32
    python benchmarks/train_step.py --device cuda --archs resnest200e --size 224 --batch 128 \\
        --variants plain,ours

A variant is a comma-free name built from parts joined by "+":
  eager | compiled         torch.compile (default mode) or not
  nchw | cl                memory format of model and input
  bf16 | fp32              autocast dtype
  model | mix | timm       input: a ready float batch (model only); the trainer's own step
                           (vipriors.engine.step.TrainStep: CutMix plan + fused mix op +
                           mixed-label loss, the trainer's fused optimiser) on a uint8
                           batch; or the timm path (float
                           conversion, normalisation, timm Mixup CutMix per element)
  cpugrads                 optional fifth part: the model's layers swapped for the CPU's
                           backward passes (vipriors.models.cpu_grads), as the trainer does
                           on a CPU
Shorthands: "plain" = eager+nchw+bf16+timm (what a timm user runs), "ours" = compiled +
the model's memory format + bf16 + mix (+ cpugrads on a CPU). The first steps (compilation,
warm-up) are not timed. Every variant of a network is prepared first; then each of --runs
rounds times --steps steps of every variant in turn, so that a slow spell of the machine hits
them all: each rate is the median of the rounds, each speedup the median of the ratios within
a round, with their range. FLOPs per image
are counted with torch.utils.flop_counter (forward + backward), giving achieved TFLOP/s, their
share of the bf16 matrix-product rate measured on the same device in the same run, and, on a
GPU with a known datasheet peak, model FLOPs utilisation against that peak.
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, environment, matmul_rate_tflops, parser_with_workload, pick_device  # noqa: E402

from vipriors import ops  # noqa: E402
from vipriors.config import MixConfig  # noqa: E402
from vipriors.engine.step import TrainStep  # noqa: E402
from vipriors.engine.trainer import build_optimizer  # noqa: E402
from vipriors.models import create_model, preferred_memory_format  # noqa: E402
from vipriors.models.cpu_grads import use_cpu_grads  # noqa: E402

# Dense bf16 tensor-core peaks (TFLOP/s) for model FLOPs utilisation.
PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "RTX 4090": 165.0, "RTX 3090": 71.0}


def parse_variant(name: str, arch: str, device: torch.device) -> dict:
    if name == "plain":
        name = "eager+nchw+bf16+timm"
    elif name == "ours":
        fmt = "cl" if preferred_memory_format(arch, device.type) == "channels_last" else "nchw"
        name = f"compiled+{fmt}+bf16+mix" + ("+cpugrads" if device.type == "cpu" else "")
    parts = set(name.split("+"))
    known = {"eager", "compiled", "nchw", "cl", "bf16", "fp32", "model", "mix", "timm", "cpugrads"}
    if parts - known or len(parts - {"cpugrads"}) != 4:
        raise SystemExit(f"--variants: cannot read {name!r}; use parts {sorted(known)} joined by '+', or plain/ours")
    return {"name": name, "compiled": "compiled" in parts, "channels_last": "cl" in parts,
            "amp": torch.bfloat16 if "bf16" in parts else None, "cpu_grads": "cpugrads" in parts,
            "feed": "mix" if "mix" in parts else "timm" if "timm" in parts else "model"}


def flops_per_image(arch: str, size: int, num_classes: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    model = create_model(arch, num_classes=num_classes)
    x = torch.randn(2, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    return counter.get_total_flops() / 2


def prepare(arch: str, variant: dict, args, device: torch.device):
    """The variant's model, optimiser and inputs, warmed up (compilation included); returns
    (one training step, a device sync, the warm-up's seconds)."""
    torch.manual_seed(0)
    B, S, C = args.batch, args.size, args.classes
    fmt = torch.channels_last if variant["channels_last"] else torch.contiguous_format
    model = create_model(arch, num_classes=C).to(device, memory_format=fmt)
    if variant["cpu_grads"]:
        use_cpu_grads(model)
    # The trainer's own step runs the trainer's optimiser (fused kernels); the other inputs a plain
    # loop's torch.optim.SGD with torch's defaults.
    optimizer = (build_optimizer(model, "sgd", 0.01, 0.9, 0.0) if variant["feed"] == "mix"
                 else torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    run = torch.compile(model) if variant["compiled"] else model
    images = torch.randint(0, 256, (B, S, S, 3), dtype=torch.uint8, device=device)
    labels = torch.randint(0, C, (B,), device=device)
    mean = ops.channel_constants(ops.IMAGENET_MEAN, device, "mean")
    std = ops.channel_constants(ops.IMAGENET_STD, device, "std", positive=True)
    ready = ((images.permute(0, 3, 1, 2).float() - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)).contiguous(memory_format=fmt)
    amp = variant["amp"]
    ours = TrainStep(run, optimizer, mean=mean, std=std, mix=MixConfig(), amp=amp, memory_format=fmt,
                     ema_source=model)
    timm_mixup = None
    if variant["feed"] == "timm":
        from timm.data import Mixup

        timm_mixup = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", num_classes=C)

    def step():
        if variant["feed"] == "mix":
            ours(images, labels, "cutmix")
            return
        if variant["feed"] == "timm":
            x = (images.permute(0, 3, 1, 2).float() - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
            x, target = timm_mixup(x.contiguous(memory_format=fmt), labels)
        else:
            x, target = ready, None
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            logits = run(x)
        if target is None:
            loss = F.cross_entropy(logits.float(), labels)
        else:
            loss = torch.sum(-target * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    start = time.perf_counter()
    for _ in range(args.warmup):
        step()
    sync()
    return step, sync, time.perf_counter() - start


def timed_rate(step, sync, batch: int, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return batch * steps / (time.perf_counter() - start)


def error_entry(arch: str, name: str, error: Exception) -> dict:
    return {"arch": arch, "variant": name, "error": f"{type(error).__name__}: {error}"[:500]}


def measure_arch(arch: str, variants: list[dict], args, device: torch.device) -> list[dict]:
    """Every variant of one network, prepared together, then --runs rounds, each timing --steps
    steps of every variant in turn. A variant that fails is reported as such and leaves the rounds."""
    prepared, errors = {}, {}
    for variant in variants:
        try:
            prepared[variant["name"]] = prepare(arch, variant, args, device)
        except Exception as error:  # one failing variant must not hide the others
            errors[variant["name"]] = error_entry(arch, variant["name"], error)
    rates = {name: [] for name in prepared}
    for _ in range(args.runs):
        for name, (step, sync, _) in list(prepared.items()):
            try:
                rates[name].append(timed_rate(step, sync, args.batch, args.steps))
            except Exception as error:
                errors[name] = error_entry(arch, name, error)
                del prepared[name]
    entries = []
    for variant in variants:
        name = variant["name"]
        if name in errors:
            entries.append(errors[name])
            continue
        ordered = sorted(rates[name])
        entries.append({"arch": arch, "variant": name, "images_per_sec": round(statistics.median(ordered), 2),
                        "spread_images_per_sec": round(ordered[-1] - ordered[0], 2), "runs": args.runs,
                        "steps_per_run": args.steps, "warmup_seconds": round(prepared[name][2], 2),
                        "round_images_per_sec": [round(r, 2) for r in rates[name]]})
    return entries


def speedups(results: list[dict], archs: list[str]) -> list[dict]:
    """Each variant against the plain path of the same network: the median over the rounds of
    the ratio within a round (a slow spell of the machine hits both), with its range."""
    comparisons = []
    for arch in archs:
        rows = {r["variant"]: r for r in results if r["arch"] == arch and "images_per_sec" in r}
        base = rows.get("eager+nchw+bf16+timm") or rows.get("eager+nchw+bf16+model")
        for name, row in rows.items():
            if not base or row is base:
                continue
            ratios = [a / b for a, b in zip(row["round_images_per_sec"], base["round_images_per_sec"])]
            comparisons.append({"arch": arch, "variant": name, "baseline": base["variant"],
                                "speedup": round(statistics.median(ratios), 3),
                                "range": [round(min(ratios), 3), round(max(ratios), 3)]})
    return comparisons


def main() -> None:
    parser = parser_with_workload(__doc__, batch=32, size=64, runs=3)
    parser.add_argument("--archs", default="resnest14d,pyramidnet56_a48_cifar,resnet50")
    parser.add_argument("--variants", default="eager+nchw+bf16+model,eager+cl+bf16+model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (compilation included)")
    parser.add_argument("--steps", type=int, default=5, help="steps per timed run")
    args = parser.parse_args()
    device = pick_device(args.device)
    results, flops = [], {}
    peak = next((v for k, v in PEAK_BF16_TFLOPS.items() if device.type == "cuda" and k in torch.cuda.get_device_name(device)), None)
    matmul = matmul_rate_tflops(device)
    archs = args.archs.split(",")
    for arch in archs:
        flops[arch] = flops_per_image(arch, args.size, args.classes)
        entries = measure_arch(arch, [parse_variant(name, arch, device) for name in args.variants.split(",")], args, device)
        for entry in entries:
            if "images_per_sec" in entry:
                tflops = entry["images_per_sec"] * flops[arch] / 1e12  # the shares from the unrounded rate
                entry["achieved_tflops"] = round(tflops, 4)
                entry["of_matmul"] = round(tflops / matmul, 4)
                if peak:
                    entry["mfu"] = round(tflops / peak, 4)
            print(f"{arch:28s} {entry['variant']:26s} {entry.get('images_per_sec', entry.get('error'))}", file=sys.stderr)
        results += entries
        if device.type == "cuda":
            torch.cuda.empty_cache()  # the next network's variants start from free memory
    comparisons = speedups(results, archs)
    emit({"benchmark": "train_step", "environment": environment(device),
          "workload": {"size": args.size, "batch": args.batch, "classes": args.classes, "steps": args.steps,
                       "flops_per_image_fwd_bwd": flops, "peak_bf16_tflops": peak,
                       "matmul_bf16_tflops": round(matmul, 4)},
          "results": results, "comparisons": comparisons}, args.out)


if __name__ == "__main__":
    main()
