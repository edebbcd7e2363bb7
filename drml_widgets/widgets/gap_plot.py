"""GapPlot: image and text embeddings of a session in 2-D, with the modality-gap statistics."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import traitlets as t

from ..diagnose.gap import GapAxes, GapCloser
from ..errors import WidgetError
from .adapters import svd_2d, umap_2d
from .base import OneOf, ReportPart, SessionWidget
from .binary import Array, dequantise, quantise
from .density import bin_density, points_in_box, points_in_lasso
from .gap_colours import colour_codes, color_options
from .thumbnails import checked_rows, thumbnails

DENSITY_ABOVE = 200_000  # software WebGL draws 200,000 points in about 2 s, a million in about 7 s
# What a report embeds for hovering without a kernel: every prompt up to 5,000 (a line of text
# each) and a sample of 400 images, 64-px thumbnails within 0.5 MB.
REPORT_TEXTS, REPORT_IMAGES, REPORT_THUMB_BYTES = 5_000, 400, 500_000


class GapPlot(SessionWidget):
    """Image and text embeddings in 2-D, coloured by modality, label, prediction, correctness, a
    highlighted slice or any attribute. By default (``projection="gap"``) the x axis is the gap
    itself, the unit mean gap direction, and y the first principal component orthogonal to it
    (:class:`~drml_widgets.diagnose.gap.GapAxes`), fitted on the raw embeddings and kept when the
    gap is closed: the two clouds lie the gap's length apart along x, and are seen to meet when
    it closes. ``"svd"`` (the two principal axes of every point) and ``"umap"`` (fitted on a
    sample, the other points placed among their nearest fitted ones) are fitted again on what is
    shown; their first axes need not be the gap, so closing it may hardly move them.

    Coordinates travel as uint16 steps across their extent (4 bytes a point) and modality and
    colour as one byte each: 6 bytes a point, each array a binary buffer with its dtype and shape
    (:mod:`~drml_widgets.widgets.binary`); point numbers are implicit (images first, then
    prompts). Above ``density_above`` points (200,000 by default) the plot is a density view
    instead: per modality, a ``density_bins`` x ``density_bins`` histogram binned here in the
    kernel, coloured by each cell's most common category, with a random ``sample_points`` of the
    points drawn over it; a box or lasso there is resolved here against every point. A hover asks
    the kernel for the prompt text or a JPEG thumbnail by row number. The selection comes back as
    ``selected`` (point numbers) and :meth:`selection` (rows). A report (or a saved notebook)
    embeds what the view holds: every point up to ``density_above``, and above it the grids and
    the drawn sample (0.86 MB at the defaults, however many points there are).

    A density view is built for its first drawing only: the grids are binned from the points'
    steps, the gap statistics (a caption and pair statistics for every test image, seconds at a
    million) wait until the page asks for them once it has drawn, and every point's coordinates
    for a selection wait for the first selection.

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> plot = GapPlot(s, color_by="shape")
        >>> plot.points.shape == (plot.n_images + plot.n_texts, 2), plot.points.dtype.name, plot.view
        (True, 'uint16', 'points')
        >>> plot.projection, plot.axis_labels[0].split(" (")[0]
        ('gap', 'gap direction')
        >>> plot.categories
        ['triangle', 'square']
    """

    _bundle = "gap_plot"
    _plots = True
    projections = t.List(t.Unicode(), ["gap", "svd", "umap"], help="the 2-D projections to choose from").tag(sync=True)
    projection = OneOf("projections", "gap", help="how points are placed: 'gap' (x the gap direction, y the first "
                                                  "component orthogonal to it), 'svd' or 'umap'; "
                                                  "set it to project again").tag(sync=True)
    color_options = t.List(t.Unicode(), ["modality"], help="what points can be coloured by").tag(sync=True)
    color_by = OneOf("color_options", "modality", help="what colours the points; "
                                                       "set it to one of color_options to recolour").tag(sync=True)
    close_gap = t.Bool(False, help="whether each modality is centred on its mean; "
                                   "set it to close or reopen the gap").tag(sync=True)
    highlight = t.List(t.Dict(), help="slices coloured by color_by='slice'").tag(sync=True)
    view = t.Unicode("points", help="'points', or 'density' above density_above points").tag(sync=True)
    points = Array("uint16", help="(n, 2) coordinates of the points drawn, as steps across extent").tag(sync=True)
    extent = t.List(t.Float(), [0.0, 1.0, 0.0, 1.0], help="[x0, x1, y0, y1] that points' steps span").tag(sync=True)
    modality = Array("uint8", help="0 for an image, 1 for a prompt, per point drawn").tag(sync=True)
    codes = Array("uint8", help="each drawn point's category number").tag(sync=True)
    index = Array("uint32", help="point number of each point drawn in the density view; empty when all are drawn").tag(sync=True)
    density = Array("uint32", help="(2, bins, bins) point counts per modality in the density view").tag(sync=True)
    density_codes = Array("uint8", help="(2, bins, bins) the most common category of each cell").tag(sync=True)
    categories = t.List(t.Unicode(), help="the name of each category number in codes (the legend)").tag(sync=True)
    axis_labels = t.List(t.Unicode(), ["", ""], help="the titles of the two axes").tag(sync=True)
    n_images = t.Int(0, help="how many points are images (they come first)").tag(sync=True)
    n_texts = t.Int(0, help="how many points are prompts (they follow the images)").tag(sync=True)
    stats = t.List(t.Dict(), help="the modality gap's statistics: statistic, level, mean, std and n per row; "
                                  "empty in a density view until its page asks for them").tag(sync=True)
    note = t.Unicode("", help="one line on how the points were placed and what the marks mean").tag(sync=True)
    # The selection lives here: the page sends its own (without an echo back) and hears the count.
    selected = Array("uint32", help="point numbers of the lasso or box selection").tag(sync=True, echo_update=False)
    n_selected = t.Int(0, help="how many points are selected").tag(sync=True)
    umap_points = t.Int(3000, help="UMAP is fitted on at most this many points").tag(sync=False)
    density_above = t.Int(DENSITY_ABOVE, help="more points than this are shown as a density view").tag(sync=False)
    density_bins = t.Int(256, help="cells per side of the density view's grid").tag(sync=False)
    sample_points = t.Int(20_000, help="points drawn over the density view").tag(sync=False)

    def __init__(self, session, *, projection: str = "gap", color_by: str = "modality", close_gap: bool = False,
                 umap_points: int = 3000, density_above: int = DENSITY_ABOVE, density_bins: int = 256,
                 sample_points: int = 20_000, seed: int = 0, **kwargs):
        self._seed = seed
        self._q = np.empty((0, 2), np.uint16)  # every point's steps across extent (images first, then prompts)
        self._drawn_xy = None  # see _xy
        self._codes = np.empty(0, np.uint8)  # every point's category number
        self._gap_axes = None  # fitted on the raw embeddings, so closing the gap keeps the axes
        self._stats_due = False  # a density view's statistics wait for its page to ask
        super().__init__(session, projection=projection, color_options=color_options(session), color_by=color_by,
                         close_gap=close_gap, umap_points=umap_points, density_above=density_above,
                         density_bins=density_bins, sample_points=sample_points, **kwargs)
        self._handlers["hover"] = self._hover
        self._handlers["select_region"] = self._select_region
        self._handlers["stats"] = self._send_stats

    # -- what is drawn -------------------------------------------------------------------------
    def refresh(self, event: str) -> None:
        self.color_options = color_options(self.session)
        if self.color_by not in self.color_options:
            self.color_by = "modality"
        if event in ("init", "prompts"):
            self._gap_axes = None
            self._project()
            self._stats_due = self.view == "density"
            self.stats = [] if self._stats_due else self._stats()
        self._colour()

    def _colour(self) -> None:
        self._codes, self.categories = colour_codes(self.session, self.color_by, self.highlight)
        if self.view == "density":
            modality = (np.arange(len(self._codes)) >= self.n_images).astype(np.uint8)
            self.density, self.density_codes = bin_density(self._q, modality, self._codes, len(self.categories),
                                                           self.density_bins)
            self.codes = self._codes[self.index]
        else:
            self.density, self.density_codes = np.empty(0, np.uint32), np.empty(0, np.uint8)
            self.codes = self._codes

    def _features(self, images: np.ndarray, texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.close_gap:  # centred on the means of the points shown, so the two clouds meet
            closer = GapCloser.fit(images, texts)
            images, texts = closer.transform(images, "image"), closer.transform(texts, "text")
        return images, texts

    def _project(self) -> None:
        self._show(*self._layout())

    def _layout(self) -> tuple[np.ndarray, int, list[str], str]:
        """The 2-D coordinates of every point (the slow part, with busy and status on the page),
        how many are images, the axis titles and how they were made."""
        raw = self.session.image_emb, self.session.text_emb
        images, texts = self._features(*raw)
        n_img, total = len(images), len(images) + len(texts)
        if self.projection == "umap":
            fit = min(self.umap_points, total)
            with self._long_work(f"computing UMAP on {fit:,} points" + (
                    f", then placing the other {total - fit:,}" if fit < total else "")):
                xy, how = umap_2d(np.concatenate([images, texts]), self._seed, self.umap_points, progress=self._placed)
            return xy, n_img, ["UMAP 1", "UMAP 2"], how
        if self.projection == "gap":
            with self._long_work(f"projecting {total:,} points onto the gap"):  # the d x d covariance: O(n d^2)
                if self._gap_axes is None:
                    self._gap_axes = GapAxes.fit(*raw)
                xy = np.concatenate([self._gap_axes.project(images), self._gap_axes.project(texts)])
            return xy, n_img, self._gap_axes.labels(), f"gap axes of the raw embeddings of all {total:,} points"
        with self._long_work(f"projecting {total:,} points by SVD"):  # the d x d covariance: O(n d^2)
            xy, share = svd_2d(images, texts)
        return xy, n_img, [f"SVD {i + 1} ({share[i]:.0%} of variance)" for i in range(2)], f"SVD of all {total:,} points"

    def _show(self, xy: np.ndarray, n_img: int, axes: list[str], how: str) -> None:
        total = len(xy)
        q, extent = quantise(xy)
        self._q, self._drawn_xy = q, None
        modality = (np.arange(total) >= n_img).astype(np.uint8)
        dense = total > self.density_above
        drawn = self._sample(total, n_img) if dense else slice(None)
        self.n_images, self.n_texts = n_img, total - n_img
        self.selected = np.empty(0, np.uint32)  # point numbers of the layout being replaced
        self.view = "density" if dense else "points"
        self.extent = extent
        self.points = q[drawn]
        self.modality = modality[drawn]
        self.index = drawn.astype(np.uint32) if dense else np.empty(0, np.uint32)
        self.axis_labels = axes
        gap = "gap closed (each modality centred on its mean)" if self.close_gap else "raw embeddings"
        self.note = f"{how}; {gap}. Circles are images, diamonds prompts." + (
            f" Density view: {total:,} points are more than a browser draws quickly (over {self.density_above:,}), so "
            f"each cell of a {self.density_bins} x {self.density_bins} grid, binned in the kernel, is shaded by how many "
            f"points it holds and coloured by their most common category; {len(drawn):,} random points are drawn over "
            "it, and a box or lasso selects every point inside it." if dense else "")
        self.status = ""

    def _placed(self, share: float) -> None:
        self.progress = share

    def _sample(self, total: int, n_img: int) -> np.ndarray:
        """The points drawn over the density view: every prompt when they are at most half the
        sample, else a random half of it; random images fill the rest. Sorted."""
        rng = np.random.default_rng(self._seed)
        n_txt = total - n_img
        size = min(self.sample_points, total)
        texts = min(n_txt, size // 2) if n_img else min(n_txt, size)
        images = min(n_img, size - texts)
        pick_img = rng.choice(n_img, images, replace=False) if images < n_img else np.arange(n_img)
        pick_txt = rng.choice(n_txt, texts, replace=False) if texts < n_txt else np.arange(n_txt)
        return np.sort(np.concatenate([pick_img, n_img + pick_txt]))

    def _stats(self) -> list[dict]:
        self._stats_due = False
        summary = self.session.measure_gap(closed=self.close_gap).summary
        return [{"statistic": r.statistic, "level": r.level, "mean": float(r.mean), "std": float(r.std), "n": int(r.n)}
                for r in summary.itertuples()]

    def _send_stats(self, _content, _buffers) -> None:
        """The page has drawn a density view and asks for its gap statistics (once: a second page asks in vain)."""
        if self._stats_due:
            with self._long_work("computing the gap statistics"):
                self.stats = self._stats()
            self.status = ""

    @property
    def _xy(self) -> np.ndarray:
        """Every point as the page draws it (images first, then prompts), made at the first selection."""
        if self._drawn_xy is None:
            self._drawn_xy = dequantise(self._q, self.extent)
        return self._drawn_xy

    @t.observe("projection", "close_gap")
    def _reproject(self, change) -> None:
        if not self._ready:
            return
        layout = self._layout()  # outside hold_sync, so the page hears busy and status while it runs
        with self.hold_sync():
            self._show(*layout)
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
        modality = content.get("modality")
        limit = len(self.session.prompts) if modality == "text" else len(self.session.table)
        (row,) = checked_rows([content.get("row")], limit, 1)
        lines = self._hover_lines(modality, row)
        if modality == "text" or self.session.images is None:
            return {"lines": lines}, []
        return {"lines": lines}, thumbnails(self.session.images, [row])[1]

    def _hover_lines(self, modality: str, row: int) -> list[str]:
        s = self.session
        if modality == "text":
            prompt = s.prompts.iloc[row]
            return [str(prompt["prompt"])] + ([f"true class: {s.classes[int(prompt['label'])]}"] if "label" in prompt else [])
        record = s.table.iloc[row]
        attrs = ", ".join(f"{k}={record[k]}" for k in s.attributes.types if k in s.table.columns)
        lines = [f"class: {s.classes[int(s.labels[row])]}", attrs] + ([f"split: {record['split']}"] if "split" in record else [])
        return lines + (["(no images in this session)"] if s.images is None else [])

    def report_part(self, max_texts: int = REPORT_TEXTS, max_images: int = REPORT_IMAGES,
                    max_bytes: int = REPORT_THUMB_BYTES) -> ReportPart:
        """What a hover shows without a kernel: the text of up to ``max_texts`` drawn prompts, and
        the details and a 64-px thumbnail of up to ``max_images`` drawn images (a seeded sample,
        within ``max_bytes`` of base64 JPEG text). Other points show their class and say why
        nothing more is there. The footer line states the budget and its use. A density view's
        gap statistics, if no page has asked for them yet, are computed here: a report has no kernel to ask.

        Example:
            >>> from drml_widgets.session import Session
            >>> part = GapPlot(Session.from_shapes_world(n=1200, ensemble=False)).report_part()
            >>> part.note.startswith("Gap plot hover: ")
            True
        """
        n_img = self.n_images
        drawn = self.index if len(self.index) else np.arange(n_img + self.n_texts)
        rng = np.random.default_rng(0)
        texts = drawn[drawn >= n_img][:max_texts]
        images = np.sort(rng.permutation(drawn[drawn < n_img])[:max_images])
        hover = {f"text:{p - n_img}": {"lines": self._hover_lines("text", int(p - n_img))} for p in texts}
        used = 0
        for r in images:
            entry = {"lines": self._hover_lines("image", int(r))}
            if self.session.images is not None and used < max_bytes:
                entry["jpeg"] = base64.b64encode(thumbnails(self.session.images, [int(r)], size=64)[1][0]).decode("ascii")
                used += len(entry["jpeg"])
            hover[f"image:{r}"] = entry
        n_thumbs = sum("jpeg" in e for e in hover.values())
        note = (f"Gap plot hover: {len(texts):,} of {int((drawn >= n_img).sum()):,} drawn prompts, "
                f"{len(images):,} of {int((drawn < n_img).sum()):,} drawn images ({n_thumbs:,} with thumbnails, "
                f"{used / 1e6:.2f} MB of a {max_bytes / 1e6:.1f} MB budget); the class of every drawn point")
        if self._stats_due:
            self.stats = self._stats()
        return ReportPart({"offline": {"hover": hover, "classes": self._class_codes(drawn)}, "stats": self.stats}, note)

    def _class_codes(self, drawn: np.ndarray) -> dict:
        """Each drawn point's class, in drawn order: base64 codes into ``names``, one byte a point
        (two past 254 classes); the largest code is no class (a prompt without a label)."""
        s = self.session
        dtype = np.dtype("u1" if len(s.classes) < 255 else "<u2")
        texts = s.prompts["label"].to_numpy() if "label" in s.prompts else np.full(self.n_texts, -1)
        labels = np.concatenate([np.asarray(s.labels), texts]).astype(np.int64)[drawn]
        codes = np.where(labels < 0, np.iinfo(dtype).max, labels).astype(dtype)
        return {"codes": base64.b64encode(codes.tobytes()).decode("ascii"), "dtype": dtype.name, "names": list(map(str, s.classes))}

    def _select_region(self, content, _buffers):
        """A box (``box: {x: [a, b], y: [c, d]}``) or lasso (``lasso: {x: [...], y: [...]}``) drawn
        on the density view, in data coordinates: every point inside it becomes ``selected``."""
        box, lasso = content.get("box"), content.get("lasso")
        if isinstance(box, dict):
            rows = points_in_box(self._xy, box.get("x"), box.get("y"))
        elif isinstance(lasso, dict):
            rows = points_in_lasso(self._xy, lasso.get("x"), lasso.get("y"))
        else:
            raise WidgetError("The browser sent a selection that is neither a box nor a lasso. Fix: select again in the plot.")
        self.selected = rows
        return {"n": int(len(rows))}, []

    @t.observe("selected")
    def _count_selection(self, change) -> None:
        self.n_selected = len(change["new"])

    def _should_send_property(self, key, value) -> bool:
        # A density view's selection can hold a million point numbers (4 MB) that the page has no
        # use for: only refused edits send `selected` back (set_state sends it explicitly).
        return key != "selected" and super()._should_send_property(key, value)

    @t.validate("selected")
    def _check_selection(self, proposal) -> np.ndarray:
        points, shown = proposal["value"], self.n_images + self.n_texts
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
        rows = np.asarray(self.selected, dtype=np.int64)
        return {"images": self.session.table.iloc[rows[rows < self.n_images]],
                "prompts": self.session.prompts.iloc[rows[rows >= self.n_images] - self.n_images]}

