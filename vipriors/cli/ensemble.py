"""Soft-vote ensemble of prediction files, screened on a labelled split, and a submission.

    python scripts/ensemble.py --val runs/a/val.npz runs/b/val.npz \\
        [--test runs/a/test.npz runs/b/test.npz] [--select greedy|all] [--out-dir ensemble/]

--select greedy (default) picks members and weights on --val (greedy forward selection
with replacement); all weighs every model equally. The weights then apply to --test (the
same models, in the same order), whose soft vote becomes submission.csv. Without --test,
the submission is written for the --val images. A table is printed and saved as JSON.
"""
from __future__ import annotations

import argparse
import json
import os

from .. import ensemble, predictions, submission
from ..engine.metrics import top1
from ..errors import UserError
from ..files import write_text_atomic
from . import guarded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--val", nargs="+", required=True, help="labelled prediction files, one per model")
    parser.add_argument("--test", nargs="+", help="the same models' prediction files for the test split")
    parser.add_argument("--select", choices=["greedy", "all"], default="greedy")
    parser.add_argument("--max-picks", type=int, default=25)
    parser.add_argument("--out-dir", default="ensemble")
    args = parser.parse_args(argv)
    return guarded("ensemble.py", lambda: vote(args))


def vote(args: argparse.Namespace) -> int:
    if args.max_picks < 1:
        raise UserError(f"--max-picks {args.max_picks}: must be >= 1")
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        raise UserError(f"--out-dir {args.out_dir}: is a file, not a folder")
    val = [predictions.load(p) for p in args.val]
    predictions.check_compatible(val)
    if not val[0].has_labels:
        raise predictions.PredictionFileError(f"{args.val[0]}: --val files need labels (predict a labelled split)")
    if args.select == "greedy":
        chosen = ensemble.greedy_select(val, max_picks=args.max_picks)
        weights, picks, history = chosen.weights, chosen.picks, chosen.history
    else:
        weights, picks, history = [1] * len(val), list(range(len(val))), []
    test = None
    if args.test:
        test = [predictions.load(p) for p in args.test]
        predictions.check_compatible(test)
        if len(test) != len(val) or [t.model for t in test] != [v.model for v in val]:
            raise predictions.PredictionFileError(
                "--test must list the same models as --val, in the same order: "
                f"{[v.model for v in val]} vs {[t.model for t in test]}")
        a, b = test[0].classes, val[0].classes
        if len(a) != len(b) or (a != b).any():
            raise predictions.PredictionFileError("--test and --val files have different class lists")
    val_probs = ensemble.soft_vote(val, weights)
    val_accuracy = top1(val_probs, val[0].labels)
    rows = [{"model": v.model, "file": v.path, "val_top1": round(v.accuracy(), 4), "weight": w} for v, w in zip(val, weights)]
    target = test or val
    final = ensemble.soft_vote(target, weights)
    csv_path = os.path.join(args.out_dir, "submission.csv")
    submission.write(csv_path, target[0].ids, final.argmax(1))
    report = {"select": args.select, "members": rows, "pick_order": [val[i].model for i in picks],
              "accuracy_after_each_pick": [round(a, 4) for a in history], "ensemble_val_top1": round(val_accuracy, 4),
              "submission": csv_path, "submission_split": "test" if test else "val"}
    write_text_atomic(os.path.join(args.out_dir, "ensemble.json"), json.dumps(report, indent=1))

    width = max(len(r["model"]) for r in rows)
    print(f"{'model':{width}s}  val top-1  weight")
    for r in rows:
        print(f"{r['model']:{width}s}  {100 * r['val_top1']:8.2f}%  {r['weight']:6d}")
    print(f"{'ensemble':{width}s}  {100 * val_accuracy:8.2f}%  ({args.select}; picks: {' '.join(report['pick_order'])})")
    print(f"wrote {csv_path} ({len(target[0].ids)} {'test' if test else 'val'} images) and ensemble.json")
    return 0
