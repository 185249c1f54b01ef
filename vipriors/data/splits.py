"""Building datasets on disk: the official VIPriors splits of ImageNet, and N-per-class
subsets of any ImageFolder dataset. Files are hard-linked by default (no copy of 100k
images), written atomically, and a re-run only does what is missing.
"""
from __future__ import annotations

import errno
import os
import pickle
import random
import re
import shutil
from dataclasses import dataclass, field

from ..errors import UserError
from ..files import list_images, place_atomic, write_text_atomic
from .folder import DatasetError, list_classes

WNID = re.compile(r"^n\d{8}$")
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")
LINK_MODES = ("hardlink", "symlink", "copy")
GROUND_TRUTH = "test_ground_truth.csv"


class SplitFileError(UserError):
    """A split pickle that is not what the official toolkit ships; the message says why."""


class _ListsAndStrings(pickle.Unpickler):
    """Loads lists and strings only: a pickle naming any class or function is refused,
    so a tampered split file cannot run code."""

    def find_class(self, module, name):
        raise SplitFileError(f"refuses to load {module}.{name}: split files hold only lists of strings")


def _safe_name(value, where: str) -> str:
    if not isinstance(value, str) or not SAFE_NAME.match(value) or value in (".", ".."):
        raise SplitFileError(f"{where}: {value!r} is not a plain file or folder name")
    return value


def load_split(path: str) -> list:
    """``[(wnid, filename), ...]`` for train/val pickles, ``[(wnid, filename), ...]`` from
    ``'wnid/filename'`` strings for the test pickle; every name is checked to be plain."""
    try:
        with open(path, "rb") as f:
            data = _ListsAndStrings(f).load()
    except SplitFileError as error:
        raise SplitFileError(f"{path}: {error}") from None
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise SplitFileError(f"{path}: cannot read the split pickle ({error})") from None
    if not isinstance(data, list) or not data:
        raise SplitFileError(f"{path}: expected a non-empty list, got {type(data).__name__}")
    entries = []
    for i, item in enumerate(data):
        where = f"{path} entry {i}"
        if isinstance(item, list) and len(item) == 2:
            wnid, name = item
        elif isinstance(item, str) and item.count("/") == 1:
            wnid, name = item.split("/")
        else:
            raise SplitFileError(f"{where}: expected [wnid, filename] or 'wnid/filename', got {item!r:.80}")
        if not isinstance(wnid, str) or not WNID.match(wnid):
            raise SplitFileError(f"{where}: {wnid!r} is not a WordNet id like n01440764")
        entries.append((wnid, _safe_name(name, where)))
    return entries


@dataclass
class LinkReport:
    created: int = 0
    kept: int = 0
    replaced: int = 0
    fell_back_to_symlink: bool = False
    notes: list = field(default_factory=list)


def _same_content(src: str, dst: str, mode: str) -> bool:
    if mode == "copy":
        a, b = os.stat(src), os.stat(dst)
        return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)
    return os.path.samefile(src, dst)


def place_files(pairs: list[tuple[str, str]], mode: str = "hardlink", progress: bool = True) -> LinkReport:
    """Makes each ``dst`` the file ``src`` (hard link, symlink or copy). Existing correct
    files are kept, stale ones replaced; every write goes to a temporary name first."""
    if mode not in LINK_MODES:
        raise UserError(f"--link must be one of {', '.join(LINK_MODES)}, got {mode!r}")
    from tqdm import tqdm

    report = LinkReport()
    for src, dst in tqdm(pairs, desc=f"{mode}ing", unit="file", disable=not progress, mininterval=1.0):
        existed = os.path.lexists(dst)
        if existed and os.path.exists(dst) and _same_content(src, dst, mode):
            report.kept += 1
            continue
        place_atomic(dst, lambda tmp, src=src: _link(src, tmp, mode, report))
        report.replaced += existed
        report.created += not existed
    return report


