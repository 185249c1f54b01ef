"""The one base of every error a user can cause and fix.

Its message names the file or the flag at fault and what to do about it; the command-line
entry points print it as one line and exit with status 2, without a traceback. Any other
exception is a bug and keeps its traceback.
"""


class UserError(ValueError):
    """A mistake in the input (a flag, a file, a folder); the message says how to fix it."""
