"""Data-efficient CIFAR-10 on a CPU, end to end: subset, members, predictions, ensemble.

    python scripts/cifar10_recipe.py                 # the recipe: every member, then the ensemble
    python scripts/cifar10_recipe.py --ablation      # the ablation chain of docs/recipes/cifar10-500.md instead
    python scripts/cifar10_recipe.py --ablation ablation-18ep.yaml   # the same at 18 epochs
    python scripts/cifar10_recipe.py --recipe members-resnet9.yaml   # another set of members

1. Builds the subset with build_dataset.py: the first 500 files of each class (sorted by
   name) for train, the next 500 for validation (only other training files).
2. Trains each member of recipes/cifar10-500/members.yaml (a CE stage, then optionally a
   label-smoothing stage from its weights), predicts the validation split with flip-and-shift
   test-time augmentation.
3. Soft-votes the members with equal weights (ensemble.py --select all: no choice made on
   the validation split, so its figure estimates the held-out test) into runs/.../ensemble,
   also screens them greedily on the validation split (ensemble-greedy: weights fitted to
   the split it is scored on, so its figure is optimistic) and prints the table with wall times.
A finished member is not trained again; an interrupted one resumes. To score images it has
never seen: predict.py --checkpoint RUN/best.pt --split FOLDER, then ensemble.py --test.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import yaml

from .. import predictions
from ..errors import UserError
from . import guarded

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES = os.path.join(REPO, "recipes", "cifar10-500")
DEFAULT_SOURCE = os.path.join(REPO, "..", "shared", "data", "cifar10", "train")


def run(cmd: list[str]) -> float:
    """Runs a step of the recipe, echoing it; returns its wall time in seconds."""
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    return time.perf_counter() - start


def finished(run_dir: str) -> bool:
    try:
        with open(os.path.join(run_dir, "log.jsonl")) as f:
            return any(json.loads(line)["event"] == "end" for line in f)
    except OSError:
        return False


def training_seconds(run_dir: str) -> float:
    """Wall time of the run's epochs, from its log (so a kept run still counts)."""
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        return sum(e.get("epoch_seconds", 0.0) for e in map(json.loads, f) if e["event"] == "epoch")


def train(name: str, args: list[str], data: str, runs: str) -> tuple[str, float]:
    run_dir = os.path.join(runs, name)
    base = [sys.executable, "scripts/train.py"]
    if finished(run_dir):
        print(f"{name}: already trained, kept", flush=True)
    elif os.path.exists(os.path.join(run_dir, "last.pt")):
        run(base + ["--resume", run_dir])
    else:
        run(base + ["--data", data, "--output-dir", runs, "--name", name] + args)
    return run_dir, training_seconds(run_dir)


TTA = "flip-shift"  # +0.2-0.3 points over flip alone on 4 of 5 resnet9_cifar runs here


def predict(run_dir: str) -> tuple[str, float]:
    out = os.path.join(run_dir, f"val-{TTA}.npz")
    seconds = run([sys.executable, "scripts/predict.py", "--checkpoint", os.path.join(run_dir, "best.pt"),
                   "--split", "val", "--tta", TTA, "--out", out])
    return out, seconds


def member(spec: dict, data: str, runs: str) -> list[dict]:
    """One member's stages: CE, then the optional label-smoothing stage from its weights.
    Each stage's row has its validation predictions (TTA above) and its minutes, counted
    from the run's own log plus the prediction; the last row is the member's result."""
    config = ["--config", os.path.join(RECIPES, spec["config"])] + [str(a) for a in spec.get("args", [])]
    run_dir, seconds = train(spec["name"], config, data, runs)
    out, more = predict(run_dir)
    rows = [{"name": spec["name"], "predictions": out, "seconds": seconds + more}]
    if spec.get("ls_epochs"):
        stage2 = config + ["--init-from", os.path.join(run_dir, "best.pt"), "--label-smoothing", str(spec.get("ls", 0.1)),
                           "--epochs", str(spec["ls_epochs"])] + [str(a) for a in spec.get("ls_args", [])]
        run_dir, seconds = train(spec["name"] + "-ls", stage2, data, runs)
        out, more = predict(run_dir)
        rows.append({"name": spec["name"] + " + LS stage", "predictions": out,
                     "seconds": rows[0]["seconds"] + seconds + more})  # the member's time so far
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="CIFAR-10 train folder (ImageFolder)")
    parser.add_argument("--data", default=os.path.join(REPO, "data", "cifar10-500"))
    parser.add_argument("--runs", default=os.path.join(REPO, "runs", "cifar10-500"))
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--recipe", default="members.yaml", metavar="FILE",
                       help="the members to train and vote, a file of recipes/cifar10-500/ (default members.yaml)")
    which.add_argument("--ablation", nargs="?", const="ablation.yaml", metavar="FILE",
                       help="run an ablation chain of recipes/cifar10-500/ instead of the members, no vote "
                            "(default ablation.yaml, 30 epochs; ablation-18ep.yaml: 18 epochs)")
    args = parser.parse_args(argv)
    return guarded("cifar10_recipe.py", lambda: recipe(args))


def recipe(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.source):
        raise UserError(f"--source {args.source}: no such folder; give --source CIFAR10_TRAIN_FOLDER")
    chain = os.path.join(RECIPES, args.ablation or args.recipe)
    if not os.path.isfile(chain) or os.path.basename(chain) == "base.yaml":
        choices = sorted(f for f in os.listdir(RECIPES) if f.endswith(".yaml") and f != "base.yaml")
        raise UserError(f"{chain}: no such recipe file; choose one of {', '.join(choices)}")
    total = time.perf_counter()
    run([sys.executable, "scripts/build_dataset.py", "subset", "--source", args.source, "--out", args.data,
         "--train", "500", "--val", "500", "--quiet"])
    with open(chain) as f:
        specs = yaml.safe_load(f)["members"]
    runs = args.runs  # shared by both modes: a run they have in common is trained once
    stages = [member(spec, args.data, runs) for spec in specs]
    print(f"\n{'model':38s} {'val top-1 (' + TTA + ')':>20s} {'minutes':>8s}  (training epochs + prediction)")
    for row in (r for rows in stages for r in rows):
        print(f"{row['name']:38s} {100 * predictions.load(row['predictions']).accuracy():19.2f}% {row['seconds'] / 60:8.1f}")
    if args.ablation:
        return 0
    finals = [rows[-1] for rows in stages]
    votes, seconds = [], 0.0
    for select, folder in (("all", "ensemble"), ("greedy", "ensemble-greedy")):
        ensemble_dir = os.path.join(runs, folder)
        seconds += run([sys.executable, "scripts/ensemble.py", "--val", *[m["predictions"] for m in finals],
                        "--select", select, "--out-dir", ensemble_dir])
        with open(os.path.join(ensemble_dir, "ensemble.json")) as f:
            votes.append(json.load(f)["ensemble_val_top1"])
    recipe_minutes = (sum(m["seconds"] for m in finals) + seconds) / 60
    print(f"{'ensemble (equal-weight vote)':38s} {100 * votes[0]:19.2f}% {recipe_minutes:8.1f}"
          f"  (every member and the ensemble; this call took {(time.perf_counter() - total) / 60:.1f})")
    print(f"{'ensemble (greedy on val: optimistic)':38s} {100 * votes[1]:19.2f}%")
    return 0

