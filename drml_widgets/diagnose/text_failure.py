"""DrML's text probe as one answer: the slice the prompts fail on most, named by the values that
failure needs.

Every slice of every attribute subset is scored by the mean true-label probability of its prompts
(:func:`~drml_widgets.diagnose.slices.all_slices`). The lowest mean always belongs to the most
specific slice, so the top slice is instead the one of largest :func:`contrast` against the rest
of its class, then narrowed or widened by :func:`~drml_widgets.diagnose.slice_focus.focus_slice`.
On the scorecard's planted failures this names the planted slice exactly three to five times as
often as a Domino-style mixture (README, "Scorecard").

The next distinct slices by contrast come with it as ``alternatives``. Text alone cannot always
tell two failures apart. A correlation fails on both of its sides: the slice pushed to the
correlated class, and that class without the values. A linear head reads the two alike in text,
so the runner-up is often the other side (docs/scorecard.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from ..results import Finding, Result, name_label
from .slice_focus import focus_slice
from .slices import ALL, all_slices, type_names

ALTERNATIVES = 4  # next distinct slices kept beside the named one (a findings view shows five)


def contrast(mean, n, total, count) -> np.ndarray:
    """How much a low-scoring slice explains: n_s * n_rest / N * (mean_rest - mean_s)^2, negative
    when the slice scores above the rest. ``mean`` and ``n`` per slice; ``total`` and ``count``
    over the slice's population (a sum of scores and how many there are; per slice or shared).
    A slice and its sub-slices of the same mean do not tie: the larger one explains more.

    Example:
        >>> contrast(np.array([0.2, 0.2, 0.9]), np.array([10, 2, 10]), total=10 * 0.2 + 90 * 0.9, count=100).round(2).tolist()
        [4.41, 0.81, -0.05]
    """
    mean, n = np.asarray(mean, float), np.asarray(n, float)
    rest = (total - mean * n) / np.maximum(count - n, 1)
    return np.sign(rest - mean) * n * (count - n) / count * (rest - mean) ** 2


def class_populations(classes: pd.Series, scores: np.ndarray, labels: np.ndarray,
                      class_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per slice, the sum of scores and the count of its population: the rows of its class when it
    names one (``classes``, NaN where it names none), else every row. A class read worse overall
    then does not make all its slices look worst.

    Example:
        >>> total, count = class_populations(pd.Series(["a", None]), np.array([1.0, 0.0, 0.5]), np.array([0, 1, 0]), ["a", "b"])
        >>> total.tolist(), count.tolist()
        ([1.5, 1.5], [2.0, 3.0])
    """
    sums = {c: scores[labels == i].sum() for i, c in enumerate(class_names)}
    counts = {c: int((labels == i).sum()) for i, c in enumerate(class_names)}
    total = classes.map(sums).fillna(scores.sum()).to_numpy(float)
    count = classes.map(counts).fillna(len(scores)).to_numpy(float)
    return total, count


@dataclass(repr=False)
class TextFailure(Result):
    """The text probe's top failure. ``name``: its attribute values (the class's among them when
    the class is an attribute); ``start``: the slice of largest contrast it was focused from;
    ``slices``: every slice scored (``text_prob``, ``n_prompts``, ``contrast``), largest contrast
    first; ``text_prob``: the mean true-label probability of the named slice's prompts;
    ``image_acc`` and ``n_images``: the classifier's accuracy on evaluated images of the slice,
    where there are some (a check the text probe itself never uses: text can fail where images
    do not). ``alternatives``: the next slices by contrast, none a sub- or super-slice of the
    named one or of each other, with their text probability and, where known, ``rows`` of
    evaluated images."""

    name: dict
    start: dict
    text_prob: float
    slices: pd.DataFrame
    image_acc: float = float("nan")
    n_images: int = 0
    rows: np.ndarray | None = None  # the named slice's evaluated images (rows of the session's table), where known
    alternatives: list[dict] = field(default_factory=list)  # {"name", "text_prob", "contrast"[, "rows"]}
    method = "text_failure"

    @property
    def table(self) -> pd.DataFrame:
        """Every slice scored, largest contrast first (the same frame as ``slices``)."""
        return self.slices

    def findings(self) -> list[Finding]:
        """The failure the probe names, then its alternatives, with their images where known."""
        rows = self.rows if self.rows is not None else np.zeros(0, np.int64)
        named = Finding(self.name, name_label(self.name), self.text_prob, "text_prob", rows,
                        len(rows) if self.rows is not None else self.n_images)
        return [named] + [Finding(a["name"], name_label(a["name"]), a["text_prob"], "text_prob",
                                  a.get("rows", np.zeros(0, np.int64))) for a in self.alternatives]

    def __repr__(self) -> str:
        moved = "" if self.start == self.name else f", focused from {self.start}"
        images = f"; image accuracy {self.image_acc:.3f} on {self.n_images} images" if self.n_images else ""
        then = f"; next {self.alternatives[0]['name']}" if self.alternatives else ""
        return (f"TextFailure({self.name}: text probability {self.text_prob:.3f}{moved}{images}{then}; "
                f"{len(self.slices)} slices scored)")


