"""Shared pieces of the benchmark scripts: one JSON schema, timing, the environment.

Every script prints one JSON document: {"benchmark", "environment", "workload",
"results": [{"name", "median_ms", "spread_ms", "runs", ...}], "comparisons": [...]}.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time

import torch


def parser_with_workload(doc: str, batch: int, size: int, runs: int):
    """An argument parser with the options every benchmark shares."""
    import argparse

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--size", type=int, default=size, help="image side (px)")
    parser.add_argument("--classes", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=runs, help="timed runs; the median is reported")
    parser.add_argument("--out", help="also write the JSON here")
    return parser


def environment(device: torch.device) -> dict:
    from vipriors.engine.autos import cpu_bf16_instructions  # without them bf16 is emulated, and slow

    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu": _cpu_model(),
        "cpu_bf16_instructions": cpu_bf16_instructions(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    driver=torch.cuda.driver_version() if hasattr(torch.cuda, "driver_version") else None)
    for package in ("timm", "torchvision", "nvidia.dali"):
        try:
            module = __import__(package, fromlist=["__version__"])
            info[package.replace("nvidia.", "")] = module.__version__
        except ImportError:
            info[package.replace("nvidia.", "")] = None
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def time_ms(fn, device: torch.device, warmup: int = 2, runs: int = 10) -> dict:
    """Median and spread (max - min) of ``runs`` timed calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(samples), 4), "spread_ms": round(max(samples) - min(samples), 4), "runs": runs}


def matmul_rate_tflops(device: torch.device, dtype: torch.dtype = torch.bfloat16) -> float:
    """The rate (TFLOP/s) a square matrix product in ``dtype`` reaches on ``device``, measured:
    the yardstick for a training step's FLOPs, since what a device delivers (its clocks, its
    cores, the library's kernels) is not its datasheet peak. Side 8192 on a GPU, 2048 on a CPU:
    large enough to run at the full rate, small enough to time ten of in a few seconds."""
    n = 8192 if device.type == "cuda" else 2048
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    timing = time_ms(lambda: a @ b, device, warmup=3, runs=10)
    return 2 * n ** 3 / (timing["median_ms"] / 1000) / 1e12


def emit(document: dict, path: str | None = None) -> None:
    text = json.dumps(document, indent=1)
    print(text)
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            f.write(text + "\n")


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device visible to torch")
    return torch.device(name)


def cpu_training_step(arch: str, batch: int, size: int, classes: int, cpu_grads: bool = True,
                      amp: torch.dtype | None = torch.bfloat16):
    """A call of the result is one step of the trainer's TrainStep and optimiser on the CPU (autocast
    to ``amp``, None: float32; channels_last, label smoothing 0.1, no mixing) on one fixed uint8 batch;
    ``cpu_grads`` swaps the model's layers as the trainer does on a CPU."""
    from vipriors import ops
    from vipriors.config import MixConfig
    from vipriors.engine.step import TrainStep
    from vipriors.engine.trainer import build_optimizer
    from vipriors.models import create_model
    from vipriors.models.cpu_grads import use_cpu_grads

    torch.manual_seed(0)
    model = create_model(arch, classes).to(memory_format=torch.channels_last).train()
    if cpu_grads:
        use_cpu_grads(model)
    optimizer = build_optimizer(model, "nesterov", 0.05, 0.9, 5e-4)
    step = TrainStep(model, optimizer, mean=torch.tensor(ops.IMAGENET_MEAN), std=torch.tensor(ops.IMAGENET_STD),
                     mix=MixConfig(cutmix=0.0), amp=amp, memory_format=torch.channels_last,
                     label_smoothing=0.1)
    images = torch.randint(0, 256, (batch, size, size, 3), dtype=torch.uint8)
    labels = torch.randint(0, classes, (batch,))
    return lambda: step(images, labels, "none")
