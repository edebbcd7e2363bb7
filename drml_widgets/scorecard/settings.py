"""Planted failures in the shapes world: one rendered and embedded pool, many settings.

The pool is rendered and encoded once; a setting only re-draws which pool rows train the model
and what their labels are. Each setting plants ONE failure on a slice S (one or two attribute
values of a class c'), of one of three kinds:

- ``correlation``: of the training images that carry the values, a share p (0.9-1.0) is of
  class c and the rest of c', so the values predict c and S = values & c' is pushed towards c
  (0.8 of c's images carry them; the rest of c stays common enough that S is what fails);
- ``rare``: S makes up 0-2% of class c' in training, everything else uniform;
- ``noisy``: S's training labels are flipped to c, everything else uniform.

The model is a linear head on CLIP embeddings or the example CNN on pixels. A setting is kept
only when S really fails on the uniform test rows (accuracy at least ``MIN_GAP`` below the rest
of c', and below every wider slice of c' that drops a planted value) and fails worst among the
slices that fix the same attribute types; the others are reported as dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.shapes import ATTRIBUTES, render_table, sample_attributes
from ..diagnose.heads import train_head
from ..diagnose.slices import image_slice_scores, rows_in_slice
from ..errors import ScorecardError
from ..methods.blackbox import train_black_box
from ..prompts.generate import AttributeSet, render

KINDS = ("correlation", "rare", "noisy")
MODELS = ("head", "cnn")
CLASS_ATTRIBUTES = ("shape", "size")
TYPES = ("color", "shape", "size", "position")
# A planted slice must fail by this much against the rest of its class to count as planted.
MIN_GAP = 0.30
# Below this many test images a slice cannot fill a top-10 and its accuracy is noise.
MIN_SLICE_TEST = 20
# Prompts and names share one phrasing; positions read "in the upper left".
ATTRIBUTE_SET = AttributeSet({t: list(ATTRIBUTES[t]) for t in TYPES},
                             phrases={"position": {p: f"in the {p}" for p in ATTRIBUTES["position"]}})
NAME_TEMPLATE = "a {size} {color} {shape} {position}."


@dataclass(repr=False)
class Pool:
    """Images of every attribute combination, their CLIP embeddings, and which rows are test.

    ``table`` has ``color, shape, size, position``; ``test`` marks the uniform evaluation rows
    (every method sees only these); the other rows are the training pool settings draw from.

    Example:
        >>> pool = Pool.from_arrays(sample_attributes(400), np.zeros((400, 64, 64, 3), np.uint8),
        ...                         np.ones((400, 8), np.float32))
        >>> pool
        Pool(400 images: 300 training pool, 100 test)
    """

    table: pd.DataFrame
    images: np.ndarray
    emb: np.ndarray
    test: np.ndarray
    seed: int = 0

    @classmethod
    def from_arrays(cls, table: pd.DataFrame, images: np.ndarray, emb: np.ndarray, test_share: float = 0.25,
                    seed: int = 0) -> "Pool":
        """A pool from a rendered table, its images and their embeddings; a seeded ``test_share``
        of rows is the test set."""
        if not len(table) == len(images) == len(emb):
            raise ScorecardError(f"table ({len(table)}), images ({len(images)}) and embeddings ({len(emb)}) "
                                 "differ in length. Fix: pass one row, image and embedding per rendered shape.")
        if not 0 < test_share < 1:
            raise ScorecardError(f"test_share must lie in (0, 1); got {test_share}.")
        test = np.zeros(len(table), dtype=bool)
        test[np.random.default_rng(seed + 1).permutation(len(table))[: int(len(table) * test_share)]] = True
        return cls(table[list(TYPES)].reset_index(drop=True), images, np.asarray(emb, np.float32), test, seed)

    @property
    def test_table(self) -> pd.DataFrame:
        """The attribute table of the pool's test images, indexed from 0."""
        return self.table[self.test].reset_index(drop=True)

    def __repr__(self) -> str:
        return f"Pool({len(self.table)} images: {int((~self.test).sum())} training pool, {int(self.test.sum())} test)"


