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

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "pink": (255, 120, 190),
    "orange": (255, 140, 0),
    "green": (30, 170, 40),
    "cyan": (0, 205, 220),
    "blue": (40, 60, 235),
}
SHAPES = ("triangle", "square")
SIZES: dict[str, float] = {"small": 11.0, "medium": 17.0, "large": 24.0}
POSITIONS: dict[str, tuple[float, float]] = {
    "upper left": (16.0, 16.0),
    "upper right": (48.0, 16.0),
    "lower left": (16.0, 48.0),
    "lower right": (48.0, 48.0),
}
IMAGE_SIZE = 64
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "color": tuple(COLORS),
    "shape": SHAPES,
    "size": tuple(SIZES),
    "position": tuple(POSITIONS),
}
# The shortcut the biased split plants: each class paired with one colour.
MAJORITY_COLOR = {"triangle": "orange", "square": "green"}
# Waterbirds-like: rare minority groups (5%) and, as with a bird against a large background, the
# class cue harder to see than the spurious one: shapes at 3/4 size under pixel noise, so their
# outline is ambiguous while their colour stays plain. Pass as load_shapes_world(**WATERBIRDS_LIKE).
WATERBIRDS_LIKE: dict[str, float] = {"bias": 0.95, "shape_scale": 0.75, "noise": 20.0}

_SUPERSAMPLE = 3


def _polygon(shape: str, side: float, angle: float, cx: float, cy: float) -> np.ndarray:
    if shape == "triangle":
        radius = side / np.sqrt(3.0)
        base = np.deg2rad([-90.0, 30.0, 150.0])
    else:
        radius = side / np.sqrt(2.0)
        base = np.deg2rad([-135.0, -45.0, 45.0, 135.0])
    theta = base + np.deg2rad(angle)
    return np.stack([cx + radius * np.cos(theta), cy + radius * np.sin(theta)], axis=1)


def _coverage(vertices: np.ndarray, size: int) -> np.ndarray:
    """Fraction of each pixel inside a convex, clockwise polygon (anti-aliased by supersampling)."""
    s = _SUPERSAMPLE
    grid = (np.arange(size * s) + 0.5) / s
    x, y = np.meshgrid(grid, grid)
    inside = np.ones_like(x, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        inside &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0
    return inside.reshape(size, s, size, s).mean(axis=(1, 3))


def render_shape(
    color: str,
    shape: str,
    size: str,
    position: str,
    rng: np.random.Generator | None = None,
    jitter: bool = True,
    shape_scale: float = 1.0,
    noise: float = 0.0,
) -> np.ndarray:
    """Render one 64x64 RGB uint8 image of a coloured shape on a black background.

    Jitter varies colour (+-18 per channel), scale (0.9-1.1), position (+-3 px) and rotation
    (+-15 degrees), drawn from ``rng``. ``shape_scale`` multiplies the size's side length;
    ``noise`` adds Gaussian pixel noise of that standard deviation (0-255 scale), also from ``rng``.

    Example:
        >>> img = render_shape("orange", "triangle", "large", "upper left", jitter=False)
        >>> img.shape, img.dtype
        ((64, 64, 3), dtype('uint8'))
    """
    for name, value, allowed in (
        ("color", color, COLORS),
        ("shape", shape, SHAPES),
        ("size", size, SIZES),
        ("position", position, POSITIONS),
    ):
        if value not in allowed:
            raise InputError(f"Unknown {name} {value!r}; choose one of {list(allowed)}.")
    _check_rendering(shape_scale, noise)
    rng = rng if rng is not None else np.random.default_rng(0)
    rgb = np.array(COLORS[color], dtype=float)
    side = SIZES[size] * shape_scale
    cx, cy = POSITIONS[position]
    angle = 0.0
    if jitter:
        rgb = np.clip(rgb + rng.uniform(-18, 18, size=3), 0, 255)
        side *= rng.uniform(0.9, 1.1)
        cx += rng.uniform(-3, 3)
        cy += rng.uniform(-3, 3)
        angle = rng.uniform(-15, 15)
    image = _coverage(_polygon(shape, side, angle, cx, cy), IMAGE_SIZE)[..., None] * rgb
    if noise:
        image += rng.normal(0.0, noise, image.shape)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def _check_rendering(shape_scale: float, noise: float) -> None:
    if not 0.25 <= shape_scale <= 1.5:
        raise InputError(f"shape_scale must lie in [0.25, 1.5] (1.0 is the usual size); got {shape_scale}.")
    if not 0.0 <= noise <= 128.0:
        raise InputError(f"noise is a pixel standard deviation in [0, 128] (0 is none); got {noise}.")


def sample_attributes(n: int, seed: int = 0) -> pd.DataFrame:
    """Draw ``n`` rows of uniformly random attributes (colour, shape, size, position).

    Example:
        >>> sample_attributes(3, seed=1).columns.tolist()
        ['color', 'shape', 'size', 'position']
    """
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {name: np.asarray(values, dtype=object)[rng.integers(0, len(values), n)]
         for name, values in ATTRIBUTES.items()}
    )


def render_table(table: pd.DataFrame, seed: int = 0, jitter: bool = True, shape_scale: float = 1.0,
                 noise: float = 0.0) -> np.ndarray:
    """Render every row of an attribute table into an ``(n, 64, 64, 3)`` uint8 array
    (``shape_scale`` and ``noise`` as in :func:`render_shape`).

    Example:
        >>> render_table(sample_attributes(2)).shape
        (2, 64, 64, 3)
    """
    missing = [c for c in ("color", "shape", "size", "position") if c not in table.columns]
    if missing:
        raise InputError(f"The table lacks columns {missing}; it needs color, shape, size, position.")
    rng = np.random.default_rng(seed)
    images = np.empty((len(table), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i, row in enumerate(table[["color", "shape", "size", "position"]].itertuples(index=False)):
        images[i] = render_shape(*row, rng=rng, jitter=jitter, shape_scale=shape_scale, noise=noise)
    return images


@dataclass(repr=False)
class ShapesWorld:
    """Images of the shapes world plus their attribute table.

    ``table`` has one row per image with ``color, shape, size, position, label, split``;
    ``label`` indexes ``classes``. ``split`` is ``train`` and ``val`` (the biased split) or
    ``test`` (every combination).
    """

    images: np.ndarray
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
        return replace(self, images=self.images[mask], table=self.table[mask].reset_index(drop=True),
                       classes=list(self.classes))

    @property
    def labels(self) -> np.ndarray:
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
    """Render the shapes world with its biased split.

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
    _check_rendering(shape_scale, noise)
    table = sample_attributes(n, seed=seed)
    table["label"] = table["shape"].map({s: i for i, s in enumerate(SHAPES)}).astype(int)
    table["split"] = assign_biased_split(table, bias=bias, seed=seed)
    images = render_table(table, seed=seed, shape_scale=shape_scale, noise=noise)
    return ShapesWorld(images=images, table=table, bias=bias, seed=seed, shape_scale=shape_scale, noise=noise)
