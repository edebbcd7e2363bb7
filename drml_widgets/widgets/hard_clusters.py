"""HardClusters: LBEE's hard clusters (paper 003) with the sentences that describe them, how tau
was chosen, the metrics, and select by sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import traitlets as t

from ..errors import InputError
from ..methods.lbee import METHODS, LBEEResult, evaluate, ground_truth
from ..session import Session
from .base import OneOf
from .result_view import ImageRows, ResultView, checked_images, json_records


class HardClusters(ResultView):
    """LBEE's hard clusters: each with its size, its nearest easy cluster and the ``k`` sentences
    each rule (TopS, PDiff, SetDiff, FPDiff; ``method`` picks the one shown) keeps for it; the
    tau used and how it was chosen; AHR, ACR (coverage), TPR and JI per rule where relevance is
    known. Picking a sentence (``picked``, readable and settable from Python) marks the images it
    describes in every cluster.

    From a Session, ``HardClusters(session, n_clusters=5, k=3)`` runs
    :meth:`~drml_widgets.session.Session.hard_clusters` (relevance from
    :meth:`~drml_widgets.session.Session.sentence_relevance`) and runs it again when the head or
    the prompts change. From an :class:`~drml_widgets.methods.lbee.LBEEResult`, pass ``images``
    (those it clustered, same order), ``relevance`` (images x sentences, e.g.
    :func:`~drml_widgets.methods.lbee.relevance_from_attributes`) and ``correct`` (per image) for
    select by sentence and the metrics.

    Example:
        >>> from drml_widgets.session import Session
        >>> view = HardClusters(Session.from_shapes_world(n=1200, ensemble=False), n_clusters=3)
        >>> len(view.clusters), view.tau_from.startswith("mean + 1 sd"), [m["method"] for m in view.metrics]
        (3, True, ['TopS', 'PDiff', 'SetDiff', 'FPDiff'])
        >>> view.picked = view.sentences[0]["sentence"]
        >>> len(view.picked_rows) > 0
        True
    """

    _bundle = "hard_clusters"
    methods = t.List(t.Unicode(), list(METHODS), help="the rules that pick sentences, to choose from: "
                                                      "TopS, PDiff, SetDiff, FPDiff").tag(sync=True)
    method = OneOf("methods", "FPDiff", help="the rule whose sentences the table shows; "
                                             "set it to switch rules").tag(sync=True)
    clusters = t.List(t.Dict(), help="one row per hard cluster: size, nearest easy cluster, each rule's sentences, "
                                     "embedded thumbnails").tag(sync=True)
    sentences = t.List(t.Dict(), help="every sentence some rule kept, "
                                      "with how many images of each cluster it describes").tag(sync=True)
    picked = t.Unicode("", help="the sentence whose images are marked ('' for none); "
                                "set it to one of sentences to select by it").tag(sync=True)
    metrics = t.List(t.Dict(), help="AHR, ACR, TPR and JI per rule, where relevance is known (else empty)").tag(sync=True)
    tau = t.Float(None, allow_none=True, help="the similarity threshold a sentence had to pass").tag(sync=True)
    tau_from = t.Unicode("", help="how tau was chosen").tag(sync=True)
    split_counts = t.Dict(help="how many hard images and clusters there are").tag(sync=True)
    relevance_note = t.Unicode("", help="one line on how the view knows which images a sentence describes").tag(sync=True)
    version = t.Int(0, help="the session's head version the clusters were found on (0 for a result alone)").tag(sync=True)
    caveats = t.List(t.Unicode(), help="one line per attribute type the session's CLIP reads poorly (or value it "
                                       "misreads): the sentences naming it were kept by CLIP's reading of the "
                                       "images").tag(sync=True)

    def __init__(self, source, *, images=None, relevance: pd.DataFrame | None = None, correct=None,
                 n_clusters: int = 5, k: int = 3, tau: float | None = None, method: str = "FPDiff"):
        self._relevance = relevance
        self._correct = None if correct is None else np.asarray(correct, dtype=bool)
        if isinstance(source, LBEEResult):
            n = len(source.assignments)
            self._given_images = checked_images(images, n, "images LBEE clustered")
            if relevance is not None and (not isinstance(relevance, pd.DataFrame) or relevance.shape != (n, len(source.sentences))):
                raise InputError(f"relevance must be a DataFrame of {n} images x {len(source.sentences)} sentences "
                                 "(the result's). Fix: lbee.relevance_from_attributes(rows, sentences) on the same images.")
            if self._correct is not None and self._correct.shape != (n,):
                raise InputError(f"correct has {self._correct.size} values for {n} images. Fix: one per image clustered.")
            self._result, session = source, None
        elif isinstance(source, Session):
            if images is not None or relevance is not None or correct is not None:
                raise InputError("A Session brings its own images, relevance and correctness. "
                                 "Fix: leave out images=, relevance= and correct=, or pass an LBEEResult.")
            self._result, session = None, source
            self._options = {"n_clusters": n_clusters, "k": k, "tau": tau}
        else:
            raise InputError(f"HardClusters shows a Session's hard clusters or an LBEEResult; got {type(source).__name__}. "
                             "Fix: HardClusters(session) or HardClusters(find_hard_clusters(...), images=...).")
        super().__init__(session, method=method)

    def refresh(self, event: str) -> None:
        s = self.session
        if s is not None:
            if s.head is None and s.model is None:
                self.clusters, self.status = [], "No classifier yet: call session.train_head()."
                return
            with self._long_work("clustering the hard images"):
                self._result = s.find_hard_clusters(**self._options)
                self._relevance = s.sentence_relevance(self._result)
                rows = self._result.rows
                self._correct = s.image_predictions(rows) == s.labels[rows]
            self._images = None if s.images is None else ImageRows(s.images, self._result.rows)
            self.version = s.version
        else:
            self._images = None if self._given_images is None else ImageRows(self._given_images)
        self._show(self._result)

    def _show(self, result: LBEEResult) -> None:
        self._groups = {str(c): np.flatnonzero(result.assignments == c) for c in result.clusters["cluster"]}
        spans = self._embed(list(self._groups), "clusters")
        picks = result.selections
        records = []
        for record in json_records(result.clusters):
            key = str(record["cluster"])
            chosen = picks[picks["cluster"] == record["cluster"]]
            record.update(key=key, thumbs=spans[key], sentences={
                m: json_records(chosen.loc[chosen["method"] == m, ["sentence", "hard_similarity", "easy_similarity"]])
                for m in METHODS})
            records.append(record)
        self.clusters = records
        self.tau, self.tau_from = result.params["tau"], result.params["tau_from"]
        self.caveats = list(result.caveats)
        self.split_counts = {"hard": int((result.assignments >= 0).sum()), "clusters": len(records)}
        self.sentences = self._sentence_records(result, spans)
        self.metrics = self._metrics(result)
        if self.picked not in {r["sentence"] for r in self.sentences}:
            self.picked = ""
        if self.focus not in self._groups:
            self.focus = ""
        self.status = ""

    def _sentence_records(self, result: LBEEResult, spans) -> list[dict]:
        """Every sentence some rule kept: how many images of each cluster it describes, and which
        of the embedded thumbnails."""
        rel = self._relevance
        if rel is None:
            self.relevance_note = "Which images a sentence describes is unknown here (pass relevance=)."
            return [{"sentence": s, "counts": {}, "described": []} for s in dict.fromkeys(result.selections["sentence"])]
        source = rel.attrs.get("source", "given relevance")
        self.relevance_note = (f"A sentence describes an image by {source}" if source != "attributes"
                               else "A sentence describes an image whose attributes match it (ground truth)")
        matrix = rel.to_numpy(bool)
        index = {s: i for i, s in enumerate(result.sentences)}
        embedded = np.array([p for ps in spans.values() for p, _, _ in ps], np.int64)
        out = []
        for sentence in dict.fromkeys(result.selections["sentence"]):
            hits = matrix[:, index[sentence]]
            out.append({"sentence": sentence,
                        "counts": {key: int(hits[rows].sum()) for key, rows in self._groups.items()},
                        "described": [int(r) for r in embedded[hits[embedded]]] if len(embedded) else []})
        return out

    def _metrics(self, result: LBEEResult) -> list[dict]:
        if self._relevance is None or self._correct is None:
            return []
        return json_records(evaluate(result, self._relevance, ground_truth(self._relevance, self._correct)))

    def _member_extras(self, key: str, rows: list[int]) -> dict:
        if not self.picked or self._relevance is None:
            return {"described": []}
        hits = self._relevance[self.picked].to_numpy(bool)
        return {"described": [r for r in rows if hits[r]]}

    @t.validate("picked")
    def _check_picked(self, proposal) -> str:
        value = proposal["value"]
        kept = [r["sentence"] for r in self.sentences]
        if value and value not in kept:
            shown = value if len(value) <= 80 else value[:77] + "..."
            raise t.TraitError(f"{shown!r} is not a sentence the clusters kept; pick one of the {len(kept)} listed.")
        return value

    # -- Python side ---------------------------------------------------------------------------
    @property
    def result(self) -> LBEEResult:
        """The LBEE result shown."""
        return self._result

    @property
    def table(self) -> pd.DataFrame:
        """One row per hard cluster with the sentences the shown ``method`` kept."""
        return self._result.selection(self.method)

    @property
    def picked_rows(self) -> np.ndarray:
        """Positions (in the clustered images) of the hard images the picked sentence describes."""
        if not self.picked or self._relevance is None:
            return np.zeros(0, np.int64)
        hits = self._relevance[self.picked].to_numpy(bool)
        return np.flatnonzero(hits & (self._result.assignments >= 0))