def _link(src: str, dst: str, mode: str, report: LinkReport) -> None:
    if mode == "hardlink":
        try:
            os.link(src, dst)
            return
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
                raise
            if not report.fell_back_to_symlink:
                report.notes.append(f"hard links impossible ({error.strerror}): made symlinks instead")
            report.fell_back_to_symlink = True
    if mode == "copy":
        shutil.copy2(src, dst)
    else:
        os.symlink(os.path.abspath(src), dst)


def _missing_report(missing: list[str], what: str) -> str:
    shown = "\n  ".join(missing[:10])
    more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
    return f"{len(missing)} {what} missing, nothing was written:\n  {shown}{more}"


def vipriors_plan(imagenet: str, toolkit: str, out: str) -> tuple[list[tuple[str, str]], list[tuple[str, int]], list[str]]:
    """(src, dst) pairs exactly as the official generate_images.py arranges them, the test
    ground truth as (image id, class index), and the sorted class list."""
    train = load_split(os.path.join(toolkit, "train.pickle"))
    val = load_split(os.path.join(toolkit, "val.pickle"))
    test = load_split(os.path.join(toolkit, "test.pickle"))
    classes = sorted({wnid for wnid, _ in train})
    index = {wnid: i for i, wnid in enumerate(classes)}
    pairs = [(os.path.join(imagenet, "train", w, f), os.path.join(out, "train", w, f)) for w, f in train]
    pairs += [(os.path.join(imagenet, "train", w, f), os.path.join(out, "val", w, f)) for w, f in val]
    truth = []
    for i, (wnid, name) in enumerate(test):
        if wnid not in index:
            raise SplitFileError(f"test entry {i}: class {wnid} has no training images")
        image_id = f"img_{i}.JPEG"
        pairs.append((os.path.join(imagenet, "val", wnid, name), os.path.join(out, "test", "imgs", image_id)))
        truth.append((image_id, index[wnid]))
    return pairs, truth, classes


def build_vipriors(imagenet: str, toolkit: str, out: str, mode: str = "hardlink", progress: bool = True) -> LinkReport:
    pairs, truth, classes = vipriors_plan(imagenet, toolkit, out)
    missing = [src for src, _ in pairs if not os.path.isfile(src)]
    if missing:
        raise DatasetError(_missing_report(missing, f"source images of {imagenet}") +
                           "\nExpected ImageNet-2012 as <root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG.")
    report = place_files(pairs, mode, progress)
    write_text_atomic(os.path.join(out, GROUND_TRUTH), "Image IDs,Labels\n" + "".join(f"{i},{c}\n" for i, c in truth))
    write_text_atomic(os.path.join(out, "classes.txt"), "".join(f"{c}\n" for c in classes))
    return report


def subset_plan(source: str, out: str, train_per_class: int, val_per_class: int = 0, test_per_class: int = 0,
                seed: int | None = None) -> list[tuple[str, str]]:
    """N/M/T images per class into out/{train,val,test}/<class>/: the first ones by sorted
    file name, or a seeded shuffle of each class. The splits never share a file."""
    counts = {"train": train_per_class, "val": val_per_class, "test": test_per_class}
    if min(counts.values()) < 0 or train_per_class == 0:
        raise UserError(f"--train/--val/--test: per-class counts must be >= 0 with --train > 0, got {counts}")
    pairs, short = [], []
    for name in list_classes(source):
        folder = os.path.join(source, name)
        files = list_images(folder)
        if seed is not None:
            random.Random(f"{seed}/{name}").shuffle(files)
        needed = sum(counts.values())
        if len(files) < needed:
            short.append(f"{folder}: {len(files)} images, {needed} needed")
            continue
        start = 0
        for split, n in counts.items():
            pairs += [(os.path.join(folder, f), os.path.join(out, split, name, f)) for f in files[start:start + n]]
            start += n
    if short:
        raise DatasetError(_missing_report(short, "classes too small:") + "\nLower the per-class counts.")
    return pairs


def build_subset(source: str, out: str, train_per_class: int, val_per_class: int = 0, test_per_class: int = 0,
                 seed: int | None = None, mode: str = "hardlink", progress: bool = True) -> LinkReport:
    pairs = subset_plan(source, out, train_per_class, val_per_class, test_per_class, seed)
    return place_files(pairs, mode, progress)

