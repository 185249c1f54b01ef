"""The built-in dataset: procedurally drawn shapes with textures, written as JPEGs.

Each class is one (shape, texture) pair, e.g. "star_dots". Colour, scale, position,
rotation, the texture's frequency and phase, the background and the clutter (faint
outlines and strokes of other shapes) are random, so neither a colour statistic nor a
single template separates the classes, but a small CNN learns them in a few minutes.
Everything is derived from (seed, split, index): the same seed gives the same bytes.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image

from ..errors import UserError
from ..files import cache_dir

GENERATOR_VERSION = 1
SHAPES = ("circle", "square", "triangle", "star", "cross")
TEXTURES = ("stripes", "dots")
CLASSES = tuple(f"{shape}_{texture}" for shape in SHAPES for texture in TEXTURES)
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class SyntheticSpec:
    seed: int = 0
    image_size: int = 64
    train_per_class: int = 300
    val_per_class: int = 50
    jpeg_quality: int = 90

    def counts(self) -> dict[str, int]:
        return {"train": self.train_per_class, "val": self.val_per_class}


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test in the object's own frame, where the shape spans about [-1, 1]^2."""
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.8
    if shape == "triangle":  # equilateral, pointing up, centred
        return (v <= 0.55) & (v >= -1.1 + 1.732 * np.abs(u) * 0.95 - 0.05)
    if shape == "star":  # five points
        radius = np.hypot(u, v)
        angle = np.arctan2(v, u)
        return radius <= 0.55 + 0.45 * np.abs(np.cos(2.5 * angle)) ** 3
    if shape == "cross":
        return ((np.abs(u) <= 0.3) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.3) & (np.abs(u) <= 1.0))
    raise ValueError(f"unknown shape {shape!r}")


def _texture_mask(texture: str, u: np.ndarray, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    a = u * np.cos(angle) + v * np.sin(angle)
    b = -u * np.sin(angle) + v * np.cos(angle)
    if texture == "stripes":
        frequency = rng.uniform(1.5, 2.5)
        return np.sin(np.pi * frequency * a + rng.uniform(0, 2 * np.pi)) > 0
    if texture == "dots":
        period = rng.uniform(0.55, 0.8)
        ca = (a / period + rng.uniform(0, 1)) % 1.0 - 0.5
        cb = (b / period + rng.uniform(0, 1)) % 1.0 - 0.5
        return ca * ca + cb * cb <= 0.09
    raise ValueError(f"unknown texture {texture!r}")


def _object_frame(xs, ys, cx, cy, scale, theta):
    dx, dy = (xs - cx) / scale, (ys - cy) / scale
    return dx * np.cos(theta) + dy * np.sin(theta), -dx * np.sin(theta) + dy * np.cos(theta)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def render(class_index: int, rng: np.random.Generator, size: int = 64, supersample: int = 2) -> np.ndarray:
    """One uint8 [size, size, 3] image of class ``class_index``."""
    shape, texture = CLASSES[class_index].split("_")
    n = size * supersample
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32) / n * 2 - 1  # [-1, 1)

    # Background: a random linear gradient between two muted colours, plus noise.
    grey = rng.uniform(40, 215)
    c0, c1 = grey + rng.uniform(-40, 40, 3), grey + rng.uniform(-40, 40, 3)
    g_angle = rng.uniform(0, 2 * np.pi)
    t = ((xs * np.cos(g_angle) + ys * np.sin(g_angle)) + 1.5) / 3.0
    image = c0 * (1 - t[..., None]) + c1 * t[..., None]

    # Clutter: outlines and strokes of random other shapes, drawn under and over the object.
    def clutter(count):
        nonlocal image
        for _ in range(count):
            other = SHAPES[rng.integers(len(SHAPES))]
            u, v = _object_frame(xs, ys, *rng.uniform(-0.9, 0.9, 2), rng.uniform(0.1, 0.35), rng.uniform(0, 2 * np.pi))
            outline = _shape_mask(other, u, v) & ~_shape_mask(other, u * 1.25, v * 1.25)
            image = np.where(outline[..., None], _random_colour(rng), image)

    clutter(rng.integers(0, 3))
    scale = rng.uniform(0.5, 0.8)
    cx, cy = rng.uniform(-1 + scale, 1 - scale, 2)
    u, v = _object_frame(xs, ys, cx, cy, scale, rng.uniform(0, 2 * np.pi))
    inside = _shape_mask(shape, u, v)
    pattern = _texture_mask(texture, u, v, rng)
    fg, fg2 = _random_colour(rng), _random_colour(rng)
    while np.abs(fg - fg2).sum() < 200:  # keep the texture visible
        fg2 = _random_colour(rng)
    obj = np.where(pattern[..., None], fg2, fg)
    image = np.where(inside[..., None], obj, image)
    clutter(rng.integers(0, 2))

    image = image + rng.normal(0, rng.uniform(2, 12), size=image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    return np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))


def _image_rng(spec: SyntheticSpec, split: str, index: int) -> np.random.Generator:
    split_key = {"train": 0, "val": 1}[split]
    return np.random.default_rng([spec.seed, GENERATOR_VERSION, split_key, index])


def _jpeg_bytes(array: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def write_dataset(root: str, spec: SyntheticSpec = SyntheticSpec()) -> str:
    """Writes ``root/{train,val}/<class>/<i>.jpg`` and a manifest; returns ``root``.

    The folder appears atomically: it is written under a temporary name and renamed, so an
    interrupted generation never leaves a half dataset that looks complete.
    """
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".synthetic-", dir=parent)
    try:
        for split, per_class in spec.counts().items():
            for class_index, name in enumerate(CLASSES):
                folder = os.path.join(staging, split, name)
                os.makedirs(folder)
                for i in range(per_class):
                    index = class_index * per_class + i
                    array = render(class_index, _image_rng(spec, split, index), spec.image_size)
                    with open(os.path.join(folder, f"{i:05d}.jpg"), "wb") as f:
                        f.write(_jpeg_bytes(array, spec.jpeg_quality))
        with open(os.path.join(staging, MANIFEST), "w") as f:
            json.dump({"generator_version": GENERATOR_VERSION, "classes": list(CLASSES), **asdict(spec)}, f, indent=1)
        os.rename(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def default_root(spec: SyntheticSpec = SyntheticSpec()) -> str:
    return cache_dir(f"synthetic-v{GENERATOR_VERSION}-s{spec.seed}-{spec.image_size}px")


def is_complete(root: str, spec: SyntheticSpec) -> bool:
    try:
        with open(os.path.join(root, MANIFEST)) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    return manifest == {"generator_version": GENERATOR_VERSION, "classes": list(CLASSES), **asdict(spec)}


def ensure_dataset(root: str | None = None, spec: SyntheticSpec = SyntheticSpec()) -> str:
    """The dataset's folder, generated on first use (a few seconds) and reused after."""
    root = root or default_root(spec)
    if is_complete(root, spec):
        return root
    if os.path.exists(root):
        raise UserError(
            f"{root} exists but is not a complete built-in dataset for {spec} "
            f"(another generator version or settings); remove it or choose another folder"
        )
    try:
        return write_dataset(root, spec)
    except OSError as error:
        if is_complete(root, spec):  # another process finished first: its copy is as good
            return root
        raise UserError(f"could not write the built-in dataset to {root} ({error}); set VIPRIORS_CACHE to a "
                        "writable folder") from error
