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
# Bump whenever the renderer draws other pixels for the same arguments: with the world's
# parameters it keys the cached embeddings (ShapeImages.ids), which would otherwise be stale.
RENDERER_VERSION = 1
# The jitter one row draws before any noise, in this order: colour (3 channels), scale, x, y, angle.
_JITTER_LOW = np.array([-18.0, -18.0, -18.0, 0.9, -3.0, -3.0, -15.0])
_JITTER_HIGH = np.array([18.0, 18.0, 18.0, 1.1, 3.0, 3.0, 15.0])
_JITTER_DRAWS = len(_JITTER_LOW)
_DRAWN = ["color", "shape", "size", "position"]
# Vertex angles, clockwise on screen; the triangle repeats its last vertex so that every shape has
# four: the null edge it adds holds every point, so the triangle's pixels are unchanged.
_ANGLES = {"triangle": np.deg2rad([-90.0, 30.0, 150.0, 150.0]), "square": np.deg2rad([-135.0, -45.0, 45.0, 135.0])}
_SIDE_PER_RADIUS = {"triangle": np.sqrt(3.0), "square": np.sqrt(2.0)}
# Rows drawn at once, similar in size: their supersampled windows stay a few MB.
_CHUNK = 64
# Rows of a table drawn per call: a noisy block's noise fields are 100 kB of float64 a row.
_TABLE_BLOCK = 1024


