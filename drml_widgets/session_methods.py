"""The methods of papers 001-003 run from a Session, DrML's text probe as one named failure, and
which methods apply to it.

PRIME, LBEE and LLM2Loss need only per-image outcomes, so they work for a CLIP head and for the
user's own model alike; DrML's text probes need a head (for a black box, its surrogate), and
rectification needs a head that is the classifier itself.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .diagnose.gap import GapCloser
from .diagnose.slices import check_slice_types, rows_in_slice
from .diagnose.text_failure import TextFailure, top_text_failure
from .errors import SessionError
from .methods.lbee import (LBEEResult, explain_failures, relevance_from_attributes, relevance_from_similarity,
                           split_hard_easy)
from .methods.llm2loss import LLM2Loss, fit_llm2loss
from .methods.prime import PrimeResult, find_failure_modes, generalisation
from .methods.tagging import tags_from_table

CLASS = "class"


class PaperMethods:
    """PRIME, LBEE and LLM2Loss on the session's images and classifier (mixed into Session)."""

    def _image_attribute_types(self) -> list[str]:
        return [t for t in self.attributes.types if t in self.table.columns and t != CLASS
                and t != getattr(self, "label_rule", None)]

    def top_text_failure(self, types=None) -> TextFailure:
        """DrML's text probe as one answer, no image of the slice used: the slice over ``types``
        (default: every attribute type) whose prompts the head fails on most against the rest of
        their class, named by the values that failure needs
        (:func:`~drml_widgets.diagnose.text_failure.top_text_failure`). The prompts are first moved
        across the gap onto the training images' side, where the head learnt (with ``close_gap``
        the head reads closed prompts already). ``result.slices`` shows every slice's score;
        ``result.image_acc`` is the classifier's accuracy on the test images of the named slice,
        where the table has its attributes, to check the answer against.

        Example:
            >>> from drml_widgets import Session
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> found = s.top_text_failure(["color", "shape"])
            >>> found.name, found.image_acc < 0.5 < found.n_images
            ({'color': 'orange', 'shape': 'square'}, True)
        """
        head = self._require_head()
        types = check_slice_types(self.attributes.types if types is None else types, self.attributes,
                                  self.attributes.types, "The text failure")
        if self.close_gap:
            text = self.text_features()
        else:
            text = GapCloser.fit(self.image_emb[self._split("train")], self.text_emb).text_onto_images(self.text_emb)
        rule = self.label_rule
        class_type = rule if isinstance(rule, str) and rule in types else None
        found = top_text_failure(head.predict_proba(text), self.prompts, types, self.classes, class_type)
        if all(t in self.table.columns for t in found.name):
            test = self._split("test")
            inside = rows_in_slice(self.table[test], found.name)
            if inside.any():
                right = self.image_predictions(test) == self.labels[test]
                found.image_acc, found.n_images = float(right[inside].mean()), int(inside.sum())
        return found

    def failure_modes(self, held_out: float = 0.0, **options) -> PrimeResult:
        """PRIME's failure modes on the evaluated images, tagged by their attribute values.

        ``held_out`` (a share below 1, e.g. 0.5) keeps that part of the evaluated images aside,
        drawn by the session's seed, and checks the modes on it: ``result.heldout`` is then
        :func:`~drml_widgets.methods.prime.generalisation` there. ``result.rows`` are the table
        rows searched. ``options`` go to :func:`~drml_widgets.methods.prime.find_failure_modes`
        (``s``, ``a``, ...).

        Example:
            >>> from drml_widgets import Session
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> result = s.failure_modes(held_out=0.5, s=10)
            >>> len(result.rows), int(result.heldout["heldout_images"].sum()) > 0, result.heldout.columns[-1]
            (519, True, 'holds')
        """
        types = self._image_attribute_types()
        if not types:
            raise SessionError("PRIME does not apply to this session: it needs image attributes to combine into "
                               "failure modes. Fix: give attributes (metadata columns or CLIP tags); see methods().")
        if isinstance(held_out, bool) or not isinstance(held_out, (int, float)) or not 0 <= held_out < 1:
            raise SessionError(f"held_out is the share of the evaluated images kept aside to check the modes, in [0, 1); "
                               f"got {held_out!r}. Fix: pass e.g. held_out=0.5, or 0 to search them all.")
        test = np.flatnonzero(self._split("test"))
        tags = tags_from_table(self.table.iloc[test], types)  # tag columns from every evaluated image
        n_held = int(round(held_out * len(test)))
        order = np.random.default_rng(self.seed).permutation(len(test))
        found, held = np.sort(order[n_held:]), np.sort(order[:n_held])
        predictions, labels = self.image_predictions(test), self.labels[test]
        result = find_failure_modes(tags.iloc[found].reset_index(drop=True), predictions[found], labels[found],
                                    self.classes, **options)
        result.rows = test[found]
        if n_held:
            result.heldout = generalisation(result, tags.iloc[held].reset_index(drop=True), predictions[held],
                                            labels[held], self.classes)
        return result

    def hard_clusters(self, n_clusters: int = 5, k: int = 3, tau: float | None = None, **options) -> LBEEResult:
        """LBEE's hard clusters of the evaluated images, each described by ``k`` of the
        session's prompts (one per attribute combination, in the first template); ``tau`` follows
        the CLIP's similarities unless given.

        Example:
            >>> from drml_widgets import Session
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> s.hard_clusters(n_clusters=2).table("FPDiff").columns[0]
            'cluster'
        """
        test = self._split("test")
        split = split_hard_easy(predictions=self.image_predictions(test), labels=self.labels[test])
        first = (self.prompts["template"] == self.spec.templates[0]).to_numpy()
        sentences = self.prompts.loc[first, "prompt"].tolist()
        result = explain_failures(self.image_emb[test], split, sentences, self.text_emb[first],
                                  n_clusters=n_clusters, k=k, tau=tau, **options)
        result.rows = np.flatnonzero(test)
        return result

    def sentence_relevance(self, result: LBEEResult) -> pd.DataFrame:
        """Which of the images of :meth:`hard_clusters`' ``result`` each of its sentences describes
        (images x sentences, booleans): by the images' attribute values where the sentences name
        attributes of the table (ground truth), else by CLIP similarity above the result's tau.
        ``.attrs["source"]`` says which.

        Example:
            >>> from drml_widgets import Session
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> s.sentence_relevance(s.hard_clusters(n_clusters=2)).attrs["source"]
            'attributes'
        """
        if result.rows is None:
            raise SessionError("This LBEE result was not made by Session.hard_clusters, so its images are unknown "
                               "here. Fix: pass a result of session.hard_clusters().")
        first = (self.prompts["template"] == self.spec.templates[0]).to_numpy()
        if list(self.prompts.loc[first, "prompt"]) != result.sentences:
            raise SessionError("The session's prompts changed since this LBEE result was made, so its sentences are "
                               "not the session's. Fix: run session.hard_clusters() again.")
        table = self.table.iloc[result.rows].reset_index(drop=True)
        if any(t in table.columns for t in self.attributes.types):
            return relevance_from_attributes(table, self.prompts.loc[first])
        return relevance_from_similarity(self.image_emb[result.rows], self.text_emb[first], result.sentences,
                                         result.params["tau"])

    def image_losses(self) -> np.ndarray:
        """Per-image loss of the classifier under diagnosis: the losses given for the user's
        model, else cross-entropy of the true label from its (or the head's) probabilities, else
        0/1 loss from predictions alone (with a warning: a ranker learns little from it).

        Example:
            >>> from drml_widgets import Session
            >>> Session.from_shapes_world(n=1200, ensemble=False).image_losses().shape
            (1200,)
        """
        model = self.model
        if model is not None and model.losses is not None:
            return model.losses
        if model is not None:
            warnings.warn(f"{model.name} gave predictions only, so its per-image loss is 0/1 (wrong or right). "
                          "Fix: pass proba= or losses= for a loss that ranks images.", stacklevel=2)
            return (model.predictions != self.labels).astype(np.float64)
        proba = self._require_head().predict_proba(self.image_features())
        return -np.log(np.clip(proba[np.arange(len(proba)), self.labels], 1e-12, None))

    def loss_predictor(self, rows=None, **options) -> LLM2Loss:
        """LLM2Loss ensembles fit to the classifier's per-image loss, queried with text; the
        session's prompts are the reference texts that close the gap. ``rows`` (indices or a
        mask) fits on those images only, e.g. to hold the others out (``LossQuery`` does).

        Example:
            >>> from drml_widgets import Session
            >>> s = Session.from_shapes_world(n=1200, ensemble=False)
            >>> s.loss_predictor(members=2, epochs=2).estimate("a small green triangle.").shape[0]
            1
        """
        options.setdefault("reference_texts", self.prompts["prompt"].tolist())
        rows = np.arange(len(self.table)) if rows is None else np.asarray(rows)
        return fit_llm2loss(self.image_emb[rows], self.image_losses()[rows], self.encoder, seed=self.seed, **options)

    def methods(self) -> pd.DataFrame:
        """Which methods apply to this session, and why or why not.

        Example:
            >>> from drml_widgets import Session
            >>> bool(Session.from_shapes_world(n=1200, ensemble=False).methods()["applies"].all())
            True
        """
        head = self.head is not None
        probe = ("through the surrogate head, which agrees with the model on "
                 f"{self.surrogate.held_out_agreement:.0%} of held-out images" if self.surrogate is not None
                 else "on the head" if head else "no head yet: call train_head()")
        types = self._image_attribute_types()
        rows = [
            ("text slices (DrML)", head, probe),
            ("influence (DrML)", head, probe),
            ("rectify (DrML)", head and self.model is None,
             "retrains the head" if self.model is None
             else f"{self.model.name} is known by its outputs; retraining its surrogate would not change it"),
            ("image slices", bool(types), f"images tagged with {types}" if types else "no image attributes"),
            ("failure modes (PRIME)", bool(types), f"tags from {types}" if types else "no image attributes to tag"),
            ("hard clusters (LBEE)", True, "described by the session's prompts"),
            ("loss predictor (LLM2Loss)", True, "per-image loss" + (
                " (0/1: predictions only)" if self.model is not None and self.model.losses is None else "")),
        ]
        return pd.DataFrame(rows, columns=["method", "applies", "why"])
