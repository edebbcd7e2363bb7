"""What the views compute for the browser: 2-D projections and JSON-ready slice records."""

from __future__ import annotations

import json
import math
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .._common import centred_scatter, project_rows, unit_rows
from ..diagnose.slices import ALL


_BLOCK = 8192  # rows at a time: a block's similarities to UMAP's fitted points


def svd_2d(*parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal axes of the rows of ``parts`` taken together (centred):
    coordinates, part after part, and explained variance shares.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> xy, share = svd_2d(rng.normal(size=(100, 5)) * [5, 2, 1, 1, 1])
        >>> xy.shape, bool(share[0] > share[1])
        ((100, 2), True)
    """
    # Eigenvectors of the d x d covariance, summed by chunks in float64: O(n d^2) time and no copy
    # of the parts (a million 512-d rows are 2 GiB as float32, 4 GiB as float64).
    parts = [np.asarray(x) for x in parts]
    n = sum(len(x) for x in parts)
    mean = sum(x.sum(axis=0, dtype=np.float64) for x in parts) / max(n, 1)
    values, vectors = np.linalg.eigh(centred_scatter(parts, mean))
    order = np.argsort(values)[::-1][:2]
    axes = vectors[:, order]
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), range(2)] < 0, -1, 1)  # a fixed sign per axis
    total = values.sum()
    share = values[order] / total if total > 0 else np.zeros(2)
    return np.concatenate([project_rows(x, mean, axes) for x in parts]), share


UMAP_NEIGHBOURS = 10  # fitted points that place each other point


def umap_2d(x: np.ndarray, seed: int = 0, fit_points: int | None = None,
            progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, str]:
    """UMAP (cosine metric) to 2-D, seeded, of every row of ``x``; and one line saying how.

    UMAP is fitted on at most ``fit_points`` rows (a seeded random sample; all rows when there
    are no more). Each other row is placed at the mean of the UMAP positions of its 10 most
    cosine-similar fitted rows, weighted by similarity: O(n x fit_points x d), a few seconds a
    million rows, where UMAP's own ``transform`` optimises every new point and takes minutes.
    ``progress`` hears the share of rows placed.

    Example (numba compiles UMAP for about 20 s on its first use in a process):
        >>> xy, how = umap_2d(np.random.default_rng(0).normal(size=(90, 4)), fit_points=60)
        >>> xy.shape, how
        ((90, 2), 'UMAP fit on 60 of 90 points; the other 30 placed among their 10 nearest fitted points')
    """
    import umap  # slow to import (numba); only when asked for

    x = np.asarray(x, dtype=np.float32)
    n = len(x)
    fit = np.arange(n)
    if fit_points is not None and n > fit_points:
        fit = np.sort(np.random.default_rng(seed).choice(n, fit_points, replace=False))
    n_neighbors = int(min(15, max(2, len(fit) - 1)))
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=0.1, metric="cosine",
                        random_state=seed, n_jobs=1)  # seeded UMAP runs on one thread anyway
    fitted = reducer.fit_transform(x[fit]).astype(np.float32)
    if len(fit) == n:
        return fitted, f"UMAP of all {n:,} points"
    xy = np.empty((n, 2), np.float32)
    xy[fit] = fitted
    rest = np.setdiff1d(np.arange(n), fit)
    xy[rest] = _place(unit_rows(x[rest]), unit_rows(x[fit]), fitted, progress)
    return xy, (f"UMAP fit on {len(fit):,} of {n:,} points; the other {len(rest):,} placed among their "
                f"{min(UMAP_NEIGHBOURS, len(fit))} nearest fitted points")


def _place(rows: np.ndarray, anchors: np.ndarray, anchor_xy: np.ndarray,
           progress: Callable[[float], None] | None) -> np.ndarray:
    """Each row at the similarity-weighted mean position of its most cosine-similar anchors."""
    k = min(UMAP_NEIGHBOURS, len(anchors))
    out = np.empty((len(rows), 2), np.float32)
    for start in range(0, len(rows), _BLOCK):
        sim = rows[start:start + _BLOCK] @ anchors.T
        near = np.argpartition(-sim, k - 1, axis=1)[:, :k] if k < len(anchors) else np.broadcast_to(
            np.arange(k), (len(sim), k))
        weight = np.maximum(np.take_along_axis(sim, near, axis=1), 0) + 1e-6
        out[start:start + _BLOCK] = (weight[:, :, None] * anchor_xy[near]).sum(axis=1) / weight.sum(axis=1, keepdims=True)
        if progress is not None:
            progress(min(1.0, (start + _BLOCK) / len(rows)))
    return out


def slice_key(values: Sequence[str]) -> str:
    """A stable key for a slice: its values, one per attribute type, as JSON.

    Example:
        >>> slice_key(["green", "*"])
        '["green", "*"]'
    """
    return json.dumps([str(v) for v in values])


def _number(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def slice_records(frame: pd.DataFrame, types: Sequence[str]) -> list[dict]:
    """Rows of a slice table as JSON-ready records with a key, the values and the scores.

    Example:
        >>> df = pd.DataFrame({"color": ["red"], "text_prob": [0.2], "text_acc": [0.0], "n_prompts": [4],
        ...                    "image_acc": [float("nan")], "n_images": [0]})
        >>> slice_records(df, ["color", "shape"])[0]["values"]
        {'color': 'red', 'shape': '*'}
    """
    records = []
    for row in frame.to_dict("records"):
        values = {t: str(row.get(t, ALL)) if row.get(t) is not None else ALL for t in types}
        records.append({
            "key": slice_key(values.values()),
            "values": values,
            "text_prob": _number(row.get("text_prob")),
            "text_acc": _number(row.get("text_acc")),
            "image_acc": _number(row.get("image_acc")),
            "n_images": int(row.get("n_images", 0) or 0),
            "n_prompts": int(row.get("n_prompts", 0) or 0),
        })
    return records
