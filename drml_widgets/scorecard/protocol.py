"""One protocol for every method: each names its top slice and ranks the test images by how
likely they are to belong to it; the scorecard then judges both against the planted slice.

- **precision@10** (dcbench's measure): of the 10 test images a method ranks first for its top
  slice, the share in the planted slice (slots it cannot fill count as misses).
- **exact name**: the top slice's description states exactly the planted conjunction: the same
  attribute values and the slice's class, nothing more, nothing less.
- **values named** (looser): the same attribute values; the class may be left out, not wrong.
- **real failure** (precision of the name): the named slice fails on the test images as a planted
  slice must to be kept: at least ``MIN_SLICE_TEST`` images, and ``MIN_GAP`` below the rest of its
  class (of every image, for a name without a class), the gap :func:`found_gap` measures.
- **failing recall**: the share of the test images in *any* truly failing slice, planted or not,
  that the named slice holds. A correlation fails on both of its sides (the slice pushed to the
  correlated class, and that class where it lacks the values); naming one side scores part.
- **other side**: of a correlation, the named slice is of the class the planted slice is pushed
  to, without the planted values: the side the scorecard does not credit.
- **near in two**: the planted slice, or a slice of its class nested in it or holding it, is the
  top slice or the method's next finding (only methods that give more than one have a next).

For failing recall, a slice (a conjunction of 1-4 attribute values) **truly fails** when it has at least
``MIN_SLICE_TEST`` test images and the model's test accuracy on it is at least ``MIN_GAP`` (30
points) below its accuracy on all test images. Overall accuracy, not the slice's class, is the
reference: a whole class that fails is a failure too, and one reference serves every slice.

How each method picks its top slice and ranks members is in its function's docstring. DrML's
slices and PRIME's modes are ranked by :func:`contrast`, which prefers the slice whose own mean
best separates it from the rest of its class (from everything, for slices that name no class),
so a slice and its sub-slices of the same mean do not tie (by the mean alone the most specific
slice always looks worst), and a class whose text the head reads worse overall does not make
all its slices look worst.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..diagnose.gap import GapCloser
from ..diagnose.slices import ALL, all_slices, image_slice_scores, rows_in_slice
from ..diagnose.surrogate import train_surrogate
from ..diagnose.text_failure import class_populations, contrast, nested
from ..errors import PrimeError
from ..methods.lbee import find_hard_clusters, split_hard_easy
from ..methods.prime import find_failure_modes
from ..methods.tagging import TagVocabulary, tag_images, tags_from_table
from ..prompts.generate import AttributeSet, PromptSpec, generate_prompts
from .baselines import Candidate, domino, plane_projection, planespot, whitened_pca
from .settings import (ATTRIBUTE_SET, CLASS_ATTRIBUTES, MIN_GAP, MIN_SLICE_TEST, NAME_TEMPLATE, TYPES, Outcome, Pool,
                       describe)

TOP_K = 10
# CLIP tags for PRIME: every attribute but the class, in the shapes CLIP's caption form.
TAG_TEMPLATES = {"shape": "a {size} {color} thing {position}.", "size": "a {color} {shape} {position}."}
# Probe prompts: the shapes CLIP's own caption form, plus CLIP's 80-template ensemble (DrML's probe).
PROBE_SPEC = PromptSpec([NAME_TEMPLATE, "{size} {color} {shape} {position}."], ensemble=True,
                        ensemble_phrase="{size} {color} {shape} {position}")


@dataclass(repr=False)
class Found:
    """A method's top slice: the attribute values its description states, and test positions
    ranked most likely member first; ``next``: the names of the findings it gives after the top
    one, where it gives more (the text probe's alternatives)."""

    name: dict
    ranking: np.ndarray
    next: list = field(default_factory=list)


def precision_at_k(ranking: np.ndarray, truth: np.ndarray, k: int = TOP_K) -> float:
    """Share of the first ``k`` ranked images in the planted slice; unfilled slots are misses.

    Example:
        >>> precision_at_k(np.array([0, 2, 1]), np.array([True, False, True]), k=4)
        0.5
    """
    return float(np.asarray(truth)[np.asarray(ranking[:k], dtype=np.int64)].sum()) / k


def exact_name(name: dict, truth: dict) -> bool:
    """The description states exactly the planted values and class.

    Example:
        >>> exact_name({"color": "orange", "shape": "square"}, {"color": "orange", "shape": "square"})
        True
    """
    return dict(name) == dict(truth)


def values_named(name: dict, values: dict, class_attr: str, slice_class: str) -> bool:
    """The description states the planted values; its class, if it names one, is the slice's.

    Example:
        >>> values_named({"color": "orange"}, {"color": "orange"}, "shape", "square")
        True
    """
    rest = {t: v for t, v in name.items() if t != class_attr}
    return rest == dict(values) and name.get(class_attr, slice_class) == slice_class


def found_gap(table: pd.DataFrame, correct: np.ndarray, name: dict, class_attr: str) -> float:
    """How badly a named slice really fails: accuracy of the rest of its population (its class
    when the name states one, else every image) minus the slice's own, on the test images. NaN for
    an empty name or slice. A miss with a large gap named another real failure (a correlation also
    fails the correlated class where it lacks the values).

    Example:
        >>> t = pd.DataFrame({"color": ["red", "red", "blue", "blue"], "shape": ["sq"] * 4})
        >>> found_gap(t, np.array([False, True, True, True]), {"color": "red", "shape": "sq"}, "shape")
        0.5
    """
    inside = rows_in_slice(table, name) if name else np.zeros(len(table), bool)
    if not inside.any():
        return float("nan")
    population = rows_in_slice(table, {class_attr: name[class_attr]}) if class_attr in name else np.ones(len(table), bool)
    rest = population & ~inside
    return float(correct[rest].mean() - correct[inside].mean()) if rest.any() else float("nan")


def truly_failing(table: pd.DataFrame, correct: np.ndarray) -> np.ndarray:
    """Which test images lie in some truly failing slice (see the module's docstring), over every
    conjunction of 1-4 of the table's attribute types.

    Example:
        >>> t = pd.DataFrame({"color": ["red"] * 20 + ["blue"] * 80, "shape": ["sq", "tri"] * 50})
        >>> int(truly_failing(t, np.r_[np.zeros(20, bool), np.ones(80, bool)]).sum())
        20
    """
    correct = np.asarray(correct, dtype=bool)
    types = [t for t in TYPES if t in table.columns]
    inside = np.zeros(len(table), dtype=bool)
    bar = correct.mean() - MIN_GAP + 1e-12  # tolerance: accuracies are ratios of counts
    for r in range(1, len(types) + 1):
        for by in itertools.combinations(types, r):
            group = table[list(by)].assign(correct=correct).groupby(list(by), observed=True)["correct"]
            inside |= ((group.transform("size") >= MIN_SLICE_TEST) & (group.transform("mean") <= bar)).to_numpy()
    return inside


def real_failure(table: pd.DataFrame, correct: np.ndarray, name: dict, class_attr: str) -> bool:
    """The named slice fails by the rule that keeps a planted one (see the module's docstring);
    False for an empty name.

    Example:
        >>> t = pd.DataFrame({"color": ["red"] * 20 + ["blue"] * 80, "shape": ["sq"] * 100})
        >>> real_failure(t, np.r_[np.zeros(20, bool), np.ones(80, bool)], {"color": "red"}, "shape")
        True
    """
    if not name:
        return False
    gap = found_gap(table, np.asarray(correct, dtype=bool), name, class_attr)
    return bool(rows_in_slice(table, name).sum() >= MIN_SLICE_TEST and gap >= MIN_GAP - 1e-12)


def failing_recall(table: pd.DataFrame, failing: np.ndarray, name: dict) -> float:
    """Share of the images in truly failing slices (``failing``, from :func:`truly_failing`) that
    the named slice holds; NaN when nothing truly fails.

    Example:
        >>> t = pd.DataFrame({"color": ["red", "red", "blue", "blue"]})
        >>> failing_recall(t, np.array([True, False, True, False]), {"color": "red"})
        0.5
    """
    failing = np.asarray(failing, dtype=bool)
    if not failing.any():
        return float("nan")
    inside = rows_in_slice(table, name) if name else np.zeros(len(table), bool)
    return float((inside & failing).sum() / failing.sum())


def near_in(names: list[dict], truth: dict, class_attr: str) -> bool:
    """Some name is the planted slice's class and nested with it (the one holds the other).

    Example:
        >>> truth = {"color": "red", "shape": "sq"}
        >>> near_in([{"color": "blue", "shape": "sq"}, {"shape": "sq", "color": "red", "size": "large"}], truth, "shape")
        True
        >>> near_in([{"color": "red"}], truth, "shape")
        False
    """
    return any(name.get(class_attr) == truth[class_attr] and nested(name, truth) for name in names)


def other_side(name: dict, values: dict, class_attr: str, target: str) -> bool:
    """The name states the correlated class (``target``, where the planted slice is pushed) and
    not every planted value: a slice on the correlation's other side (a correlation of "lower
    left" with *large* also fails large shapes elsewhere, and text cannot tell the sides apart).

    Example:
        >>> other_side({"size": "large", "position": "upper right"}, {"position": "lower left"}, "size", "large")
        True
        >>> other_side({"size": "medium", "position": "lower left"}, {"position": "lower left"}, "size", "large")
        False
    """
    return name.get(class_attr) == target and any(name.get(t) != v for t, v in values.items())


@dataclass(repr=False)
class Context:
    """What every setting on one pool shares, computed once: test embeddings, probe prompts and
    their embeddings, naming sentences (every combination of 1-4 attribute types), CLIP and table
    tags, and the baselines' reduced embeddings."""

    pool: Pool
    encoder: object
    test_emb: np.ndarray = field(init=False)
    test_table: pd.DataFrame = field(init=False)
    probes: dict = field(init=False)
    probe_emb: np.ndarray = field(init=False)
    sentences: pd.DataFrame = field(init=False)
    sentence_emb: np.ndarray = field(init=False)
    closer: GapCloser = field(init=False)
    closed_test: np.ndarray = field(init=False)
    closed_sentences: np.ndarray = field(init=False)
    tags: dict = field(init=False)
    pca: np.ndarray = field(init=False)
    plane: np.ndarray = field(init=False)

    def __post_init__(self):
        self.test_emb = self.pool.emb[self.pool.test]
        self.test_table = self.pool.test_table
        self.probes = {c: generate_prompts(ATTRIBUTE_SET, PROBE_SPEC, c, list(ATTRIBUTE_SET.values[c]))
                       for c in CLASS_ATTRIBUTES}
        # Same texts under both class attributes (only labels differ): embed them once.
        self.probe_emb = self.encoder.encode_texts(self.probes[CLASS_ATTRIBUTES[0]]["prompt"].tolist())
        combos = [dict(zip(types, vals)) for r in range(1, len(TYPES) + 1) for types in itertools.combinations(TYPES, r)
                  for vals in itertools.product(*(ATTRIBUTE_SET.values[t] for t in types))]
        self.sentences = pd.DataFrame({"slice": combos, "prompt": [describe(c) for c in combos]})
        self.sentence_emb = self.encoder.encode_texts(self.sentences["prompt"].tolist())
        self.closer = GapCloser.fit(self.test_emb, self.sentence_emb)
        # Every setting retrieves and names through these: close them once.
        self.closed_test = self.closer.transform(self.test_emb, "image")
        self.closed_sentences = self.closer.transform(self.sentence_emb, "text")
        self.tags = {}
        for c in CLASS_ATTRIBUTES:
            types = [t for t in TYPES if t != c]
            vocab = TagVocabulary.from_attributes(AttributeSet({t: ATTRIBUTE_SET.values[t] for t in types},
                                                               {"position": ATTRIBUTE_SET.phrases["position"]}),
                                                  [TAG_TEMPLATES[c]])
            clip = tag_images(self.test_emb, vocab, self.encoder)
            # Only the tags: PRIME groups this table, and pandas compares .attrs (where tag_images may
            # keep its reliability check) whenever it combines frames.
            clip.attrs = {}
            self.tags[c] = {"table": tags_from_table(self.test_table, types), "clip": clip}
        self.pca = whitened_pca(self.test_emb, seed=self.pool.seed)
        self.plane = plane_projection(self.test_emb, seed=self.pool.seed)

    def name_nearest(self, weights: np.ndarray) -> dict:
        """The slice of the sentence nearest the weighted mean image, both modalities centred."""
        mean = (weights[:, None] * self.test_emb).sum(axis=0) / max(weights.sum(), 1e-12)
        image = self.closer.transform(mean[None], "image")[0]
        best = int(np.argmax(self.closed_sentences @ image))
        return dict(self.sentences["slice"].iloc[best])

    def __repr__(self) -> str:
        return (f"Context({len(self.test_emb)} test images, {len(self.probe_emb)} probe prompts, "
                f"{len(self.sentences)} naming sentences)")


def _true_proba(out: Outcome) -> np.ndarray:
    return out.proba[np.arange(len(out.labels)), out.labels]


def _errors_first(out: Outcome, members: np.ndarray) -> np.ndarray:
    """Members ordered by the model's probability of their true label, lowest first."""
    return members[np.argsort(_true_proba(out)[members], kind="stable")]


def _slice_name(row: pd.Series) -> dict:
    return {t: row[t] for t in TYPES if row[t] != ALL}


# -- DrML -------------------------------------------------------------------------------------------
def probe_head(ctx: Context, out: Outcome, seed: int = 0) -> tuple:
    """The head DrML's text probe reads, and the images it was trained on: the CLIP head and the
    setting's training images, or for the CNN a surrogate trained on the test images' CLIP
    embeddings to reproduce its predictions."""
    if out.head is not None:
        return out.head, ctx.pool.emb[out.setting.train_rows]
    return train_surrogate(ctx.test_emb, out.predictions, out.setting.classes, seed=seed).head, ctx.test_emb


def text_proba(ctx: Context, head, trained_on: np.ndarray) -> np.ndarray:
    """Class probabilities of the probe prompts under ``head``, moved across the gap to the side
    of the images it was trained on (only their mean is used)."""
    return head.predict_proba(GapCloser.fit(trained_on, ctx.probe_emb).text_onto_images(ctx.probe_emb))


def retrieve(ctx: Context, out: Outcome, name: dict) -> Found:
    """A text-named slice's members: test images ranked by CLIP similarity to the slice's mean
    probe prompt (gap closed), as a user would retrieve them from the description."""
    prompts = ctx.probes[out.setting.class_attr]
    text = ctx.probe_emb[rows_in_slice(prompts, name)].mean(axis=0, keepdims=True)
    sims = ctx.closed_test @ ctx.closer.transform(text, "text")[0]
    return Found(name, np.argsort(-sims, kind="stable"))


def drml_text_mean(ctx: Context, out: Outcome, proba: np.ndarray) -> Found:
    """DrML's raw ranking: every slice of every attribute subset scored by the mean true-label
    probability (``proba``, from :func:`text_proba`) over its prompts, the lowest mean named and
    retrieved (:func:`retrieve`). The session's text probe (``drml_text``, the registered
    ``text_failure``) ranks by contrast instead."""
    return retrieve(ctx, out, _slice_name(all_slices(proba, ctx.probes[out.setting.class_attr], list(TYPES)).iloc[0]))


def drml_image(ctx: Context, out: Outcome) -> Found:
    """DrML's image slices: every slice of every attribute subset scored by image accuracy on the
    test images, the top one by :func:`contrast`. Members: the slice's images, errors first."""
    correct = out.predictions == out.labels
    frames = []
    for r in range(1, len(TYPES) + 1):
        for by in itertools.combinations(TYPES, r):
            frames.append(image_slice_scores(out.predictions, out.labels, ctx.test_table, list(by)))
    scored = pd.concat(frames, ignore_index=True)
    score = contrast(scored["image_acc"], scored["n_images"],
                     *class_populations(scored[out.setting.class_attr], correct, out.labels, out.setting.classes))
    top = scored.iloc[int(np.argmax(score))]
    name = {t: top[t] for t in TYPES if t in top and pd.notna(top[t])}
    return Found(name, _errors_first(out, np.flatnonzero(rows_in_slice(ctx.test_table, name))))


# -- PRIME, LBEE ------------------------------------------------------------------------------------
def prime(ctx: Context, out: Outcome, tags: str) -> Found | None:
    """PRIME over ``table`` (true attributes) or ``clip`` (CLIP zero-shot) tags of the test images,
    with groups of at least 10 images and an accuracy drop of at least 0.1 (the paper's 30 and 0.3
    are for thousands of images per class); the top mode by :func:`contrast`. Members: the mode's
    images, errors first. None when PRIME finds no mode."""
    s = out.setting
    try:
        result = find_failure_modes(ctx.tags[s.class_attr][tags], out.predictions, out.labels, s.classes, s=10, a=0.1)
    except PrimeError:
        return None
    if not len(result.modes):
        return None
    correct = out.predictions == out.labels
    score = contrast(result.modes["accuracy"], result.modes["n_images"],
                     *class_populations(result.modes["class"], correct, out.labels, s.classes))
    i = result.modes.index[int(np.argmax(score))]
    mode = result.modes.loc[i]
    owner = {v: t for t in TYPES for v in ATTRIBUTE_SET.values[t]}
    name = {owner[tag]: tag for tag in mode["tags"]} | {s.class_attr: mode["class"]}
    return Found(name, _errors_first(out, result.members(i)))


def lbee(ctx: Context, out: Outcome, seed: int = 0) -> Found | None:
    """LBEE: hard (wrong) and easy test images in 5 Ward clusters each; the top slice is the
    largest hard cluster, named by its FPDiff sentence (k=1) among the naming sentences, with LBEE's
    own tau (calibrated to the CLIP in use). Members: the cluster's images, nearest its prototype
    first."""
    split = split_hard_easy(predictions=out.predictions, labels=out.labels)
    hard = split == "hard"
    if not hard.any() or hard.all():
        return None
    result = find_hard_clusters(ctx.test_emb, split, ctx.sentences["prompt"].tolist(), ctx.sentence_emb,
                              n_clusters=5, k=1, seed=seed)
    top = int(result.clusters.sort_values("n_images", ascending=False, kind="stable")["cluster"].iloc[0])
    chosen = result.selections[(result.selections["method"] == "FPDiff") & (result.selections["cluster"] == top)]
    sentence = chosen["sentence"].iloc[0]
    name = dict(ctx.sentences.loc[ctx.sentences["prompt"] == sentence, "slice"].iloc[0])
    members = np.flatnonzero(result.assignments == top)
    proto = ctx.test_emb[members].mean(axis=0)
    return Found(name, members[np.argsort(-(ctx.test_emb[members] @ proto), kind="stable")])


# -- baselines --------------------------------------------------------------------------------------
def _named(ctx: Context, cand: Candidate | None) -> Found | None:
    return None if cand is None else Found(ctx.name_nearest(cand.weights), cand.ranking)


def domino_style(ctx: Context, out: Outcome, seed: int = 0) -> Found | None:
    """Domino-style mixture (see :mod:`.baselines`), named by the nearest sentence."""
    return _named(ctx, domino(ctx.pca, out.labels, out.proba, seed=seed))


def planespot_style(ctx: Context, out: Outcome, seed: int = 0) -> Found | None:
    """PlaneSpot-style clusters (see :mod:`.baselines`), named by the nearest sentence."""
    return _named(ctx, planespot(ctx.plane, out.labels, out.proba, seed=seed))
