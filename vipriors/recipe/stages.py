"""One training stage and one prediction: each a subprocess, each skipped when its result is
already there, so an interrupted recipe picks up where it stopped.

A stage whose run folder's log ends with "end" is kept as it is (remove the folder to train
it again); one with a folder from an interrupted run resumes; otherwise a new run starts.
A prediction file is kept when it is newer than the checkpoint it came from.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass

from .launch import Launch, Slot
from .spec import REPO, RecipeError


class StageFailed(RecipeError):
    """A stage's process ended with an error: its own message is above, this names what to do."""


def run(cmd: list[str], what: str = "this step", slot: Slot | None = None, tag: str = "") -> float:
    """Runs one step of the recipe, echoing it; returns its wall time in seconds. A step that
    fails (a bad flag, a killed process, a full disk) raises StageFailed naming ``what``. In a
    ``slot`` (one of --jobs side by side) the step gets the slot's environment and each line it
    prints comes out prefixed with ``[tag]``, so that side-by-side steps can be told apart."""
    prefix = f"[{tag}] " if slot is not None and tag else ""
    print(prefix + "$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    if slot is None:
        status = subprocess.run(cmd, cwd=REPO).returncode
    else:
        env = {**os.environ, **slot.env()}
        with subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, errors="replace", bufsize=1) as process:
            for line in process.stdout:
                print(prefix + line, end="", flush=True)
        status = process.returncode
    if status != 0:
        raise StageFailed(f"{what} failed (exit status {status}; its message is above). Fix the cause, then run the "
                          "same recipe command again: finished stages are kept and this one resumes")
    return time.perf_counter() - start


def _events(run_dir: str) -> list[dict]:
    try:
        with open(os.path.join(run_dir, "log.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        return []


def finished(run_dir: str) -> bool:
    return any(e.get("event") == "end" for e in _events(run_dir))


def training_seconds(run_dir: str) -> float:
    """Wall time of the run's epochs, from its log (so a kept run still counts)."""
    return sum(e.get("epoch_seconds", 0.0) for e in _events(run_dir) if e.get("event") == "epoch")


def last_stubborn(run_dir: str) -> list[str]:
    """The stubborn classes of the run's last evaluation (empty without SIA)."""
    sets = [e["stubborn"] for e in _events(run_dir) if e.get("event") == "epoch" and e.get("stubborn")]
    return sets[-1] if sets else []


@dataclass
class Stage:
    name: str
    run_dir: str
    seconds: float  # training epochs, from the run's log


def train(name: str, args: list[str], runs: str, launch: Launch, slot: Slot | None = None) -> Stage:
    run_dir = os.path.join(runs, name)
    what = f"stage {name} (run folder {run_dir}, its log {os.path.join(run_dir, 'log.jsonl')})"
    share = slot.train_args() if slot is not None else []
    if finished(run_dir):
        print(f"{name}: already trained, kept", flush=True)
    elif os.path.isfile(os.path.join(run_dir, "config.yaml")):
        run(launch.train_command(["--resume", run_dir, *share]), what, slot, name)
    else:
        run(launch.train_command(["--output-dir", runs, "--name", name, *share, *args]), what, slot, name)
    return Stage(name, run_dir, training_seconds(run_dir))


def predict(checkpoint: str, split: str, out: str, tta: str, launch: Launch, data: str | None = None,
            slot: Slot | None = None) -> float:
    """Predicts ``split`` (a split name of the run's data, or a folder) into ``out``; returns its wall time."""
    if os.path.isfile(out) and os.path.getmtime(out) >= os.path.getmtime(checkpoint):
        print(f"{out}: already predicted, kept", flush=True)
        return 0.0
    args = ["--checkpoint", checkpoint, "--split", split, "--tta", tta, "--out", out]
    return run(launch.predict_command(args + (["--data", data] if data else [])), f"the prediction {out}", slot,
               os.path.basename(os.path.dirname(checkpoint)) + " predict")
