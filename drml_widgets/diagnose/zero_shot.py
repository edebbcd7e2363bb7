"""Zero-shot attribute tags from CLIP, so images without an attribute table can still be sliced.

For each attribute type of an :class:`~drml_widgets.prompts.generate.AttributeSet`, every image
gets the value whose caption is closest to it in CLIP space, as in zero-shot classification: a
value stands for the mean text embedding of its phrase written through a few templates (which
averages out the wording), and a softmax over the type's values at CLIP's logit scale gives the
confidence. Values of one type compete with each other only, so "red" and "in dim light" are
never rivals. A minimum confidence turns unsure tags into ``"uncertain"`` instead of guessing.

This module is the one zero-shot tagger: :func:`grouped_softmax` turns image and prompt
embeddings into probabilities for :func:`tag_attributes` (one value per type) and for
:func:`drml_widgets.methods.tagging.tag_scores` (PRIME's multi-label tags) alike.

**One scale rule** (:func:`logit_scale`): ``scale=None`` means the encoder model's own logit
scale, and an explicit ``scale=`` overrides it; 100 only where no model carries one. CLIP is
trained with a contrastive softmax over cosine similarities times that learned scale, so the
softmax at the model's scale is the model's own probability of each caption, and "confidence near
chance" (:mod:`.tag_reliability`) means the same for every CLIP. A fixed 100, the value OpenAI's
CLIPs end at, sharpens a model trained at a lower scale: the bundled shapes CLIP learned 16.9,
and at 100 its probabilities are about their 6th power, renormalised. Measured before the merge,
on PRIME's tags (colour, size, position; threshold 0.5), the share of images with exactly the
true tags at 16.9 against 100: the same on the 10,000-image shapes world (colour 1.0, size
0.9956, position 1.0) and on the scorecard pool's 2,500 test images (every type); on the
Waterbirds-like world's 1,110 noisy training images colour 0.9937 against 0.9946, size 0.447 and
position 1.0 at both. Thresholds calibrated on 1,000 images lose under a point (colour 0.993
against 1.000: the sharper softmax saturates at 1.0 on calibration and held-out images alike).
The reliability margins stay far above the check's 0.5 (size, the lowest, 0.87 on the noisy
world). So the model's scale costs thresholded multi-label tagging nothing a user would see, and
no second rule (say, raising low scales to 100) is justified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import softmax

from .._common import text_encoder, unit_rows
from ..embed.scale_memo import keep_logit_scale, kept_logit_scale
from ..errors import DrmlError, TagError
from ..prompts.generate import AttributeSet
from ..prompts.text import fix_articles
from .tag_reliability import TagReliability, tag_reliability
from .validate import check_embeddings

# The logit scale OpenAI's CLIPs end training at (clamped there), used when the encoder carries none.
CLIP_SCALE = 100.0
# "{}" is a value's phrase. Bare, with and without an article, so nouns ("forest") and adjectives
# ("red") both read as a caption.
DEFAULT_TEMPLATES = ("a photo of {}.", "a photo of a {}.", "{}.")
UNCERTAIN = "uncertain"


@dataclass(repr=False)
class AttributeTags:
    """Zero-shot tags: one column per attribute type, one row per image.

    ``values`` holds each image's value (``"uncertain"`` below the type's threshold),
    ``confidence`` the softmax probability of the best value, ``thresholds`` the minimum
    confidence per type (0: plain argmax) and ``probabilities`` every value's probability
    (type -> DataFrame with a column per value).
    """

    values: pd.DataFrame
    confidence: pd.DataFrame
    thresholds: pd.Series
    probabilities: dict[str, pd.DataFrame]

    def summary(self) -> pd.DataFrame:
        """Per type: threshold, mean confidence, share of images above it, and the count of each value.

        Example:
            >>> enc = lambda texts: np.eye(2)[[0 if "red" in t else 1 for t in texts]]
            >>> tags = tag_attributes(np.eye(2)[[0, 0, 1]], {"color": ["red", "blue"]}, enc)
            >>> tags.summary()[["type", "share_confident", "counts"]].to_dict("records")
            [{'type': 'color', 'share_confident': 1.0, 'counts': {'red': 2, 'blue': 1}}]
        """
        rows = []
        for t in self.values.columns:
            counts = self.values[t].value_counts()
            rows.append({"type": t, "n_values": self.probabilities[t].shape[1], "threshold": self.thresholds[t],
                         "mean_confidence": float(self.confidence[t].mean()),
                         "share_confident": float((self.values[t] != UNCERTAIN).mean()),
                         "counts": {str(k): int(v) for k, v in counts.items()}})
        return pd.DataFrame(rows, columns=["type", "n_values", "threshold", "mean_confidence", "share_confident",
                                           "counts"])

    def reliability(self, known: pd.DataFrame | None = None) -> TagReliability:
        """Whether each type's tags can be trusted (confidence over chance, not standing in for another type);
        ``known`` holds true values of some types (NaN where unknown), which then decide (see
        :func:`~drml_widgets.diagnose.tag_reliability.tag_reliability`).

        Example:
            >>> enc = lambda texts: np.eye(2)[[0 if "red" in t else 1 for t in texts]]
            >>> tags = tag_attributes(np.eye(2)[[0, 0, 1]], {"color": ["red", "blue"]}, enc)
            >>> tags.reliability().unreliable, tags.reliability(pd.DataFrame({"color": ["blue"] * 3})).unreliable
            ([], ['color'])
        """
        return tag_reliability(self.values, self.confidence, {t: p.shape[1] for t, p in self.probabilities.items()},
                               known=known)

    def only(self, types: Sequence[str]) -> "AttributeTags":
        """The tags of some of the types.

        Example:
            >>> enc = lambda texts: np.eye(2)[[0 if "red" in t or "big" in t else 1 for t in texts]]
            >>> tags = tag_attributes(np.eye(2)[[0, 1]], {"color": ["red", "blue"], "size": ["big", "small"]}, enc)
            >>> list(tags.only(["size"]).values.columns)
            ['size']
        """
        types = list(types)
        return AttributeTags(self.values[types], self.confidence[types], self.thresholds[types],
                             {t: self.probabilities[t] for t in types})

    def __repr__(self) -> str:
        shown = ", ".join(f"{t} (>= {v:g})" if v > 0 else f"{t} (argmax)" for t, v in self.thresholds.items())
        return f"AttributeTags({len(self.values)} images; {shown})"


def logit_scale(encoder, scale: float | None = None) -> float:
    """The scale to tag at: ``scale`` when given, else the encoder's CLIP logit scale when it has a
    model that carries one, else CLIP's 100 (the one scale rule; see the module's docstring). The
    model's scale is kept in its embedding cache (:mod:`~drml_widgets.embed.scale_memo`).

    Example:
        >>> logit_scale(lambda texts: None), logit_scale(lambda texts: None, scale=20)
        (100.0, 20.0)
    """
    if scale is not None:
        if isinstance(scale, bool) or not isinstance(scale, (int, float, np.number)) or not 0 < scale < np.inf:
            raise TagError(f"scale must be a positive number (the softmax's logit scale) or None for the encoder's "
                           f"own; got {scale!r}. Fix: leave it out, or pass e.g. 100.")
        return float(scale)
    try:
        kept = kept_logit_scale(encoder)
        if kept is not None and not getattr(encoder, "is_loaded", False):  # a warm start builds no model for it
            return kept
        model = getattr(encoder, "model", None)
    except DrmlError:  # weights that cannot load: tag with cached embeddings at CLIP's usual scale
        return CLIP_SCALE
    scale = getattr(model, "logit_scale", None)
    if scale is None:
        return CLIP_SCALE
    value = float(np.exp(np.asarray(scale.detach().cpu() if hasattr(scale, "detach") else scale, dtype=float)))
    if value != kept:
        keep_logit_scale(encoder, value)
    return value


def _templates_per_type(templates, types: list[str]) -> dict[str, list[str]]:
    if templates is None:
        templates = DEFAULT_TEMPLATES
    if isinstance(templates, str):
        templates = [templates]
    if not isinstance(templates, Mapping):
        templates = {t: templates for t in types}
    missing = [t for t in types if t not in templates]
    if missing:
        raise TagError(f"templates has no entry for types {missing}. Fix: give templates for every type, "
                       "or one list for all.")
    out = {}
    for t in types:
        given = [templates[t]] if isinstance(templates[t], str) else list(templates[t])
        bad = [s for s in given if not isinstance(s, str) or s.count("{}") != 1]
        if not given or bad:
            raise TagError(f"Templates for {t!r} must be strings with exactly one '{{}}' for the value's phrase; "
                           f"got {bad or given}. Fix: e.g. 'a photo of {{}}.'.")
        out[t] = given
    return out


def check_thresholds(min_confidence, types: list[str]) -> pd.Series:
    """Minimum confidence per type (0 where ``None``: argmax), from one value or type -> value.

    Example:
        >>> check_thresholds({"color": 0.5}, ["color", "size"]).tolist()
        [0.5, 0.0]
    """
    given = min_confidence if isinstance(min_confidence, Mapping) else {t: min_confidence for t in types}
    unknown = sorted(set(given) - set(types))
    if unknown:
        raise TagError(f"min_confidence names types {unknown}, which are not among {types}. "
                       "Fix: name types of the attributes.")
    out = {}
    for t in types:
        value = given.get(t)
        value = 0.0 if value is None else value
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not 0 <= value <= 1:
            raise TagError(f"min_confidence for {t!r} must be a probability in [0, 1] or None (argmax); "
                           f"got {value!r}. Fix: e.g. 0.5.")
        out[t] = float(value)
    return pd.Series(out, name="threshold", dtype=float)


def value_embeddings(attributes: AttributeSet, encoder, templates=None,
                     dim: int | None = None) -> dict[str, np.ndarray]:
    """Each type's value embeddings (values x d, unit rows): the mean over templates of each phrase,
    from one call to the encoder for every caption of every type.

    Example:
        >>> enc = lambda texts: np.eye(2)[[0 if "red" in t else 1 for t in texts]]
        >>> value_embeddings(AttributeSet({"color": ["red", "blue"]}), enc)["color"].tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    per_type = _templates_per_type(templates, attributes.types)
    texts = [fix_articles(s.replace("{}", attributes.phrase(t, v)))
             for t in attributes.types for v in attributes.values[t] for s in per_type[t]]
    emb = text_encoder(encoder, error=TagError)(texts)
    if emb.ndim != 2 or len(emb) != len(texts) or (dim is not None and emb.shape[1] != dim):
        raise TagError(f"The encoder returned text embeddings of shape {emb.shape} for {len(texts)} captions; "
                       f"images have dimension {dim}. Fix: encode the captions with the encoder that embedded "
                       "the images.")
    emb = mean_embeddings(check_embeddings(emb, "text embeddings of the attribute captions"),
                          [len(per_type[t]) for t in attributes.types for _ in attributes.values[t]])
    bounds = np.cumsum([0] + [len(attributes.values[t]) for t in attributes.types])
    return {t: emb[bounds[i]: bounds[i + 1]] for i, t in enumerate(attributes.types)}


