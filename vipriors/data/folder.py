"""ImageFolder scanning: class names, file lists and labels, with clear errors.

The DALI readers get explicit (files, labels) lists built here, so the class order is
ours (sorted folder names, as torchvision's ImageFolder and the challenge's submission
format use) and the train and validation splits are checked to agree before training.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class DatasetError(ValueError):
    """A dataset folder that cannot be trained on; the message names the path and the fix."""


@dataclass(frozen=True)
class Samples:
    root: str
    classes: tuple[str, ...]
    files: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.files)


def list_classes(root: str) -> tuple[str, ...]:
    if not os.path.isdir(root):
        raise DatasetError(f"{root}: no such folder; expected an ImageFolder root with one sub-folder per class")
    classes = tuple(sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")))
    if not classes:
        raise DatasetError(f"{root}: no class folders; expected {root}/<class name>/<image files>")
    return classes


def scan(root: str, classes: tuple[str, ...] | None = None) -> Samples:
    """All images under ``root/<class>/``; labels index ``classes`` (default: the folders here)."""
    found = list_classes(root)
    is_training_split = classes is None  # there, every class folder must hold images
    classes = found if is_training_split else tuple(classes)
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise DatasetError(
            f"{root}: class folders {unknown[:5]}{' ...' if len(unknown) > 5 else ''} are not among the "
            f"{len(classes)} training classes; the splits must share one class list"
        )
    files, labels = [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        if not os.path.isdir(folder):
            continue  # a class absent from an evaluation split has no samples there
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS) and not n.startswith("."))
        if not names and is_training_split:
            raise DatasetError(f"{folder}: empty class folder (no {'/'.join(IMAGE_EXTENSIONS)} files); add images or remove it")
        files.extend(os.path.join(folder, n) for n in names)
        labels.extend([label] * len(names))
    if not files:
        raise DatasetError(f"{root}: no image files found in its class folders")
    return Samples(root=root, classes=classes, files=tuple(files), labels=tuple(labels))
