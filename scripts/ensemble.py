"""Soft-vote ensemble of prediction files, screened on a labelled split, and a submission.

Runs vipriors.cli.ensemble.main; --help lists the options.
"""
import sys

from vipriors.cli.ensemble import main

if __name__ == "__main__":
    sys.exit(main())
