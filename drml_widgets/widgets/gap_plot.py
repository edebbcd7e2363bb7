"""GapPlot: image and text embeddings of a session in 2-D, with the modality-gap statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import traitlets as t

from ..diagnose.gap import GapCloser
from ..diagnose.slices import rows_in_slice
from ..errors import WidgetError
from .adapters import svd_2d, umap_2d
from .base import OneOf, SessionWidget
from .binary import Array
from .thumbnails import checked_rows, thumbnails

MAX_CATEGORIES = 24  # colours that stay distinguishable; the rest are grouped as "other"
OTHER = "other"
MISSING = "n/a"


class GapPlot(SessionWidget):
    """Image and text embeddings in 2-D (SVD of every point, or UMAP of a subsample), coloured by
    modality, label, prediction, correctness, a highlighted slice or any attribute.

    Coordinates travel as float32 (8 bytes a point) and colours as one byte a point, each as a
    binary buffer with its dtype and shape (:mod:`~drml_widgets.widgets.binary`); a hover asks
    the kernel for the prompt text or a JPEG thumbnail by row number. A lasso or box selection
    comes back as ``selected`` (point numbers) and :meth:`selection` (rows).

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> plot = GapPlot(s, color_by="shape")
        >>> plot.points.shape == (plot.n_images + plot.n_texts, 2)
        True
        >>> plot.categories
        ['triangle', 'square']
    """

    _bundle = "gap_plot"
    _plots = True
    projections = t.List(t.Unicode(), ["svd", "umap"]).tag(sync=True)
    projection = OneOf("projections", "svd").tag(sync=True)
    color_options = t.List(t.Unicode(), ["modality"]).tag(sync=True)
    color_by = OneOf("color_options", "modality").tag(sync=True)
    close_gap = t.Bool(False).tag(sync=True)
    highlight = t.List(t.Dict(), help="slices coloured by color_by='slice'").tag(sync=True)
    points = Array("float32", help="(n, 2) coordinates of the points shown").tag(sync=True)
    modality = Array("uint8", help="0 for an image, 1 for a prompt, per point").tag(sync=True)
    codes = Array("uint8", help="each point's category number").tag(sync=True)
    index = Array("uint32", help="source row of each point when subsampled; empty when all are shown").tag(sync=True)
    categories = t.List(t.Unicode()).tag(sync=True)
    axis_labels = t.List(t.Unicode(), ["", ""]).tag(sync=True)
    n_images = t.Int(0).tag(sync=True)
    n_texts = t.Int(0).tag(sync=True)
    stats = t.List(t.Dict()).tag(sync=True)
    note = t.Unicode("").tag(sync=True)
    selected = Array("uint32", help="point numbers of the lasso or box selection").tag(sync=True)
    umap_points = t.Int(3000).tag(sync=False)
    max_points = t.Int(200_000).tag(sync=False)

    def __init__(self, session, *, projection: str = "svd", color_by: str = "modality", close_gap: bool = False,
                 umap_points: int = 3000, max_points: int = 200_000, seed: int = 0, **kwargs):
        self._seed = seed
        self._layout = None  # the source row of each point shown (images first, then prompts)
        super().__init__(session, projection=projection, color_options=_color_options(session), color_by=color_by,
                         close_gap=close_gap, umap_points=umap_points, max_points=max_points, **kwargs)
        self._handlers["hover"] = self._hover

    # -- what is drawn -------------------------------------------------------------------------
    def refresh(self, event: str) -> None:
        self.color_options = _color_options(self.session)
        if self.color_by not in self.color_options:
            self.color_by = "modality"
        if event in ("init", "prompts"):
            self._project()
            self.stats = self._stats()
        self._colour()

    def _features(self) -> tuple[np.ndarray, np.ndarray]:
        s = self.session
        images, texts = s.image_emb, s.text_emb
        if self.close_gap:  # centred on the means of the points shown, so the two clouds meet
            closer = GapCloser.fit(images, texts)
            images, texts = closer.transform(images, "image"), closer.transform(texts, "text")
        return images, texts

    def _project(self) -> None:
        images, texts = self._features()
        n_img, total = len(images), len(images) + len(texts)
        limit = self.umap_points if self.projection == "umap" else self.max_points
        rng = np.random.default_rng(self._seed)
        rows = np.sort(rng.choice(total, limit, replace=False)) if total > limit else np.arange(total)
        x = np.concatenate([images, texts])[rows]
        if self.projection == "umap":
            with self._long_work(f"computing UMAP on {len(rows):,} points"):
                xy = umap_2d(x, self._seed)
            axes = ["UMAP 1", "UMAP 2"]
        else:
            xy, share = svd_2d(x)
            axes = [f"SVD {i + 1} ({share[i]:.0%} of variance)" for i in range(2)]
        gap = "gap closed (each modality centred on its mean)" if self.close_gap else "raw embeddings"
        sample = (f"a random {len(rows):,} of {total:,} points" + (" (UMAP is slow on many points; raise umap_points "
                  "for more)" if self.projection == "umap" else "")) if len(rows) < total else f"all {total:,} points"
        self._layout = rows
        self.n_images, self.n_texts = n_img, len(texts)
        self.selected = np.empty(0, np.uint32)  # point numbers of the layout being replaced
        self.points = np.asarray(xy, dtype=np.float32)
        self.modality = (rows >= n_img).astype(np.uint8)
        self.index = rows.astype(np.uint32) if len(rows) < total else np.empty(0, np.uint32)
        self.axis_labels = axes
        self.note = f"{self.projection.upper()} of {sample}; {gap}. Circles are images, diamonds prompts."
        self.status = ""

    def _stats(self) -> list[dict]:
        summary = self.session.gap(closed=self.close_gap).summary
        return [{"statistic": r.statistic, "level": r.level, "mean": float(r.mean), "std": float(r.std), "n": int(r.n)}
                for r in summary.itertuples()]

    def _values(self) -> tuple[np.ndarray, np.ndarray]:
        """The colour-by value of every image and every prompt, as strings."""
        s, by = self.session, self.color_by
        n_img, n_txt = len(s.table), len(s.prompts)
        if by == "modality":
            return np.full(n_img, "image", object), np.full(n_txt, "text", object)
        classes = np.array(s.classes, dtype=object)
        text_labels = classes[s.prompts["label"].to_numpy()] if "label" in s.prompts else np.full(n_txt, MISSING, object)
        if by == "label":
            return classes[s.labels], text_labels
        if by in ("prediction", "correct"):
            images, texts = s.image_features(), s.text_features()
            pi, pt = s.head.predict(images), s.head.predict(texts)
            if by == "prediction":
                return classes[pi], classes[pt]
            right = np.array(["wrong", "right"], dtype=object)
            return right[(pi == s.labels).astype(int)], right[(pt == s.prompts["label"].to_numpy()).astype(int)]
        if by == "slice":
            inside = np.array(["other", "highlighted slice"], dtype=object)
            img = np.zeros(n_img, bool)
            txt = np.zeros(n_txt, bool)
            for values in self.highlight:
                img |= rows_in_slice(s.table, values)
                txt |= rows_in_slice(s.prompts, values)
            return inside[img.astype(int)], inside[txt.astype(int)]

        def column(frame: pd.DataFrame) -> np.ndarray:
            if by not in frame.columns:
                return np.full(len(frame), MISSING, object)
            return frame[by].astype(object).where(frame[by].notna(), MISSING).astype(str).to_numpy(dtype=object)

        return column(s.table), column(s.prompts)

    def _colour(self) -> None:
        images, texts = self._values()
        values = np.concatenate([images, texts])[self._layout]
        names, counts = np.unique(values, return_counts=True)
        if len(names) > MAX_CATEGORIES:
            keep = set(names[np.argsort(-counts)[:MAX_CATEGORIES - 1]])
            values = np.array([v if v in keep else OTHER for v in values], dtype=object)
        order = self._category_order(values)
        lookup = {name: i for i, name in enumerate(order)}
        self.codes = np.fromiter((lookup[v] for v in values), dtype=np.uint8, count=len(values))
        self.categories = [str(c) for c in order]

    def _category_order(self, values: np.ndarray) -> list:
        """Categories in a meaningful order: class order, attribute value order, else sorted."""
        s, present = self.session, set(values)
        known = {"modality": ["image", "text"], "label": s.classes, "prediction": s.classes,
                 "correct": ["right", "wrong"], "slice": ["highlighted slice", "other"]}.get(
            self.color_by, s.attributes.values.get(self.color_by, []))
        first = [v for v in known if v in present]
        return first + sorted(present - set(first), key=lambda v: (v in (OTHER, MISSING), str(v)))

    @t.observe("projection", "close_gap")
    def _reproject(self, change) -> None:
        if not self._ready:
            return
        with self.hold_sync():
            self._project()
            if change["name"] == "close_gap":
                self.stats = self._stats()
            self._colour()

    @t.observe("color_by", "highlight")
    def _recolour(self, change) -> None:
        if not self._ready or (change["name"] == "highlight" and self.color_by != "slice"):
            return
        with self.hold_sync():
            self._colour()

    # -- hover and selection -------------------------------------------------------------------
    def _hover(self, content, _buffers):
        s = self.session
        if content.get("modality") == "text":
            (row,) = checked_rows([content.get("row")], len(s.prompts), 1)
            prompt = s.prompts.iloc[row]
            lines = [str(prompt["prompt"])]
            if "label" in prompt:
                lines.append(f"true class: {s.classes[int(prompt['label'])]}")
            return {"lines": lines}, []
        (row,) = checked_rows([content.get("row")], len(s.table), 1)
        record = s.table.iloc[row]
        attrs = ", ".join(f"{k}={record[k]}" for k in s.attributes.types if k in s.table.columns)
        lines = [f"class: {s.classes[int(s.labels[row])]}", attrs] + ([f"split: {record['split']}"] if "split" in record else [])
        if s.images is None:
            return {"lines": lines + ["(no images in this session)"]}, []
        _, jpegs = thumbnails(s.images, [row])
        return {"lines": lines}, jpegs

    @t.validate("selected")
    def _check_selection(self, proposal) -> np.ndarray:
        points, shown = proposal["value"], len(self.modality)
        if points.ndim != 1:
            raise WidgetError(f"The selection has shape {list(points.shape)}, not a list of point numbers. "
                              "Fix: select again in the plot.")
        if len(points) > shown:
            raise WidgetError(f"The selection holds {len(points):,} points, but the plot shows only {shown:,}. "
                              "Fix: select again in the plot.")
        if len(points) and int(points.max()) >= shown:
            raise WidgetError(f"The selection names point {int(points.max()):,}, but the plot shows {shown:,} points "
                              f"(0 to {shown - 1:,}). Fix: select again in the plot.")
        return points

    def selection(self) -> dict[str, pd.DataFrame]:
        """The selected images (rows of ``session.table``) and prompts (rows of ``session.prompts``).

        Example:
            >>> from drml_widgets.session import Session
            >>> plot = GapPlot(Session.from_shapes_world(n=1200, ensemble=False, train=False))
            >>> plot.selected = [0, plot.n_images]
            >>> [len(v) for v in plot.selection().values()]
            [1, 1]
        """
        rows = self._layout[self.selected]
        return {"images": self.session.table.iloc[rows[rows < self.n_images]],
                "prompts": self.session.prompts.iloc[rows[rows >= self.n_images] - self.n_images]}


def _color_options(session) -> list[str]:
    """What the points can be coloured by: modality, label, prediction and correctness (with a
    head), a highlighted slice, then every attribute type and table column."""
    columns = [c for c in session.table.columns if c not in ("label", "split")]
    return ["modality", "label"] + (["prediction", "correct"] if session.head is not None else []) + \
        ["slice"] + list(dict.fromkeys([*session.attributes.types, *columns]))