def load_pool(n: int = 12_000, seed: int = 0, encoder=None) -> Pool:
    """Render ``n`` uniformly drawn shapes once and encode them with the shapes CLIP (cached on disk,
    so only the first run of a seed pays the encoding: about 2 minutes for 12,000 on 2 cores).

    Example:
        >>> load_pool(n=100).emb.shape
        (100, 64)
    """
    from ..embed.encoder import ClipEncoder

    table = sample_attributes(n, seed=seed)
    images = render_table(table, seed=seed)
    encoder = encoder or ClipEncoder("shapes")
    return Pool.from_arrays(table, images, encoder.encode_images(images), seed=seed)


@dataclass(repr=False)
class Setting:
    """One planted failure: what was planted, on which slice, and the training rows and labels.

    ``values`` are the planted attribute values (one or two); the ground-truth slice ``truth``
    adds the class whose images fail (``slice_class``); ``target`` is the class they are pushed
    towards. ``strength`` is p = P(target | values) for ``correlation``, S's share of its class
    for ``rare`` and the flipped share (1.0) for ``noisy``. Rows index the pool.
    """

    id: int
    kind: str
    model: str
    class_attr: str
    values: dict
    slice_class: str
    target: str
    strength: float
    train_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    train_labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    val_rows: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    val_labels: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def classes(self) -> list[str]:
        """The class names: the values of the setting's class attribute."""
        return list(ATTRIBUTES[self.class_attr])

    @property
    def truth(self) -> dict:
        """The planted slice: its attribute values and its class."""
        return {**self.values, self.class_attr: self.slice_class}

    @property
    def name(self) -> str:
        """The planted slice in words, e.g. "an orange square."."""
        return describe(self.truth)

    def row(self) -> dict:
        """The setting as one flat record (for tables and CSV)."""
        return {"setting": self.id, "kind": self.kind, "model": self.model, "class_attr": self.class_attr,
                "planted": self.name, "target": self.target,
                "planted_types": "+".join(t for t in TYPES if t in self.values),
                "n_values": len(self.values), "strength": round(self.strength, 4), "n_train": len(self.train_rows)}

    def __repr__(self) -> str:
        return (f"Setting({self.id}, {self.kind}, {self.model}, class={self.class_attr}, slice={self.name!r} "
                f"pushed to {self.target!r}, strength={self.strength:.3f}, {len(self.train_rows)} training rows)")


def describe(values: dict) -> str:
    """A slice's attribute values in words, the way prompts write them ("thing" without a shape).

    Example:
        >>> describe({"color": "orange", "shape": "square", "position": "upper left"})
        'an orange square in the upper left.'
        >>> describe({"size": "small", "color": "orange"})
        'a small orange thing.'
    """
    words = {t: ATTRIBUTE_SET.phrase(t, v) for t, v in values.items()}
    return render(NAME_TEMPLATE, {"shape": "thing", **words})


# Share of the correlated class's training images that carry the planted values.
CORRELATED_SHARE = 0.8


def _share(kind: str, strength: float, k: int, slice_class: int, target: int) -> float | None:
    """Share of class k's training images that carry the planted values (None: drawn uniformly)."""
    if kind == "correlation" and k in (slice_class, target):
        # P(target | values) = strength among the two classes, with equal class sizes.
        return CORRELATED_SHARE if k == target else CORRELATED_SHARE * (1.0 - strength) / strength
    if kind == "rare" and k == slice_class:
        return strength
    return None


