"""What a run tells: one JSON line per event in log.jsonl, one short line per epoch on stdout."""
from __future__ import annotations

import json
import os
import sys
import time


class RunLog:
    def __init__(self, run_dir: str, enabled: bool):
        self.enabled = enabled
        self.path = os.path.join(run_dir, "log.jsonl")

    def record(self, event: str, **values) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"event": event, "time": round(time.time(), 3), **values}) + "\n")

    def say(self, message: str) -> None:
        if self.enabled:
            print(message, flush=True)


def progress_bar(total: int, description: str, enabled: bool):
    """A tqdm bar on an interactive terminal, nothing in logs and pipes."""
    from tqdm import tqdm

    return tqdm(total=total, desc=description, leave=False, dynamic_ncols=True,
                disable=not (enabled and sys.stderr.isatty()))
