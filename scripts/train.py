"""Train a classifier: `torchrun --nproc_per_node=N scripts/train.py --arch resnest200e --data DIR`.

Runs vipriors.cli.train.main; --help lists the options.
"""
import sys

from vipriors.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