def mean_embeddings(emb: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    """One unit row per consecutive block of ``counts`` rows: the mean of the block's unit rows,
    so each caption of a value (or tag) weighs the same whatever its norm.

    Example:
        >>> mean_embeddings(np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]]), [2, 1]).round(3).tolist()
        [[0.707, 0.707], [0.0, 1.0]]
    """
    bounds = np.cumsum([0, *counts])
    emb = unit_rows(np.asarray(emb))
    return unit_rows(np.stack([emb[a:b].mean(axis=0) for a, b in zip(bounds[:-1], bounds[1:])]))


def grouped_softmax(image_emb: np.ndarray, prompt_emb: np.ndarray, groups: Sequence[Sequence[int]],
                    scale: float) -> list[np.ndarray]:
    """CLIP's zero-shot probabilities: per group of prompt rows, each image's softmax over its
    cosine similarities to them times ``scale`` (images x group size, in the group's order).

    Prompts in a group compete (a type's values, or a tag and its background); groups do not.

    Example:
        >>> p = grouped_softmax(np.eye(3)[:2], np.eye(3), [[0, 1], [2, 0]], 100.0)
        >>> [g.round(3).tolist() for g in p]
        [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [0.5, 0.5]]]
    """
    logits = scale * (unit_rows(image_emb) @ unit_rows(prompt_emb).T)
    return [softmax(logits[:, list(cols)], axis=1) for cols in groups]


def tag_attributes(image_emb, attributes: AttributeSet | Mapping[str, Sequence[str]], encoder,
                   templates: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
                   min_confidence: float | Mapping[str, float] | None = None,
                   scale: float | None = None) -> AttributeTags:
    """Tag every image with one value of every attribute type, zero-shot with CLIP.

    ``encoder`` is a :class:`~drml_widgets.ClipEncoder` or a callable texts -> embeddings in the
    images' space. ``templates`` are captions with one ``{}`` for a value's phrase (one list, or
    type -> list); the mean embedding over them stands for the value. ``min_confidence`` (one
    probability or type -> probability) turns tags below it into ``"uncertain"``; ``None`` keeps
    every argmax. ``scale=None`` is the encoder model's logit scale (100 without one), see
    :func:`logit_scale`.

    Example:
        >>> from drml_widgets import ClipEncoder, load_shapes_world
        >>> world = load_shapes_world(n=100, seed=1)
        >>> enc = ClipEncoder("shapes")
        >>> x = enc.encode_images(world.images[:20])
        >>> tags = tag_attributes(x, {"color": ["red", "pink", "orange", "green", "cyan", "blue"]}, enc)
        >>> float((tags.values["color"] == world.table["color"][:20]).mean())
        1.0
    """
    if isinstance(attributes, Mapping):
        attributes = AttributeSet({k: list(v) for k, v in attributes.items()})
    if not isinstance(attributes, AttributeSet) or not attributes.values:
        raise TagError(f"attributes must be a non-empty AttributeSet (or dict type -> values); got "
                       f"{type(attributes).__name__}. Fix: e.g. {{'color': ['red', 'blue']}}.")
    single = [t for t, v in attributes.values.items() if len(v) < 2]
    if single:
        raise TagError(f"Types {single} have a single value, which every image would get: tags choose among "
                       "a type's values. Fix: give each type at least two rival values.")
    x = unit_rows(check_embeddings(image_emb, "image embeddings"))
    thresholds = check_thresholds(min_confidence, attributes.types)
    scale = logit_scale(encoder, scale)
    return tags_from_embeddings(x, attributes, value_embeddings(attributes, encoder, templates, dim=x.shape[1]),
                                thresholds, scale)


def tags_from_embeddings(x: np.ndarray, attributes: AttributeSet, embeddings: Mapping[str, np.ndarray],
                         thresholds: pd.Series, scale: float) -> AttributeTags:
    """Tags from unit image rows and each type's value embeddings (see :func:`value_embeddings`).

    Example:
        >>> attrs = AttributeSet({"color": ["red", "blue"]})
        >>> tags = tags_from_embeddings(np.eye(2), attrs, {"color": np.eye(2)}, pd.Series({"color": 0.0}), 100.0)
        >>> tags.values["color"].tolist()
        ['red', 'blue']
    """
    values, confidence, probabilities = {}, {}, {}
    bounds = np.cumsum([0] + [len(attributes.values[t]) for t in attributes.types])
    groups = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    per_type = grouped_softmax(x, np.concatenate([embeddings[t] for t in attributes.types]), groups, scale)
    for t, p in zip(attributes.types, per_type):
        names = np.asarray(attributes.values[t], dtype=object)
        best = p.argmax(axis=1)
        conf = p[np.arange(len(p)), best]
        values[t] = np.where(conf >= thresholds[t], names[best], UNCERTAIN).astype(str)
        confidence[t] = conf
        probabilities[t] = pd.DataFrame(p, columns=list(names))
    return AttributeTags(pd.DataFrame(values), pd.DataFrame(confidence), thresholds, probabilities)
