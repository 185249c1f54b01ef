"""Data-efficient CIFAR-10 on a CPU, end to end: subset, members, predictions, ensemble.

Runs vipriors.cli.cifar10_recipe.main; --help lists the options.
"""
import sys

from vipriors.cli.cifar10_recipe import main

if __name__ == "__main__":
    sys.exit(main())
