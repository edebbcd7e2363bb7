"""Rendering the shapes world's images: one shape per 64x64 image, deterministic by seed, and a
lazy array of a table's images that renders only the rows asked for.

Rendering needs nothing but numpy.
"""

from __future__ import annotations

import threading

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

_SUPERSAMPLE = 3
# Bump whenever render_shape draws other pixels for the same arguments: with the world's
# parameters it keys the cached embeddings (ShapeImages.ids), which would otherwise be stale.
RENDERER_VERSION = 1
# Random numbers one jittered row draws before any noise (colour 3, scale, x, y, angle).
_JITTER_DRAWS = 7
_DRAWN = ["color", "shape", "size", "position"]


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
    """Fraction of each pixel inside a convex, clockwise polygon (anti-aliased by supersampling).

    Only the pixels around the polygon's bounding box are sampled (nothing outside it can be
    inside), with the very sample points of the whole grid, so the result is the same."""
    s = _SUPERSAMPLE
    lo = np.clip(np.floor(vertices.min(axis=0)).astype(int) - 1, 0, size)
    hi = np.clip(np.ceil(vertices.max(axis=0)).astype(int) + 1, 0, size)
    x, y = np.meshgrid((np.arange(lo[0] * s, hi[0] * s) + 0.5) / s, (np.arange(lo[1] * s, hi[1] * s) + 0.5) / s)
    inside = np.ones_like(x, dtype=bool)
    for (x0, y0), (x1, y1) in zip(vertices, np.roll(vertices, -1, axis=0)):
        inside &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0
    coverage = np.zeros((size, size))
    h, w = hi[1] - lo[1], hi[0] - lo[0]
    coverage[lo[1]:hi[1], lo[0]:hi[0]] = inside.reshape(h, s, w, s).mean(axis=(1, 3))
    return coverage


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
    check_rendering(shape_scale, noise)
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


def check_rendering(shape_scale: float, noise: float) -> None:
    """Refuse a ``shape_scale`` outside [0.25, 1.5] or a ``noise`` outside [0, 128].

    Example:
        >>> check_rendering(1.0, 200.0)
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: noise is a pixel standard deviation in [0, 128] (0 is none); got 200.0.
    """
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


class ShapeImages:
    """The images of a world's attribute table, each rendered when asked for, exactly as
    :func:`render_table` draws it: index it like an ``(n, 64, 64, 3)`` uint8 array
    (``images[3]``, ``images[rows]``, ``np.asarray(images)``, which renders all once).

    Example:
        >>> table = sample_attributes(100, seed=2)
        >>> lazy = ShapeImages(table, seed=2, noise=10.0)
        >>> bool((lazy[[5, 99]] == render_table(table, seed=2, noise=10.0)[[5, 99]]).all())
        True
    """

    def __init__(self, table: pd.DataFrame, seed: int = 0, shape_scale: float = 1.0, noise: float = 0.0):
        check_rendering(shape_scale, noise)
        self._table = table[_DRAWN]
        self._attributes = list(self._table.itertuples(index=False, name=None))
        self.seed, self.shape_scale, self.noise = seed, shape_scale, noise
        self._rows = np.arange(len(table))  # which rows of the table these are (a subset's: some)
        self._states: list[dict] = []  # with noise: the stream's state before each row, for rows 0, 1, ... so far
        self._lock = threading.Lock()
        self._all: np.ndarray | None = None

    shape = property(lambda self: (len(self._rows), IMAGE_SIZE, IMAGE_SIZE, 3), doc="``(n, H, W, 3)``, as an array's.")
    dtype = np.dtype(np.uint8)
    ndim = 4

    def __len__(self) -> int:
        return len(self._rows)

    def _rng_before(self, row: int) -> np.random.Generator:
        """The random stream as render_table leaves it before ``row`` of the whole table."""
        rng = np.random.default_rng(self.seed)
        if not self.noise:  # a fixed count of draws per row: jump straight there
            rng.bit_generator.advance(_JITTER_DRAWS * row)
            return rng
        with self._lock:  # normal draws take a varying count of numbers: replay once, keeping each row's start
            if not self._states:
                self._states.append(rng.bit_generator.state)
            if row >= len(self._states):
                rng.bit_generator.state = self._states[-1]
                while len(self._states) <= row:
                    _skip_row(rng)
                    self._states.append(rng.bit_generator.state)
            rng.bit_generator.state = self._states[row]
        return rng

    def _render(self, row: int) -> np.ndarray:
        return render_shape(*self._attributes[row], rng=self._rng_before(row), shape_scale=self.shape_scale,
                            noise=self.noise)

    def __getitem__(self, index):
        if self._all is not None:
            return self._all[index]
        if isinstance(index, (int, np.integer)):
            return self._render(int(self._rows[index]))
        rows = self._rows[index]
        return np.stack([self._render(int(r)) for r in rows]) if len(rows) else np.empty((0, *self.shape[1:]), np.uint8)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        if self._all is None:
            whole = len(self._rows) == len(self._table) and (self._rows == np.arange(len(self._table))).all()
            self._all = (render_table(self._table, self.seed, shape_scale=self.shape_scale, noise=self.noise)
                         if whole else self[np.arange(len(self))])
        return self._all if dtype is None else self._all.astype(dtype)

    def take(self, positions) -> "ShapeImages":
        """The images at ``positions`` (indices or a boolean mask), still rendered on demand.

        Example:
            >>> len(ShapeImages(sample_attributes(10)).take(np.arange(10) < 4))
            4
        """
        subset = ShapeImages.__new__(ShapeImages)  # sharing the kept states (and their lock)
        subset.__dict__.update(self.__dict__, _rows=self._rows[positions],
                               _all=None if self._all is None else self._all[positions])
        return subset

    def ids(self) -> list[bytes]:
        """What defines each image's pixels: the renderer's version, the world's size, seed,
        rendering parameters and the row with its attributes. Equal ids mean equal pixels, so
        they key cached embeddings without a pixel drawn.

        Example:
            >>> ShapeImages(sample_attributes(3)).ids()[0][:30]
            b'shapes renderer 1, n=3, seed=0'
        """
        head = (f"shapes renderer {RENDERER_VERSION}, n={len(self._table)}, seed={self.seed}, "
                f"shape_scale={self.shape_scale!r}, noise={self.noise!r}, row=")
        return [(head + f"{r}: " + ", ".join(self._attributes[r])).encode() for r in self._rows]


def _skip_row(rng: np.random.Generator) -> None:
    """Draw what one noisy jittered row of render_table draws, without rendering it."""
    rng.random(_JITTER_DRAWS)
    rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE, 3))

