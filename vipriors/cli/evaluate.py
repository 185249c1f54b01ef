"""Top-1 and per-class accuracy of a submission CSV against the ground truth, strictly.

    python scripts/evaluate.py submission.csv DATA/test_ground_truth.csv [--allow-partial] [--per-class]

Both files have a header and rows "image id,class index". Missing, duplicated or unknown
ids and malformed predictions are errors (the official scorer skips missing ids silently).
"""
from __future__ import annotations

import argparse
import json

from .. import submission
from ..config import COUNT, check_range
from . import guarded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission")
    parser.add_argument("ground_truth")
    parser.add_argument("--num-classes", type=int, default=None, help="reject predictions outside 0..N-1 (default: from the ground truth)")
    parser.add_argument("--allow-partial", action="store_true", help="score only the ids that have a prediction")
    parser.add_argument("--per-class", action="store_true", help="also print per-class accuracy as JSON")
    args = parser.parse_args(argv)
    return guarded("evaluate.py", lambda: evaluate(args))


def evaluate(args: argparse.Namespace) -> int:
    if args.num_classes is not None:
        check_range(args.num_classes, COUNT, "--num-classes")
    truth = submission.read(args.ground_truth)
    num_classes = args.num_classes or max(truth.values()) + 1
    result = submission.score(submission.read(args.submission, num_classes), truth, args.allow_partial)
    note = f" ({result.missing} ids had no prediction and were not scored)" if result.missing else ""
    print(f"top-1 {100 * result.top1:.2f}% on {result.scored} images{note}")
    if args.per_class:
        print(json.dumps({str(c): round(a, 4) for c, a in result.per_class.items()}))
    return 0

