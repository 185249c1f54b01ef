"""The places of the training loop that may wait for the device, marked.

A training step on a GPU runs ahead of the host only while nothing reads a device value
back (``.item()``, ``.tolist()``, printing), copies from the host or asks for a
data-dependent shape (boolean-mask indexing, ``nonzero``). The step and the evaluation
batches do none of these; the loop reads its metrics every ``--log-every`` steps and at
the end of an epoch inside ``allowed()``, which names the place. tests/test_host_sync.py
runs the step under a dispatch mode that fails on any such read outside ``allowed()``.
"""
from __future__ import annotations

import contextlib
import threading

_state = threading.local()


@contextlib.contextmanager
def allowed(place: str):
    """Marks a block that may wait for the device (``place`` says which and how often)."""
    depth = getattr(_state, "depth", 0)
    _state.depth = depth + 1
    try:
        yield
    finally:
        _state.depth = depth


def is_allowed() -> bool:
    return getattr(_state, "depth", 0) > 0
