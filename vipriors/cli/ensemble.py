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
import os

from .. import ensemble, predictions
from ..config import COUNT, check_range
from ..errors import UserError
from . import guarded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--val", nargs="+", required=True, help="labelled prediction files, one per model")
    parser.add_argument("--test", nargs="+", help="the same models' prediction files for the test split")
    parser.add_argument("--select", choices=ensemble.SELECTIONS, default="greedy")
    parser.add_argument("--max-picks", type=int, default=25)
    parser.add_argument("--out-dir", default="ensemble")
    args = parser.parse_args(argv)
    return guarded("ensemble.py", lambda: vote(args))


def vote(args: argparse.Namespace) -> int:
    check_range(args.max_picks, COUNT, "--max-picks")
    if os.path.exists(args.out_dir) and not os.path.isdir(args.out_dir):
        raise UserError(f"--out-dir {args.out_dir}: is a file, not a folder")
    val = [predictions.load(p) for p in args.val]
    test = [predictions.load(p) for p in args.test] if args.test else None
    if test:
        predictions.check_compatible(test)
        if len(test) != len(val) or [t.model for t in test] != [v.model for v in val]:
            raise predictions.PredictionFileError(
                "--test must list the same models as --val, in the same order: "
                f"{[v.model for v in val]} vs {[t.model for t in test]}")
        a, b = test[0].classes, val[0].classes
        if len(a) != len(b) or (a != b).any():
            raise predictions.PredictionFileError("--test and --val files have different class lists")
    chosen = ensemble.vote(val, args.select, args.max_picks)
    report = ensemble.write_vote(args.out_dir, val, chosen, args.select, test)

    rows = report["members"]
    width = max(len(r["model"]) for r in rows)
    print(f"{'model':{width}s}  val top-1  weight")
    for r in rows:
        print(f"{r['model']:{width}s}  {100 * r['val_top1']:8.2f}%  {r['weight']:6d}")
    print(f"{'ensemble':{width}s}  {100 * chosen.accuracy:8.2f}%  ({args.select}; picks: {' '.join(report['pick_order'])})")
    print(f"wrote {report['submission']} ({len((test or val)[0].ids)} {'test' if test else 'val'} images) and ensemble.json")
    return 0
