"""What the views compute for the browser: 2-D projections and JSON-ready slice records."""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..diagnose.slices import ALL


def svd_2d(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first two principal axes of ``x`` (centred): coordinates and explained variance shares.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> xy, share = svd_2d(rng.normal(size=(100, 5)) * [5, 2, 1, 1, 1])
        >>> xy.shape, bool(share[0] > share[1])
        ((100, 2), True)
    """
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=0)
    # Eigenvectors of the d x d covariance: cheap for 50,000 x 512 where a full SVD is not.
    values, vectors = np.linalg.eigh(centred.T @ centred)
    order = np.argsort(values)[::-1][:2]
    axes = vectors[:, order]
    axes *= np.where(axes[np.abs(axes).argmax(axis=0), range(2)] < 0, -1, 1)  # a fixed sign per axis
    total = values.sum()
    share = values[order] / total if total > 0 else np.zeros(2)
    return (centred @ axes).astype(np.float32), share


def umap_2d(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """UMAP (cosine metric) to 2-D, seeded.

    Example (numba compiles UMAP for about 20 s on its first use in a process):
        >>> umap_2d(np.random.default_rng(0).normal(size=(60, 4))).shape
        (60, 2)
    """
    import umap  # slow to import (numba); only when asked for

    n_neighbors = int(min(15, max(2, len(x) - 1)))
    reducer = umap.UMAP(n_components=2, n_neighbors=n_neighbors, min_dist=0.1, metric="cosine",
                        random_state=seed, n_jobs=1)  # seeded UMAP runs on one thread anyway
    return reducer.fit_transform(np.asarray(x, dtype=np.float32)).astype(np.float32)


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
