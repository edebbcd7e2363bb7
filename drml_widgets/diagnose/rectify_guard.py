"""What a rectification costs the slices it does not target, measured before the head changes,
and a guard that keeps that cost within a stated bound.

Rectification moves the head where the targeted slices' text lies. In a CLIP that reads near
colours alike (cyan and blue), that direction is shared, and the text of one slice can move its
untargeted neighbour (issue 25: 21-22 points on such a CLIP, 3 at most on the bundled one). So a
rectified copy of the head is read on every untargeted slice first: on the original validation
images where the slice has them, else on half of its other (unlabelled) images, scored against
the class its attributes imply (as its prompts are labelled). A slice is *harmed* when its
accuracy drops by more than its bound: :data:`MAX_DROP`, or :data:`Z` standard errors of its
accuracy where the slice is too small to read 3 points. The guard then adds the harmed slices'
own examples to the rectification batches (their training images with their labels, and the
other half of their other images anchored to the head's present predictions) and fits again
from the original head; what it still cannot keep is named in a warning and in the result.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from .heads import Head
from .slices import slices_mask

# The most a rectification may cost an untargeted slice: what it costs on the bundled CLIP.
MAX_DROP = 0.03
# A drop within this many standard errors of a slice's accuracy is not told apart from noise.
Z = 2.0
# Guarded refits at most: each adds the examples of the slices the last one still harmed.
ROUNDS = 2
COST_COLUMNS = ["source", "n", "acc_before", "acc_after", "drop", "bound", "harmed"]


def drop_bound(n, acc, max_drop: float = MAX_DROP) -> np.ndarray:
    """The largest drop a slice of ``n`` rows at accuracy ``acc`` may take: ``max_drop``, or
    :data:`Z` standard errors of its (add-one smoothed) accuracy when that is wider.

    Example:
        >>> drop_bound(np.array([20, 2000]), np.array([1.0, 1.0])).round(3).tolist()
        [0.093, 0.03]
    """
    n, acc = np.asarray(n, float), np.asarray(acc, float)
    smoothed = (acc * n + 1) / (n + 2)
    return np.maximum(max_drop, Z * np.sqrt(smoothed * (1 - smoothed) / np.maximum(n, 1)))


def slice_cost(right_before: np.ndarray, right_after: np.ndarray, table: pd.DataFrame, by: Sequence[str],
               targeted: Sequence[dict], source: str, max_drop: float = MAX_DROP) -> pd.DataFrame:
    """Accuracy before and after of every untargeted slice over ``by`` that has rows in ``table``,
    from per-row correctness; ``harmed`` where the drop passes :func:`drop_bound`.

    Example:
        >>> table = pd.DataFrame({"color": ["red"] * 30 + ["blue"] * 30})
        >>> before, after = np.ones(60, bool), np.r_[np.ones(30, bool), np.zeros(30, bool)]
        >>> slice_cost(before, after, table, ["color"], [{"color": "red"}], "images")[["color", "drop", "harmed"]]
          color  drop  harmed
        0  blue   1.0    True
    """
    by = list(by)
    frame = table[by].astype(str).assign(_before=np.asarray(right_before, float), _after=np.asarray(right_after, float))
    frame = frame[~slices_mask(frame, targeted)]
    if frame.empty:
        return pd.DataFrame(columns=by + COST_COLUMNS)
    cost = frame.groupby(by, sort=True).agg(n=("_before", "size"), acc_before=("_before", "mean"),
                                            acc_after=("_after", "mean")).reset_index()
    cost.insert(len(by), "source", source)
    cost["drop"] = cost["acc_before"] - cost["acc_after"]
    cost["bound"] = drop_bound(cost["n"], cost["acc_before"], max_drop)
    cost["harmed"] = cost["drop"] > cost["bound"]
    return cost


@dataclass(repr=False)
class GuardData:
    """What the guard reads and adds, each as ``(embeddings, labels, attribute table)``: the
    original validation images (``val``), the training images (``train``), and the other images
    (``other``, labelled with the class their attributes imply, -1 where they imply none);
    ``read`` marks the other images the cost is read on, the rest may anchor the fit."""

    val: tuple[np.ndarray, np.ndarray, pd.DataFrame] | None
    train: tuple[np.ndarray, np.ndarray, pd.DataFrame] | None
    other: tuple[np.ndarray, np.ndarray, pd.DataFrame] | None
    read: np.ndarray | None = None


def implied_labels(table: pd.DataFrame, prompts: pd.DataFrame, by: Sequence[str]) -> np.ndarray:
    """The class each row of ``table`` has by its values over ``by``, as the prompts of that
    combination are labelled; -1 where they carry several classes or none.

    Example:
        >>> prompts = pd.DataFrame({"shape": ["tri", "sq", "sq"], "c": ["u", "u", "v"], "label": [0, 1, 1]})
        >>> implied_labels(pd.DataFrame({"shape": ["sq", "tri"], "c": ["v", "v"]}), prompts, ["shape", "c"]).tolist()
        [1, -1]
    """
    by = list(by)
    one = prompts.groupby(by)["label"].agg(["nunique", "first"])
    one = one[one["nunique"] == 1]["first"]
    lookup = dict(zip(map(tuple, one.index.to_frame().astype(str).to_numpy()) if len(by) > 1 else
                      ((str(k),) for k in one.index), one.to_numpy()))
    return np.array([lookup.get(tuple(row), -1) for row in table[by].astype(str).to_numpy()], dtype=np.int64)


def rectify_cost(before: Head, after: Head, data: GuardData, by: Sequence[str], targeted: Sequence[dict],
                 max_drop: float = MAX_DROP) -> pd.DataFrame:
    """Every untargeted slice's accuracy under ``before`` and ``after``, read on the validation
    images where the slice has them and on its other images (the ``read`` half, against their
    implied class) otherwise, worst drop first.

    Example:
        >>> import torch
        >>> head = Head(torch.nn.Linear(2, 2), "linear", 2, ["a", "b"])
        >>> x = np.eye(2, dtype=np.float32); t = pd.DataFrame({"c": ["u", "v"]})
        >>> data = GuardData(None, None, (x, np.array([0, 1]), t))
        >>> rectify_cost(head, head, data, ["c"], [{"c": "u"}])[["c", "source", "drop"]].to_dict("records")
        [{'c': 'v', 'source': 'other images', 'drop': 0.0}]
    """
    parts = []
    if data.val is not None and len(data.val[0]):
        x, y, table = data.val
        parts.append(slice_cost(before.predict(x) == y, after.predict(x) == y, table, by, targeted,
                                "validation images", max_drop))
    x, y, table = data.other if data.other is not None else (None, np.array([], np.int64), None)
    rows = (y >= 0) & (data.read if data.read is not None else True)
    if rows.any():  # none when the slices' types imply no class (colour alone, say)
        other = slice_cost(before.predict(x[rows]) == y[rows], after.predict(x[rows]) == y[rows], table[rows], by,
                           targeted, "other images", max_drop)
        if parts and len(parts[0]):  # a slice with validation images is read on them
            seen = set(parts[0][list(by)].itertuples(index=False, name=None))
            other = other[[key not in seen for key in other[list(by)].itertuples(index=False, name=None)]]
        parts.append(other)
    if not parts:
        return pd.DataFrame(columns=list(by) + COST_COLUMNS)
    cost = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
    return cost.sort_values("drop", ascending=False, kind="stable").reset_index(drop=True)


def guard_examples(head: Head, data: GuardData, harmed: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """The harmed slices' own examples: their training images with their labels, and their other
    images outside the ``read`` half anchored to ``head``'s predictions (the head before the fit:
    the guard keeps what it did there, it does not learn their labels).

    Example:
        >>> import torch
        >>> head = Head(torch.nn.Linear(2, 2), "linear", 2, ["a", "b"])
        >>> x = np.eye(2, dtype=np.float32); t = pd.DataFrame({"c": ["u", "v"]})
        >>> data = GuardData(None, (x, np.array([0, 1]), t), (x, np.array([0, 1]), t), np.array([True, False]))
        >>> gx, gy = guard_examples(head, data, [{"c": "v"}])
        >>> gx.shape, int(gy[0])
        ((2, 2), 1)
    """
    xs, ys = [np.zeros((0, head.dim), np.float32)], [np.zeros(0, np.int64)]
    if data.train is not None:
        x, y, table = data.train
        rows = slices_mask(table, harmed)
        xs.append(x[rows]), ys.append(y[rows])
    if data.other is not None:
        x, _, table = data.other
        rows = slices_mask(table, harmed) & ~(data.read if data.read is not None else False)
        xs.append(x[rows]), ys.append(head.predict(x[rows]) if rows.any() else np.zeros(0, np.int64))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def guarded_fit(head: Head, fit: Callable[[tuple[np.ndarray, np.ndarray] | None], tuple[Head, pd.DataFrame, int]],
                data: GuardData, by: Sequence[str], targeted: Sequence[dict], *, guard: bool = True,
                max_drop: float = MAX_DROP) -> tuple[Head, pd.DataFrame, int, pd.DataFrame]:
    """Fit a rectified copy (``fit(None)``), read its :func:`rectify_cost`, and while it harms
    slices (and ``guard``), fit again from ``head`` with ``fit(extra)``, ``extra`` being the
    examples of every slice harmed so far, up to :data:`ROUNDS` times. Returns the last fit's
    ``(new_head, history, best_epoch)`` and its cost; ``head`` is not modified.

    Example:
        >>> import torch
        >>> head = Head(torch.nn.Linear(2, 2), "linear", 2, ["a", "b"])
        >>> x = np.eye(2, dtype=np.float32); t = pd.DataFrame({"c": ["u", "v"]})
        >>> data = GuardData(None, None, (x, np.array([0, 1]), t))
        >>> fit = lambda extra: (head.copy(), pd.DataFrame({"epoch": [0]}), 0)
        >>> new, history, best, cost = guarded_fit(head, fit, data, ["c"], [{"c": "u"}])
        >>> bool(cost["harmed"].any())
        False
    """
    new, history, best = fit(None)
    cost = rectify_cost(head, new, data, by, targeted, max_drop)
    guarded: list[dict] = []
    for _ in range(ROUNDS if guard else 0):
        harmed = [row for row in cost.loc[cost["harmed"], list(by)].to_dict("records") if row not in guarded]
        if not harmed:
            break
        guarded += harmed
        new, history, best = fit(guard_examples(head, data, guarded))
        cost = rectify_cost(head, new, data, by, targeted, max_drop)
    cost["guarded"] = [row in guarded for row in cost[list(by)].to_dict("records")]
    return new, history, best, cost


def cost_lines(cost: pd.DataFrame | None, by: Sequence[str]) -> list[str]:
    """Sentences naming the untargeted slices a rectification costs more than their bound, and by
    how much; empty when it costs none.

    Example:
        >>> cost = pd.DataFrame({"c": ["v"], "source": ["validation images"], "n": [40], "acc_before": [0.9],
        ...                      "acc_after": [0.6], "drop": [0.3], "bound": [0.09], "harmed": [True], "guarded": [True]})
        >>> print(cost_lines(cost, ["c"])[0])  # doctest: +ELLIPSIS
        Rectifying costs 1 untargeted slice more than its bound: c=v 0.900 -> 0.600 (-30 points on 40 validation images...
    """
    if cost is None or not cost["harmed"].any():
        return []
    harmed = cost[cost["harmed"]]
    named = "; ".join(
        f"{', '.join(f'{k}={row[k]}' for k in by)} {row['acc_before']:.3f} -> {row['acc_after']:.3f} "
        f"(-{100 * row['drop']:.0f} points on {row['n']} {row['source']}, bound {100 * row['bound']:.0f})"
        for _, row in harmed.iterrows())
    guarded = " even with their own examples added to the training" if harmed.get("guarded", pd.Series()).any() else ""
    return [f"Rectifying costs {len(harmed)} untargeted slice{'s' * (len(harmed) > 1)} more than its bound: {named}"
            f"{guarded}. Fix: undo, and rectify with those slices added to the targets, or with fewer epochs."]


def warn_cost(cost: pd.DataFrame | None, by: Sequence[str]) -> None:
    """A ``UserWarning`` carrying :func:`cost_lines`, when there is any.

    Example:
        >>> warn_cost(None, ["c"])  # nothing harmed: silent
    """
    for line in cost_lines(cost, by):
        warnings.warn(line, UserWarning, stacklevel=3)
