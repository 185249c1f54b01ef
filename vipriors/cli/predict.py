"""Per-image class probabilities of a trained model, saved for evaluation and ensembles.

    python scripts/predict.py --checkpoint runs/NAME/best.pt --split val [--tta flip|flip-shift]
    python scripts/predict.py --checkpoint runs/NAME/best.pt --split /data/vipriors/test --out test.npz

--split is a split name under the run's data root (or --data), or any folder: an
ImageFolder with the training class names (scored), or a folder of unlabelled images such
as the challenge's test/imgs/img_<i>.JPEG (ids kept, in index order). Every image is scanned
first (cached, as the trainer does): a file the decoder would choke on is named, with the fix.
"""
from __future__ import annotations

import argparse
import os
import re

import numpy as np
import torch

from .. import distributed, ops, predictions, tta
from ..config import COUNT, check_range
from ..data import folder, synthetic
from ..data.dataset import scan_for_bad_files
from ..engine import autos, checkpoint
from ..errors import UserError
from ..files import list_images
from ..models import create_model, memory_format, normalize_logits
from . import guarded


def unlabelled_images(path: str) -> list[str] | None:
    """The images of a flat folder (or of its imgs/ sub-folder), in id order; None for an ImageFolder."""
    if os.path.isdir(os.path.join(path, "imgs")) and len(os.listdir(path)) == 1:
        path = os.path.join(path, "imgs")
    names = list_images(path)
    if not names:
        return None

    def order(name):
        match = re.search(r"(\d+)", name)
        return (int(match.group(1)) if match else -1, name)

    return [os.path.join(path, n) for n in sorted(names, key=order)]


def split_path(split: str, root: str) -> str:
    """The folder --split names: the data root's split of that name, or else the path as given
    (so a folder called "val" in the working directory never shadows the data's val split)."""
    under_root = os.path.join(root, split)
    return under_root if os.path.isdir(under_root) else split


def load_samples(path: str, classes: tuple[str, ...]):
    if not os.path.isdir(path):
        raise UserError(f"--split {path}: no such folder; give a split name under the data root, or a folder")
    files = unlabelled_images(path)
    if files is not None:
        ids = [os.path.basename(f) for f in files]
        return folder.Samples(path, classes, tuple(files), tuple([0] * len(files))), ids, np.full(len(files), -1)
    samples = folder.scan(path, classes)
    ids = [os.path.relpath(f, path) for f in samples.files]
    return samples, ids, np.asarray(samples.labels)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="best.pt or last.pt of a run")
    parser.add_argument("--split", default="val",
                        help="split name under the data root, or else a folder path (the data root's split wins)")
    parser.add_argument("--data", help="data root (default: the run's)")
    parser.add_argument("--tta", choices=tta.MODES, default="none",
                        help="flip: average with the mirrored image; flip-shift: also both moved by --tta-shift pixels")
    parser.add_argument("--tta-shift", type=int, default=1, help="pixels each way for --tta flip-shift")
    parser.add_argument("--ema", action="store_true", help="use the checkpoint's EMA weights (a run with --ema-decay)")
    parser.add_argument("--out", help="output .npz (default: next to the checkpoint, <split>[-<tta>].npz)")
    parser.add_argument("--model-name", help="name stored in the file (default: the run folder's name)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return parser


def predict(args: argparse.Namespace) -> int:
    check_range(args.batch_size, COUNT, "--batch-size")
    state = checkpoint.load(args.checkpoint)
    settings = checkpoint.inference_settings(state)
    classes = tuple(state["classes"])
    if args.ema and state.get("ema") is None:
        raise UserError(f"--ema: {args.checkpoint} holds no EMA weights (train with --ema-decay)")
    if args.tta == "flip-shift":
        tta.check_shift(args.tta_shift, settings["image_size"])
    device = torch.device(autos.device_type(args.device))
    root = args.data or settings["root"] or synthetic.ensure_dataset()
    path = split_path(args.split, root)
    samples, ids, labels = load_samples(path, classes)
    scan_for_bad_files([samples], path, distributed.DistEnv(0, 1, 0, device), skip=False,
                       fix="Fix or remove these files, then predict again.")

    model = normalize_logits(create_model(settings["arch"], num_classes=len(classes)), settings["cosine_head"])
    model.load_state_dict(state["ema"] if args.ema else state["model"])
    fmt = memory_format(autos.memory_format_for(settings["memory_format"], settings["arch"], device.type))
    model = model.to(device, memory_format=fmt).eval()
    amp = autos.autocast_dtype(autos.amp_for(settings["amp"], device.type))
    mean = ops.channel_constants(settings["mean"], device, "mean")
    std = ops.channel_constants(settings["std"], device, "std", positive=True)
    from ..data.loader import eval_loader

    loader = eval_loader(samples, batch_size=args.batch_size, image_size=settings["image_size"],
                         crop_pct=settings["crop_pct"], device=device, threads=max(1, settings["threads"]))
    chunks = []
    with torch.no_grad(), torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for images, _ in loader:
            x = ops.normalize(images, mean, std, amp or torch.float32).contiguous(memory_format=fmt)
            chunks.append(tta.probabilities(model, x, args.tta, args.tta_shift, memory_format=fmt).cpu())
    probs = torch.cat(chunks).numpy()
    if len(probs) != len(ids):
        raise RuntimeError(f"got {len(probs)} predictions for {len(ids)} images")

    run_dir = os.path.dirname(os.path.abspath(args.checkpoint))
    split_name = os.path.basename(os.path.normpath(path))
    out = args.out or os.path.join(run_dir, f"{split_name}{'' if args.tta == 'none' else '-' + args.tta}.npz")
    name = args.model_name or os.path.basename(run_dir)
    predictions.save(out, ids, probs, labels, classes, name, state["config"], state.get("class_words"))
    message = f"wrote {out}: {len(ids)} images, {len(classes)} classes"
    if (labels >= 0).all():
        message += f", top-1 {100 * predictions.top1(probs, labels):.2f}%"
    print(message)
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return guarded("predict.py", lambda: predict(args))
