"""Run a recipe folder end to end (recipes/<name>): data, members, vote, final models, submission.

Runs vipriors.cli.recipe.main; --help lists the options.
"""
import sys

from vipriors.cli.recipe import main

if __name__ == "__main__":
    sys.exit(main())
