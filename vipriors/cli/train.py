"""Train a classifier: `torchrun --nproc_per_node=N scripts/train.py --arch resnest200e --data DIR`.

With no --data, trains on the built-in synthetic dataset (generated on first use).
"""
from __future__ import annotations

import argparse
import os

from .. import config as cfg
from ..engine import checkpoint
from ..engine.trainer import train
from . import guarded


def configure(args: argparse.Namespace) -> tuple[cfg.TrainConfig, str | None]:
    """The checked configuration to train, and the run folder to resume (or None)."""
    if not args.resume:
        return cfg.for_new_run(args), None
    if args.config:
        raise cfg.ConfigError("--config with --resume: a resumed run keeps its own configuration; give the settings "
                              "to change as flags")
    saved = os.path.join(args.resume, "config.yaml")
    if not os.path.isfile(saved):
        raise cfg.ConfigError(f"--resume {args.resume}: not a run folder (no config.yaml there)")
    last = os.path.join(args.resume, "last.pt")
    if os.path.isfile(last):
        written = checkpoint.format_of(checkpoint.load(last, mmap=True))
        if written not in checkpoint.RESUMABLE:
            raise cfg.ConfigError(
                f"--resume {args.resume}: its checkpoint is format {written}, this vipriors resumes formats "
                f"{' and '.join(map(str, checkpoint.RESUMABLE))} only, so it would not continue with the settings it "
                f"ran with. Start a new run from its weights with --init-from {os.path.join(args.resume, 'best.pt')}")
    settings = cfg.load_yaml(saved, what=f"--resume {args.resume}:")
    # A saved configuration without the key trained with torch's own backward passes, and resumes with them.
    settings.setdefault("model", {}).setdefault("cpu_grads", "off")
    return cfg.resolve(cfg.cli_overrides(args), saved=settings), args.resume


def main(argv=None) -> int:
    args = cfg.build_parser(__doc__).parse_args(argv)

    def body() -> int:
        config, resume = configure(args)
        train(config, resume_dir=resume)
        return 0

    return guarded("train.py", body)
