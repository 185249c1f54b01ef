"""The command-line programs; scripts/<name>.py runs ``vipriors.cli.<name>.main``.

Every program ends a mistake in its input (``vipriors.errors.UserError``) with one line on
stderr naming the flag or file and the fix, and exit status 2. Under torchrun the line is
printed once: rank 0 prints it and exits at once; any other rank first waits
``RANK_ERROR_GRACE_SECONDS``, because torchrun ends the job's other processes as soon as one
fails, so a rank that exited at once could have rank 0 ended before its line was out. The
job usually ends during the wait; a rank still running after it (the mistake was its own)
prints its line with its rank.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from ..errors import UserError

RANK_ERROR_GRACE_SECONDS = 10.0


def guarded(tool: str, body: Callable[[], int]) -> int:
    """``body()``'s exit status, or 2 after printing a UserError's message as one line."""
    try:
        return body()
    except UserError as error:
        rank = int(os.environ.get("RANK", 0))
        if rank == 0:
            print(f"{tool}: {error}", file=sys.stderr, flush=True)
        else:
            time.sleep(RANK_ERROR_GRACE_SECONDS)
            print(f"{tool} (rank {rank}): {error}", file=sys.stderr, flush=True)
        return 2
