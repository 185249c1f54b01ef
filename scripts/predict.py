"""Per-image class probabilities of a trained model, saved for evaluation and ensembles.

Runs vipriors.cli.predict.main; --help lists the options.
"""
import sys

from vipriors.cli.predict import main

if __name__ == "__main__":
    sys.exit(main())