def draw_setting(pool: Pool, rng: np.random.Generator, setting_id: int, kind: str, model: str,
                 class_attr: str | None = None, per_class: int | None = None, val_share: float = 0.2) -> Setting:
    """Draw one planted failure and its training rows: ``per_class`` per class (balanced; by
    default drawn log-uniformly in 60-300, fewer when the pool lacks the rows a plan needs).

    Example:
        >>> pool = Pool.from_arrays(sample_attributes(6000), np.zeros((6000, 1, 1, 3), np.uint8),
        ...                         np.ones((6000, 4), np.float32))
        >>> s = draw_setting(pool, np.random.default_rng(0), 0, "rare", "head", "shape")
        >>> s.kind, s.class_attr, len(s.train_rows) > 0
        ('rare', 'shape', True)
    """
    if kind not in KINDS or model not in MODELS:
        raise ScorecardError(f"Unknown kind {kind!r} or model {model!r}; kinds: {KINDS}, models: {MODELS}.")
    class_attr = class_attr or CLASS_ATTRIBUTES[rng.integers(len(CLASS_ATTRIBUTES))]
    classes = list(ATTRIBUTES[class_attr])
    others = [t for t in TYPES if t != class_attr]
    types = sorted(rng.choice(others, size=int(rng.integers(1, 3)), replace=False), key=TYPES.index)
    values = {t: ATTRIBUTES[t][rng.integers(len(ATTRIBUTES[t]))] for t in types}
    slice_k, target = (int(i) for i in rng.choice(len(classes), size=2, replace=False))
    strength = {"correlation": rng.uniform(0.9, 1.0), "rare": rng.uniform(0.0, 0.02), "noisy": 1.0}[kind]

    per_class = per_class or int(np.exp(rng.uniform(np.log(60), np.log(300))))
    table = pool.table
    rows = np.flatnonzero(~pool.test)
    label = table[class_attr].map({c: i for i, c in enumerate(classes)}).to_numpy()[rows]
    carry = rows_in_slice(table, values)[rows]
    parts, n = [], per_class
    for k in range(len(classes)):
        share = _share(kind, strength, k, slice_k, target)
        mine = rows[label == k]
        if share is None:
            parts.append([(mine, 1.0)])
        else:
            with_v, without = rows[(label == k) & carry], rows[(label == k) & ~carry]
            parts.append([(with_v, share), (without, 1.0 - share)])
        n = min([n] + [int(len(r) / s) for r, s in parts[-1] if s > 0])
    if n < 30:
        raise ScorecardError(f"Only {n} training images per class can be drawn for {values}; the pool is too small. "
                             "Fix: render a larger pool (load_pool(n=12_000)).")
    chosen, labels = [], []
    for k, plan in enumerate(parts):
        for part_rows, share in plan:
            take = rng.choice(part_rows, size=int(round(n * share)), replace=False)
            chosen.append(take)
            flip = kind == "noisy" and k == slice_k  # the slice's labels say the target class
            labels.append(np.where(flip & carry[np.searchsorted(rows, take)], target, k))
    chosen, labels = np.concatenate(chosen), np.concatenate(labels).astype(np.int64)
    order = rng.permutation(len(chosen))
    chosen, labels = chosen[order], labels[order]
    n_val = int(len(chosen) * val_share)
    return Setting(setting_id, kind, model, class_attr, values, classes[slice_k], classes[target], float(strength),
                   chosen[n_val:], labels[n_val:], chosen[:n_val], labels[:n_val])


