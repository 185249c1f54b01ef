"""Readable class names: a names file maps each class folder (a WordNet id such as
n01443537) to its words ("goldfish, Carassius auratus").

The file is Tiny-ImageNet's and ImageNet's own format: one class per line, the folder name,
a TAB, the words. The folder name stays the key everywhere (labels, prediction files,
submissions); the words are shown beside it wherever a person reads classes.
"""
from __future__ import annotations

from ..errors import UserError


def read(path: str, flag: str = "--class-names") -> dict[str, str]:
    """``{folder name: words}`` of a names file; a line that is not ``name<TAB>words`` is refused."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{flag} {path}: not UTF-8 text; give a names file (one 'folder<TAB>words' line per class)") from None
    except OSError as error:
        raise UserError(f"{flag} {path}: cannot read it ({error.strerror})") from None
    names = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, tab, words = line.partition("\t")
        if not tab or not key.strip():
            raise UserError(f"{flag} {path}: line {number} is not 'folder<TAB>words': {line[:60]!r}")
        names[key.strip()] = words.strip()
    return names


def words_for(classes, path: str | None, flag: str = "--class-names") -> tuple[str, ...]:
    """The words of each class in order ("" where the file has none); all "" without a file.
    A file that names none of the classes is the wrong file, and is refused."""
    if path is None:
        return ("",) * len(classes)
    names = read(path, flag)
    words = tuple(names.get(c, "") for c in classes)
    if classes and not any(words):
        raise UserError(f"{flag} {path}: names none of the {len(classes)} classes (e.g. {list(classes[:2])}); "
                        "give the names file of this dataset")
    return words


def label(name: str, words: str) -> str:
    """``name words`` for a reader, or ``name`` alone."""
    return f"{name} {words}" if words else name
