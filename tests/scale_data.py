"""Synthetic CLIP-like data at any size, for the scale tests and benchmarks/bench_scale.py.

Every attribute value (and every class) has its own direction in a 512-d space; an image is the
sum of its values' directions plus noise, a text the sum of the directions of the values it
names, each unit-normalised, with a modality gap between the two. Two failures are planted:

- a shortcut a trained head picks up: in every split, each class comes in its "usual" colour
  ``bias`` of the time, and the class direction is noisy (its amplitude varies per image), so
  a linear head leans on colour and fails on a class in an unusual colour;
- a black box (``predictions``, ``losses``) that is wrong on most images of one slice, class
  ``c0`` with texture ``striped`` on background ``snow``, and right elsewhere but for 3% noise.

Everything is seeded and float32; embeddings are generated in chunks (1 M x 512 is 2 GiB).

Example:
    >>> data = scale_data(2000, seed=0)
    >>> data.image_emb.shape, data.image_emb.dtype, round(float(np.linalg.norm(data.image_emb[0])), 4)
    ((2000, 512), dtype('float32'), 1.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from drml_widgets.prompts.generate import AttributeSet, PromptSpec

DIM = 512
CLASSES = ["c0", "c1", "c2", "c3"]
VALUES = {
    "color": ["red", "green", "blue", "yellow", "purple", "orange"],
    "texture": ["striped", "dotted", "plain", "furry", "shiny"],
    "background": ["snow", "grass", "sand", "indoor"],
    "size": ["small", "medium", "large"],
}
ATTRIBUTES = AttributeSet({**VALUES, "class": CLASSES})
TYPES = list(VALUES)
SPEC = PromptSpec(["a photo of a {size} {color} {texture} {class} on {background}."])
USUAL_COLOR = {c: VALUES["color"][i] for i, c in enumerate(CLASSES)}  # c0 red, c1 green, ...
PLANTED = {"class": "c0", "texture": "striped", "background": "snow"}
CHUNK = 1 << 16
GAP = 0.8  # distance between the modalities' centres along the gap direction


def _directions(seed: int) -> dict[str, np.ndarray]:
    """Orthonormal directions: one per value, one per class, and the gap's."""
    names = [v for vals in VALUES.values() for v in vals] + CLASSES + ["<gap>"]
    q, _ = np.linalg.qr(np.random.default_rng(seed + 1).standard_normal((DIM, len(names))))
    return {n: q[:, i].astype(np.float32) for i, n in enumerate(names)}


class SyntheticTextEncoder:
    """Embeds a text as the sum of the directions of the attribute values and classes it names,
    shifted to the text side of the gap, unit-normalised (a CLIP that reads only those words).

    Example:
        >>> encoder = SyntheticTextEncoder(0)
        >>> e = encoder.encode_texts(["a red c0.", "a red c0."])
        >>> e.shape, bool(np.allclose(e[0], e[1]))
        ((2, 512), True)
    """

    def __init__(self, seed: int = 0):
        self.directions = _directions(seed)
        self._word = re.compile(r"[a-z0-9]+")

    def encode_texts(self, texts) -> np.ndarray:
        out = np.empty((len(texts), DIM), np.float32)
        weights = {v: 1.0 for v in VALUES["color"]} | {c: 0.6 for c in CLASSES}
        for i, text in enumerate(texts):
            row = -GAP / 2 * self.directions["<gap>"]
            for word in self._word.findall(str(text).lower()):
                if word in self.directions and word != "<gap>":
                    row = row + weights.get(word, 0.5) * self.directions[word]
            out[i] = row / np.linalg.norm(row)
        return out