@dataclass(repr=False)
class Outcome:
    """A setting's trained model on the test rows, and how badly its planted slice fails there.

    ``proba`` is ``(n_test, classes)``; ``head`` is the CLIP head (None for the CNN, which text
    probes reach through a surrogate). ``rest_accuracy`` is the lowest accuracy, outside the slice,
    of the wider slices of its class (dropping planted values); ``gap`` is that minus the slice's.
    ``rival_accuracy`` is the lowest accuracy of the other slices that fix the same attribute types.
    """

    setting: Setting
    proba: np.ndarray
    labels: np.ndarray
    truth: np.ndarray
    head: object | None
    slice_accuracy: float
    rest_accuracy: float
    rival_accuracy: float
    seconds: float

    @property
    def predictions(self) -> np.ndarray:
        """The trained model's predicted class per test image."""
        return self.proba.argmax(axis=1)

    @property
    def gap(self) -> float:
        """``rest_accuracy`` minus the planted slice's accuracy: how far below its wider slices it fails."""
        return self.rest_accuracy - self.slice_accuracy

    @property
    def other_accuracy(self) -> float:
        """Accuracy on the test images outside the planted slice."""
        return float(np.mean(self.predictions[~self.truth] == self.labels[~self.truth]))

    @property
    def kept(self) -> bool:
        """The planted slice really fails, fails worst among the slices that fix the same attribute
        types (so the truth is unambiguous: a correlation also hurts the correlated class's other
        values, and a small training set may fail elsewhere), and has enough test images."""
        return (self.gap >= MIN_GAP and self.slice_accuracy <= self.rival_accuracy
                and int(self.truth.sum()) >= MIN_SLICE_TEST)

    def row(self) -> dict:
        """The setting and what training gave, as one flat record (for tables and CSV)."""
        return {**self.setting.row(), "slice_accuracy": round(self.slice_accuracy, 4),
                "rest_accuracy": round(self.rest_accuracy, 4), "gap": round(self.gap, 4),
                "rival_accuracy": round(self.rival_accuracy, 4),
                "n_slice_test": int(self.truth.sum()), "other_accuracy": round(self.other_accuracy, 4),
                "kept": self.kept, "train_seconds": round(self.seconds, 3)}


def train_model(pool: Pool, setting: Setting, seed: int = 0) -> Outcome:
    """Train the setting's model on its rows and measure its planted slice on the test rows.

    Example:
        >>> pool = Pool.from_arrays(sample_attributes(6000), np.zeros((6000, 1, 1, 3), np.uint8),
        ...                         np.random.default_rng(0).normal(size=(6000, 4)).astype(np.float32))
        >>> out = train_model(pool, draw_setting(pool, np.random.default_rng(0), 0, "noisy", "head", "shape"))
        >>> bool(out.proba.shape[0] == pool.test.sum())
        True
    """
    import time

    start = time.perf_counter()
    s = setting
    test_table = pool.test_table
    labels = test_table[s.class_attr].map({c: i for i, c in enumerate(s.classes)}).to_numpy()
    if s.model == "head":
        head = train_head(pool.emb[s.train_rows], s.train_labels, pool.emb[s.val_rows], s.val_labels,
                          classes=s.classes, seed=seed)
        proba = head.predict_proba(pool.emb[pool.test])
    else:
        head = None
        box = train_black_box(pool.images[s.train_rows], s.train_labels, pool.images[s.val_rows], s.val_labels,
                        s.classes, seed=seed)
        test_images = pool.images[pool.test]
        proba = np.concatenate([box(test_images[i:i + 512]) for i in range(0, len(test_images), 512)])
    correct = proba.argmax(axis=1) == labels
    truth = rows_in_slice(test_table, s.truth)
    # The planted conjunction must be what fails: every wider slice of its class that drops planted
    # values (the class itself included) must do better outside it, or the failure is wider.
    wider = [dict(kept, **{s.class_attr: s.slice_class}) for r in range(len(s.values))
             for kept in map(dict, itertools.combinations(s.values.items(), r))]
    rest_acc = min(float(correct[rows_in_slice(test_table, w) & ~truth].mean()) for w in wider)
    slice_acc = float(correct[truth].mean()) if truth.any() else float("nan")
    rivals = image_slice_scores(proba.argmax(axis=1), labels, test_table, list(s.truth))
    rivals = rivals[(rivals["n_images"] >= MIN_SLICE_TEST) & ~rows_in_slice(rivals, s.truth)]
    rival_acc = float(rivals["image_acc"].min()) if len(rivals) else 1.0
    return Outcome(s, proba, labels, truth, head, slice_acc, rest_acc, rival_acc, time.perf_counter() - start)
