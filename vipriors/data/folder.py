"""ImageFolder scanning: class names, file lists and labels, with clear errors.

The DALI readers get explicit (files, labels) lists built here, so the class order is
ours (sorted folder names, as torchvision's ImageFolder and the challenge's submission
format use) and the train and validation splits are checked to agree before training.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import UserError
from ..files import IMAGE_EXTENSIONS, list_images


class DatasetError(UserError):
    """A dataset folder that cannot be trained on; the message names the path and the fix."""


@dataclass(frozen=True)
class Samples:
    root: str
    classes: tuple[str, ...]
    files: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.files)

    def __add__(self, other: "Samples") -> "Samples":
        if other.classes != self.classes:
            raise DatasetError(f"{other.root} and {self.root} have different class lists; they cannot be merged")
        return Samples(f"{self.root}+{other.root}", self.classes, self.files + other.files, self.labels + other.labels)

    def without(self, excluded: set[str]) -> "Samples":
        """These samples less the ``excluded`` files; every class must keep at least one image."""
        if not excluded:
            return self
        kept = [(f, y) for f, y in zip(self.files, self.labels) if f not in excluded]
        emptied = sorted(set(range(len(self.classes))) - {y for _, y in kept} - self._absent_classes())
        if emptied:
            names = [self.classes[c] for c in emptied]
            raise DatasetError(f"{self.root}: classes {names[:5]} have no usable image left once bad files are left out")
        files, labels = zip(*kept) if kept else ((), ())
        return Samples(self.root, self.classes, tuple(files), tuple(labels))

    def _absent_classes(self) -> set[int]:
        return set(range(len(self.classes))) - set(self.labels)


@dataclass(frozen=True)
class FolderProblem:
    """What is wrong with a split's folders. ``fatal``: no run trains on it (scan raises it;
    check_data lists it as an error); otherwise a note."""
    path: str
    kind: str  # missing | no-classes | classes | empty-class | absent-classes | no-images
    message: str
    fatal: bool = True

    def text(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Survey:
    classes: tuple[str, ...]
    files: tuple[str, ...]
    labels: tuple[int, ...]
    problems: tuple[FolderProblem, ...]


def class_folders(root: str) -> tuple[str, ...]:
    """The class folders of a split: its sub-folders, sorted, hidden ones left out."""
    return tuple(sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")))


def _classes_or_problem(root: str) -> tuple[tuple[str, ...], FolderProblem | None]:
    """The class folders of ``root``, or the problem of a root that has none."""
    if not os.path.isdir(root):
        return (), FolderProblem(root, "missing", "no such folder; expected an ImageFolder root with one sub-folder "
                                                  "per class (fix --data or the split name)")
    found = class_folders(root)
    if not found:
        return (), FolderProblem(root, "no-classes", f"no class folders; expected {root}/<class name>/<image files>")
    return found, None


def list_classes(root: str) -> tuple[str, ...]:
    """The class folders of an ImageFolder root; a missing root, or one without any, is refused."""
    found, problem = _classes_or_problem(root)
    if problem:
        raise DatasetError(problem.text())
    return found


def survey(root: str, classes: tuple[str, ...] | None = None) -> Survey:
    """The rules of a split's folders, in one place for training (scan) and check_data: a
    training split (``classes`` None) defines the classes and every class folder must hold
    images; an evaluation split may lack classes (a note) but holds no class of its own."""
    found, problem = _classes_or_problem(root)
    if problem:
        return Survey((), (), (), (problem,))
    is_training_split = classes is None
    classes = found if is_training_split else tuple(classes)
    problems = []
    unknown = sorted(set(found) - set(classes))
    if unknown:
        problems.append(FolderProblem(root, "classes", f"class folders {unknown[:5]}{' ...' if len(unknown) > 5 else ''} "
                                                       f"are not among the {len(classes)} training classes; the splits "
                                                       "must share one class list"))
    files, labels, absent = [], [], []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        names = list_images(folder) if os.path.isdir(folder) else []
        if not names and is_training_split:
            problems.append(FolderProblem(folder, "empty-class", f"empty class folder (no {'/'.join(IMAGE_EXTENSIONS)} "
                                                                 "files); add images or remove it"))
        elif not names:
            absent.append(name)
        files.extend(os.path.join(folder, n) for n in names)
        labels.extend([label] * len(names))
    if absent:
        problems.append(FolderProblem(root, "absent-classes", f"{len(absent)} of the training classes have no images "
                                                              f"here, e.g. {absent[:3]}", fatal=False))
    if not files:
        problems.append(FolderProblem(root, "no-images", "no image files found in its class folders"))
    return Survey(classes, tuple(files), tuple(labels), tuple(problems))


def scan(root: str, classes: tuple[str, ...] | None = None) -> Samples:
    """All images under ``root/<class>/``; labels index ``classes`` (default: the folders here).
    The first fatal problem of ``survey`` is raised."""
    found = survey(root, classes)
    fatal = [p for p in found.problems if p.fatal]
    if fatal:
        raise DatasetError(fatal[0].text())
    return Samples(root=root, classes=found.classes, files=found.files, labels=found.labels)


def read_file_list(path: str, root: str, classes: tuple[str, ...] | None = None) -> Samples:
    """A text file of image paths (absolute, or relative to ``root``), one per line; the
    class of each image is the name of its folder. Blank lines and ``#`` comments are skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not a UTF-8 text file; a file list has one image path per line") from None
    files = [e if os.path.isabs(e) else os.path.join(root, e) for e in entries]
    missing = [f for f in files if not os.path.isfile(f)]
    if missing:
        raise DatasetError(f"{path}: {len(missing)} listed files do not exist, e.g. {missing[:3]}")
    if not files:
        raise DatasetError(f"{path}: the file list is empty")
    names = [os.path.basename(os.path.dirname(f)) for f in files]
    classes = tuple(classes) if classes is not None else tuple(sorted(set(names)))
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise DatasetError(f"{path}: images of classes {unknown[:5]} that are not among the {len(classes)} training classes")
    index = {c: i for i, c in enumerate(classes)}
    return Samples(path, classes, tuple(files), tuple(index[n] for n in names))


def scan_splits(root: str, spec: str, classes: tuple[str, ...] | None = None) -> Samples:
    """One or more comma-separated splits merged (e.g. "train,val"): folder names under
    ``root`` or file lists. The first one defines the class list unless ``classes`` is given."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise DatasetError(f"no split named in {spec!r}")
    merged = None
    for part in parts:
        path = part if os.path.isabs(part) else os.path.join(root, part)
        samples = read_file_list(path, root, classes) if os.path.isfile(path) else scan(path, classes)
        classes = samples.classes
        merged = samples if merged is None else merged + samples
    return merged
