"""Train a classifier: `torchrun --nproc_per_node=N scripts/train.py --arch resnest200e --data DIR`.

With no --data, trains on the built-in synthetic dataset (generated on first use).
"""
import os
import sys

from vipriors.data.folder import DatasetError
from vipriors.engine import config as cfg
from vipriors.engine.trainer import TrainingError, train
from vipriors.models import UnknownArchError


def main(argv=None) -> int:
    args = cfg.build_parser(__doc__).parse_args(argv)
    try:
        if args.resume and not os.path.isfile(os.path.join(args.resume, "config.yaml")):
            raise ValueError(f"--resume {args.resume}: not a run folder (no config.yaml there)")
        recipe = cfg.load_yaml(args.config) if args.config else None
        saved = cfg.load_yaml(os.path.join(args.resume, "config.yaml")) if args.resume else None
        config = cfg.resolve(cfg.cli_overrides(args), recipe=recipe, saved=saved)
        train(config, resume_dir=args.resume)
    except (ValueError, DatasetError, TrainingError, UnknownArchError, FileNotFoundError) as error:
        # Mistakes in the input: say what and how to fix it, without a traceback.
        print(f"train.py: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
