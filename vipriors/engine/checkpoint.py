"""Checkpoint files: written atomically, read without running code.

A checkpoint holds tensors, plain containers, numbers and strings only, so it is loaded
with ``torch.load(weights_only=True)``: a crafted file cannot execute anything, it is
refused. Every checkpoint carries its format version; one without is format 1 (the first
release), whose weights still load for prediction and --init-from but which cannot resume.
"""
from __future__ import annotations

import os
import pickle

import torch

from ..errors import UserError
from ..files import write_atomic

FORMAT = 3
# Formats a run resumes from: 2 also held the learning-rate scheduler's state, which is now
# derived from the step count, so its runs continue exactly as before.
RESUMABLE = (2, 3)


class CheckpointError(UserError):
    pass


def save(state: dict, path: str) -> None:
    write_atomic(path, lambda f: torch.save({**state, "format": FORMAT}, f), binary=True)


def load(path: str, mmap: bool = False) -> dict:
    """The checkpoint at ``path``; ``mmap`` maps the tensors instead of reading them (a quick look)."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no checkpoint there (a run folder holds last.pt and best.pt)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as error:
        if "weights only load failed" in str(error).lower():
            raise CheckpointError(
                f"{path}: refused: it holds Python objects, not only tensors and plain values, and loading such a file "
                "can run code. vipriors never writes one: use a checkpoint from a trusted vipriors run") from None
        raise CheckpointError(f"{path}: unreadable checkpoint ({error}); restore it from best.pt or start afresh") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable checkpoint, truncated or corrupt ({str(error)[:200]}); "
                              "restore it from best.pt or start afresh") from None
    if not isinstance(state, dict) or "model" not in state or "classes" not in state:
        raise CheckpointError(f"{path}: not a vipriors checkpoint (no model weights and class list)")
    return state


def format_of(state: dict) -> int:
    return int(state.get("format", 1))


def inference_settings(state: dict) -> dict:
    """What predicting with a checkpoint needs from its run's configuration, for every format
    (format 1 named the DALI thread count ``threads``)."""
    config = state["config"]
    data = config["data"]
    return {"root": data["root"], "arch": config["model"]["arch"], "image_size": data["image_size"],
            "crop_pct": data["crop_pct"], "mean": data["mean"], "std": data["std"],
            "threads": data["data_threads" if format_of(state) >= 2 else "threads"],
            "memory_format": config["model"]["memory_format"], "amp": config["runtime"]["amp"],
            "cosine_head": config["model"].get("cosine_head", 0.0)}
