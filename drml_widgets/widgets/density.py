"""The gap plot's density view, computed in the kernel: 2-D histograms per modality, and the points
inside a box or lasso drawn over them (a page that holds a sample of the points cannot say which
of the others a selection covers; the kernel, which holds them all, can).

Points come as the coordinates the page draws (see :func:`~drml_widgets.widgets.binary.dequantise`),
so the kernel and the page agree on which side of a selection's edge a point lies.
"""

from __future__ import annotations

import numpy as np

from ..errors import WidgetError
from .binary import QUANT_LEVELS

MAX_VERTICES = 5_000  # a lasso drawn by hand has a few hundred
_RASTER = 512  # cells per side of the grid that sorts points into surely inside, surely outside and near the edge
_FIX = "Fix: select again in the plot."


def bin_density(steps: np.ndarray, modality: np.ndarray, codes: np.ndarray, n_categories: int,
                bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Point counts on a ``bins`` x ``bins`` grid over the extent, one grid per modality (0
    images, 1 prompts), and the most common category code in each cell (0 where the cell is
    empty). Points come as their uint16 steps across the extent (:func:`~drml_widgets.widgets.binary.quantise`),
    binned in integers with no coordinate made: step ``q`` lies in cell ``q * bins // 65535``, as
    its coordinate on the page does. Row ``i`` of a grid is the ``i``-th band from the bottom.

    Example:
        >>> steps = np.array([[6554, 6554], [13107, 6554], [58982, 58982], [58982, 58982]], np.uint16)
        >>> counts, major = bin_density(steps, np.array([0, 0, 0, 1]), np.array([1, 1, 0, 2]), 3, 2)
        >>> counts.tolist()
        [[[2, 0], [0, 1]], [[0, 0], [0, 1]]]
        >>> int(major[0, 0, 0]), int(major[1, 1, 1])
        (1, 2)
    """
    if bins < 1 or n_categories < 1:
        raise WidgetError(f"A density view needs at least one bin and one category (got {bins} and {n_categories}).")
    # uint32 holds 65,535 x bins for up to 65,537 bins; the last step falls in the last cell.
    col, row = (np.minimum(np.asarray(steps[:, k], np.uint32) * bins // QUANT_LEVELS, bins - 1) for k in (0, 1))
    cell = np.asarray(modality, np.int64) * bins * bins + row.astype(np.int64) * bins + col
    counts = np.bincount(cell, minlength=2 * bins * bins).astype(np.uint32)
    by_code = np.bincount(cell * n_categories + np.asarray(codes, np.int64), minlength=2 * bins * bins * n_categories)
    major = by_code.reshape(-1, n_categories).argmax(axis=1).astype(np.uint8)
    return counts.reshape(2, bins, bins), major.reshape(2, bins, bins)


def points_in_box(xy: np.ndarray, x_range, y_range) -> np.ndarray:
    """Numbers of the points inside a box (edges included), sorted.

    Example:
        >>> points_in_box(np.array([[0, 0], [1, 1], [2, 2]]), [0.5, 2], [0, 1.5]).tolist()
        [1]
    """
    (xa, xb), (ya, yb) = sorted(_pair(x_range, "x range")), sorted(_pair(y_range, "y range"))
    x, y = xy[:, 0], xy[:, 1]
    return np.flatnonzero((x >= xa) & (x <= xb) & (y >= ya) & (y <= yb)).astype(np.uint32)


def points_in_lasso(xy: np.ndarray, xs, ys) -> np.ndarray:
    """Numbers of the points inside a lasso (a closed polygon; even-odd rule, as plotly's own
    lasso), sorted. Exact, and fast on a million points: a coarse grid over the lasso's bounding
    box settles every point whose cell no edge crosses; only points near an edge are tested
    against the edges.

    Example:
        >>> square = [0, 2, 2, 0], [0, 0, 2, 2]
        >>> points_in_lasso(np.array([[1, 1], [3, 1], [1.9, 1.9], [-1, 0]]), *square).tolist()
        [0, 2]
    """
    px, py = _polygon(xs, ys)
    xy = np.asarray(xy)
    x, y = xy[:, 0], xy[:, 1]
    near = np.flatnonzero((x >= px.min()) & (x <= px.max()) & (y >= py.min()) & (y <= py.max()))
    if not len(near):
        return np.empty(0, np.uint32)
    cx, cy = x[near].astype(np.float64), y[near].astype(np.float64)
    width, height = px.max() - px.min(), py.max() - py.min()
    if width <= 0 or height <= 0:  # a lasso without area holds nothing
        return np.empty(0, np.uint32)
    inside_cell, edge_cell = _raster(px, py, _RASTER)
    col = np.clip(((cx - px.min()) / width * _RASTER).astype(np.int64), 0, _RASTER - 1)
    row = np.clip(((cy - py.min()) / height * _RASTER).astype(np.int64), 0, _RASTER - 1)
    inside = inside_cell[row, col]
    check = np.flatnonzero(edge_cell[row, col])
    inside[check] = _even_odd_by_band(cx[check], cy[check], row[check], px, py, height / _RASTER)
    return near[inside].astype(np.uint32)


def _pair(value, what: str) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise WidgetError(f"The browser sent a box selection whose {what} is not two numbers. {_FIX}")
    out = _numbers(value, what)
    return float(out[0]), float(out[1])


def _numbers(value, what: str) -> np.ndarray:
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                        for v in value):
        raise WidgetError(f"The browser sent a selection whose {what} is not a list of numbers. {_FIX}")
    out = np.asarray(value, dtype=np.float64)
    if not np.isfinite(out).all():
        raise WidgetError(f"The browser sent a selection whose {what} holds a number that is not finite. {_FIX}")
    return out


def _polygon(xs, ys) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(xs, (list, tuple)) or not isinstance(ys, (list, tuple)) or len(xs) != len(ys):
        raise WidgetError(f"The browser sent a lasso whose x and y lists differ. {_FIX}")
    if not 3 <= len(xs) <= MAX_VERTICES:
        raise WidgetError(f"The browser sent a lasso of {len(xs):,} corners; a lasso has 3 to {MAX_VERTICES:,}. {_FIX}")
    return _numbers(xs, "lasso x"), _numbers(ys, "lasso y")


def _even_odd(x: np.ndarray, y: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Whether each point is inside the polygon: an odd number of its edges cross the ray to the point's right."""
    inside = np.zeros(len(x), bool)
    if not len(x):
        return inside
    for xa, ya, xb, yb in zip(px, py, np.roll(px, 1), np.roll(py, 1)):
        spans = (ya > y) != (yb > y)
        if spans.any():
            hit = spans.copy()
            hit[spans] = x[spans] < (xb - xa) * (y[spans] - ya) / (yb - ya) + xa
            inside ^= hit
    return inside


def _even_odd_by_band(x, y, band, px, py, h) -> np.ndarray:
    """:func:`_even_odd` for points in horizontal bands of height ``h`` from the polygon's lowest
    corner (``band`` each): a point is tested only against the edges that reach its band."""
    xa, ya, xb, yb = px, py, np.roll(px, 1), np.roll(py, 1)
    y0 = py.min()
    lo = np.floor((np.minimum(ya, yb) - y0) / h).astype(np.int64) - 1
    hi = np.floor((np.maximum(ya, yb) - y0) / h).astype(np.int64) + 1
    spans = hi - lo + 1  # (band, edge) pairs, grouped by band
    edge_of = np.repeat(np.arange(len(px)), spans)
    band_of = np.repeat(lo, spans) + np.arange(len(edge_of)) - np.repeat(np.cumsum(spans) - spans, spans)
    keep = (band_of >= 0) & (band_of < _RASTER)
    order = np.argsort(band_of[keep], kind="stable")
    edges, bands = edge_of[keep][order], band_of[keep][order]
    start = np.searchsorted(bands, np.arange(_RASTER))
    count = np.searchsorted(bands, np.arange(_RASTER), side="right") - start
    per_point = count[band]
    if per_point.sum() > len(x) * len(px) // 4:  # edges that each reach most bands (a scribble): test all
        return _even_odd(x, y, px, py)
    point = np.repeat(np.arange(len(x)), per_point)
    edge = edges[np.repeat(start[band], per_point) + np.arange(len(point)) - np.repeat(np.cumsum(per_point) - per_point, per_point)]
    px_, py_ = x[point], y[point]
    ea, eb = ya[edge], yb[edge]
    with np.errstate(divide="ignore", invalid="ignore"):
        hit = ((ea > py_) != (eb > py_)) & (px_ < (xb[edge] - xa[edge]) * (py_ - ea) / (eb - ea) + xa[edge])
    return (np.bincount(point, weights=hit, minlength=len(x)) % 2).astype(bool)


def _raster(px: np.ndarray, py: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Over an n x n grid on the polygon's bounding box: whether each cell's centre is inside
    (even-odd), and whether an edge may pass through the cell (those cells' points need the exact test)."""
    x0, y0 = px.min(), py.min()
    w, h = (px.max() - x0) / n, (py.max() - y0) / n
    # Even-odd at every cell centre: per row, count the edge crossings to the right of each centre.
    yc = y0 + (np.arange(n) + 0.5) * h
    xa, ya, xb, yb = px, py, np.roll(px, 1), np.roll(py, 1)
    spans = (ya[None, :] > yc[:, None]) != (yb[None, :] > yc[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        cross = (xb - xa)[None, :] * (yc[:, None] - ya[None, :]) / (yb - ya)[None, :] + xa[None, :]
    rows, edges = np.nonzero(spans)
    # A crossing at x is right of the centres of the columns c with x0 + (c + 0.5) w < x.
    first_right = np.clip(np.ceil((cross[rows, edges] - x0) / w - 0.5), 0, n).astype(np.int64)
    count = np.zeros((n, n + 1), np.int64)
    np.add.at(count, (rows, np.zeros_like(first_right)), 1)
    np.add.at(count, (rows, first_right), -1)
    inside = (np.cumsum(count, axis=1)[:, :n] % 2).astype(bool)
    # Cells an edge passes through: points along every edge at most half a cell apart, and their neighbours.
    samples = np.ceil(2 * np.hypot((xb - xa) / w, (yb - ya) / h)).astype(np.int64) + 2  # length in cells, twice
    which = np.repeat(np.arange(len(px)), samples)
    t = (np.arange(len(which)) - np.repeat(np.cumsum(samples) - samples, samples)) / (samples - 1)[which]
    sx, sy = xa[which] + t * (xb - xa)[which], ya[which] + t * (yb - ya)[which]
    col = np.clip(((sx - x0) / w).astype(np.int64), 0, n - 1)
    row = np.clip(((sy - y0) / h).astype(np.int64), 0, n - 1)
    edge = np.zeros((n + 2, n + 2), bool)
    for dr in (0, 1, 2):
        for dc in (0, 1, 2):
            edge[row + dr, col + dc] = True
    return inside, edge[1:-1, 1:-1]
