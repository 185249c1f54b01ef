"""Checkpoints written atomically: a crash mid-write never replaces a good file."""
from __future__ import annotations

import os
import tempfile

import torch


def save_atomic(state: dict, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".pt", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str) -> dict:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no checkpoint there (a run folder holds last.pt and best.pt)")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:
        raise RuntimeError(f"{path}: unreadable checkpoint ({error}); restore it from best.pt or start afresh") from error
