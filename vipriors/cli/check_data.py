"""Scan a dataset for files that would crash training, and say what to do about each.

    python scripts/check_data.py DATA_ROOT [--splits train,val] [--write-list train.txt]

Finds zero-byte files, non-images with image extensions, truncated or corrupt images,
empty class folders and class lists that differ between splits; notes PNG, grayscale,
CMYK and other files that decode correctly as RGB. Verdicts are cached per file, so a
second run (and the trainer's own check on start) is fast. --write-list writes the good
images of the first split as a file list for `train.py --train-split LIST`.
Exit status: 0 when nothing is wrong, 1 when problems were found, 2 on bad arguments.
"""
from __future__ import annotations

import argparse
import os
import sys

from ..config import COUNT, check_range
from ..data import check, folder
from ..errors import UserError
from ..files import write_text_atomic
from . import guarded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", help="dataset root with one folder per split")
    parser.add_argument("--splits", default="train,val", help="comma-separated split folders")
    parser.add_argument("--write-list", metavar="FILE", help="write the first split's good images to FILE")
    parser.add_argument("--limit", type=int, default=50, help="problems shown per kind")
    args = parser.parse_args(argv)
    return guarded("check_data.py", lambda: check_data(args))


def check_data(args: argparse.Namespace) -> int:
    if not os.path.isdir(args.root):
        raise UserError(f"{args.root}: no such folder; give the dataset root (one folder per split)")
    check_range(args.limit, COUNT, "--limit")
    splits = [s.strip() for s in args.splits.split(",") if s.strip()]
    report = check.check_dataset(args.root, splits, progress=sys.stderr.isatty())
    print(report.text(args.limit))
    if args.write_list:
        samples = folder.scan(os.path.join(args.root, splits[0])).without(report.bad_files)
        write_text_atomic(args.write_list, "".join(os.path.relpath(p, args.root) + "\n" for p in samples.files))
        print(f"wrote {args.write_list}: {len(samples)} images (train with --train-split {args.write_list})")
    return 1 if report.errors else 0

