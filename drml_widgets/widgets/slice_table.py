"""SliceTable: error slices with text and image scores; the ticked rows feed the RectifyPanel."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd
import traitlets as t

from ..diagnose.slices import ALL, rows_in_slice
from ..errors import InputError
from .adapters import slice_records
from .base import ReportPart, SessionWidget
from .thumbnails import thumbnails

THUMBS_PER_SLICE = 12
PROMPTS_PER_SLICE = 6
REPORT_THUMB_BYTES = 2_000_000  # the standalone report's budget for slice thumbnails (base64 JPEG text)


class SliceTable(SessionWidget):
    """Slices with text-predicted probability, text accuracy, image accuracy and n.

    ``by`` names the attribute types to slice by (e.g. ``["color", "shape"]``); empty means every
    slice of every subset of types. Sorting and filtering happen in the browser; ticked rows are
    ``selected`` (slice keys) and :attr:`selected_slices` (dicts ready for ``session.rectify``).
    Clicking a row sets ``focus``: the kernel picks up to 12 of its evaluated images (row numbers
    in ``focus_rows``; the browser then asks for their JPEG thumbnails) and sample prompts, and
    sets ``focus_of`` to the row they belong to. A standalone report embeds them per slice, within
    a budget (:meth:`report_part`). Slicing types the session's CLIP reads poorly are named in
    ``caveats``, which the page shows as a caution line under the caption.

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> table = SliceTable(s, by=["color", "shape"])
        >>> len(table.rows), table.columns
        (12, ['color', 'shape'])
        >>> table.select([{"color": "green", "shape": "triangle"}])
        >>> table.selected_slices
        [{'color': 'green', 'shape': 'triangle'}]
    """

    _bundle = "slice_table"
    by = t.List(t.Unicode(), help="the attribute types to slice by ([] for every subset of types); "
                                  "set it to slice again").tag(sync=True)
    columns = t.List(t.Unicode(), help="the attribute types the rows are named by").tag(sync=True)
    rows = t.List(t.Dict(), help="one row per slice: its values, text probability and accuracy, "
                                 "image accuracy and n").tag(sync=True)
    spearman = t.Float(None, allow_none=True, help="Spearman correlation of text probability and image accuracy over "
                                                   "the slices; None where undefined").tag(sync=True)
    pearson = t.Float(None, allow_none=True, help="Pearson correlation of text probability and image accuracy over "
                                                  "the slices; None where undefined").tag(sync=True)
    correlation_note = t.Unicode("", help="why spearman and pearson are None ('' when they are given)").tag(sync=True)
    caveats = t.List(t.Unicode(), help="one line per slicing type the session's CLIP reads poorly "
                                       "(or value it misreads): those slices' text scores are not grounded in "
                                       "images ([] when it reads them all)").tag(sync=True)
    version = t.Int(0, help="the session's head version the slices were scored on").tag(sync=True)
    selected = t.List(t.Unicode(), help="the keys of the ticked rows; set them to tick rows").tag(sync=True)
    focus = t.Unicode("", help="the key of the row shown in detail ('' for none); "
                               "set it to show another slice").tag(sync=True)
    focus_rows = t.List(t.Int(), help="row numbers of up to 12 evaluated images of the focused slice").tag(sync=True)
    focus_prompts = t.List(t.Unicode(), help="sample prompts of the focused slice").tag(sync=True)
    focus_of = t.Unicode("", help="the key of the row focus_rows and focus_prompts belong to").tag(sync=True)

    def __init__(self, session, by=(), **kwargs):
        super().__init__(session, by=list(by), **kwargs)
        self._handlers["thumbs"] = self._thumbs

    def refresh(self, event: str) -> None:
        s = self.session
        if s.head is None:
            self.rows, self.caveats, self.status = [], [], "No head yet: call session.train_head()."
            return
        if self.by:
            comparison = s.find_slices(by=self.by)
            frame, self.columns, self.caveats = comparison.table, list(self.by), list(comparison.caveats)
            self.spearman, self.pearson = _finite(comparison.spearman), _finite(comparison.pearson)
            self.correlation_note = "" if self.spearman is not None else _why_undefined(frame)
        else:
            every = s.find_all_slices()
            frame, self.columns, self.caveats = every.table, list(s.attributes.types), list(every.caveats)
            self.spearman = self.pearson = None
            self.correlation_note = ("no Spearman or Pearson: slices of every subset of types overlap; "
                                     "slice by chosen types (by=) for them")
        self.rows = slice_records(frame, self.columns)
        keys = {r["key"] for r in self.rows}
        self.selected = [k for k in self.selected if k in keys]
        if self.focus not in keys:
            self.focus = ""
        self.version = s.version
        self.status = ""

    @t.observe("by")
    def _reslice(self, _change) -> None:
        if self._ready:
            with self.hold_sync():
                self.refresh("by")

    @t.observe("focus")
    def _focus(self, _change) -> None:
        row = self._row(self.focus)
        rows, prompts = self._samples(row["values"]) if row is not None else ([], [])
        with self.hold_sync():
            self.focus_rows, self.focus_prompts, self.focus_of = rows, prompts, self.focus

    def _samples(self, values: dict) -> tuple[list[int], list[str]]:
        """Up to 12 of a slice's evaluated images (the ones its ``n`` counts; seeded) and sample prompts."""
        s = self.session
        images = np.flatnonzero(rows_in_slice(s.table, values) & s.view.split("test"))
        rng = np.random.default_rng(0)
        picked = np.sort(rng.choice(images, min(THUMBS_PER_SLICE, len(images)), replace=False)) if len(images) else images
        prompts = s.prompts.loc[rows_in_slice(s.prompts, values), "prompt"]
        step = max(1, len(prompts) // PROMPTS_PER_SLICE)
        return [int(r) for r in picked], [str(p) for p in prompts.iloc[::step][:PROMPTS_PER_SLICE]]

    def report_part(self, max_bytes: int = REPORT_THUMB_BYTES) -> ReportPart:
        """Every row's sample prompts and, row after row until ``max_bytes`` of base64 JPEG text
        are spent, the thumbnails a click on it shows: the report shows them without a kernel (the
        ``offline`` entry of the table's saved state). The footer line states the budget and its use.

        Example:
            >>> from drml_widgets.session import Session
            >>> part = SliceTable(Session.from_shapes_world(n=1200, ensemble=False), by=["color", "shape"]).report_part()
            >>> part.note.startswith("Slice thumbnails: 12 of 12 slices with images, up to 12 each")
            True
        """
        has_images = self.session.images is not None
        slices, used, shown, spent = {}, 0, 0, False
        for row in self.rows:
            rows, prompts = self._samples(row["values"])
            jpegs = []
            if rows and has_images and not spent:
                jpegs = [base64.b64encode(j).decode("ascii") for j in thumbnails(self.session.images, rows)[1]]
                if used + sum(map(len, jpegs)) > max_bytes:  # this slice would overrun: it and the rest go without
                    jpegs, spent = [], True
            used += sum(map(len, jpegs))
            shown += bool(jpegs)
            slices[row["key"]] = {"rows": rows if jpegs else [], "prompts": prompts, "jpegs": jpegs}
        with_images = sum(1 for r in self.rows if r.get("n_images"))
        note = (f"Slice thumbnails: {shown} of {with_images} slices with images, up to {THUMBS_PER_SLICE} each, "
                f"{used / 1e6:.2f} MB of a {max_bytes / 1e6:.1f} MB budget" if has_images
                else "Slice thumbnails: none (the session has no images)")
        return ReportPart({"offline": {"slices": slices, "max_bytes": max_bytes, "per_slice": THUMBS_PER_SLICE}},
                          note + ".")

    def _thumbs(self, content, _buffers):
        rows, jpegs = thumbnails(self.session.images, content.get("rows"))
        return {"rows": rows}, jpegs

    def _row(self, key: str) -> dict | None:
        return next((r for r in self.rows if r["key"] == key), None)

    # -- Python side ---------------------------------------------------------------------------
    @property
    def selected_slices(self) -> list[dict]:
        """The ticked slices as ``{type: value}`` dicts (types marginalised left out)."""
        out = []
        for key in self.selected:
            row = self._row(key)
            if row is not None:
                out.append({k: v for k, v in row["values"].items() if v != ALL})
        return out

    def select(self, slices) -> None:
        """Tick slices: dicts of attribute values, rows of a slice DataFrame, or a slice result
        (e.g. ``session.find_failing_slices(["color", "shape"])``)."""
        if isinstance(getattr(slices, "table", None), pd.DataFrame):  # a Result: its rows
            slices = slices.table
        if isinstance(slices, pd.DataFrame):
            slices = slices.to_dict("records")
        wanted = [{k: str(v) for k, v in dict(s).items() if k in self.columns and v != ALL} for s in slices]
        keys = []
        for w in wanted:
            matches = [r["key"] for r in self.rows
                       if all(r["values"].get(c) == w.get(c, ALL) for c in self.columns)]
            if not matches:
                raise InputError(f"No row of the table is the slice {w}. The table slices by {self.columns}. "
                                 "Fix: name values of those attribute types.")
            keys += matches
        self.selected = list(dict.fromkeys(keys))

    @property
    def table(self) -> pd.DataFrame:
        """What the table shows, as a DataFrame."""
        return pd.DataFrame([{**r["values"], **{k: v for k, v in r.items() if k not in ("values", "key")}} for r in self.rows])


def _why_undefined(frame: pd.DataFrame) -> str:
    """Why text probability and image accuracy have no correlation over these slices."""
    scored = frame.dropna(subset=["text_prob", "image_acc"])
    for column, name in (("image_acc", "image accuracy"), ("text_prob", "text probability")):
        if len(scored) > 1 and scored[column].nunique() == 1:
            return f"no Spearman or Pearson: every slice has {name} {scored[column].iloc[0]:.3f}, nothing to correlate"
    return f"no Spearman or Pearson: {len(scored)} slice(s) have both a text probability and an image accuracy"


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)

