"""SpuriousPanel: detect an attribute the model leans on, fine-tune CLIP's projections against it,
and compare average and worst-group accuracy before and after (paper 004)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import traitlets as t

from ..errors import InputError
from ..methods.detection import accuracy_discrepancy, group_accuracy
from ..methods.spurious import VARIANTS, cache_features, compare_fine_tuning
from ..methods.tagging import tags_from_table
from ..prompts.generate import CLASS  # the column of class names the groups are made of
from .base import SessionWidget
from .result_view import json_records

ZERO_SHOT = "zero-shot"
DETECTION_ROWS = 8       # detection rows kept per model


class SpuriousPanel(SessionWidget):
    """Spurious-aware fine-tuning of the session's CLIP on a suspected ``attribute`` (a column of
    the session's table, e.g. ``"color"``) and its ``values`` (e.g. ``["orange", "green"]``).

    Detection (accuracy discrepancy, eq. 7) ranks each class and tag by how much better the model
    does with the tag, shortcut candidates first (tags the class's training images carry more
    often). The Fine-tune button runs :func:`~drml_widgets.methods.spurious.compare_fine_tuning`
    (zero-shot and each of ``variants`` over ``seeds``, ``epochs`` each) in the kernel, with
    progress and an estimate of the time left; then bars of average and worst-group accuracy
    (class x attribute groups) with their sd across seeds. While a new run is under way the
    last run's bars are greyed and marked as such.

    Rows: ``train`` (default: the ``train`` split) and ``evaluate`` (default: the ``test`` split's
    images whose attribute is one of ``values``, so each is in a class x value group). ``data``
    reuses frozen tower outputs (``spurious.cache_features``) made elsewhere.

    Example:
        >>> from drml_widgets.session import Session
        >>> panel = SpuriousPanel(Session.from_shapes_world(n=300, ensemble=False, train=False), "color",
        ...                       ["orange", "green"], variants=["plain"], seeds=[0], epochs=2)
        >>> [r["method"] for r in panel.result["rows"]], panel.detection()["class"].iloc[0] in ("square", "triangle")
        (['zero-shot'], True)
        >>> [r["method"] for r in panel.run().table.to_dict("records")], panel.result["run"]
        (['zero-shot', 'plain'], 1)
    """

    _bundle = "spurious_panel"
    _plots = True
    attribute = t.Unicode(help="the suspected shortcut: a column of the session's table").tag(sync=True)
    values = t.List(t.Unicode(), help="the attribute's values whose groups are compared").tag(sync=True)
    variants = t.List(t.Unicode(), default_value=["plain", "language", "vision"],
                      help="the fine-tuning variants a run compares; set them before a run").tag(sync=True)
    seeds = t.List(t.Int(), default_value=[0], help="the seeds each variant is trained with; "
                                                    "set them before a run").tag(sync=True)
    epochs = t.Int(50, min=1, help="how many epochs each fine-tuning trains for; set it before a run").tag(sync=True)
    detections = t.Dict(help="per model (zero-shot and each variant): its detection rows").tag(sync=True)
    result = t.Dict(help="the last run: average and worst-group accuracy per model, "
                         "with their sd across seeds").tag(sync=True)
    n_train = t.Int(0, help="how many images fine-tuning trains on").tag(sync=True)
    n_evaluate = t.Int(0, help="how many images the accuracies are measured on").tag(sync=True)

    def __init__(self, session, attribute: str, values, *, variants=("plain", "language", "vision"), seeds=(0,),
                 epochs: int = 50, train=None, evaluate=None, tags=None, data=None, **kwargs):
        table = session.table
        if attribute not in table.columns:
            raise InputError(f"SpuriousPanel: {attribute!r} is not a column of the session's table "
                             f"{list(table.columns)}. Fix: name the attribute you suspect, e.g. 'color'.")
        values = [str(v) for v in values]
        present = set(table[attribute].astype(str))
        missing = [v for v in values if v not in present]
        if not values or missing:
            raise InputError(f"SpuriousPanel: values {missing or values} are not values of {attribute!r} "
                             f"({sorted(present)}). Fix: name two or more values the images have.")
        if session.images is None and data is None:
            raise InputError("SpuriousPanel fine-tunes CLIP's projections on the session's images, and this session "
                             "holds none. Fix: build the session with images=, or pass data= (spurious.cache_features).")
        view = session.view
        self._train = _rows(train, view.split("train"), len(table), "train")
        in_values = table[attribute].astype(str).isin(values).to_numpy()
        self._evaluate = _rows(evaluate, view.split("test") & in_values, len(table), "evaluate")
        self._tag_types = list(tags) if tags is not None else list(view.image_types)
        self._data, self._comparison, self._runs = data, None, 0
        self._groups = table.assign(**{CLASS: np.asarray(session.classes, dtype=object)[session.labels]})
        super().__init__(session, attribute=attribute, values=values, variants=list(variants),
                         seeds=[int(s) for s in seeds], epochs=epochs, n_train=len(self._train),
                         n_evaluate=len(self._evaluate), **kwargs)
        self._handlers["fine_tune"] = self._fine_tune_message

    def _fine_tune_message(self, _content, _buffers) -> None:
        self.run()

    @t.validate("variants")
    def _valid_variants(self, proposal):
        unknown = [v for v in proposal["value"] if v not in VARIANTS]
        if unknown or not proposal["value"]:
            raise t.TraitError(f"Unknown variants {unknown}; choose some of {list(VARIANTS)}.")
        return list(dict.fromkeys(proposal["value"]))

    @t.validate("seeds")
    def _valid_seeds(self, proposal):
        if not proposal["value"]:
            raise t.TraitError("seeds is empty; give at least one seed, e.g. [0, 1, 2].")
        return proposal["value"]

    def refresh(self, event: str) -> None:
        if event != "init":
            return  # fine-tuning starts from the session's CLIP, not from its head: head events change nothing
        s = self.session
        if self._data is None:
            with self._long_work(f"running CLIP's frozen towers on {len(s.images):,} images"):
                self._data = cache_features(s.encoder, s.images, s.classes, spurious_values=self.values, progress=False)
        base = self._data.base()
        self.detections = {ZERO_SHOT: self._detect(base)}
        rows = self._group_rows(base)
        self.result = {"run": 0, "rows": rows, "settings": {}}
        self.status = ""

    # -- detection and groups --------------------------------------------------------------------
    def _detect(self, model) -> list[dict]:
        s, ev, tr = self.session, self._evaluate, self._train
        tags = tags_from_table(s.table.iloc[ev], self._tag_types)
        frame = accuracy_discrepancy(model.predict(self._data, ev), s.labels[ev], tags, s.classes,
                                     train_tags=tags_from_table(s.table.iloc[tr], self._tag_types),
                                     train_labels=s.labels[tr])
        return json_records(frame.head(DETECTION_ROWS))

    def _group_rows(self, base) -> list[dict]:
        ev = self._evaluate
        acc = group_accuracy(base.predict(self._data, ev), self.session.labels[ev], self._groups.iloc[ev],
                             [CLASS, self.attribute])
        return [{"method": ZERO_SHOT, "average": acc.average, "average_sd": 0.0, "worst_group": acc.worst,
                 "worst_group_sd": 0.0, "worst": " ".join(map(str, acc.worst_group)), "seeds": 0}]

    # -- fine-tuning -------------------------------------------------------------------------------
    def run(self):
        """Zero-shot and every variant over the seeds, now; returns the ``FineTuneComparison``."""
        s = self.session
        settings = {"variants": list(self.variants), "seeds": list(self.seeds), "epochs": self.epochs,
                    "values": list(self.values)}
        start = time.perf_counter()

        def progress(label: str, done: int, total: int) -> None:
            elapsed = time.perf_counter() - start
            left = elapsed / done * (total - done) if done else float("nan")
            with self.hold_sync():
                self.progress = done / max(1, total)
                self.status = (f"fine-tuning {label}: {done}/{total} epochs"
                               + (f", about {left:.0f} s left" if np.isfinite(left) else ""))

        with self._long_work(f"fine-tuning {len(self.variants)} variant(s) x {len(self.seeds)} seed(s)"):
            self.progress = 0.0
            cmp = compare_fine_tuning(self._data, s.labels, self._groups, self._train, self._evaluate,
                                      by=[CLASS, self.attribute], attribute=s.table[self.attribute].astype(str).to_numpy(),
                                      variants=self.variants, seeds=self.seeds, epochs=self.epochs, progress=progress)
            detections = {ZERO_SHOT: self.detections.get(ZERO_SHOT, [])}
            detections.update({m: self._detect(model) for m, model in cmp.tuned.items() if m != ZERO_SHOT})
        self._comparison, self._runs = cmp, self._runs + 1
        with self.hold_sync():
            self.detections = detections
            self.result = {"run": self._runs, "rows": json_records(cmp.table), "settings": settings}
            self.progress = 1.0
            self.status = f"done in {time.perf_counter() - start:.1f} s (run {self._runs})"
        return cmp

    # -- Python side -------------------------------------------------------------------------------
    @property
    def comparison(self):
        """The last run's ``FineTuneComparison`` (None before the first run)."""
        return self._comparison

    def detection(self, method: str = ZERO_SHOT) -> pd.DataFrame:
        """The detection table of one model: ``zero-shot`` or a variant of the last run."""
        if method not in self.detections:
            raise InputError(f"No detection for {method!r}; there is one for {list(self.detections)}.")
        return pd.DataFrame(self.detections[method])

    @property
    def data(self):
        """The frozen towers' outputs (``ProjectionData``), to reuse elsewhere."""
        return self._data


def _rows(rows, default_mask: np.ndarray, n: int, name: str) -> np.ndarray:
    """Row numbers from indices, a mask, or the default mask; at least two, all in range."""
    out = np.flatnonzero(default_mask) if rows is None else np.asarray(rows)
    if out.dtype == bool:
        out = np.flatnonzero(out)
    if out.ndim != 1 or len(out) < 2 or out.min() < 0 or out.max() >= n:
        raise InputError(f"SpuriousPanel: {name} must name at least two of the session's {n} images "
                         "(row numbers or a mask). Fix: check the rows, or the table's 'split' column.")
    return out.astype(int)
