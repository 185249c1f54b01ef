"""Per-image class probabilities of a trained model, saved for evaluation and ensembles.

    python scripts/predict.py --checkpoint runs/NAME/best.pt --split val [--tta flip|flip-shift]
    python scripts/predict.py --checkpoint runs/NAME/best.pt --split /data/vipriors/test --out test.npz

--split is a split name under the run's data root (or --data), or any folder: an
ImageFolder with the training class names (scored), or a folder of unlabelled images such
as the challenge's test/imgs/img_<i>.JPEG (ids kept, in index order).
"""
import argparse
import os
import re
import sys

import numpy as np
import torch

from vipriors import ops, predictions, tta
from vipriors.data import folder, synthetic
from vipriors.engine import checkpoint
from vipriors.engine.distributed import pick_device
from vipriors.engine.trainer import autocast_dtype
from vipriors.models import create_model, preferred_memory_format


def unlabelled_images(path: str) -> list[str] | None:
    """The images of a flat folder (or of its imgs/ sub-folder), in id order; None for an ImageFolder."""
    if os.path.isdir(os.path.join(path, "imgs")) and len(os.listdir(path)) == 1:
        path = os.path.join(path, "imgs")
    names = [n for n in os.listdir(path) if n.lower().endswith(folder.IMAGE_EXTENSIONS)]
    if not names:
        return None

    def order(name):
        match = re.search(r"(\d+)", name)
        return (int(match.group(1)) if match else -1, name)

    return [os.path.join(path, n) for n in sorted(names, key=order)]


def load_samples(path: str, classes: tuple[str, ...]):
    files = unlabelled_images(path)
    if files is not None:
        ids = [os.path.basename(f) for f in files]
        return folder.Samples(path, classes, tuple(files), tuple([0] * len(files))), ids, np.full(len(files), -1)
    samples = folder.scan(path, classes)
    ids = [os.path.relpath(f, path) for f in samples.files]
    return samples, ids, np.asarray(samples.labels)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="best.pt or last.pt of a run")
    parser.add_argument("--split", default="val", help="split name under the data root, or a folder path")
    parser.add_argument("--data", help="data root (default: the run's)")
    parser.add_argument("--tta", choices=tta.MODES, default="none",
                        help="flip: average with the mirrored image; flip-shift: also both moved by --tta-shift pixels")
    parser.add_argument("--tta-shift", type=int, default=1, help="pixels each way for --tta flip-shift")
    parser.add_argument("--ema", action="store_true", help="use the checkpoint's EMA weights (a run with --ema-decay)")
    parser.add_argument("--out", help="output .npz (default: next to the checkpoint, <split>[-<tta>].npz)")
    parser.add_argument("--model-name", help="name stored in the file (default: the run folder's name)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)

    try:
        state = checkpoint.load(args.checkpoint)
        config = state["config"]
        classes = tuple(state["classes"])
        root = args.data or config["data"]["root"] or synthetic.ensure_dataset()
        path = args.split if os.path.isdir(args.split) else os.path.join(root, args.split)
        samples, ids, labels = load_samples(path, classes)
        if args.tta == "flip-shift":
            tta.check_shift(args.tta_shift, config["data"]["image_size"])
    except (FileNotFoundError, RuntimeError, ValueError, folder.DatasetError) as error:
        print(f"predict.py: {error}", file=sys.stderr)
        return 2

    device = pick_device(args.device, 0)
    arch, data = config["model"]["arch"], config["data"]
    model = create_model(arch, num_classes=len(classes))
    if args.ema and state.get("ema") is None:
        print(f"predict.py: {args.checkpoint} holds no EMA weights (train with --ema-decay)", file=sys.stderr)
        return 2
    model.load_state_dict(state["ema"] if args.ema else state["model"])
    fmt = preferred_memory_format(arch, config["model"]["memory_format"], device.type)
    model = model.to(device, memory_format=fmt).eval()
    amp = autocast_dtype(config["runtime"]["amp"], device)
    mean = ops.channel_constants(data["mean"], device, "mean")
    std = ops.channel_constants(data["std"], device, "std", positive=True)
    from vipriors.data.loader import eval_loader

    loader = eval_loader(samples, batch_size=args.batch_size, image_size=data["image_size"], crop_pct=data["crop_pct"],
                         device=device, threads=max(1, data["threads"]))
    chunks = []
    with torch.no_grad(), torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for images, _ in loader:
            x = ops.normalize(images, mean, std, amp or torch.float32).contiguous(memory_format=fmt)
            chunks.append(tta.probabilities(model, x, args.tta, args.tta_shift, memory_format=fmt).cpu())
    probs = torch.cat(chunks).numpy()
    if len(probs) != len(ids):
        print(f"predict.py: got {len(probs)} predictions for {len(ids)} images", file=sys.stderr)
        return 1

    run_dir = os.path.dirname(os.path.abspath(args.checkpoint))
    split_name = os.path.basename(os.path.normpath(path))
    out = args.out or os.path.join(run_dir, f"{split_name}{'' if args.tta == 'none' else '-' + args.tta}.npz")
    name = args.model_name or os.path.basename(run_dir)
    predictions.save(out, ids, probs, labels, classes, name, config)
    message = f"wrote {out}: {len(ids)} images, {len(classes)} classes"
    if (labels >= 0).all():
        message += f", top-1 {100 * float((probs.argmax(1) == labels).mean()):.2f}%"
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
