"""Modality-gap geometry (DrML, paper 000, section 2.1 and table 1) and closing the gap.

All statistics are on L2-normalised embeddings. With ``g = x - y`` for paired image ``x`` and
text ``y`` and ``g' = E[g] / |E[g]|``:

- magnitude: ``|g|``; direction: ``cos(g, E[g])`` (both paired and class-level);
- orthogonality: ``cos(x - E[x], E[g])`` over images (and texts);
- centre: the coordinates of ``E[x - (x . g') g']``, which should sit near 0.

:class:`GapAxes` is the plane in which the gap is seen: ``g'`` across, and the first principal
component of the embeddings orthogonal to it up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._common import centred_scatter, column_mean, group_means, project_rows, row_chunks, unit_rows
from ..errors import EmbeddingError, InputError
from .validate import check_embeddings, check_labels


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return unit_rows(a) @ unit_rows(b)


def _pair_values(x: np.ndarray, y: np.ndarray) -> tuple[list[tuple[str, str, np.ndarray]], np.ndarray]:
    """The per-pair statistics of ``gap_stats`` in two passes over row chunks (means, then
    cosines), never holding an (n, d) temporary; means are summed in float64. The centre is
    ``E[x] - E[x . g'] g'``, the mean of the images with their gap component removed."""
    x_mean, y_mean = column_mean(x), column_mean(y)
    mean_gap = x_mean - y_mean
    unit_gap = unit_rows(mean_gap)
    n = len(x)
    magnitude, direction, ortho_x, ortho_y = (np.empty(n, np.float32) for _ in range(4))
    along = 0.0
    for part in row_chunks(n):
        g = x[part] - y[part]
        magnitude[part] = np.linalg.norm(g, axis=1)
        direction[part] = _cos(g, mean_gap)
        ortho_x[part] = _cos(x[part] - x_mean, mean_gap)
        ortho_y[part] = _cos(y[part] - y_mean, mean_gap)
        along += float((x[part] @ unit_gap).astype(np.float64).sum())
    return [("magnitude", "pair", magnitude), ("direction", "pair", direction),
            ("orthogonality", "image", ortho_x), ("orthogonality", "text", ortho_y),
            ("center", "image", x_mean - np.float32(along / n) * unit_gap)], mean_gap


@dataclass(repr=False)
class GapStats:
    """The four gap statistics: ``summary`` (mean and std per statistic and level) and
    ``distributions`` (every per-item value, long format, for plotting)."""

    summary: pd.DataFrame
    distributions: pd.DataFrame
    mean_gap: np.ndarray

    @property
    def center_norm(self) -> float:
        """Length of the images' mean in the subspace orthogonal to the gap (the paper's theory
        needs it near 0; the coordinates' own mean is near 0 whatever the data).

        Example:
            >>> x = np.eye(4)[:2]; y = np.eye(4)[2:]
            >>> round(gap_stats(x, y).center_norm, 3)
            0.5
        """
        d = self.distributions
        return float(np.linalg.norm(d.loc[d["statistic"] == "center", "value"]))

    def __repr__(self) -> str:
        rows = [f"  {r.statistic:<13} {r.level:<7} {r.mean:+.3f} ± {r.std:.3f} (n={r.n})"
                for r in self.summary.itertuples()]
        return "GapStats(\n" + "\n".join(rows) + f"\n  center norm {self.center_norm:.3f}\n)"

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False, float_format=lambda v: f"{v:.3f}")


def gap_stats(
    image_emb,
    text_emb,
    image_labels=None,
    text_labels=None,
) -> GapStats:
    """Gap statistics for paired image and text embeddings (row i of each is one pair).

    With labels for both modalities the class-level gap (class means of each modality) is
    added. Pairs are required for the per-pair rows; pass ``text_emb`` of the same length.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(50, 8)); x /= np.linalg.norm(x, axis=1, keepdims=True)
        >>> y = x + 0.5; y /= np.linalg.norm(y, axis=1, keepdims=True)
        >>> gap_stats(x, y).summary["statistic"].tolist()
        ['magnitude', 'direction', 'orthogonality', 'orthogonality', 'center']
    """
    x = check_embeddings(image_emb, "image embeddings")
    y = check_embeddings(text_emb, "text embeddings", dim=x.shape[1])
    if len(x) != len(y):
        raise EmbeddingError(
            f"Paired gap statistics need one caption per image: {len(x)} images, {len(y)} texts. "
            "Fix: pass row-aligned pairs."
        )
    values, mean_gap = _pair_values(x, y)
    if image_labels is not None and text_labels is not None:
        xl = check_labels(image_labels, len(x), name="image labels")
        yl = check_labels(text_labels, len(y), name="text labels")
        classes = np.intersect1d(xl, yl)
        if len(classes) >= 2:
            top = int(max(xl.max(), yl.max())) + 1
            gc = (group_means(x, xl, top)[0] - group_means(y, yl, top)[0])[classes]
            values[2:2] = [
                ("magnitude", "class", np.linalg.norm(gc, axis=1)),
                ("direction", "class", _cos(gc, gc.mean(axis=0))),
            ]
    dist = pd.concat(
        [pd.DataFrame({"statistic": s, "level": lv, "value": v.astype(float)}) for s, lv, v in values],
        ignore_index=True,
    )
    summary = (
        dist.groupby(["statistic", "level"], sort=False)["value"]
        .agg(mean="mean", std="std", n="size").reset_index()
    )
    summary["std"] = summary["std"].fillna(0.0)
    return GapStats(summary, dist, mean_gap)


@dataclass(repr=False)
class GapCloser:
    """Close the gap: centre each modality on its own mean, then renormalise.

    The same transform is used at train time (images) and probe time (text), so a head trained
    on closed image embeddings is probed with closed text embeddings.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> closer = GapCloser.fit(rng.normal(size=(20, 4)) + 1, rng.normal(size=(30, 4)) - 1)
        >>> closer.transform(rng.normal(size=(3, 4)), "text").shape
        (3, 4)
    """

    image_mean: np.ndarray
    text_mean: np.ndarray

    @classmethod
    def fit(cls, image_emb, text_emb, image_rows=None, text_rows=None) -> "GapCloser":
        """Fit on the images and texts (only ``image_rows`` and ``text_rows`` of them when
        given, as indices or masks, without copying those rows)."""
        x = check_embeddings(image_emb, "image embeddings")
        y = check_embeddings(text_emb, "text embeddings", dim=x.shape[1])
        return cls(column_mean(x, image_rows), column_mean(y, text_rows))

    def transform(self, emb, modality: str, rows=None) -> np.ndarray:
        """Closed float32 embeddings of ``emb`` (of ``emb[rows]``), computed by row chunks."""
        if modality not in ("image", "text"):
            raise InputError(f"modality must be 'image' or 'text'; got {modality!r}.")
        mean = self.image_mean if modality == "image" else self.text_mean
        x = check_embeddings(emb, f"{modality} embeddings", dim=len(mean))
        index = np.arange(len(x)) if rows is None else np.asarray(rows)
        index = np.flatnonzero(index) if index.dtype == bool else index
        out = np.empty((len(index), x.shape[1]), np.float32)
        for part in row_chunks(len(index)):
            out[part] = unit_rows(x[index[part]] - mean)
        return out

    def text_onto_images(self, emb) -> np.ndarray:
        """Text embeddings moved across the gap to the images' side: less the text mean, plus the
        image mean, renormalised. For a head trained on raw image embeddings, which cannot be
        given closed ones.

        Example:
            >>> closer = GapCloser(np.array([0.0, 1.0]), np.array([1.0, 0.0]))
            >>> closer.text_onto_images(np.array([[1.0, 0.0]])).round(3).tolist()
            [[0.0, 1.0]]
        """
        x = check_embeddings(emb, "text embeddings", dim=len(self.text_mean))
        out = np.empty(x.shape, np.float32)
        for part in row_chunks(len(x)):
            out[part] = unit_rows(x[part] - self.text_mean + self.image_mean)
        return out

    def __repr__(self) -> str:
        gap = float(np.linalg.norm(self.image_mean - self.text_mean))
        return f"GapCloser(dim={len(self.image_mean)}, |mean gap|={gap:.3f})"


@dataclass(repr=False)
class GapAxes:
    """A 2-D view whose x axis is the gap: x along the unit mean gap ``g'`` (mean image minus
    mean text embedding), y along the first principal component of every embedding with its
    ``g'`` component removed; both from ``origin``, the mean of all embeddings.

    Fitted once on the raw (L2-normalised) embeddings and applied to any others, such as the
    same embeddings with the gap closed, so that the picture keeps its axes and the two clouds
    are seen to move: the modality means lie ``gap_norm`` apart along x, and meet once the gap
    is closed.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> img = unit_rows(rng.normal(size=(200, 8)) + [2, 0, 0, 0, 0, 0, 0, 0])
        >>> txt = unit_rows(rng.normal(size=(100, 8)) - [2, 0, 0, 0, 0, 0, 0, 0])
        >>> axes = GapAxes.fit(img, txt)
        >>> gap = axes.project(img)[:, 0].mean() - axes.project(txt)[:, 0].mean()
        >>> bool(np.isclose(gap, axes.gap_norm, rtol=1e-5)), axes.labels()[0]
        (True, 'gap direction (image mean - text mean, |gap| 1.16)')
    """

    origin: np.ndarray
    axes: np.ndarray  # (d, 2): the unit mean gap, then the first component orthogonal to it
    gap_norm: float
    share: float  # of the variance orthogonal to the gap, along the y axis

    @classmethod
    def fit(cls, image_emb, text_emb) -> "GapAxes":
        """The axes of ``image_emb`` and ``text_emb``: two passes over their rows, no copy."""
        x = check_embeddings(image_emb, "image embeddings")
        y = check_embeddings(text_emb, "text embeddings", dim=x.shape[1])
        x_mean, y_mean = (v.sum(axis=0, dtype=np.float64) / len(v) for v in (x, y))
        gap = x_mean - y_mean
        norm = float(np.linalg.norm(gap))
        if not norm > 0:
            raise EmbeddingError("The image and text embeddings have the same mean, so there is no gap direction "
                                 "to draw. Fix: use another projection ('svd' or 'umap').")
        unit = gap / norm
        origin = (len(x) * x_mean + len(y) * y_mean) / (len(x) + len(y))
        off_gap = np.eye(len(unit)) - np.outer(unit, unit)
        values, vectors = np.linalg.eigh(off_gap @ centred_scatter([x, y], origin) @ off_gap)
        up = vectors[:, -1] * (-1 if vectors[np.abs(vectors[:, -1]).argmax(), -1] < 0 else 1)  # a fixed sign
        total = values.sum()
        return cls(origin, np.stack([unit, up], axis=1), norm, float(values[-1] / total) if total > 0 else 0.0)

    def project(self, emb) -> np.ndarray:
        """The (n, 2) float32 coordinates of ``emb`` on these axes."""
        return project_rows(check_embeddings(emb, "embeddings", dim=len(self.origin)), self.origin, self.axes)

    def labels(self) -> list[str]:
        """The two axis titles, saying what each axis is."""
        return [f"gap direction (image mean - text mean, |gap| {self.gap_norm:.2f})",
                f"first component orthogonal to the gap ({self.share:.0%} of that variance)"]
