"""File-system helpers every module shares: atomic writes, image listing, the cache folder."""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from typing import IO

# Files taken for images by their name; data/check.py then judges their content.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def place_atomic(path: str, create: Callable[[str], None]) -> None:
    """Calls ``create(tmp)`` to make the file (or link) at a temporary name beside ``path``,
    then renames it to ``path`` in one step: a crash or a kill midway never leaves a
    partial file, nor replaces a good one. The temporary name is hidden (a leading dot)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial")
    try:
        create(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: str, write: Callable[[IO], None], binary: bool = False) -> None:
    """Writes ``path`` through ``write(file)``, synced to disk before it takes the name."""
    def create(tmp: str) -> None:
        with open(tmp, "xb" if binary else "x", **({} if binary else {"encoding": "utf-8", "newline": ""})) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())

    place_atomic(path, create)


def write_text_atomic(path: str, text: str) -> None:
    write_atomic(path, lambda f: f.write(text))


def list_images(folder: str) -> list[str]:
    """The image file names in ``folder`` (by extension, hidden files left out), sorted."""
    return sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith("."))


def cache_dir(*parts: str) -> str:
    """vipriors' cache folder ($VIPRIORS_CACHE, default ~/.cache/vipriors), joined with ``parts``."""
    root = os.environ.get("VIPRIORS_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "vipriors")
    return os.path.join(root, *parts)
