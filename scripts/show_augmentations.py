"""Writes a PNG grid of one batch as the model sees it after each mixing mode (and with SIA).

Runs vipriors.cli.show_augmentations.main; --help lists the options.
"""
import sys

from vipriors.cli.show_augmentations import main

if __name__ == "__main__":
    sys.exit(main())
