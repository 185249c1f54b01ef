"""Scan a dataset for files that would crash training, and say what to do about each.

Runs vipriors.cli.check_data.main; --help lists the options.
"""
import sys

from vipriors.cli.check_data import main

if __name__ == "__main__":
    sys.exit(main())
