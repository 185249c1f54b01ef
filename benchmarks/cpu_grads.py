"""The CPU's weight gradient of ``vipriors.models.cpu_grads`` against torch's, layer by layer
and for the whole training step; prints JSON (not a test).

    python benchmarks/cpu_grads.py --arch resnet9s_cifar --size 32 --batch 64

Measured in one run, alternating the two ways round by round (a shared machine's slow
spells then hit both), each figure the median of its rounds:
  layers  every eligible convolution shape of ``--arch`` at ``--size``: the forward
          pass, and the weight gradient by oneDNN (aten.convolution_backward, weight only)
          and by the patch product (``conv2d_weight_grad``), in --amp's dtype, channels_last;
  step    ``vipriors.engine.step.TrainStep`` (--amp, channels_last, no mixing) on the model
          as torch builds it and on the same model after ``use_cpu_grads``.
The layer rows show where the product wins (``PATCH_PRODUCT_MAX_POSITIONS``).
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_training_step, emit, environment  # noqa: E402

from vipriors.engine.autos import AMP_DTYPES, amp_for  # noqa: E402
from vipriors.models import create_model  # noqa: E402
from vipriors.models.cpu_grads import (PATCH_PRODUCT_MAX_POSITIONS, conv2d_weight_grad, conv_is_eligible,  # noqa: E402
                                       uses_patch_product)


def alternating(calls: dict, rounds: int, repeat: int) -> dict[str, float]:
    """Median milliseconds of each of ``calls``, timed ``repeat`` calls at a time, the calls
    taking turns for ``rounds`` rounds."""
    for call in calls.values():
        call()
    samples = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter()
            for _ in range(repeat):
                call()
            samples[name].append((time.perf_counter() - start) * 1000 / repeat)
    return {name: round(statistics.median(times), 3) for name, times in samples.items()}


def conv_shapes(arch: str, batch: int, size: int, classes: int) -> list[tuple[nn.Conv2d, tuple[int, ...]]]:
    """Each eligible convolution of ``arch`` with its input shape, once per distinct shape."""
    model = create_model(arch, classes)
    seen, found = set(), []

    def record(module, inputs):
        key = (tuple(inputs[0].shape), module.out_channels, module.kernel_size, module.stride, module.padding,
               module.groups)
        if key not in seen:
            seen.add(key)
            found.append((module, tuple(inputs[0].shape)))

    hooks = [m.register_forward_pre_hook(record) for m in model.modules() if conv_is_eligible(m)]
    with torch.no_grad():
        model(torch.randn(batch, 3, size, size))
    for hook in hooks:
        hook.remove()
    return found


def channels_last(shape, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(shape, dtype=dtype).contiguous(memory_format=torch.channels_last)


def conv_row(conv: nn.Conv2d, shape, rounds: int, repeat: int, dtype: torch.dtype) -> dict:
    n, c, h, w = shape
    k, stride, padding, groups = conv.out_channels, list(conv.stride), list(conv.padding), conv.groups
    x, weight = channels_last(shape, dtype), channels_last((k, c // groups, *conv.kernel_size), dtype)
    ho, wo = F.conv2d(x[:1], weight, None, stride, padding, 1, groups).shape[2:]
    grad_out = channels_last((n, k, ho, wo), dtype)
    times = alternating({
        "forward": lambda: F.conv2d(x, weight, None, stride, padding, 1, groups),
        "onednn": lambda: torch.ops.aten.convolution_backward(grad_out, x, weight, None, stride, padding, [1, 1], False,
                                                              [0, 0], groups, [False, True, False]),
        "product": lambda: conv2d_weight_grad(x, grad_out, conv.kernel_size, conv.stride, conv.padding, groups)},
        rounds, repeat)
    strided = f" stride {stride[0]}" if conv.stride != (1, 1) else ""
    grouped = f" {groups} groups" if groups > 1 else ""
    return {"name": f"conv {c}->{k} {h}x{w}{strided}{grouped} weight grad", "positions": ho * wo,
            "uses_patch_product": uses_patch_product(ho, wo, conv.stride, conv.padding),
            "forward_ms": times["forward"],
            "onednn_ms": times["onednn"], "product_ms": times["product"],
            "speedup": round(times["onednn"] / times["product"], 3)}


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="resnet9s_cifar")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9, help="rounds of alternation")
    parser.add_argument("--repeat", type=int, default=10, help="calls (layers) or steps (the step) timed at a time")
    parser.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto",
                        help="the dtype of the layers and the step's autocast (auto: what the trainer picks on this "
                             "CPU, bf16 only with bf16 instructions; off: float32)")
    parser.add_argument("--out", help="also write the JSON here")
    args = parser.parse_args(argv)
    amp = amp_for(args.amp, "cpu")
    dtype = AMP_DTYPES[amp] or torch.float32
    results = []
    for conv, shape in conv_shapes(args.arch, args.batch, args.size, args.classes):
        results.append(conv_row(conv, shape, args.rounds, args.repeat, dtype))
        print(results[-1], file=sys.stderr)
    steps = {name: cpu_training_step(args.arch, args.batch, args.size, args.classes, cpu_grads=swapped,
                                     amp=AMP_DTYPES[amp])
             for name, swapped in (("torch", False), ("ours", True))}
    for call in steps.values():  # past the first steps' one-time costs
        for _ in range(2):
            call()
    ms = alternating(steps, args.rounds, args.repeat)
    rates = {name: round(args.batch * 1000 / value, 1) for name, value in ms.items()}
    print(f"step: {rates}", file=sys.stderr)
    results.append({"name": "training step, torch's layers", "images_per_sec": rates["torch"]})
    results.append({"name": "training step, use_cpu_grads", "images_per_sec": rates["ours"]})
    emit({"benchmark": "cpu_grads", "environment": environment(torch.device("cpu")),
          "workload": {"arch": args.arch, "size": args.size, "batch": args.batch, "classes": args.classes,
                       "dtype": "bf16" if amp == "bf16" else "fp32", "memory_format": "channels_last",
                       "rounds": args.rounds, "repeat": args.repeat,
                       "patch_product_max_positions": PATCH_PRODUCT_MAX_POSITIONS},
          "results": results,
          "comparisons": [{"name": "step: use_cpu_grads vs torch's layers",
                           "ratio": round(rates["ours"] / rates["torch"], 3)}]}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
