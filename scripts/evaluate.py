"""Top-1 and per-class accuracy of a submission CSV against the ground truth, strictly.

Runs vipriors.cli.evaluate.main; --help lists the options.
"""
import sys

from vipriors.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
