"""Build a dataset folder: the official VIPriors splits, or N images per class of any dataset.

Runs vipriors.cli.build_dataset.main; --help lists the options.
"""
import sys

from vipriors.cli.build_dataset import main

if __name__ == "__main__":
    sys.exit(main())