def top_text_failure(proba: np.ndarray, prompts: pd.DataFrame, types: Sequence[str], classes: Sequence[str],
                     class_type: str | None = None) -> TextFailure:
    """The failure DrML's text probe points to. ``proba`` holds the classifier's class
    probabilities on each prompt (a row per prompt of ``prompts``, which has ``types`` columns and
    the true ``label``); ``class_type`` is the attribute whose value is the class, if there is one
    (a slice naming it is compared with the rest of that class, and keeps it when focused).

    Example:
        >>> prompts = pd.DataFrame({"color": ["red", "red", "blue", "blue"], "shape": ["sq", "tri"] * 2,
        ...                         "label": [0, 1, 0, 1]})
        >>> proba = np.array([[0.1, 0.9], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])   # red squares fail
        >>> top_text_failure(proba, prompts, ["color", "shape"], ["sq", "tri"], class_type="shape").name
        {'color': 'red', 'shape': 'sq'}
    """
    types = type_names(types, [c for c in prompts.columns if c not in ("template", "prompt", "label")],
                       "The text failure")
    if np.shape(proba) != (len(prompts), len(classes)):
        raise InputError(f"proba has shape {np.shape(proba)}; it needs one row per prompt ({len(prompts)}) and one "
                         f"column per class ({len(classes)}). Fix: pass head.predict_proba(prompt embeddings).")
    if class_type is not None and class_type not in types:
        raise InputError(f"The class attribute {class_type!r} is not among the types {types}. Fix: add it, or pass "
                         "class_type=None when the class is not an attribute of the prompts.")
    scored = all_slices(proba, prompts, types)
    labels = prompts["label"].to_numpy()
    p_true = np.asarray(proba)[np.arange(len(prompts)), labels]
    named = scored[class_type].where(scored[class_type] != ALL) if class_type else pd.Series(np.nan, scored.index)
    total, count = class_populations(named, p_true, labels, classes)
    scored["contrast"] = contrast(scored["text_prob"], scored["n_prompts"], total, count)
    start = int(np.argmax(scored["contrast"].to_numpy()))
    name = focus_slice(scored, types, 1 - scored["text_prob"], scored["n_prompts"], 1 - total / count, start,
                       keep=[class_type] if class_type else [])
    row = scored[(scored[types] == pd.Series({t: name.get(t, ALL) for t in types})).all(axis=1)].iloc[0]
    start_name = {t: scored.iloc[start][t] for t in types if scored.iloc[start][t] != ALL}
    ranked = scored.sort_values("contrast", ascending=False, kind="stable").reset_index(drop=True)
    return TextFailure(name, start_name, float(row["text_prob"]), ranked, alternatives=_alternatives(ranked, types, name))


def nested(a: dict, b: dict) -> bool:
    """One slice holds the other: every value of the shorter name is in the longer one.

    Example:
        >>> nested({"color": "red"}, {"color": "red", "shape": "sq"}), nested({"color": "red"}, {"shape": "sq"})
        (True, False)
    """
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return all(large.get(t) == v for t, v in small.items())


def _alternatives(ranked: pd.DataFrame, types: Sequence[str], name: dict) -> list[dict]:
    """The next slices by contrast (positive only), none nested in the named one or in each other."""
    kept, out = [name], []
    top = ranked[ranked["contrast"] > 0]
    for cells, prob, score in zip(top[list(types)].to_numpy(dtype=object), top["text_prob"], top["contrast"]):
        values = {t: v for t, v in zip(types, cells) if v != ALL}
        if values and not any(nested(values, k) for k in kept):
            kept.append(values)
            out.append({"name": values, "text_prob": float(prob), "contrast": float(score)})
            if len(out) == ALTERNATIVES:
                break
    return out
