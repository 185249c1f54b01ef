"""What a run tells: one JSON line per event in log.jsonl, one short line per epoch on stdout."""
from __future__ import annotations

import json
import os
import sys
import time

from ..files import write_text_atomic


class RunLog:
    def __init__(self, run_dir: str, enabled: bool):
        self.enabled = enabled
        self.path = os.path.join(run_dir, "log.jsonl")

    def record(self, event: str, **values) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"event": event, "time": round(time.time(), 3), **values}) + "\n")

    def keep_epochs_up_to(self, epoch: int) -> None:
        """Drops the lines of epochs after ``epoch``: a run killed after logging an epoch but
        before its checkpoint trains that epoch again, and logs it again, on resume."""
        if not (self.enabled and os.path.exists(self.path)):
            return
        lines = _lines(self.path)
        kept = _up_to(lines, epoch)
        if len(kept) != len(lines):
            write_text_atomic(self.path, "".join(kept))

    def start_from(self, source: str, epoch: int) -> None:
        """Begins this log with ``source``'s lines up to ``epoch`` (a branch's history), without
        the run's end."""
        if not (self.enabled and os.path.exists(source)):
            return
        kept = [line for line in _up_to(_lines(source), epoch) if json.loads(line).get("event") != "end"]
        write_text_atomic(self.path, "".join(kept))

    def say(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)


def _lines(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line for line in f if line.strip()]


def _up_to(lines: list[str], epoch: int) -> list[str]:
    """``lines`` without the epochs after ``epoch`` (and a line cut short by a kill)."""
    return [line for line in lines if not _is_epoch_after(line, epoch)]


def _is_epoch_after(line: str, epoch: int) -> bool:
    try:
        entry = json.loads(line)
    except ValueError:  # a line cut short by a kill mid-write
        return True
    return entry.get("event") == "epoch" and entry.get("epoch", 0) > epoch


def progress_bar(total: int, description: str, enabled: bool):
    """A tqdm bar on an interactive terminal, nothing in logs and pipes."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True,
                disable=not (enabled and sys.stderr.isatty()))
