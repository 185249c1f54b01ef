"""Fused mix op vs its peers on the same uint8 batch; prints JSON (not a test).

    python benchmarks/mix.py [--device cpu|cuda] [--batch 128] [--size 224] [--out FILE]

Ours: vipriors.ops.mix_normalize per mode (plan drawing included), output bf16 and fp32.
Peers, each from the same uint8 NHWC batch to a normalised float batch:
  torchvision v2 CutMix / MixUp + ToDtype + Normalize; timm Mixup (CutMix, per-element)
  after a float conversion + normalisation; our pure-PyTorch reference; and a plain
  uint8 -> float32 copy of the same bytes, the memory-bound floor.
"""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import emit, environment, parser_with_workload, pick_device, time_ms  # noqa: E402

from vipriors import mixing, ops  # noqa: E402
from vipriors.config import MixConfig  # noqa: E402


def main() -> None:
    args = parser_with_workload(__doc__, batch=128, size=224, runs=10).parse_args()
    device = pick_device(args.device)
    torch.manual_seed(0)
    B, S, C = args.batch, args.size, args.classes
    images = torch.randint(0, 256, (B, S, S, 3), dtype=torch.uint8, device=device)
    labels = torch.randint(0, C, (B,), device=device)
    mean, std = ops.channel_constants(ops.IMAGENET_MEAN, device, "mean"), ops.channel_constants(ops.IMAGENET_STD, device, "std", True)
    stubborn = torch.zeros(C, dtype=torch.bool, device=device)
    stubborn[: C // 10] = True  # about 10% of images get SIA, as with the method's stubborn set
    settings = MixConfig()
    results = []

    def record(name, fn, **extra):
        entry = {"name": name, **time_ms(fn, device, runs=args.runs), **extra}
        results.append(entry)
        print(f"{name:48s} {entry['median_ms']:9.2f} ms", file=sys.stderr)

    record("copy uint8->float32 (floor)", lambda: images.float())
    record("copy uint8->bfloat16 (floor)", lambda: images.to(torch.bfloat16))
    # The bandwidth yardstick: a plain copy of as many bytes as the op moves for bf16 output
    # (it reads 3 bytes and writes 6 per pixel; a copy reads and writes the same count).
    moved_bf16 = B * S * S * 3 * (1 + 2)
    copy_src = torch.ones(moved_bf16 // 2, dtype=torch.uint8, device=device)
    copy_dst = torch.empty_like(copy_src)
    record("device copy of the bf16 op's bytes", lambda: copy_dst.copy_(copy_src))
    for mode in mixing.MODES:
        for dtype, tag in ((torch.bfloat16, "bf16"), (torch.float32, "fp32")):
            def ours(mode=mode, dtype=dtype):
                plan = mixing.draw(mode, labels, S, S, settings, stubborn)
                return ops.mix_inputs(images, plan, mean, std, dtype)
            record(f"vipriors {mode} + SIA 10% -> {tag}", ours, mode=mode, dtype=tag, ours=True)
    for mode in ("cutmix", "ricap"):
        plan = mixing.draw(mode, labels, S, S, settings, stubborn)
        record(f"reference {mode} + SIA 10% -> fp32", lambda plan=plan: ops.mix_inputs_reference(
            images, plan, mean, std, torch.float32), mode=mode, dtype="fp32")

    from torchvision.transforms import v2

    to_float = v2.ToDtype(torch.float32, scale=True)
    normalise = v2.Normalize([m / 255 for m in ops.IMAGENET_MEAN], [s / 255 for s in ops.IMAGENET_STD])
    cutmix, mixup = v2.CutMix(num_classes=C), v2.MixUp(num_classes=C)
    # CutMix accepts uint8 (cheaper: it pastes before the float conversion); MixUp needs floats.
    record("torchvision v2 CutMix + ToDtype + Normalize -> fp32",
           lambda: normalise(to_float(cutmix(images.permute(0, 3, 1, 2), labels)[0])), mode="cutmix", dtype="fp32", peer=True)
    record("torchvision v2 ToDtype + MixUp + Normalize -> fp32",
           lambda: normalise(mixup(to_float(images.permute(0, 3, 1, 2)), labels)[0]), mode="mixup", dtype="fp32", peer=True)

    from timm.data import Mixup

    timm_cutmix = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, mode="elem", label_smoothing=0.0, num_classes=C)
    timm_mixup = Mixup(mixup_alpha=0.2, cutmix_alpha=0.0, mode="batch", label_smoothing=0.0, num_classes=C)
    m4, s4 = mean.view(1, 3, 1, 1), std.view(1, 3, 1, 1)
    for name, mixer in (("cutmix", timm_cutmix), ("mixup", timm_mixup)):
        record(f"timm Mixup({name}, {mixer.mode}) + normalise -> fp32",
               lambda mixer=mixer: mixer((images.permute(0, 3, 1, 2).float() - m4) / s4, labels), mode=name, dtype="fp32", peer=True)

    comparisons = []
    floor = {r["name"]: r["median_ms"] for r in results}
    for mode in ("cutmix", "ricap", "mixup"):
        ours = floor[f"vipriors {mode} + SIA 10% -> fp32"]
        peers = [r for r in results if r.get("peer") and r.get("mode") == mode]
        entry = {"mode": mode, "ours_fp32_ms": ours, "ours_bf16_ms": floor[f"vipriors {mode} + SIA 10% -> bf16"],
                 "copy_fp32_ms": floor["copy uint8->float32 (floor)"],
                 "ours_fp32_vs_copy": round(ours / floor["copy uint8->float32 (floor)"], 3)}
        if peers:
            fastest = min(peers, key=lambda r: r["median_ms"])
            entry.update(fastest_peer=fastest["name"], fastest_peer_ms=fastest["median_ms"],
                         speedup_vs_fastest_peer=round(fastest["median_ms"] / ours, 2))
        else:
            reference = floor.get(f"reference {mode} + SIA 10% -> fp32")
            entry["fastest_peer"] = "none (no library implements it)" + (
                f"; our pure-PyTorch reference: {reference:.1f} ms" if reference is not None else "")
        comparisons.append(entry)
    for r in results:
        if r.get("ours"):
            moved = B * S * S * 3 * (1 + (2 if r["dtype"] == "bf16" else 4))
            r["achieved_gb_per_s"] = round(moved / (r["median_ms"] / 1000) / 1e9, 1)
    copy_bw = moved_bf16 / (floor["device copy of the bf16 op's bytes"] / 1000) / 1e9
    cutmix_bw = next(r["achieved_gb_per_s"] for r in results if r.get("ours") and r["mode"] == "cutmix" and r["dtype"] == "bf16")
    comparisons.append({"copy_gb_per_s": round(copy_bw, 1), "cutmix_bf16_gb_per_s": cutmix_bw,
                        "cutmix_bf16_of_copy": round(cutmix_bw / copy_bw, 3)})

    emit({"benchmark": "mix", "environment": environment(device),
          "workload": {"batch": B, "height": S, "width": S, "classes": C, "sia_fraction": 0.1},
          "results": results, "comparisons": comparisons}, args.out)


if __name__ == "__main__":
    main()