@dataclass(repr=False)
class ScaleData:
    """Synthetic images (embeddings and attribute table), their captions' embeddings, a planted
    black box and the text encoder."""

    image_emb: np.ndarray
    caption_emb: np.ndarray
    table: pd.DataFrame
    predictions: np.ndarray
    losses: np.ndarray
    encoder: SyntheticTextEncoder

    @property
    def labels(self) -> np.ndarray:
        return self.table["label"].to_numpy()

    @property
    def planted(self) -> np.ndarray:
        """Mask of the images in the black box's planted failing slice."""
        return np.logical_and.reduce([(self.table[k] == v).to_numpy() for k, v in PLANTED.items()])

    def __repr__(self) -> str:
        return f"ScaleData({len(self.table):,} images, dim={self.image_emb.shape[1]})"


def _table(n: int, rng: np.random.Generator, bias: float) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    label = rng.integers(0, len(CLASSES), n)
    codes = {t: rng.integers(0, len(v), n) for t, v in VALUES.items()}
    usual = rng.random(n) < bias
    codes["color"] = np.where(usual, label, codes["color"])
    split = np.array(["train", "val", "test"], dtype=object)[
        np.searchsorted([0.6, 0.7], rng.random(n), side="right")]
    table = pd.DataFrame({t: np.array(v, dtype=object)[codes[t]] for t, v in VALUES.items()})
    table["class"] = np.array(CLASSES, dtype=object)[label]
    table["label"] = label
    table["split"] = split
    return table, codes


def _embed(codes: dict[str, np.ndarray], label: np.ndarray, directions: dict[str, np.ndarray],
           rng: np.random.Generator, side: float, noise: float) -> np.ndarray:
    """Rows ``sum of value directions (+ noise)``, on one side of the gap, unit-normalised, by chunks."""
    n = len(label)
    out = np.empty((n, DIM), np.float32)
    tables = {t: np.stack([directions[v] for v in vals]) for t, vals in VALUES.items()}
    class_dirs = np.stack([directions[c] for c in CLASSES])
    gap = side * GAP / 2 * directions["<gap>"]
    for start in range(0, n, CHUNK):
        part = slice(start, start + CHUNK)
        m = len(label[part])
        amplitude = np.full((m, 1), 0.6, np.float32)
        if noise:
            amplitude += 0.5 * rng.standard_normal((m, 1), dtype=np.float32)
        rows = class_dirs[label[part]] * amplitude + gap
        for t, dirs in tables.items():
            rows += (1.0 if t == "color" else 0.5) * dirs[codes[t][part]]
        if noise:
            rows += rng.standard_normal((m, DIM), dtype=np.float32) * np.float32(noise / np.sqrt(DIM))
        rows /= np.linalg.norm(rows, axis=1, keepdims=True)
        out[part] = rows
    return out


def scale_data(n: int, seed: int = 0, bias: float = 0.9, noise: float = 0.6, captions: bool = True) -> ScaleData:
    """``n`` synthetic images; ``captions`` also embeds one caption per image (their attributes, no noise).

    Example:
        >>> data = scale_data(5000, seed=0)
        >>> wrong = data.predictions != data.labels
        >>> int(data.planted.sum()) > 0, float(wrong[data.planted].mean()) > 0.6 > 0.1 > float(wrong[~data.planted].mean())
        (True, True)
    """
    rng = np.random.default_rng(seed)
    encoder = SyntheticTextEncoder(seed)
    table, codes = _table(n, rng, bias)
    label = table["label"].to_numpy()
    image = _embed(codes, label, encoder.directions, rng, side=1.0, noise=noise)
    caption = _embed(codes, label, encoder.directions, rng, side=-1.0, noise=0.0) if captions else None
    data = ScaleData(image, caption, table, label.copy(), np.empty(0), encoder)
    wrong = rng.random(n) < np.where(data.planted, 0.8, 0.03)
    data.predictions = np.where(wrong, (label + 1 + rng.integers(0, len(CLASSES) - 1, n)) % len(CLASSES), label)
    data.losses = np.where(wrong, 2.0, 0.1) * rng.exponential(1.0, n).astype(np.float32) + 0.01
    return data
