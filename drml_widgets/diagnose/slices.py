"""Error slices scored by text and by images (DrML, paper 000, section 4).

A slice is a set of attribute values (say colour=green, shape=triangle); attributes left out are
marginalised. Its text score is the mean probability the head gives the true label over every
prompt in the slice, the score the paper found to track image accuracy best.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ..prompts.generate import AttributeSet
from ..results import Finding, Result, name_label


def _check_columns(table: pd.DataFrame, by: Sequence[str], what: str) -> None:
    missing = [c for c in by if c not in table.columns]
    if missing:
        raise InputError(
            f"Slice attributes {missing} are not columns of the {what} table {list(table.columns)}. "
            "Fix: add them to the table, or slice by the attributes it has."
        )


def text_slice_scores(proba: np.ndarray, prompts: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per slice: mean probability of the true label over its prompts, text accuracy, prompt count.

    ``proba`` is ``(n_prompts, n_classes)``; ``prompts`` has the ``by`` columns and ``label``.
    Sorted worst first.

    Example:
        >>> prompts = pd.DataFrame({"color": ["red", "red", "blue"], "label": [0, 1, 0]})
        >>> proba = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
        >>> text_slice_scores(proba, prompts, ["color"])["text_prob"].round(2).tolist()
        [0.2, 0.65]
    """
    by = list(by)
    _check_columns(prompts, by + ["label"], "prompt")
    labels = prompts["label"].to_numpy()
    frame = prompts[by].copy()
    frame["text_prob"] = proba[np.arange(len(labels)), labels]
    frame["text_correct"] = proba.argmax(axis=1) == labels
    out = frame.groupby(by, sort=False, observed=True).agg(
        text_prob=("text_prob", "mean"),
        text_acc=("text_correct", "mean"),
        n_prompts=("text_prob", "size"),
    )
    return out.sort_values("text_prob").reset_index()