def draw_rows(attributes: pd.DataFrame | dict[str, np.ndarray], jitter: np.ndarray | None, noise: np.ndarray | None,
              shape_scale: float = 1.0) -> np.ndarray:
    """Draw rows of ``color, shape, size, position`` (a table, or a dict of those columns) into
    ``(k, 64, 64, 3)`` uint8 images, all at once.

    ``jitter`` holds each row's random draws (``(k, 7)``: colour, scale, x, y, angle; ``None``:
    none), ``noise`` each row's pixel noise (``(k, 64, 64, 3)``; ``None``: none). Every pixel is the
    fraction of its 3x3 sample points inside the polygon times the colour, plus the noise, rounded:
    the very numbers one row at a time would give, in one pass over similar rows.

    Example:
        >>> rows = pd.DataFrame({"color": ["red"], "shape": ["square"], "size": ["small"], "position": ["upper left"]})
        >>> draw_rows(rows, None, None)[0, 16, 16].tolist()
        [220, 30, 30]
    """
    values = {name: np.asarray(attributes[name], dtype=object) for name in _DRAWN}
    for name, allowed in (("color", COLORS), ("shape", SHAPES), ("size", SIZES), ("position", POSITIONS)):
        unknown = set(values[name]).difference(allowed)
        if unknown:
            raise InputError(f"Unknown {name} {sorted(unknown, key=str)[0]!r}; choose one of {list(allowed)}.")
    k = len(values["color"])
    rgb = np.array([COLORS[c] for c in values["color"]], dtype=float).reshape(k, 3)
    side = np.array([SIZES[s] for s in values["size"]], dtype=float) * shape_scale
    centre = np.array([POSITIONS[p] for p in values["position"]], dtype=float).reshape(k, 2)
    cx, cy, angle = centre[:, 0], centre[:, 1], np.zeros(k)
    if jitter is not None:
        rgb = np.clip(rgb + jitter[:, :3], 0, 255)
        side, cx, cy, angle = side * jitter[:, 3], cx + jitter[:, 4], cy + jitter[:, 5], jitter[:, 6]
    vx, vy = np.empty((k, 4)), np.empty((k, 4))
    for shape in SHAPES:
        rows = values["shape"] == shape
        radius = (side[rows] / _SIDE_PER_RADIUS[shape])[:, None]
        theta = _ANGLES[shape] + np.deg2rad(angle[rows])[:, None]
        vx[rows], vy[rows] = cx[rows, None] + radius * np.cos(theta), cy[rows, None] + radius * np.sin(theta)
    # Each row's bounding box, a pixel wider: no sample point outside it lies in the polygon.
    lo = np.clip(np.floor(np.stack([vx.min(1), vy.min(1)], 1)).astype(int) - 1, 0, IMAGE_SIZE)
    hi = np.clip(np.ceil(np.stack([vx.max(1), vy.max(1)], 1)).astype(int) + 1, 0, IMAGE_SIZE)
    images = np.zeros((k, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    order = np.argsort(np.prod(hi - lo, axis=1), kind="stable")
    for chunk in (order[i: i + _CHUNK] for i in range(0, k, _CHUNK)):
        images[chunk] = _draw_chunk(vx[chunk], vy[chunk], lo[chunk], hi[chunk], rgb[chunk],
                                    None if noise is None else noise[chunk])
    return images


def _draw_chunk(vx, vy, lo, hi, rgb, noise) -> np.ndarray:
    """The images of a few rows, each sampled in a window as large as the largest box among them
    (moved inside the image where it would leave it), at the sample points of the whole grid."""
    s, n = _SUPERSAMPLE, len(vx)
    w, h = (hi - lo).max(axis=0) if n else (0, 0)
    origin = np.minimum(lo, [IMAGE_SIZE - w, IMAGE_SIZE - h])
    x = (origin[:, :1] * s + np.arange(w * s) + 0.5) / s
    y = (origin[:, 1:] * s + np.arange(h * s) + 0.5) / s
    inside = np.ones((n, h * s, w * s), dtype=bool)
    for e, f in ((0, 1), (1, 2), (2, 3), (3, 0)):
        x0, y0, x1, y1 = vx[:, [e]], vy[:, [e]], vx[:, [f]], vy[:, [f]]
        # (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0, as a comparison of the two products
        inside &= ((x1 - x0) * (y - y0))[:, :, None] >= ((y1 - y0) * (x - x0))[:, None, :]
    coverage = inside.reshape(n, h, s, w, s).sum(axis=(2, 4)) / (s * s)
    where = (np.arange(n)[:, None, None], origin[:, 1, None, None] + np.arange(h)[:, None],
             origin[:, 0, None, None] + np.arange(w))
    painted = coverage[..., None] * rgb[:, None, None, :]
    if noise is None:
        images = np.zeros((n, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
        images[where] = np.clip(np.round(painted), 0, 255)
        return images
    noise = noise.copy()
    noise[where] += painted
    return np.clip(np.round(noise), 0, 255).astype(np.uint8)


def _jitter_and_noise(rng: np.random.Generator, k: int, jitter: bool, noise: float):
    """The next ``k`` rows' draws from ``rng``, row by row as rendering one at a time takes them."""
    if not noise:
        return (rng.uniform(_JITTER_LOW, _JITTER_HIGH, (k, _JITTER_DRAWS)) if jitter else None), None
    draws, fields = np.empty((k, _JITTER_DRAWS)), np.empty((k, IMAGE_SIZE, IMAGE_SIZE, 3))
    for i in range(k):
        if jitter:
            draws[i] = rng.uniform(_JITTER_LOW, _JITTER_HIGH)
        fields[i] = rng.normal(0.0, noise, (IMAGE_SIZE, IMAGE_SIZE, 3))
    return (draws if jitter else None), fields


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
    check_rendering(shape_scale, noise)
    row = {"color": [color], "shape": [shape], "size": [size], "position": [position]}
    draws, fields = _jitter_and_noise(rng if rng is not None else np.random.default_rng(0), 1, jitter, noise)
    return draw_rows(row, draws, fields, shape_scale)[0]


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
    check_rendering(shape_scale, noise)
    rng = np.random.default_rng(seed)
    images = np.empty((len(table), IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for start in range(0, len(table), _TABLE_BLOCK):  # in blocks: a noisy block's fields are float64
        rows = table.iloc[start: start + _TABLE_BLOCK]
        images[start: start + len(rows)] = draw_rows(rows, *_jitter_and_noise(rng, len(rows), jitter, noise), shape_scale)
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
        self._columns = {name: self._table[name].to_numpy(dtype=object) for name in _DRAWN}
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

    def _draw(self, rows: np.ndarray) -> np.ndarray:
        """Rows of the whole table, drawn at once, each with the draws render_table gives it."""
        if not len(rows):
            return np.empty((0, *self.shape[1:]), np.uint8)
        if self.noise:  # each row's draws start where the replayed stream left it
            draws = [_jitter_and_noise(self._rng_before(int(r)), 1, True, self.noise) for r in rows]
            jitter, fields = np.concatenate([d[0] for d in draws]), np.concatenate([d[1] for d in draws])
        else:  # a fixed count of draws per row: a run of consecutive rows is one draw
            unique, back = np.unique(rows, return_inverse=True)
            jitter, fields = np.empty((len(unique), _JITTER_DRAWS)), None
            for run in np.split(np.arange(len(unique)), np.flatnonzero(np.diff(unique) != 1) + 1):
                jitter[run] = _jitter_and_noise(self._rng_before(int(unique[run[0]])), len(run), True, 0.0)[0]
            jitter = jitter[back.ravel()]
        return draw_rows({name: column[rows] for name, column in self._columns.items()}, jitter, fields,
                         self.shape_scale)

    def __getitem__(self, index):
        if self._all is not None:
            return self._all[index]
        if isinstance(index, (int, np.integer)):
            return self._draw(self._rows[[index]])[0]
        return self._draw(np.asarray(self._rows[index], dtype=int).reshape(-1))

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

