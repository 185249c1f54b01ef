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
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cpu": _cpu_model(),
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
