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


def configure(args: argparse.Namespace) -> tuple[cfg.TrainConfig, str | None, str | None]:
    """The checked configuration to train, the run folder to resume (or None) and the
    checkpoint to branch from (or None)."""
    if args.resume and args.branch_from:
        raise cfg.ConfigError("--resume with --branch-from: --resume continues a run in its own folder, --branch-from "
                              "starts a new one from a checkpoint; give one of them")
    if args.branch_from:
        return _branch(args), None, args.branch_from
    if not args.resume:
        return cfg.for_new_run(args), None, None
    if args.config:
        raise cfg.ConfigError("--config with --resume: a resumed run keeps its own configuration; give the settings "
                              "to change as flags")
    saved = os.path.join(args.resume, "config.yaml")
    if not os.path.isfile(saved):
        raise cfg.ConfigError(f"--resume {args.resume}: not a run folder (no config.yaml there)")
    last = os.path.join(args.resume, "last.pt")
    if os.path.isfile(last):
        _check_resumable(checkpoint.load(last, mmap=True), "--resume", args.resume, os.path.join(args.resume, "best.pt"))
    settings = cfg.load_yaml(saved, what=f"--resume {args.resume}:")
    return cfg.resolve(cfg.cli_overrides(args), saved=_with_old_defaults(settings)), args.resume, None


def _branch(args: argparse.Namespace) -> cfg.TrainConfig:
    """A branch's configuration: the settings its checkpoint was written with, then the flags;
    its folder is --name under --output-dir, by default <run>-from-epoch<N> beside the run."""
    path = args.branch_from
    if args.config:
        raise cfg.ConfigError("--config with --branch-from: a branch keeps its checkpoint's settings; give the settings "
                              "to change as flags")
    overrides = cfg.cli_overrides(args)
    if overrides.get("optim", {}).get("init_from"):
        raise cfg.ConfigError("--init-from with --branch-from: a branch starts from its checkpoint's whole state, "
                              "--init-from from weights alone with a fresh schedule; give one of them")
    if not os.path.isfile(path):
        raise cfg.ConfigError(f"--branch-from {path}: no checkpoint there (a run folder holds last.pt, and epoch_N.pt "
                              "with --checkpoint-every N)")
    state = checkpoint.load(path, mmap=True)
    _check_resumable(state, "--branch-from", path, path)
    runtime = overrides.setdefault("runtime", {})
    run_dir = os.path.dirname(os.path.abspath(path))
    runtime.setdefault("output_dir", os.path.dirname(run_dir))
    runtime.setdefault("name", f"{os.path.basename(run_dir)}-from-epoch{state['epoch']}")
    return cfg.resolve(overrides, saved=_with_old_defaults(dict(state["config"])))


def _check_resumable(state: dict, flag: str, source: str, weights: str) -> None:
    written = checkpoint.format_of(state)
    if written not in checkpoint.RESUMABLE:
        raise cfg.ConfigError(
            f"{flag} {source}: its checkpoint is format {written}, this vipriors resumes formats "
            f"{' and '.join(map(str, checkpoint.RESUMABLE))} only, so it would not continue with the settings it "
            f"ran with. Start a new run from its weights with --init-from {weights}")


def _with_old_defaults(settings: dict) -> dict:
    # A saved configuration without the key trained with torch's own backward passes, and resumes with them.
    settings.setdefault("model", {}).setdefault("cpu_grads", "off")
    return settings


def main(argv=None) -> int:
    args = cfg.build_parser(__doc__).parse_args(argv)

    def body() -> int:
        config, resume, branch_from = configure(args)
        train(config, resume_dir=resume, branch_from=branch_from)
        return 0

    return guarded("train.py", body)
