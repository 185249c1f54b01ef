"""Decisions the build makes about the CUDA toolkit, kept importable for tests.

setup.py loads this file by path (the package itself cannot be imported before
its extension exists), so it must depend on the standard library only.
"""
from __future__ import annotations

import glob
import os
import shutil

CPU_ONLY_ENV = "VIPRIORS_CPU_ONLY"
DEFAULT_ARCH_LIST = "8.0;9.0"


def is_toolkit_root(path: str | None) -> bool:
    """A CUDA toolkit root has the compiler and the runtime headers side by side."""
    return bool(path) and os.path.isfile(os.path.join(path, "bin", "nvcc")) and os.path.isfile(
        os.path.join(path, "include", "cuda_runtime.h")
    )


def find_cuda_home(environ=os.environ) -> str | None:
    """The real toolkit root, or None.

    torch guesses CUDA_HOME as the grandparent of the first `nvcc` on PATH; a wrapper
    script such as /usr/local/bin/nvcc makes that /usr/local, which has no CUDA headers
    or libraries, and the link fails. So every candidate is checked for being a toolkit.
    """
    candidates = [environ.get("CUDA_HOME"), environ.get("CUDA_PATH")]
    nvcc = shutil.which("nvcc", path=environ.get("PATH"))
    if nvcc:
        candidates.append(os.path.dirname(os.path.dirname(os.path.realpath(nvcc))))
    candidates.append("/usr/local/cuda")
    candidates.extend(sorted(glob.glob("/usr/local/cuda-*"), reverse=True))
    for path in candidates:
        if is_toolkit_root(path):
            return os.path.realpath(path)
    return None


def pip_cuda_include_dirs() -> list[str]:
    """Header folders of the CUDA libraries that pip installed beside torch (nvidia-* wheels).

    A toolkit may ship only nvcc and the runtime; torch's CUDA headers still include
    cusparse.h and cublas_v2.h, which then come from these wheels.
    """
    try:
        import nvidia  # namespace package of the nvidia-* wheels
    except ImportError:
        return []
    found = set()
    for base in getattr(nvidia, "__path__", []):
        for header in glob.glob(os.path.join(base, "*", "include", "cusparse.h")) + glob.glob(
            os.path.join(base, "*", "include", "cublas_v2.h")
        ):
            found.add(os.path.dirname(header))
    return sorted(found)


def cpu_only_requested(environ=os.environ) -> bool:
    return environ.get(CPU_ONLY_ENV, "").strip().lower() in ("1", "true", "yes", "on")
