"""vipriors: fast data-efficient image classification from scratch.

Importing the package never imports DALI. It loads the compiled extension when it is
built, which registers the ops under torch.ops.vipriors; vipriors.ops explains what to do
when it is not.
"""
import torch  # noqa: F401  (the extension links against libtorch: load it first)

__version__ = "0.1.0"

try:
    from . import _C  # noqa: F401
    extension_error = None
except ImportError as error:  # not built yet, or built against another torch
    _C = None
    extension_error = error
