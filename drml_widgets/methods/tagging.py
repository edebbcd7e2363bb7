"""Image tags for PRIME (paper 001): CLIP zero-shot over a tag vocabulary, or a precomputed table.

The paper tags images with a dedicated tagging model; here CLIP scores every image against each
tag's prompts. Tags in a group (the values of one attribute, say the colours) compete through a
softmax, as in zero-shot classification; a tag outside any group competes with a neutral
background prompt. Softmax and scale are those of the one zero-shot tagger,
:mod:`drml_widgets.diagnose.zero_shot`: :func:`~drml_widgets.diagnose.zero_shot.grouped_softmax`
at the model's own logit scale (:func:`~drml_widgets.diagnose.zero_shot.logit_scale`; that module
gives the measurements behind the rule). Each tag then has its own threshold on that probability,
set by the user or calibrated on images whose true tags are known. A tag table is a boolean
DataFrame, one row per image and one column per tag; :func:`check_tag_table` accepts one computed
any other way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .._common import text_encoder
from ..diagnose.tag_reliability import TagReliability, tag_reliability
from ..diagnose.validate import check_embeddings
from ..diagnose.zero_shot import grouped_softmax, logit_scale, mean_embeddings
from ..errors import TagError, UnknownTagError
from ..prompts.generate import AttributeSet, PromptSpec, generate_prompts


def check_known(tags: Sequence[str], known: Sequence[str], where: str) -> list[str]:
    """Return ``tags`` as a list, or raise naming those missing from ``known``.

    Example:
        >>> check_known(["red"], ["red", "blue"], "thresholds")
        ['red']
    """
    tags = [tags] if isinstance(tags, str) else list(tags)
    unknown = [t for t in tags if t not in set(known)]
    if unknown:
        shown = list(known)[:20]
        raise UnknownTagError(
            f"{where} names tags {unknown} that are not in the vocabulary {shown}"
            f"{' ...' if len(known) > 20 else ''}. Fix: use tags of the vocabulary, or add them to it."
        )
    return tags


@dataclass
class TagVocabulary:
    """Tags with the prompts that stand for them, and groups of mutually exclusive tags.

    ``prompts`` maps each tag to one or more sentences; their mean text embedding represents the
    tag. ``groups`` maps a group name to its tags (each tag in at most one group); tags of a group
    are scored against each other. ``background`` is the rival prompt of ungrouped tags.

    Example:
        >>> vocab = TagVocabulary.from_tags({"color": ["red", "green"]}, template="something {}.")
        >>> vocab.tags, vocab.prompts["red"]
        (['red', 'green'], ['something red.'])
    """

    prompts: dict[str, list[str]]
    groups: dict[str, list[str]] = field(default_factory=dict)
    background: str = "a photo."

    def __post_init__(self):
        if not self.prompts:
            raise TagError("The tag vocabulary is empty. Fix: give at least one tag with a prompt.")
        cleaned = {}
        for tag, texts in self.prompts.items():
            texts = [texts] if isinstance(texts, str) else list(texts)
            if not str(tag).strip() or not texts or any(not str(t).strip() for t in texts):
                raise TagError(f"Tag {tag!r} has an empty name or no prompt. Fix: give it a name and a sentence.")
            cleaned[str(tag)] = [str(t) for t in texts]
        self.prompts = cleaned
        seen: dict[str, str] = {}
        for group, members in self.groups.items():
            check_known(members, self.tags, f"Group {group!r}")
            for tag in members:
                if tag in seen:
                    raise TagError(f"Tag {tag!r} is in groups {seen[tag]!r} and {group!r}. Fix: put it in one.")
                seen[tag] = group
        self.groups = {g: list(m) for g, m in self.groups.items()}

    @property
    def tags(self) -> list[str]:
        """Every tag, in vocabulary order."""
        return list(self.prompts)

    @classmethod
    def from_tags(cls, tags: Sequence[str] | Mapping[str, Sequence[str]], template: str = "a photo of {}.",
                  background: str = "a photo.") -> "TagVocabulary":
        """One prompt per tag from ``template``; a mapping of group -> tags makes groups.

        Example:
            >>> TagVocabulary.from_tags(["snow", "grass"]).groups
            {}
        """
        grouped = dict(tags) if isinstance(tags, Mapping) else {}
        names = [t for ts in grouped.values() for t in ts] if grouped else list(tags)
        return cls({t: [template.format(t)] for t in names}, grouped, background)

    @classmethod
    def from_attributes(cls, attributes: AttributeSet, templates: Sequence[str]) -> "TagVocabulary":
        """One tag per attribute value, grouped by attribute type, with the engine's prompts.

        Prompts of every combination are written through ``templates``; a tag stands for the
        mean of the prompts that contain its value, so the other attributes are averaged out.

        Example:
            >>> attrs = AttributeSet({"color": ["red", "green"], "size": ["small", "large"]})
            >>> vocab = TagVocabulary.from_attributes(attrs, ["a {size} {color} thing."])
            >>> vocab.groups, vocab.prompts["red"]
            ({'color': ['red', 'green'], 'size': ['small', 'large']}, ['a small red thing.', 'a large red thing.'])
        """
        prompts = generate_prompts(attributes, PromptSpec(list(templates)))
        owner: dict[str, str] = {}
        for kind, values in attributes.values.items():
            for v in values:
                if v in owner:
                    raise TagError(f"Value {v!r} belongs to {owner[v]!r} and {kind!r}; tag names must be unique. "
                                   "Fix: rename one of the values.")
                owner[v] = kind
        texts = {v: prompts.loc[prompts[kind] == v, "prompt"].tolist() for v, kind in owner.items()}
        return cls(texts, {k: list(v) for k, v in attributes.values.items()})

    def __repr__(self) -> str:
        groups = ", ".join(f"{g}={len(m)}" for g, m in self.groups.items())
        return f"TagVocabulary({len(self.prompts)} tags; groups: {groups or 'none'})"


def tag_scores(image_emb, vocabulary: TagVocabulary, encoder, scale: float | None = None) -> pd.DataFrame:
    """Probability of every tag for every image, from CLIP similarities.

    ``encoder`` is a :class:`~drml_widgets.ClipEncoder` or any callable turning a list of texts into
    rows in the images' space. A grouped tag's probability is the softmax over its group; an
    ungrouped tag's is the softmax against ``vocabulary.background``. ``scale=None`` is the
    encoder model's logit scale (100 without one); a number overrides it.

    Example:
        >>> enc = lambda texts: np.eye(3, dtype=np.float32)[[["red", "green", "a photo."].index(t) for t in texts]]
        >>> vocab = TagVocabulary({"red": ["red"], "green": ["green"]}, {"color": ["red", "green"]})
        >>> tag_scores(np.eye(3, dtype=np.float32)[:2], vocab, enc).round(3).to_dict("list")
        {'red': [1.0, 0.0], 'green': [0.0, 1.0]}
    """
    x = check_embeddings(image_emb, "image embeddings")
    encode = text_encoder(encoder, error=TagError)
    tags = vocabulary.tags
    texts = [p for t in tags for p in vocabulary.prompts[t]] + [vocabulary.background]
    emb = encode(texts)
    if emb.ndim != 2 or emb.shape[1] != x.shape[1]:
        raise TagError(f"Text embeddings have shape {emb.shape}; images have dimension {x.shape[1]}. "
                       "Fix: encode tags with the encoder that embedded the images.")
    # Rows: one per tag (its prompts' mean), then the background, which only ungrouped tags face.
    prompt_emb = mean_embeddings(emb, [len(vocabulary.prompts[t]) for t in tags] + [1])
    background = len(tags)
    groups = [[tags.index(t) for t in members] for members in vocabulary.groups.values()]
    grouped = {j for cols in groups for j in cols}
    groups += [[j, background] for j in range(len(tags)) if j not in grouped]
    out = np.empty((len(x), len(tags)), dtype=np.float64)
    for cols, p in zip(groups, grouped_softmax(x, prompt_emb, groups, logit_scale(encoder, scale))):
        tag_cols = [j for j in cols if j != background]
        out[:, tag_cols] = p[:, :len(tag_cols)]
    return pd.DataFrame(out, columns=tags)


def calibrate_thresholds(scores: pd.DataFrame, truth: pd.DataFrame) -> pd.Series:
    """Per-tag thresholds that best separate images with and without each tag (Youden's J).

    ``truth`` is a boolean table of the true tags of the same images (a labelled sample is
    enough); tags it lacks are not calibrated. Returns a Series tag -> threshold.

    Example:
        >>> scores = pd.DataFrame({"red": [0.9, 0.7, 0.2, 0.1]})
        >>> calibrate_thresholds(scores, pd.DataFrame({"red": [True, True, False, False]})).round(2).tolist()
        [0.7]
    """
    from sklearn.metrics import roc_curve

    check_known(truth.columns, scores.columns, "The truth table")
    if len(truth) != len(scores):
        raise TagError(f"truth has {len(truth)} rows but there are {len(scores)} scored images. "
                       "Fix: give the true tags of the same images, in the same order.")
    out = {}
    for tag in truth.columns:
        y = truth[tag].to_numpy(dtype=bool)
        if y.all() or not y.any():
            lacking = "without" if y.all() else "with"
            raise TagError(f"Cannot calibrate {tag!r}: the truth table has no images {lacking} it. "
                           "Fix: calibrate on images with and without the tag, or set its threshold by hand.")
        fpr, tpr, thresholds = roc_curve(y, scores[tag].to_numpy())
        out[tag] = float(thresholds[np.argmax(tpr - fpr)])
    return pd.Series(out, name="threshold")


def apply_thresholds(scores: pd.DataFrame, thresholds: float | Mapping[str, float] | pd.Series = 0.5,
                     default: float = 0.5) -> pd.DataFrame:
    """Boolean tag table: a tag is on where its score reaches its threshold.

    ``thresholds`` is one value for every tag or a mapping tag -> value (others use ``default``).

    Example:
        >>> scores = pd.DataFrame({"red": [0.9, 0.2], "green": [0.1, 0.8]})
        >>> apply_thresholds(scores, {"green": 0.9}).to_dict("list")
        {'red': [True, False], 'green': [False, False]}
    """
    if isinstance(thresholds, (int, float)):
        per_tag = pd.Series(float(thresholds), index=scores.columns)
    else:
        given = pd.Series(thresholds, dtype=float)
        check_known(given.index, scores.columns, "thresholds")
        per_tag = pd.Series(default, index=scores.columns, dtype=float)
        per_tag[given.index] = given
    return scores.ge(per_tag, axis=1)


def group_reliability(scores: pd.DataFrame, vocabulary: TagVocabulary,
                      known: pd.DataFrame | None = None) -> TagReliability:
    """Whether CLIP's tags of each group (of two or more tags) can be trusted: confidence over
    chance, and not standing in for another group (see :mod:`drml_widgets.diagnose.tag_reliability`).
    ``known``: true values of some groups (a column per group holding tag names, NaN where unknown).

    Example:
        >>> vocab = TagVocabulary({"red": ["red"], "green": ["green"]}, {"color": ["red", "green"]})
        >>> scores = pd.DataFrame({"red": [0.9, 0.1], "green": [0.1, 0.9]})
        >>> group_reliability(scores, vocab).unreliable, group_reliability(scores, vocab, scores[[]].assign(
        ...     color=["green", "red"])).unreliable
        ([], ['color'])
    """
    groups = {g: m for g, m in vocabulary.groups.items() if len(m) > 1}
    if known is not None:  # a group of one tag is not checked: nothing to ground
        known = known[[g for g in known.columns if g in groups or g not in vocabulary.groups]]
    values = {g: np.asarray(m)[scores[m].to_numpy().argmax(axis=1)] for g, m in groups.items()}
    confidence = {g: scores[m].to_numpy().max(axis=1) for g, m in groups.items()}
    return tag_reliability(pd.DataFrame(values), pd.DataFrame(confidence), {g: len(m) for g, m in groups.items()},
                           known=known)


def tag_images(image_emb, vocabulary: TagVocabulary, encoder, thresholds=0.5,
               scale: float | None = None, drop_unreliable: bool = True,
               known: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tag images with CLIP in one call: :func:`tag_scores` then :func:`apply_thresholds`
    (``scale=None``: the encoder model's logit scale).

    Each group of tags is first checked (:func:`group_reliability`, with ``known`` true values of
    some groups where you have them: they decide which groups CLIP reads): a group CLIP tags with
    no more confidence than chance, or whose tags follow another group's (position read off
    colour), is named in a warning and, with ``drop_unreliable``, left out, so PRIME and
    spurious-attribute detection never build on it.

    Example:
        >>> encode = lambda texts: np.eye(3, dtype=np.float32)[[["red", "green", "a photo."].index(t) for t in texts]]
        >>> vocab = TagVocabulary({"red": ["red"], "green": ["green"]}, {"color": ["red", "green"]})
        >>> tag_images(np.eye(3, dtype=np.float32)[:2], vocab, encode).to_dict("list")
        {'red': [True, False], 'green': [False, True]}
    """
    scores = tag_scores(image_emb, vocabulary, encoder, scale)
    tags = apply_thresholds(scores, thresholds)
    if not any(len(m) > 1 for m in vocabulary.groups.values()):
        return tags
    reliability = group_reliability(scores, vocabulary, known)
    reliability.warn()
    if drop_unreliable:
        tags = tags.drop(columns=[t for g in reliability.unreliable for t in vocabulary.groups[g]])
    return tags


def tags_from_table(table: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A boolean tag table from attribute columns: each value becomes a tag (ground-truth tags).

    Example:
        >>> tags_from_table(pd.DataFrame({"size": ["small", "large"]}), ["size"]).to_dict("list")
        {'small': [True, False], 'large': [False, True]}
    """
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise TagError(f"Columns {missing} are not in the table {list(table.columns)}. Fix: name its columns.")
    parts = {}
    for col in columns:
        for value in pd.unique(table[col].dropna()):
            if str(value) in parts:
                raise TagError(f"Value {value!r} of {col!r} is also a value of another column; tag names must be "
                               "unique. Fix: rename one of the values.")
            parts[str(value)] = (table[col] == value).to_numpy()
    return pd.DataFrame(parts, index=table.index).reset_index(drop=True)


def check_tag_table(tags: pd.DataFrame, n: int | None = None, name: str = "tags") -> pd.DataFrame:
    """Return a precomputed tag table as booleans, or raise naming what is wrong with it.

    Example:
        >>> check_tag_table(pd.DataFrame({"red": [1, 0]}), n=2).dtypes.tolist()
        [dtype('bool')]
    """
    if not isinstance(tags, pd.DataFrame):
        raise TagError(f"{name} must be a DataFrame (one row per image, one boolean column per tag); "
                       f"got {type(tags).__name__}.")
    if n is not None and len(tags) != n:
        raise TagError(f"{name} has {len(tags)} rows but there are {n} images. Fix: one row per image, in order.")
    if tags.columns.duplicated().any():
        raise TagError(f"{name} repeats tags {sorted(set(tags.columns[tags.columns.duplicated()]))}. "
                       "Fix: give each tag one column.")
    values = tags.to_numpy()
    if tags.isna().any().any() or not np.isin(values, [0, 1]).all():
        raise TagError(f"{name} must hold only True/False (or 1/0), without missing values. "
                       "Fix: threshold scores with apply_thresholds first.")
    return tags.astype(bool).reset_index(drop=True).rename(columns=str)


def tagging_accuracy(tags: pd.DataFrame, truth: pd.DataFrame, groups: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Per group, the share of images whose tags in that group are exactly the true ones.

    Example:
        >>> tags = pd.DataFrame({"red": [True, False], "green": [False, False]})
        >>> tagging_accuracy(tags, tags.assign(green=[False, True]), {"color": ["red", "green"]})["accuracy"].tolist()
        [0.5]
    """
    rows = []
    for group, members in groups.items():
        members = check_known(members, tags.columns, f"Group {group!r}")
        check_known(members, truth.columns, f"Group {group!r} (truth table)")
        same = (tags[members].to_numpy(bool) == truth[members].to_numpy(bool)).all(axis=1)
        rows.append({"group": group, "accuracy": float(same.mean()), "n_images": len(same)})
    return pd.DataFrame(rows, columns=["group", "accuracy", "n_images"])
