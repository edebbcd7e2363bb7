"""LBEE as a registered method: the evaluated images' hard clusters, each described by the
session's prompts, and which images each sentence describes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...errors import SessionError
from ..clip_reads import poorly_read
from ..protocol import Method, SessionView, register
from .clusters import split_hard_easy
from .explain import LBEEResult
from .explain import find_hard_clusters as cluster_and_describe
from .metrics import relevance_from_attributes, relevance_from_similarity


def _first_template(view: SessionView) -> np.ndarray:
    """The prompts of the first template: one sentence per attribute combination."""
    return (view.prompts["template"] == view.spec.templates[0]).to_numpy()


def find_hard_clusters(view: SessionView, n_clusters: int = 5, k: int = 3, tau: float | None = None,
                       **options) -> LBEEResult:
    """LBEE's hard clusters of the evaluated images, each described by ``k`` of the session's
    prompts (one per attribute combination, in the first template); ``tau`` follows the CLIP's
    similarities unless given. Findings are named by the attribute values of their sentence. The
    sentences are kept by their CLIP similarity to the clusters, so a type CLIP reads poorly, or
    a value of the kept sentences it misreads, is named in ``caveats`` and a warning (its value in
    a sentence may be a near neighbour's).

    Example:
        >>> from drml_widgets import Session
        >>> result = Session.from_shapes_world(n=1200, ensemble=False).find_hard_clusters(n_clusters=2)
        >>> result.table.columns[0], sorted(result.top().name)
        ('cluster', ['color', 'shape', 'size'])
    """
    test = view.split("test")
    split = split_hard_easy(predictions=view.predictions(test), labels=view.labels[test])
    first = _first_template(view)
    described = view.prompts.loc[first]
    sentences = described["prompt"].tolist()
    result = cluster_and_describe(view.image_emb[test], split, sentences, view.text_emb[first],
                              n_clusters=n_clusters, k=k, tau=tau, **options)
    result.rows = np.flatnonzero(test)
    types = [t for t in view.attributes.types if t in described.columns]
    result.sentence_names = {row["prompt"]: {t: str(row[t]) for t in types} for _, row in described.iterrows()}
    kept = [result.sentence_names[x] for x in result.retained("FPDiff")]  # the values the sentences shown name
    result.caveats = tuple(poorly_read(view, types, "cluster sentences",
                                      judge_by="the clusters' images (their accuracy and thumbnails)",
                                      named={t: {name[t] for name in kept} for t in types}))
    return result


def sentence_relevance(view: SessionView, result: LBEEResult) -> pd.DataFrame:
    """Which of the images of a :func:`find_hard_clusters` ``result`` each of its sentences
    describes (images x sentences, booleans): by the images' attribute values where the sentences
    name attributes of the table (ground truth), else by CLIP similarity above the result's tau.
    ``.attrs["source"]`` says which.

    Example:
        >>> from drml_widgets import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> s.sentence_relevance(s.find_hard_clusters(n_clusters=2)).attrs["source"]
        'attributes'
    """
    if result.rows is None:
        raise SessionError("This LBEE result was not made by Session.find_hard_clusters, so its images are unknown "
                           "here. Fix: pass a result of session.find_hard_clusters().")
    first = _first_template(view)
    if list(view.prompts.loc[first, "prompt"]) != result.sentences:
        raise SessionError("The session's prompts changed since this LBEE result was made, so its sentences are "
                           "not the session's. Fix: run session.find_hard_clusters() again.")
    table = view.table.iloc[result.rows].reset_index(drop=True)
    if any(t in table.columns for t in view.attributes.types):
        return relevance_from_attributes(table, view.prompts.loc[first])
    return relevance_from_similarity(view.image_emb[result.rows], view.text_emb[first], result.sentences,
                                     result.params["tau"])


register(Method("hard_clusters", "003 LBEE", "Which groups of images does it fail, and what sentence describes each?",
                find_hard_clusters, needs=("classifier",), view="HardClusters"))
