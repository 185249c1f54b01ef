"""Per-class accuracy files: the JSON the stubborn-class loop reads, and a bar chart."""
from __future__ import annotations

import json
import os

from PIL import Image, ImageDraw

from ..data import class_names
from ..errors import UserError
from ..files import write_atomic, write_text_atomic


def write_per_class(run_dir: str, classes, accuracy, counts, epoch: int, words=None, worst: int = 25) -> None:
    """per_class_accuracy.json (every class, keyed by folder name, with each class's words
    from the names file when there is one) and worst_classes.png (the ``worst`` lowest)."""
    words = dict(zip(classes, words or ("",) * len(classes)))
    table = {name: round(acc, 4) for name, acc, n in zip(classes, accuracy, counts) if n > 0}
    content = {"epoch": epoch, "per_class_top1": table}
    if any(words.values()):
        content["class_words"] = {name: words[name] for name in table}
    write_text_atomic(os.path.join(run_dir, "per_class_accuracy.json"), json.dumps(content, indent=1))
    ranked = sorted(table.items(), key=lambda item: (item[1], item[0]))[:worst]
    bar_chart([(class_names.label(name, words[name]), value) for name, value in ranked],
              f"epoch {epoch}: the {len(ranked)} classes of lowest validation top-1",
              os.path.join(run_dir, "worst_classes.png"))


def bar_chart(rows, title: str, path: str, width: int = 900, row: int = 20) -> None:
    label_width = 400
    image = Image.new("RGB", (width, 30 + row * len(rows)), "white")
    draw = ImageDraw.Draw(image)
    draw.text((8, 8), title, fill="black")
    for i, (name, value) in enumerate(rows):
        y = 30 + i * row
        draw.text((8, y + 4), name[:64], fill="black")
        length = int((width - label_width - 60) * value)
        draw.rectangle([label_width, y + 3, label_width + max(length, 1), y + row - 3], fill=(200, 70, 60))
        draw.text((label_width + length + 6, y + 4), f"{100 * value:.1f}%", fill="black")
    write_atomic(path, lambda f: image.save(f, format="PNG"), binary=True)


def stubborn_from_file(path: str, classes, k: int) -> list[str]:
    """Class names from a JSON list, or the ``k`` worst of a per-class accuracy file."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        raise UserError(f"--stubborn-file {path}: cannot read it as JSON ({error})") from None
    if isinstance(data, dict):
        table = data.get("per_class_top1", data)
        k = k or max(1, len(table) // 10)
        names = [name for name, _ in sorted(table.items(), key=lambda item: (item[1], item[0]))[:k]]
    elif isinstance(data, list) and all(isinstance(n, str) for n in data):
        names = data
    else:
        raise UserError(f"--stubborn-file {path}: expected a list of class names or a per-class accuracy table")
    unknown = sorted(set(names) - set(classes))
    if unknown:
        raise UserError(f"--stubborn-file {path}: {len(unknown)} names are not classes of this dataset, e.g. {unknown[:3]}")
    return list(names)
