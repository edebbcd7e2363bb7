"""Which attributes describe a classifier's errors: proposals from the vocabulary, without annotations.

Every image is tagged zero-shot with every type of an attribute vocabulary (one text-encoding
pass for the whole vocabulary; a :class:`~drml_widgets.ClipEncoder` caches it). Values and types
are then ranked by how well they separate misclassified images from correct ones, with no LLM.

**Membership.** A per-type tag always picks some value, even for a type the image does not show
(every studio shot still gets a "weather"), and such forced tags can track errors through
whatever else they pick up (a word the encoder does not know lands near some colour). So a value
counts for an image in proportion to ``p(type | image) * p(value | image, type)``. The second
factor is the zero-shot tag (:func:`~drml_widgets.diagnose.zero_shot.tag_attributes`). The first
compares types by how *distinctly* each describes the image: the similarity of its best caption
minus the mean similarity of its captions, softmaxed over types at the logit scale. Wording that
all of a type's captions share ("a photo of an object in ... weather") cancels in that
difference, so a long template neither helps nor hurts its type. The cost: a type that is present
but never the most distinct description of an image (a slightly dark photo of a vivid red car) is
down-weighted; tag it with ``tag_attributes`` to slice by it anyway.

**Score.** Within each class (errors depend on the class: a colour can be harmless for one class
and fatal for another), the score of a value is Youden's J of its membership as a detector of
errors: the mean membership of the class's errors minus that of its correct images, which is
the share of errors carrying the value minus the share of correct images carrying it. Classes
are weighted by their share of errors, and a value only scores where it marks errors (J > 0).
Unlike an error-rate difference, J counts how many errors a value covers, so a value on three
images (all wrong) cannot top the list; unlike an AUROC of raw probabilities, it needs the value
to be tagged, not merely to rank images in an order that happens to follow the errors. ``z`` is
the signed J over its standard error under the within-class permutation null; ``significant``
uses a Bonferroni bound over all values. A type scores the error-weighted mean, over classes, of
its best value's J in that class, so "orange squares and green triangles fail" ranks colour once,
at full strength.

**Types CLIP misreads are left out.** Before ranking, the tags pass the reliability check
(:mod:`.tag_reliability`) with what is known of the images: the class labels (the class is
tagged too, for the check alone, when ``classes`` names them) and ``known`` true values of some
types. A type that true values show CLIP misreads (read near chance where known, or standing in
for a type CLIP reads, such as size tags that copy the class) is left out, with a warning naming
it. Types only unsure or undecided stay: a vocabulary's types are rarely all shown in an image,
and a type the image does not show is down-weighted by membership already.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import softmax
from scipy.stats import norm

from .._common import empty_frame, unit_rows
from ..errors import ProposalError
from ..prompts.generate import CLASS, AttributeSet
from ..prompts.vocabulary import Vocabulary, load_vocabulary
from .tag_reliability import TagReliability, tag_reliability
from .validate import check_embeddings
from .zero_shot import (AttributeTags, check_thresholds, logit_scale, tag_attributes, tags_from_embeddings,
                        value_embeddings)

ALPHA = 0.05
# A value covering under 1% more of a class's errors than of its correct images is not proposed.
MIN_SCORE = 0.01
VALUE_COLUMNS = {"type": "object", "value": "object", "score": "float64", "j": "float64", "z": "float64",
                 "significant": "bool", "support": "float64", "n_tagged": "int64",
                 "error_rate_with": "float64", "error_rate_without": "float64"}
TYPE_COLUMNS = {"type": "object", "score": "float64", "top_values": "object", "presence": "float64"}


@dataclass(repr=False)
class AttributeProposals:
    """Vocabulary values and types ranked by how well they separate errors from correct images.

    ``values``: one row per value (type, value, score, signed ``j``, ``z``, ``significant``,
    ``support`` = soft count of images carrying it, ``n_tagged`` = images whose tag it is, and
    the error rates of images with and without it). ``types``: one row per type (score, its best
    values, mean presence). ``tags`` are the zero-shot tags of every image; ``note`` says why the
    tables are empty, when they are; ``reliability`` is the check of the vocabulary's tags (with the
    class, where known) that left out the types CLIP misreads.
    """

    values: pd.DataFrame
    types: pd.DataFrame
    vocabulary: Vocabulary
    tags: AttributeTags | None
    n_errors: int
    n_images: int
    note: str = ""
    reliability: TagReliability | None = None

    def _top(self, n_types: int, n_values: int) -> dict[str, list[str]]:
        if self.values.empty:
            raise ProposalError(f"No proposals to build from: {self.note} Fix: diagnose images the model gets wrong.")
        for name, n in (("n_types", n_types), ("n_values", n_values)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ProposalError(f"{name} must be a whole number of at least 1; got {n!r}.")
        out = {}
        for t in self.types["type"][:n_types]:
            rows = self.values[(self.values["type"] == t) & (self.values["score"] >= MIN_SCORE)]
            out[t] = rows["value"][:n_values].tolist() or [self.values.loc[self.values["type"] == t, "value"].iloc[0]]
        return out

    def attribute_set(self, n_types: int = 3, n_values: int = 6) -> AttributeSet:
        """The best ``n_values`` values (those scoring at least ``MIN_SCORE``) of the best ``n_types`` types, with
        their caption phrases: a start for slicing and for the prompt builder.

        Example:
            >>> props = _example()
            >>> props.attribute_set(n_types=1, n_values=2).values
            {'color': ['red']}
        """
        top = self._top(n_types, n_values)
        return self.vocabulary.attribute_set(list(top), values=top)

    def template(self, object_field: str = "class", n_types: int = 3, prefix: str = "a photo of") -> str:
        """A prompt template over the best ``n_types`` types (see :meth:`Vocabulary.template`).

        Example:
            >>> _example().template(n_types=1)
            'a photo of a {color} {class}.'
        """
        return self.vocabulary.template(list(self._top(n_types, 1)), object_field=object_field, prefix=prefix)

    def __repr__(self) -> str:
        head = f"AttributeProposals({self.n_errors} errors among {self.n_images} images"
        if self.values.empty:
            return f"{head}; none: {self.note})"
        types = ", ".join(f"{r.type} {r.score:.2f}" for r in self.types.head(3).itertuples())
        values = ", ".join(f"{r.type}={r.value} {r.score:.2f}" for r in self.values.head(5).itertuples())
        return f"{head}; top types: {types}; top values: {values})"


def _example() -> AttributeProposals:
    """Proposals on four toy images whose errors are the red ones (for the doctests)."""
    vocab = Vocabulary.from_dict({"types": {"color": {"values": ["red", "blue", "green"]},
                                            "weather": {"template": "in {} weather", "placement": "after",
                                                        "values": ["sunny", "rainy"]}}})
    def encode(texts):
        return np.stack([np.eye(4)[next((i for i, w in enumerate(["red", "blue", "green"]) if w in t), 3)]
                         for t in texts])
    x = np.eye(4)[[0, 0, 1, 2, 0, 1, 2, 1]]
    return propose_attributes(x, [False, False, True, True, True, True, True, True], encode, vocabulary=vocab)


def _check_inputs(image_emb, correct, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = unit_rows(check_embeddings(image_emb, "image embeddings"))
    correct = np.asarray(correct)
    if correct.ndim != 1 or len(correct) != len(x):
        raise ProposalError(f"correct has shape {correct.shape} but there are {len(x)} images. "
                            "Fix: one True/False per image (prediction == label), in the same order.")
    if correct.dtype != bool:
        if not np.isin(correct, [0, 1]).all():
            raise ProposalError("correct must hold True/False (or 1/0) per image. "
                                "Fix: pass predictions == labels.")
        correct = correct.astype(bool)
    labels = np.zeros(len(x), dtype=int) if labels is None else np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(x):
        raise ProposalError(f"labels has shape {labels.shape} but there are {len(x)} images. "
                            "Fix: one true class per image, or labels=None to treat all images as one class.")
    if pd.isna(labels).any():
        raise ProposalError("labels has missing values. Fix: give every image its true class.")
    return x, correct, labels


def _vocabulary(vocabulary) -> Vocabulary:
    if vocabulary is None or isinstance(vocabulary, (str, Path, Mapping)):
        return load_vocabulary(vocabulary)
    if not isinstance(vocabulary, Vocabulary):
        raise ProposalError(f"vocabulary must be a Vocabulary, a JSON path, a dict or None (the built-in one); "
                            f"got {type(vocabulary).__name__}.")
    return vocabulary


def _membership(x: np.ndarray, embeddings: Mapping[str, np.ndarray], tags: AttributeTags,
                scale: float) -> np.ndarray:
    """p(type | image) * p(value | image, type) for every value (columns in vocabulary order)."""
    sims = [x @ e.T for e in embeddings.values()]
    # How distinctly each type describes the image: its best caption over its mean caption.
    presence = softmax(scale * np.stack([s.max(axis=1) - s.mean(axis=1) for s in sims], axis=1), axis=1)
    return np.concatenate([p.to_numpy() * presence[:, [i]] for i, p in enumerate(tags.probabilities.values())],
                          axis=1)


def _class_j(member: np.ndarray, error: np.ndarray, labels: np.ndarray, classes: list):
    """Class weights (share of errors), and per class the signed J of every value with its
    variance under shuffling errors within the class."""
    weights = np.array([error[labels == c].sum() for c in classes], dtype=float)
    j, var = [], []
    for c in classes:
        wrong, right = (labels == c) & error, (labels == c) & ~error
        j.append(member[wrong].mean(0) - member[right].mean(0))
        var.append(member[labels == c].var(0, ddof=1) * (1 / wrong.sum() + 1 / right.sum()))
    return weights / weights.sum(), np.stack(j), np.stack(var)


def _check_tags(x: np.ndarray, tags: AttributeTags, labels, classes, known, encoder, scale: float) -> TagReliability:
    """The reliability check of the vocabulary's tags, the class tagged beside them (for the check
    alone) and grounded by the labels when ``classes`` names them."""
    values, confidence = tags.values, tags.confidence
    n_values = {t: p.shape[1] for t, p in tags.probabilities.items()}
    truth = pd.DataFrame(index=range(len(x))) if known is None else known.reset_index(drop=True)
    if classes is not None and len(classes) > 1 and labels is not None and CLASS not in n_values:
        labels = np.asarray(labels)
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= len(classes):
            raise ProposalError(f"labels must be class indices into classes ({len(classes)} of them) to ground the "
                                "tags by the class. Fix: pass labels as indices, or leave classes out.")
        named = tag_attributes(x, {CLASS: list(classes)}, encoder, scale=scale)
        values = pd.concat([values, named.values], axis=1)
        confidence = pd.concat([confidence, named.confidence], axis=1)
        n_values[CLASS] = len(classes)
        truth = truth.assign(**{CLASS: np.asarray(classes, dtype=object)[labels]})
    return tag_reliability(values, confidence, n_values, known=truth)


def propose_attributes(image_emb, correct, encoder, labels=None,
                       vocabulary: Vocabulary | str | Path | Mapping | None = None,
                       types: Sequence[str] | None = None, scale: float | None = None,
                       classes: Sequence[str] | None = None, known: pd.DataFrame | None = None) -> AttributeProposals:
    """Rank the vocabulary's attribute values and types by how they separate errors from correct images.

    ``correct`` is one boolean per image (the model's prediction equals the label); ``labels``
    (optional) the true classes, within which errors are compared. ``encoder`` is a
    :class:`~drml_widgets.ClipEncoder` or a callable texts -> embeddings. ``vocabulary``
    defaults to the built-in one; ``types`` keeps some of its types. The method is in the module
    docstring. With no class holding both errors and correct images there is nothing to
    separate: the result is empty, typed, and its ``note`` says why. ``classes`` (the class names
    ``labels`` index) and ``known`` (true values of some types, a column per type, NaN where
    unknown) let the reliability check leave out types CLIP misreads (see the module's docstring).

    Example:
        >>> props = _example()
        >>> props.values[["type", "value", "score"]].head(2).round(2).values.tolist()
        [['color', 'red', 0.83], ['weather', 'sunny', 0.0]]
        >>> props.types["type"].tolist()
        ['color', 'weather']
    """
    given_labels, class_names = labels is not None, classes  # ``classes`` is reused below for those compared
    x, correct, labels = _check_inputs(image_emb, correct, labels)
    vocab = _vocabulary(vocabulary)
    attrs = vocab.attribute_set(types)
    error = ~correct
    classes = [c for c in pd.unique(labels) if error[labels == c].any() and correct[labels == c].any()]
    note = ""
    if not error.any():
        note = f"all {len(x)} images are classified correctly, so there are no errors to describe."
    elif not classes:
        note = ("no class has both errors and correct images, so nothing separates them within a class "
                "(every image is wrong, or each class is all right or all wrong).")
    if note:
        return AttributeProposals(empty_frame(VALUE_COLUMNS), empty_frame(TYPE_COLUMNS), vocab, None,
                                  int(error.sum()), len(x), note)
    scale = logit_scale(encoder) if scale is None else float(scale)
    embs = value_embeddings(attrs, encoder, vocab.tag_templates(attrs.types), dim=x.shape[1])
    tags = tags_from_embeddings(x, attrs, embs, check_thresholds(None, attrs.types), scale)
    checked = _check_tags(x, tags, labels if given_labels else None, class_names, known, encoder, scale)
    misread = [t for t in checked.ruled_out if t in embs]
    if misread:
        why = "; ".join(f"{r.type}: {r.why}" for r in checked.table.itertuples() if r.type in misread)
        warnings.warn(f"Attribute types {misread} are left out of the proposals: CLIP misreads them ({why}). Fix: "
                      "use a CLIP that sees them, or tag them from your own metadata.", stacklevel=2)
        if len(misread) == len(embs):
            return AttributeProposals(empty_frame(VALUE_COLUMNS), empty_frame(TYPE_COLUMNS), vocab, None,
                                      int(error.sum()), len(x), f"CLIP misreads every type of the vocabulary ({why}).",
                                      checked)
        attrs = vocab.attribute_set([t for t in attrs.types if t not in misread])
        embs, tags = {t: embs[t] for t in attrs.types}, tags.only(attrs.types)
    member = _membership(x, embs, tags, scale)
    owner = np.repeat(np.arange(len(embs)), [len(attrs.values[t]) for t in embs])
    weights, j, var = _class_j(member, error, labels, classes)
    signed = weights @ j
    z = signed / np.sqrt(np.maximum(weights ** 2 @ var, 1e-12))
    score = weights @ np.clip(j, 0, None)
    support = member.sum(axis=0)
    hard = np.concatenate([(p.to_numpy().argmax(1)[:, None] == np.arange(p.shape[1]))
                           for p in tags.probabilities.values()], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate_with = (member * error[:, None]).sum(0) / support
        rate_without = ((1 - member) * error[:, None]).sum(0) / (len(x) - support)
    values = pd.DataFrame({
        "type": [attrs.types[i] for i in owner], "value": [v for t in embs for v in attrs.values[t]],
        "score": score, "j": signed, "z": z, "significant": z > norm.isf(ALPHA / len(score)),
        "support": support, "n_tagged": hard.sum(0), "error_rate_with": rate_with, "error_rate_without": rate_without,
    }).astype(VALUE_COLUMNS).sort_values(["score", "z"], ascending=False, kind="stable").reset_index(drop=True)
    rows = []
    for i, t in enumerate(embs):
        best = weights @ np.clip(j[:, owner == i].max(axis=1), 0, None)
        top = values.loc[(values["type"] == t) & (values["score"] >= MIN_SCORE), "value"][:3].tolist()
        presence = float(member[:, owner == i].sum(axis=1).mean())  # a type's values' memberships sum to it
        rows.append({"type": t, "score": float(best), "top_values": top, "presence": presence})
    types_df = pd.DataFrame(rows).astype(TYPE_COLUMNS).sort_values("score", ascending=False, kind="stable")
    return AttributeProposals(values, types_df.reset_index(drop=True), vocab, tags, int(error.sum()), len(x),
                              reliability=checked)
