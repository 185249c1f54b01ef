"""Build a dataset folder: the official VIPriors splits, or N images per class of any dataset.

    python scripts/build_dataset.py vipriors --imagenet /data/imagenet --toolkit TOOLKIT_DIR --out /data/vipriors
    python scripts/build_dataset.py subset --source DIR/train --out DIR --train 500 --val 100 [--seed S]

vipriors: OUT/train/<wnid>/, OUT/val/<wnid>/ and OUT/test/imgs/img_<i>.JPEG exactly as the
official generate_images.py, plus OUT/test_ground_truth.csv for local scoring. The split
pickles are read with a loader that refuses anything but lists of strings.
subset: the first N (or, with --seed, a seeded shuffle) images of each class for train, the
next M for val, the next T for test, in the same ImageFolder layout.
Files are hard-linked by default (symlinks across file systems), --link copy copies; a
re-run keeps what is already right and completes an interrupted build.
"""
from __future__ import annotations

import argparse

from ..data import splits
from . import guarded


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    modes = parser.add_subparsers(dest="mode", required=True)
    vip = modes.add_parser("vipriors", help="the challenge's splits from ImageNet-2012")
    vip.add_argument("--imagenet", required=True, help="root with train/<wnid>/ and val/<wnid>/")
    vip.add_argument("--toolkit", required=True, help="folder with train.pickle, val.pickle, test.pickle")
    sub = modes.add_parser("subset", help="N images per class of an ImageFolder")
    sub.add_argument("--source", required=True, help="ImageFolder root (one folder per class)")
    sub.add_argument("--train", type=int, required=True, help="images per class for train")
    sub.add_argument("--val", type=int, default=0, help="images per class for val")
    sub.add_argument("--test", type=int, default=0, help="images per class for test")
    sub.add_argument("--seed", type=int, help="shuffle each class with this seed (default: first by file name)")
    for mode in (vip, sub):
        mode.add_argument("--out", required=True)
        mode.add_argument("--link", choices=splits.LINK_MODES, default="hardlink")
        mode.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    return guarded("build_dataset.py", lambda: build(args))


def build(args: argparse.Namespace) -> int:
    if args.mode == "vipriors":
        report = splits.build_vipriors(args.imagenet, args.toolkit, args.out, args.link, not args.quiet)
    else:
        report = splits.build_subset(args.source, args.out, args.train, args.val, args.test, args.seed,
                                     args.link, not args.quiet)
    for note in report.notes:
        print(f"note: {note}")
    print(f"{args.out}: {report.created} files created, {report.replaced} replaced, {report.kept} already in place")
    return 0

