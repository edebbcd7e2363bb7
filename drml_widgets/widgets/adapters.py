"""What the views need from a session that the Session API does not give directly.

Each function here is a candidate for a Session method; they use only public attributes.
"""

from __future__ import annotations

import json
import math
from typing import Sequence

import numpy as np
import pandas as pd

from ..diagnose.gap import GapCloser, GapStats, gap_stats
from ..diagnose.slices import ALL
from ..prompts.generate import render


def split_mask(session, name: str) -> np.ndarray:
    """Rows of the image table in split ``name`` (every row when the table has no split).

    Example:
        >>> class S: table = pd.DataFrame({"split": ["train", "test"]})
        >>> split_mask(S(), "test").tolist()
        [False, True]
    """
    if "split" not in session.table.columns:
        return np.ones(len(session.table), dtype=bool)
    return (session.table["split"] == name).to_numpy()


def caption_embeddings(session, mask: np.ndarray) -> np.ndarray:
    """One caption per selected image (its attributes in the session's last template), embedded
    once per distinct caption: a table of 10,000 images has only a few dozen distinct captions.

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False, train=False)
        >>> caption_embeddings(s, split_mask(s, "test")).shape[1]
        64
    """
    types = [t for t in session.attributes.types if t in session.table.columns]
    rows = session.table.loc[mask, types].astype(str).to_dict("records")
    texts = [render(session.spec.templates[-1], {t: session.attributes.phrase(t, r[t]) for t in types}) for r in rows]
    unique, inverse = np.unique(np.array(texts, dtype=object), return_inverse=True)
    return session.encoder.encode_texts(list(unique))[inverse]


def gap_summary(session, close_gap: bool = False) -> GapStats:
    """The four gap statistics between test images and their captions, optionally after closing
    the gap: each modality centred on its own mean over these very pairs, then renormalised, which
    is what "closing" means for the picture (the session's head uses means of its training data).

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False, train=False)
        >>> raw, closed = gap_summary(s), gap_summary(s, close_gap=True)
        >>> def magnitude(g): return g.summary.query("statistic == 'magnitude' and level == 'pair'")["mean"].item()
        >>> magnitude(closed) < magnitude(raw)
        True
    """
    test = split_mask(session, "test")
    if not test.any():
        test = np.ones(len(session.table), dtype=bool)
    images, captions = session.image_emb[test], caption_embeddings(session, test)
    if close_gap:
        closer = GapCloser.fit(images, captions)
        images, captions = closer.transform(images, "image"), closer.transform(captions, "text")
    labels = session.labels[test]
    return gap_stats(images, captions, labels, labels)


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


def rows_in_slice(frame: pd.DataFrame, values: dict) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` (image table or prompts) in a slice; ``*`` is any.

    Example:
        >>> rows_in_slice(pd.DataFrame({"color": ["red", "blue"]}), {"color": "red", "shape": "*"}).tolist()
        [True, False]
    """
    mask = np.ones(len(frame), dtype=bool)
    for k, v in values.items():
        if v == ALL:
            continue
        if k not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        mask &= (frame[k].astype(str) == str(v)).to_numpy()
    return mask