def image_slice_scores(pred: np.ndarray, labels: np.ndarray, table: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per slice: image accuracy and image count.

    Example:
        >>> table = pd.DataFrame({"color": ["red", "red", "blue"]})
        >>> image_slice_scores(np.array([0, 1, 1]), np.array([0, 0, 1]), table, ["color"])["image_acc"].tolist()
        [0.5, 1.0]
    """
    by = list(by)
    _check_columns(table, by, "image")
    frame = table[by].copy()
    frame["correct"] = np.asarray(pred) == np.asarray(labels)
    out = frame.groupby(by, sort=False, observed=True).agg(
        image_acc=("correct", "mean"), n_images=("correct", "size")
    )
    return out.sort_values("image_acc").reset_index()


@dataclass(repr=False)
class SliceComparison(Result):
    """Text scores beside image accuracy per slice, with their rank and linear correlation.

    ``table`` has one row per slice (its values over ``by``, ``"*"`` where a type is left out),
    worst text score first. ``images``: the evaluated images' attribute table (its index: rows of
    the session's table), which gives each finding its member rows; without it findings carry
    counts only.
    """

    table: pd.DataFrame
    by: list[str]
    spearman: float
    pearson: float
    images: pd.DataFrame | None = None
    method = "text_slices"

    def worst(self, k: int = 4, score: str = "text_prob") -> pd.DataFrame:
        """The ``k`` slices lowest by ``score`` (``text_prob`` or ``image_acc``)."""
        return self.table.nsmallest(k, score)

    def findings(self) -> list[Finding]:
        """Every slice, lowest text probability first, named by its fixed values.

        Example:
            >>> t = pd.DataFrame({"c": ["a", "b"], "text_prob": [0.2, 0.9]})
            >>> i = pd.DataFrame({"c": ["a", "b"], "image_acc": [0.1, 0.8], "n_images": [5, 5]})
            >>> compare_slices(t, i, ["c"]).findings()[0]
            Finding(c=a: text_prob 0.200, 5 images)
        """
        out = []
        for _, row in self.table.sort_values("text_prob", kind="stable").iterrows():
            name = {t: str(row[t]) for t in self.by if t in row and pd.notna(row[t]) and row[t] != ALL}
            count = int(row["n_images"]) if "n_images" in row and pd.notna(row["n_images"]) else 0
            rows = None
            if self.images is not None and all(t in self.images.columns for t in name):
                rows = self.images.index.to_numpy()[rows_in_slice(self.images, name)]
            out.append(Finding(name, name_label(name, "every image"), float(row["text_prob"]), "text_prob",
                               rows if rows is not None else np.zeros(0, np.int64), len(rows) if rows is not None else count))
        return out

    def __repr__(self) -> str:
        return (f"SliceComparison(by={self.by}, slices={len(self.table)}, "
                f"spearman={self.spearman:.3f}, pearson={self.pearson:.3f})")


def compare_slices(text: pd.DataFrame, image: pd.DataFrame, by: Sequence[str]) -> SliceComparison:
    """Join text and image slice scores; slices without images keep ``n_images = 0``.

    Correlations use only slices that have images.

    Example:
        >>> t = pd.DataFrame({"c": ["a", "b", "d", "z"], "text_prob": [0.2, 0.9, 0.7, 0.5]})
        >>> i = pd.DataFrame({"c": ["a", "b", "d"], "image_acc": [0.1, 0.8, 0.6], "n_images": [5, 5, 3]})
        >>> cmp = compare_slices(t, i, ["c"])
        >>> cmp.table["n_images"].tolist(), round(cmp.spearman, 2)
        ([5, 0, 3, 5], 1.0)
    """
    by = list(by)
    table = text.merge(image, on=by, how="left")
    table["n_images"] = table["n_images"].fillna(0).astype(int)
    has = table["n_images"] > 0
    if has.sum() >= 3 and table.loc[has, "image_acc"].nunique() > 1:
        rho = float(stats.spearmanr(table.loc[has, "text_prob"], table.loc[has, "image_acc"]).statistic)
        r = float(stats.pearsonr(table.loc[has, "text_prob"], table.loc[has, "image_acc"]).statistic)
    else:
        rho = r = float("nan")
    return SliceComparison(table.sort_values("text_prob").reset_index(drop=True), by, rho, r)


ALL = "*"


def all_slices(
    text_proba: np.ndarray,
    prompts: pd.DataFrame,
    types: Sequence[str],
    image_pred: np.ndarray | None = None,
    image_labels: np.ndarray | None = None,
    image_table: pd.DataFrame | None = None,
    max_order: int | None = None,
) -> pd.DataFrame:
    """Score every slice: every subset of attribute types, every value combination of it, the
    other types marginalised (shown as ``"*"``). Worst text score first.

    Columns: one per type, ``order`` (how many types the slice fixes), ``text_prob``,
    ``text_acc``, ``n_prompts`` and, with images, ``image_acc`` and ``n_images`` (0 where no
    image falls in the slice, or the image table lacks one of the slice's types).

    Example:
        >>> prompts = pd.DataFrame({"color": ["red", "blue"], "shape": ["sq", "sq"], "label": [0, 0]})
        >>> df = all_slices(np.array([[0.9, 0.1], [0.3, 0.7]]), prompts, ["color", "shape"])
        >>> df[["color", "shape", "order"]].values.tolist()[0]
        ['blue', '*', 1]
    """
    types = list(types)
    frames = []
    top = len(types) if max_order is None else min(max_order, len(types))
    for order in range(1, top + 1):
        for subset in itertools.combinations(types, order):
            by = list(subset)
            scored = text_slice_scores(text_proba, prompts, by)
            if image_pred is not None:
                if all(t in image_table.columns for t in by):
                    image = image_slice_scores(image_pred, image_labels, image_table, by)
                    scored = scored.merge(image, on=by, how="left")
                else:
                    scored["image_acc"] = np.nan
                scored["n_images"] = scored.get("n_images", pd.Series(0, index=scored.index)).fillna(0).astype(int)
            for t in types:
                if t not in subset:
                    scored[t] = ALL
            scored["order"] = order
            frames.append(scored)
    columns = types + ["order", "text_prob", "text_acc", "n_prompts"] + (
        ["image_acc", "n_images"] if image_pred is not None else [])
    out = pd.concat(frames, ignore_index=True)[columns]
    return out.sort_values(["text_prob", "order"]).reset_index(drop=True)


def rows_in_slice(frame: pd.DataFrame, values: dict) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` (image table or prompts) in a slice; ``*`` is any.

    Example:
        >>> rows_in_slice(pd.DataFrame({"color": ["red", "blue"]}), {"color": "red", "shape": "*"}).tolist()
        [True, False]
    """
    mask = np.ones(len(frame), dtype=bool)
    for k, v in values.items():
        if v == ALL:
            continue
        if k not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        mask &= (frame[k].astype(str) == str(v)).to_numpy()
    return mask


def slices_mask(frame: pd.DataFrame, slices: Sequence[Mapping[str, str]]) -> np.ndarray:
    """Boolean mask of the rows of ``frame`` in any of ``slices``.

    Example:
        >>> frame = pd.DataFrame({"color": ["red", "blue", "green"]})
        >>> slices_mask(frame, [{"color": "red"}, {"color": "green"}]).tolist()
        [True, False, True]
    """
    mask = np.zeros(len(frame), dtype=bool)
    for values in slices:
        mask |= rows_in_slice(frame, values)
    return mask


def type_names(types, known: Sequence[str], where: str = "The slice") -> list[str]:
    """``types`` as a list of distinct names among ``known``. One name alone is read as the list
    of it (``"color"`` is ``["color"]``); anything else must be a list, tuple or other iterable of
    names, each once.

    Example:
        >>> type_names("color", ["color", "shape"])
        ['color']
        >>> type_names(["color", "color"], ["color"])
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: The slice names ['color'] more than once. Fix: name each attribute type once, e.g. ['color'].
    """
    known = list(known)
    if isinstance(types, str):
        types = [types]
    elif isinstance(types, (Mapping, bytes)) or not isinstance(types, Iterable):
        raise InputError(f"{where} takes a list of attribute type names; got {str(types)[:60]}. "
                         f"Fix: pass a list such as {known[:2]}.")
    types = list(types)
    if not types:
        raise InputError(f"{where} names no attribute types. Fix: name some of {known}.")
    not_names = [t for t in types if not isinstance(t, str)]
    if not_names:
        raise InputError(f"{where} names {not_names[:5]}, which are not names of attribute types. "
                         f"Fix: pass names (strings) from {known}.")
    repeated = sorted({t for t in types if types.count(t) > 1})
    if repeated:
        raise InputError(f"{where} names {repeated} more than once. Fix: name each attribute type once, "
                         f"e.g. {list(dict.fromkeys(types))}.")
    unknown = [t for t in types if t not in known]
    if unknown:
        raise InputError(f"{where} names {unknown}, which are not attribute types {known}. Fix: name some of those.")
    return types


def check_slice_types(types, attributes: AttributeSet, columns, where: str = "The slice") -> list[str]:
    """``types`` as a list of distinct attribute types (see :func:`type_names`) that the image
    table has (columns).

    Example:
        >>> check_slice_types("color", AttributeSet({"color": ["red"]}), ["color", "label"])
        ['color']
    """
    types = type_names(types, attributes.types, where)
    missing = [t for t in types if t not in columns]
    if missing:
        raise InputError(f"{where} names {missing}, which the image table lacks (columns: {list(columns)}). "
                         "Fix: add those columns to the table, or slice by attributes the images have.")
    return types


def named_slices(slices, attributes: AttributeSet) -> tuple[list[dict], list[str]]:
    """Slices as dicts of attribute values (``*`` dropped), checked against ``attributes``, with
    the attribute types they name in the set's order. ``slices`` may be one dict, a list of them,
    rows of a slice table, or a :class:`SliceComparison` (its rows).

    Example:
        >>> attrs = AttributeSet({"color": ["red", "green"], "shape": ["square"]})
        >>> named_slices({"color": "red", "shape": "*"}, attrs)
        ([{'color': 'red'}], ['color'])
    """
    if isinstance(slices, SliceComparison):
        slices = slices.table
    if isinstance(slices, pd.DataFrame):  # rows of a slice table: keep the attribute columns
        slices = slices[[c for c in slices.columns if c in attributes.types]].to_dict("records")
    if isinstance(slices, Mapping):
        slices = [slices]
    cleaned = [{k: v for k, v in dict(s).items() if v != ALL} for s in slices]
    if not cleaned or any(not s for s in cleaned):
        raise InputError("Name at least one slice, each with attribute values, e.g. "
                         "[{'color': 'green', 'shape': 'triangle'}].")
    named = {k for s in cleaned for k in s}
    unknown = sorted(named - set(attributes.types))
    if unknown:
        raise InputError(f"The slice names {unknown}, which are not attribute types {attributes.types}.")
    for s in cleaned:
        for k, v in s.items():
            if v not in attributes.values[k]:
                raise InputError(f"{k}={v!r} is not a value of {k}; values: {attributes.values[k]}.")
    return cleaned, [t for t in attributes.types if t in named]


# A slice fails when it is this far below the rest of its class: the scorecard's definition of a
# planted failure, in accuracy points, so it reads the same for any CLIP once text is calibrated.
MIN_DROP = 0.3


@dataclass(repr=False)
class SliceCalibration:
    """Text probability mapped to image accuracy by an isotonic fit (weighted by image count) on
    the slices that have images; ``fitted`` is False when too few of them differ to fit one, and
    then text probability stands for accuracy.

    Example:
        >>> t = pd.DataFrame({"text_prob": [0.2, 0.5, 0.9], "image_acc": [0.0, 0.4, 1.0], "n_images": [5, 5, 5]})
        >>> calibrate_slices(t).predict([0.3, 0.95]).round(2).tolist()
        [0.13, 1.0]
    """

    text_prob: np.ndarray
    image_acc: np.ndarray
    fitted: bool

    def predict(self, text_prob) -> np.ndarray:
        """Predicted image accuracy of slices with these text probabilities."""
        x = np.asarray(text_prob, dtype=np.float64)
        return np.interp(x, self.text_prob, self.image_acc) if self.fitted else x

    def table(self) -> pd.DataFrame:
        """The fitted curve's knots, for plotting beside the slices."""
        return pd.DataFrame({"text_prob": self.text_prob, "predicted_acc": self.image_acc})

    def __repr__(self) -> str:
        if not self.fitted:
            return "SliceCalibration(not fitted: text probability stands for accuracy)"
        return f"SliceCalibration(isotonic over {len(self.text_prob)} knots, accuracy {self.image_acc.min():.2f}-" \
               f"{self.image_acc.max():.2f})"


def calibrate_slices(table: pd.DataFrame) -> SliceCalibration:
    """Fit text probability to image accuracy on the slices of ``table`` that have images.

    Example:
        >>> calibrate_slices(pd.DataFrame({"text_prob": [0.5], "image_acc": [1.0], "n_images": [3]})).fitted
        False
    """
    from sklearn.isotonic import IsotonicRegression

    has = table["n_images"].to_numpy() > 0
    x, y, w = (table.loc[has, c].to_numpy(dtype=np.float64) for c in ("text_prob", "image_acc", "n_images"))
    if has.sum() < 3 or np.ptp(y) == 0 or np.ptp(x) == 0:
        return SliceCalibration(np.array([0.0, 1.0]), np.array([0.0, 1.0]), False)
    iso = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, y, sample_weight=w)
    return SliceCalibration(iso.X_thresholds_, iso.y_thresholds_, True)


def flag_failing(cmp: SliceComparison, prompts: pd.DataFrame, pred: np.ndarray, labels: np.ndarray,
                 n_classes: int, min_drop: float = MIN_DROP) -> pd.DataFrame:
    """Slices whose calibrated accuracy is at least ``min_drop`` below the rest of their class.

    ``prompts`` (with ``label``) give each slice its class (a slice of several classes is
    compared with every image); ``pred`` and ``labels`` are the evaluated images'. Adds
    ``predicted_acc``, ``rest_acc`` and ``drop``; worst first.

    Example:
        >>> t = pd.DataFrame({"c": ["a", "b", "d"], "text_prob": [0.2, 0.9, 0.5], "image_acc": [0.0, 1.0, 0.5],
        ...                   "n_images": [10, 10, 10]})
        >>> prompts = pd.DataFrame({"c": ["a", "b", "d"], "label": [0, 0, 0]})
        >>> pred, labels = np.r_[np.ones(10), np.zeros(15), np.ones(5)].astype(int), np.zeros(30, int)
        >>> flag_failing(SliceComparison(t, ["c"], 1.0, 1.0), prompts, pred, labels, 1)["c"].tolist()
        ['a']
    """
    by = cmp.by
    one = prompts.groupby(by, sort=False)["label"].agg(lambda y: y.iloc[0] if y.nunique() == 1 else -1)
    cls = cmp.table[by].merge(one.rename("cls").reset_index(), on=by, how="left")["cls"].fillna(-1).to_numpy(int)
    right = np.asarray(pred) == np.asarray(labels)
    class_correct = np.bincount(labels, weights=right, minlength=n_classes)
    class_count = np.bincount(labels, minlength=n_classes)
    out = cmp.table.copy()
    calibration = calibrate_slices(out)
    out["predicted_acc"] = calibration.predict(out["text_prob"])
    correct = np.where(cls >= 0, class_correct[np.maximum(cls, 0)], class_correct.sum())
    count = np.where(cls >= 0, class_count[np.maximum(cls, 0)], class_count.sum())
    # The rest of the class: its images outside the slice (all of them for a slice without images).
    n = out["n_images"].to_numpy() if "n_images" in out else np.zeros(len(out))
    own = np.nan_to_num(out["image_acc"].to_numpy(dtype=np.float64)) * n if "image_acc" in out else 0.0
    out["rest_acc"] = (correct - own) / np.maximum(count - n, 1)
    out["drop"] = out["rest_acc"] - out["predicted_acc"]
    return out[out["drop"] >= min_drop].sort_values("predicted_acc").reset_index(drop=True)
