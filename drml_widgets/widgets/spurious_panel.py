"""SpuriousPanel: detect an attribute the model leans on, fine-tune CLIP's projections against it,
and compare average and worst-group accuracy before and after (paper 004)."""

from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np
import pandas as pd
import traitlets as t

from ..errors import InputError
from ..methods.spurious import VARIANTS, ZERO_SHOT, SpuriousSetting
from ..methods.spurious.method import compare_fine_tuning, language_caveats
from .base import SessionWidget
from .result_view import json_records

DETECTION_ROWS = 8       # detection rows kept per model


class SpuriousPanel(SessionWidget):
    """Spurious-aware fine-tuning of the session's CLIP on a suspected ``attribute`` (a column of
    the session's table, e.g. ``"color"``) and its ``values`` (e.g. ``["orange", "green"]``).

    The work is the registered method ``spurious_fine_tuning``
    (:func:`~drml_widgets.methods.spurious.method.compare_fine_tuning`); the panel shows it.
    Detection (accuracy discrepancy, eq. 7) ranks each class and tag by how much better the model
    does with the tag, shortcut candidates first (tags the class's training images carry more
    often). The Fine-tune button runs zero-shot and each of ``variants`` over ``seeds``
    (``epochs`` each) in the kernel, with progress and an estimate of the time left; then bars of
    average and worst-group accuracy (class x attribute groups) with their sd across seeds. While
    a new run is under way the last run's bars are greyed and marked as such. With the language
    variant chosen and an attribute the session's CLIP reads poorly, a caution line (``caveats``)
    says so before any run.

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
        >>> sorted(panel.last_result.top().name)  # the worst group: a class and a colour
        ['color', 'shape']
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
    caveats = t.List(t.Unicode(), help="a caution line when the language variant is chosen and the session's CLIP "
                                       "reads the attribute poorly").tag(sync=True)

    def __init__(self, session, attribute: str, values, *, variants=("plain", "language", "vision"), seeds=(0,),
                 epochs: int = 50, train=None, evaluate=None, tags=None, data=None, **kwargs):
        setting = SpuriousSetting.of(session.view, attribute, values, train=train, evaluate=evaluate, tags=tags,
                                     data=data)
        self._setting, self._data, self._result, self._runs = setting, data, None, 0
        super().__init__(session, attribute=attribute, values=list(setting.values), variants=list(variants),
                         seeds=[int(s) for s in seeds], epochs=epochs, n_train=len(setting.train),
                         n_evaluate=len(setting.evaluate), **kwargs)
        self._handlers["fine_tune"] = self._fine_tune_message
        self._said_caveats({"new": self.variants})

    def _fine_tune_message(self, _content, _buffers) -> None:
        self.run()

    @t.validate("variants")
    def _valid_variants(self, proposal):
        unknown = [v for v in proposal["value"] if v not in VARIANTS]
        if unknown or not proposal["value"]:
            raise t.TraitError(f"Unknown variants {unknown}; choose some of {list(VARIANTS)}.")
        return list(dict.fromkeys(proposal["value"]))

    @t.observe("variants")
    def _said_caveats(self, change) -> None:  # said before a run, so the cost of one is weighed with it
        if getattr(self, "session", None) is not None:  # (__init__ says it once the session is set)
            self.caveats = list(language_caveats(self.session.view, self._setting.attribute, change["new"]))

    @t.validate("seeds")
    def _valid_seeds(self, proposal):
        if not proposal["value"]:
            raise t.TraitError("seeds is empty; give at least one seed, e.g. [0, 1, 2].")
        return proposal["value"]

    def refresh(self, event: str) -> None:
        if event == "prompts":  # other attributes and phrases: CLIP's reading of this one is checked again
            self._said_caveats({"new": self.variants})
        if event != "init":
            return  # fine-tuning starts from the session's CLIP, not from its head: head events change nothing
        towers = (self._long_work(f"running CLIP's frozen towers on {len(self.session.images):,} images")
                  if self._data is None else nullcontext())
        with towers:
            result = self._compare((), self._reporter(time.perf_counter()))  # zero-shot alone
        self._data = result.data
        self.detections = {ZERO_SHOT: json_records(result.detections[ZERO_SHOT].head(DETECTION_ROWS))}
        self.result = {"run": 0, "rows": json_records(result.table), "settings": {}}
        self.status = ""

    def _compare(self, variants, progress):
        """The registered method on the session's view, with this panel's rows and settings."""
        s = self._setting
        return compare_fine_tuning(self.session.view, s.attribute, s.values, variants=variants, seeds=self.seeds,
                                   epochs=self.epochs, train=s.train, evaluate=s.evaluate, tags=s.tags, data=self._data,
                                   progress=progress)

    def _reporter(self, start: float):
        """progress(label, done, total) that shows epochs done and the time left since ``start``."""
        def progress(label: str, done: int, total: int) -> None:
            elapsed = time.perf_counter() - start
            left = elapsed / done * (total - done) if done else float("nan")
            with self.hold_sync():
                self.progress = done / max(1, total)
                self.status = (f"fine-tuning {label}: {done}/{total} epochs"
                               + (f", about {left:.0f} s left" if np.isfinite(left) else ""))

        return progress

    # -- fine-tuning -------------------------------------------------------------------------------
    def run(self):
        """Zero-shot and every variant over the seeds, now; returns the ``FineTuneComparison``."""
        settings = {"variants": list(self.variants), "seeds": list(self.seeds), "epochs": self.epochs,
                    "values": list(self.values)}
        start = time.perf_counter()
        with self._long_work(f"fine-tuning {len(self.variants)} variant(s) x {len(self.seeds)} seed(s)"):
            self.progress = 0.0
            result = self._compare(self.variants, self._reporter(start))
        self._result, self._runs = result, self._runs + 1
        with self.hold_sync():
            self.detections = {m: json_records(frame.head(DETECTION_ROWS)) for m, frame in result.detections.items()}
            self.result = {"run": self._runs, "rows": json_records(result.table), "settings": settings}
            self.progress = 1.0
            self.status = f"done in {time.perf_counter() - start:.1f} s (run {self._runs})"
        return result.comparison

    # -- Python side -------------------------------------------------------------------------------
    @property
    def comparison(self):
        """The last run's ``FineTuneComparison`` (None before the first run)."""
        return self._result.comparison if self._result is not None else None

    @property
    def last_result(self):
        """The last run's whole result (``SpuriousResult``: the comparison, the detection tables,
        the rows and the findings; None before the first run)."""
        return self._result

    def detection(self, method: str = ZERO_SHOT) -> pd.DataFrame:
        """The detection table of one model: ``zero-shot`` or a variant of the last run."""
        if method not in self.detections:
            raise InputError(f"No detection for {method!r}; there is one for {list(self.detections)}.")
        return pd.DataFrame(self.detections[method])

    @property
    def data(self):
        """The frozen towers' outputs (``ProjectionData``), to reuse elsewhere."""
        return self._data

