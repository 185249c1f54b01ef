"""A scan of a dataset's images before training, so that no bad file crashes an epoch.

Each image is opened and decoded (JPEGs at 1/8 scale, which still reads the whole
entropy-coded stream: truncation and corruption show), in parallel, and the verdicts are
cached per file (size and modification time), so a second start is fast.

Errors (the run stops, or with --skip-bad-files leaves the files out): zero-byte files,
files that are not images, truncated or corrupt images, images in a format DALI's decoders
do not read (GIF, for one, even under a .jpg name), images too large to decode safely
(decompression bombs), empty class folders, validation classes unknown to training.
Notes (decoded correctly as RGB, nothing to do): PNG and the other formats DALI reads, also
under a .jpg name, grayscale, CMYK, palette and RGBA images.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from ..files import cache_dir, write_text_atomic
from . import folder

# Pillow's names of the formats DALI documents for both its CPU and its GPU ("mixed")
# decoders (the GPU one hands what nvJPEG cannot read to the CPU codecs). MPO is a
# camera's multi-picture JPEG: a JPEG stream.
DALI_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "TIFF", "WEBP", "JPEG2000", "PPM")
# Verdicts are cached with this version: a change in what is judged bad makes them stale.
CHECK_VERSION = 2

FIXES = {
    "empty": "zero bytes: re-copy the file from its source, or delete it",
    "not-an-image": "not an image file: delete it or give it a non-image extension",
    "corrupt": "cannot be decoded (truncated or corrupt): re-copy it from its source, or delete it",
    "unsupported-format": "a format the training decoder (DALI) cannot read: convert it to JPEG or PNG, or delete it",
    "too-large": "too large to decode safely (a decompression bomb?): downscale it, or delete it",
}


@dataclass
class Problem:
    path: str
    kind: str
    detail: str

    def line(self) -> str:
        return f"{self.path}: {FIXES.get(self.kind, self.detail)}" + (f" [{self.detail}]" if self.kind in FIXES else "")


@dataclass
class Report:
    errors: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    checked: int = 0
    from_cache: int = 0

    @property
    def bad_files(self) -> set[str]:
        return {p.path for p in self.errors if p.kind in FIXES}

    def text(self, limit: int = 20) -> str:
        lines = [f"checked {self.checked} images ({self.from_cache} from cache): "
                 f"{len(self.errors)} problems, {len(self.notes)} notes"]
        for title, items in (("problems", self.errors), ("notes (decoded correctly, nothing to do)", self.notes)):
            if items:
                lines.append(f"{title}:")
                lines += [f"  {p.line()}" for p in items[:limit]]
                if len(items) > limit:
                    lines.append(f"  ... and {len(items) - limit} more")
        return "\n".join(lines)


def inspect_image(path: str) -> tuple[str, str]:
    """``(verdict, detail)``: verdict "ok", "note", or one of the error kinds of FIXES."""
    try:
        if os.path.getsize(path) == 0:
            return "empty", "0 bytes"
    except OSError as error:
        return "corrupt", error.strerror or str(error)
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                fmt, mode = image.format, image.mode
                if fmt not in DALI_FORMATS:
                    return "unsupported-format", f"{fmt} file"
                if fmt in ("JPEG", "MPO"):
                    image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        return "too-large", str(error)[:200]
    except UnidentifiedImageError:
        return "not-an-image", "unrecognised format"
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        return "corrupt", str(error)[:200]
    notes = []
    extension = os.path.splitext(path)[1].lower()
    if fmt != "JPEG" or extension not in (".jpg", ".jpeg"):
        notes.append(f"{fmt} file" + (f" named {extension}" if extension in (".jpg", ".jpeg") else ""))
    if mode not in ("RGB",):
        notes.append(f"{mode} mode")
    return ("note", ", ".join(notes)) if notes else ("ok", "")


def _cache_path(root: str) -> str:
    key = hashlib.sha1(os.path.realpath(root).encode()).hexdigest()[:16]
    return cache_dir("checks", f"{key}-v{CHECK_VERSION}.json")


def _load_cache(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def check_files(files: list[str], root: str, workers: int | None = None, progress: bool = False) -> Report:
    cache_file = _cache_path(root)
    cache = _load_cache(cache_file)
    report, todo, stamps = Report(), [], {}
    for path in files:
        try:
            st = os.stat(path)
            stamps[path] = [st.st_size, st.st_mtime_ns]
        except OSError:
            stamps[path] = [-1, -1]
        entry = cache.get(path)
        if entry and entry[:2] == stamps[path]:
            report.from_cache += 1
            _record(report, path, entry[2], entry[3])
        else:
            todo.append(path)
    if todo:
        workers = workers or min(8, os.cpu_count() or 1)
        from tqdm import tqdm

        if workers > 1 and len(todo) > 64:
            with ProcessPoolExecutor(workers) as pool:
                verdicts = list(tqdm(pool.map(inspect_image, todo, chunksize=64), total=len(todo),
                                     desc="checking images", disable=not progress))
        else:
            verdicts = [inspect_image(p) for p in tqdm(todo, desc="checking images", disable=not progress)]
        for path, (verdict, detail) in zip(todo, verdicts):
            cache[path] = stamps[path] + [verdict, detail]
            _record(report, path, verdict, detail)
        write_text_atomic(cache_file, json.dumps(cache))
    report.checked = len(files)
    return report


def _record(report: Report, path: str, verdict: str, detail: str) -> None:
    if verdict == "note":
        report.notes.append(Problem(path, "note", detail))
    elif verdict != "ok":
        report.errors.append(Problem(path, verdict, detail))


def check_dataset(root: str, splits: list[str], progress: bool = False) -> Report:
    """Scans ``root/<split>/<class>/*`` for every split: folders first (by the rules training
    applies, folder.survey; the first split is the training split), then every image."""
    report, files, training_classes = Report(), [], None
    for split in splits:
        found = folder.survey(os.path.join(root, split), training_classes)
        training_classes = training_classes or found.classes or None
        for problem in found.problems:
            (report.errors if problem.fatal else report.notes).append(Problem(problem.path, problem.kind, problem.message))
        files += found.files
    scanned = check_files(files, root, progress=progress)
    report.errors += scanned.errors
    report.notes += scanned.notes
    report.checked, report.from_cache = scanned.checked, scanned.from_cache
    return report
