"""The command-line programs; scripts/<name>.py runs ``vipriors.cli.<name>.main``.

Every program ends a mistake in its input (``vipriors.errors.UserError``) with one line on
stderr naming the flag or file and the fix, and exit status 2; under torchrun only rank 0
prints it, and every rank exits 2.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable

from ..errors import UserError


def guarded(tool: str, body: Callable[[], int]) -> int:
    """``body()``'s exit status, or 2 after printing a UserError's message as one line."""
    try:
        return body()
    except UserError as error:
        if int(os.environ.get("RANK", 0)) == 0:
            print(f"{tool}: {error}", file=sys.stderr)
        return 2
