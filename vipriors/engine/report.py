"""Per-class accuracy files: the JSON the stubborn-class loop reads, and a bar chart."""
from __future__ import annotations

import json
import os

from PIL import Image, ImageDraw

from ..data import class_names
from ..data.stubborn_file import worst_first
from ..files import write_atomic, write_text_atomic


def write_per_class(run_dir: str, classes, accuracy, counts, epoch: int, words=None, worst: int = 25,
                    loss=None) -> None:
    """per_class_accuracy.json (every class, keyed by folder name, with each class's words
    from the names file when there is one, and its mean validation loss where ``loss`` is
    given) and worst_classes.png (the ``worst`` lowest)."""
    words = dict(zip(classes, words or ("",) * len(classes)))
    table = {name: round(acc, 4) for name, acc, n in zip(classes, accuracy, counts) if n > 0}
    content = {"epoch": epoch, "per_class_top1": table}
    if loss is not None:
        content["per_class_val_loss"] = {name: round(l, 4) for name, l, n in zip(classes, loss, counts) if n > 0}
    if any(words.values()):
        content["class_words"] = {name: words[name] for name in table}
    write_text_atomic(os.path.join(run_dir, "per_class_accuracy.json"), json.dumps(content, indent=1))
    ranked = worst_first(table, content.get("per_class_val_loss"))[:worst]
    bar_chart([(class_names.label(name, words[name]), table[name]) for name in ranked],
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
