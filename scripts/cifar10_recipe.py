"""Data-efficient CIFAR-10 on a CPU, end to end: subset, members, predictions, ensemble.

    python scripts/cifar10_recipe.py                 # the recipe: every member, then the ensemble
    python scripts/cifar10_recipe.py --ablation      # the README's ablation chain instead

1. Builds the subset with build_dataset.py: the first 500 files of each class (sorted by
   name) for train, the next 500 for validation (only other training files).
2. Trains each member of recipes/cifar10-500/members.yaml (a CE stage, then optionally a
   label-smoothing stage from its weights), predicts the validation split with flip TTA.
3. Screens and soft-votes the members (ensemble.py) and prints the table with wall times.
A finished member is not trained again; an interrupted one resumes. To score images it has
never seen: predict.py --checkpoint RUN/best.pt --split FOLDER, then ensemble.py --test.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def train(name: str, args: list[str], data: str, runs: str) -> tuple[str, float]:
    run_dir = os.path.join(runs, name)
    if finished(run_dir):
        print(f"{name}: already trained, kept", flush=True)
        return run_dir, 0.0
    base = [sys.executable, "scripts/train.py"]
    if os.path.exists(os.path.join(run_dir, "last.pt")):
        return run_dir, run(base + ["--resume", run_dir])
    return run_dir, run(base + ["--data", data, "--output-dir", runs, "--name", name] + args)


def member(spec: dict, data: str, runs: str) -> dict:
    """One member: its CE stage, its optional LS stage, and its validation predictions."""
    config = ["--config", os.path.join(RECIPES, spec["config"])] + [str(a) for a in spec.get("args", [])]
    run_dir, seconds = train(spec["name"], config, data, runs)
    if spec.get("ls_epochs"):
        stage2 = config + ["--init-from", os.path.join(run_dir, "best.pt"), "--label-smoothing", str(spec.get("ls", 0.1)),
                           "--epochs", str(spec["ls_epochs"])] + [str(a) for a in spec.get("ls_args", [])]
        run_dir, more = train(spec["name"] + "-ls", stage2, data, runs)
        seconds += more
    out = os.path.join(run_dir, "val-flip.npz")
    seconds += run([sys.executable, "scripts/predict.py", "--checkpoint", os.path.join(run_dir, "best.pt"),
                    "--split", "val", "--tta", "flip", "--out", out])
    return {"name": spec["name"], "predictions": out, "seconds": seconds}


def _accuracy(path: str) -> float:
    from vipriors import predictions

    return predictions.load(path).accuracy()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="CIFAR-10 train folder (ImageFolder)")
    parser.add_argument("--data", default=os.path.join(REPO, "data", "cifar10-500"))
    parser.add_argument("--runs", default=os.path.join(REPO, "runs", "cifar10-500"))
    parser.add_argument("--ablation", action="store_true", help="run recipes/cifar10-500/ablation.yaml instead")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.source):
        print(f"cifar10_recipe.py: {args.source}: no such folder; give --source CIFAR10_TRAIN_FOLDER", file=sys.stderr)
        return 2
    total = time.perf_counter()
    run([sys.executable, "scripts/build_dataset.py", "subset", "--source", args.source, "--out", args.data,
         "--train", "500", "--val", "500", "--quiet"])
    with open(os.path.join(RECIPES, "ablation.yaml" if args.ablation else "members.yaml")) as f:
        specs = yaml.safe_load(f)["members"]
    runs = args.runs  # shared by both modes: a run they have in common is trained once
    members = [member(spec, args.data, runs) for spec in specs]
    if args.ablation:
        print(f"\n{'step':28s} {'val top-1 (flip TTA)':>20s} {'minutes':>8s}")
        for m in members:
            top1 = float(_accuracy(m["predictions"]))
            print(f"{m['name']:28s} {100 * top1:19.2f}% {m['seconds'] / 60:8.1f}")
        return 0
    ensemble_dir = os.path.join(runs, "ensemble")
    run([sys.executable, "scripts/ensemble.py", "--val", *[m["predictions"] for m in members], "--out-dir", ensemble_dir])
    with open(os.path.join(ensemble_dir, "ensemble.json")) as f:
        table = json.load(f)
    print(f"\n{'member':28s} {'val top-1':>9s} {'minutes':>8s}")
    for m, row in zip(members, table["members"]):
        print(f"{m['name']:28s} {100 * row['val_top1']:8.2f}% {m['seconds'] / 60:8.1f}")
    print(f"{'ensemble (' + table['select'] + ')':28s} {100 * table['ensemble_val_top1']:8.2f}% "
          f"{(time.perf_counter() - total) / 60:8.1f}  (whole recipe)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
