"""The shapes world: rendered triangles and squares after DrML's dSpritesV (paper 000, appendix B).

Every attribute is drawn uniformly; the biased training split keeps (almost) only orange
triangles and green squares, so a classifier trained on it can lean on colour instead of shape.
Rendering is deterministic by seed and needs nothing but numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..errors import InputError
from .shapes_render import (ATTRIBUTES, COLORS, IMAGE_SIZE, POSITIONS, RENDERER_VERSION, SHAPES, SIZES,  # noqa: F401 (the world's names)
                            ShapeImages, check_rendering, render_shape, render_table, sample_attributes)

# The shortcut the biased split plants: each class paired with one colour.
MAJORITY_COLOR = {"triangle": "orange", "square": "green"}
# Waterbirds-like: rare minority groups (5%) and, as with a bird against a large background, the
# class cue harder to see than the spurious one: shapes at 3/4 size under pixel noise, so their
# outline is ambiguous while their colour stays plain. Pass as load_shapes_world(**WATERBIRDS_LIKE).
WATERBIRDS_LIKE: dict[str, float] = {"bias": 0.95, "shape_scale": 0.75, "noise": 20.0}


@dataclass(repr=False)
class ShapesWorld:
    """Images of the shapes world plus their attribute table.

    ``table`` has one row per image with ``color, shape, size, position, label, split``;
    ``label`` indexes ``classes``. ``split`` is ``train`` and ``val`` (the biased split) or
    ``test`` (every combination). ``pixels`` renders images on demand; ``images`` is all of them.
    """

    pixels: ShapeImages
    table: pd.DataFrame
    classes: list[str] = field(default_factory=lambda: list(SHAPES))
    bias: float = 1.0
    seed: int = 0
    shape_scale: float = 1.0
    noise: float = 0.0

    def split(self, name: str) -> "ShapesWorld":
        """The images and rows of one split (``train``, ``val`` or ``test``).

        Example:
            >>> world = load_shapes_world(n=600)
            >>> set(world.split("train").table["split"])
            {'train'}
        """
        if name not in ("train", "val", "test"):
            raise InputError(f"Unknown split {name!r}; choose 'train', 'val' or 'test'.")
        mask = (self.table["split"] == name).to_numpy()
        return replace(self, pixels=self.pixels.take(mask), table=self.table[mask].reset_index(drop=True),
                       classes=list(self.classes))

    @property
    def images(self) -> np.ndarray:
        """Every image as one ``(n, 64, 64, 3)`` uint8 array, rendered on first use.

        Example:
            >>> load_shapes_world(n=120).images.shape
            (120, 64, 64, 3)
        """
        return np.asarray(self.pixels)

    @property
    def labels(self) -> np.ndarray:
        """The class index of every image, in row order."""
        return self.table["label"].to_numpy()

    def __len__(self) -> int:
        return len(self.table)

    def to_folder(self, folder, image_format: str = "mixed") -> "Path":
        """Write the world as a user's folder would be: one sub-folder per class and a
        ``metadata.csv`` (``path`` relative to the folder, the attributes and the split).
        ``image_format`` is ``png``, ``jpeg`` or ``mixed`` (every other image a JPEG).

        Example:
            >>> import tempfile
            >>> folder = load_shapes_world(n=120).to_folder(tempfile.mkdtemp())
            >>> sorted(p.name for p in folder.iterdir())
            ['metadata.csv', 'square', 'triangle']
        """
        from pathlib import Path

        from PIL import Image

        if image_format not in ("png", "jpeg", "mixed"):
            raise InputError(f"image_format must be 'png', 'jpeg' or 'mixed'; got {image_format!r}.")
        folder = Path(folder)
        paths = []
        for i, (image, label) in enumerate(zip(self.images, self.labels)):
            jpeg = image_format == "jpeg" or (image_format == "mixed" and i % 2)
            rel = Path(self.classes[label]) / f"{i:06d}.{'jpg' if jpeg else 'png'}"
            (folder / rel.parent).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / rel, quality=95) if jpeg else Image.fromarray(image).save(folder / rel)
            paths.append(rel.as_posix())
        meta = self.table.drop(columns=["label", "shape"]).assign(path=paths)
        meta[["path"] + [c for c in meta.columns if c != "path"]].to_csv(folder / "metadata.csv", index=False)
        return folder

    def __repr__(self) -> str:
        counts = self.table["split"].value_counts().reindex(["train", "val", "test"], fill_value=0)
        parts = ", ".join(f"{k}={v}" for k, v in counts.items())
        rendering = "".join(f", {name}={value}" for name, value, usual in (
            ("shape_scale", self.shape_scale, 1.0), ("noise", self.noise, 0.0)) if value != usual)
        return f"ShapesWorld(n={len(self)}, {parts}, bias={self.bias}, seed={self.seed}{rendering})"


def assign_biased_split(
    table: pd.DataFrame,
    bias: float = 1.0,
    seed: int = 0,
    train_pool: float = 0.8,
    val_fraction: float = 0.2,
) -> pd.Series:
    """Mark rows ``train``/``val`` (biased) or ``test`` (the rest, every combination).

    ``train_pool`` of the orange triangles and green squares form the biased pool (the paper
    uses 80%). With ``bias < 1`` the minority groups, green triangles and orange squares, are
    added so that they make up ``1 - bias`` of each class in the pool. ``val_fraction`` of the
    pool is held out for model selection.

    Example:
        >>> table = sample_attributes(1200)
        >>> assign_biased_split(table).value_counts().index.tolist()
        ['test', 'train', 'val']
    """
    if not 0.5 <= bias <= 1.0:
        raise InputError(f"bias must lie in [0.5, 1.0] (1.0 is dSpritesV, 0.95 Waterbirds-like); got {bias}.")
    rng = np.random.default_rng(seed + 7919)
    split = pd.Series("test", index=table.index, dtype=object)
    pool: list[np.ndarray] = []
    for shape, major in MAJORITY_COLOR.items():
        minor = next(c for s, c in MAJORITY_COLOR.items() if s != shape)
        in_shape = table["shape"] == shape
        majority = table.index[in_shape & (table["color"] == major)].to_numpy()
        chosen = rng.permutation(majority)[: int(round(train_pool * len(majority)))]
        pool.append(chosen)
        n_minor = int(round(len(chosen) * (1.0 - bias) / bias))
        if n_minor:
            minority = table.index[in_shape & (table["color"] == minor)].to_numpy()
            if n_minor > len(minority):
                raise InputError(
                    f"Not enough {minor} {shape}s ({len(minority)}) for bias={bias}; "
                    "raise n or raise bias."
                )
            pool.append(rng.permutation(minority)[:n_minor])
    members = rng.permutation(np.concatenate(pool))
    n_val = int(round(val_fraction * len(members)))
    split[members[:n_val]] = "val"
    split[members[n_val:]] = "train"
    return split


def load_shapes_world(n: int = 10_000, bias: float = 1.0, seed: int = 0, *, shape_scale: float = 1.0,
                      noise: float = 0.0) -> ShapesWorld:
    """The shapes world with its biased split; images are rendered when first used.

    ``bias=1.0`` is the paper's dSpritesV (training only on orange triangles and green
    squares); ``bias=0.95`` leaves 5% green triangles and orange squares in training.
    ``shape_scale`` and ``noise`` make the shape harder to see (see :func:`render_shape`);
    ``load_shapes_world(**WATERBIRDS_LIKE)`` is the Waterbirds-like world, where the shape is
    the harder cue and colour the easier one, as the bird is against its background.

    Example:
        >>> world = load_shapes_world(n=1200, seed=0)
        >>> world.table.columns.tolist()
        ['color', 'shape', 'size', 'position', 'label', 'split']
        >>> world.images.shape
        (1200, 64, 64, 3)
        >>> load_shapes_world(n=1200, **WATERBIRDS_LIKE)
        ShapesWorld(n=1200, train=138, val=34, test=1028, bias=0.95, seed=0, shape_scale=0.75, noise=20.0)
    """
    if n < 100:
        raise InputError(f"n={n} is too small for a biased split; use n >= 100.")
    check_rendering(shape_scale, noise)
    table = sample_attributes(n, seed=seed)
    table["label"] = table["shape"].map({s: i for i, s in enumerate(SHAPES)}).astype(int)
    table["split"] = assign_biased_split(table, bias=bias, seed=seed)
    pixels = ShapeImages(table, seed=seed, shape_scale=shape_scale, noise=noise)
    return ShapesWorld(pixels, table, bias=bias, seed=seed, shape_scale=shape_scale, noise=noise)
