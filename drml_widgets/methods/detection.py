"""Detecting an attribute a model leans on (paper 004, eq. 7), from tags and predictions only.

``accuracy_discrepancy`` ranks, per class, each tag's ``acc(tag present) - acc(tag absent)``;
``group_accuracy`` gives average and worst-group accuracy over the value combinations of chosen
columns. Tags come from :mod:`.tagging` (a CLIP zero-shot tagger, or known attributes through
``tags_from_table``), so detection works for any classifier's predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from ..diagnose.slices import image_slice_scores
from ..errors import InputError
from .tagging import check_tag_table


@dataclass(repr=False)
class GroupAccuracy:
    """Accuracy per group (``table``, worst first), over all images (``average``) and in the
    worst group (``worst``, ``worst_group``). Build it with :func:`group_accuracy`.

    Example:
        >>> acc = group_accuracy([0, 1, 1], [0, 1, 0], pd.DataFrame({"color": ["red", "red", "blue"]}), ["color"])
        >>> acc.table.values.tolist(), acc.worst_group
        ([['blue', 0.0, 1], ['red', 1.0, 2]], ('blue',))
    """

    table: pd.DataFrame
    average: float
    worst: float
    worst_group: tuple

    def __repr__(self) -> str:
        return (f"GroupAccuracy(average={self.average:.3f}, worst={self.worst:.3f} in {self.worst_group}, "
                f"groups={len(self.table)})")


def group_accuracy(pred, labels, table: pd.DataFrame, by: Sequence[str]) -> GroupAccuracy:
    """Average accuracy and worst-group accuracy, groups being the value combinations of ``by``.

    Example:
        >>> t = pd.DataFrame({"color": ["red", "red", "blue"], "shape": ["sq", "sq", "sq"]})
        >>> group_accuracy([0, 1, 0], [0, 0, 0], t, ["color", "shape"])
        GroupAccuracy(average=0.667, worst=0.500 in ('red', 'sq'), groups=2)
    """
    by = [by] if isinstance(by, str) else list(by)
    pred, labels = np.asarray(pred), np.asarray(labels)
    if not len(pred) == len(labels) == len(table) > 0:
        raise InputError(f"Got {len(pred)} predictions, {len(labels)} labels and {len(table)} table rows. "
                         "Fix: one of each per evaluated image.")
    missing = [c for c in by if c not in table.columns]
    if missing or not by:
        raise InputError(f"Group columns {missing or by} are not in the table {list(table.columns)}. "
                         "Fix: pass by= one or more of its columns, e.g. the class and the attribute.")
    per = image_slice_scores(pred, labels, table.reset_index(drop=True), by)
    per = per.rename(columns={"image_acc": "accuracy"}).sort_values("accuracy", kind="stable").reset_index(drop=True)
    return GroupAccuracy(per, float(np.mean(pred == labels)), float(per.loc[0, "accuracy"]), tuple(per.loc[0, by]))


def accuracy_discrepancy(pred, labels, tags: pd.DataFrame, classes: Sequence[str], min_count: int = 10, *,
                         train_tags: pd.DataFrame | None = None, train_labels=None,
                         min_share_gap: float = 0.1) -> pd.DataFrame:
    """Eq. 7 per class and tag: ``delta = acc(tag present) - acc(tag absent)``, largest first.

    ``tags`` is a boolean table, one row per image and one column per tag: known attributes
    (``tags_from_table``) or a CLIP zero-shot tagger's output (``tag_images``).
    Pairs with fewer than ``min_count`` images on either side are left out (a discrepancy
    between a handful of images is noise).

    A large delta means the tag is a shortcut the model learned *or* simply makes the class
    easier to see (large shapes, daylight). Pass the fine-tuning data's ``train_tags`` and
    ``train_labels`` to tell them apart: ``train_share`` is the fraction of the class's training
    images with the tag and ``train_share_other`` that of the other classes'. A tag the class's
    training images carry at least ``min_share_gap`` more often is a ``candidate`` shortcut, and
    candidates are ranked first; a tag every class has alike cannot stand in for one class.

    Example:
        >>> tags = pd.DataFrame({"orange": [True, True, False, False]})
        >>> accuracy_discrepancy([0, 0, 1, 0], [0, 0, 0, 0], tags, ["triangle"], min_count=2)[["tag", "delta"]].values.tolist()
        [['orange', 0.5]]
        >>> train = pd.DataFrame({"orange": [True, True, False]})
        >>> accuracy_discrepancy([0, 0, 1, 0], [0, 0, 0, 0], tags, ["triangle", "square"], min_count=2,
        ...                      train_tags=train, train_labels=[0, 0, 1])[["tag", "train_share", "candidate"]].values.tolist()
        [['orange', 1.0, True]]
    """
    pred, labels = np.asarray(pred), np.asarray(labels)
    tags = check_tag_table(tags, n=len(labels))
    if len(pred) != len(labels):
        raise InputError(f"pred has {len(pred)} entries for {len(labels)} labels; pass one per image.")
    if (train_tags is None) != (train_labels is None):
        raise InputError("Pass train_tags and train_labels together (the fine-tuning images' tags and classes).")
    if train_tags is not None:
        train_labels = np.asarray(train_labels)
        train_tags = check_tag_table(train_tags, n=len(train_labels))
        missing = [t for t in tags.columns if t not in train_tags.columns]
        if missing:
            raise InputError(f"train_tags lacks the tags {missing}. "
                             "Fix: tag the training images with the same vocabulary.")
    min_count = max(int(min_count), 1)
    correct = pred == labels
    rows = []
    for c, name in enumerate(classes):
        in_class = labels == c
        for tag in tags.columns:
            has = tags[tag].to_numpy()
            present, absent = in_class & has, in_class & ~has
            if present.sum() < min_count or absent.sum() < min_count:
                continue
            row = {"class": name, "tag": tag, "n_present": int(present.sum()), "n_absent": int(absent.sum()),
                   "acc_present": float(correct[present].mean()), "acc_absent": float(correct[absent].mean())}
            if train_tags is not None:
                trained = train_tags[tag].to_numpy()
                row["train_share"] = _share(trained[train_labels == c])
                row["train_share_other"] = _share(trained[train_labels != c])
            rows.append(row)
    columns = ["class", "tag", "n_present", "n_absent", "acc_present", "acc_absent"]
    out = pd.DataFrame(rows, columns=columns + ([] if train_tags is None else ["train_share", "train_share_other"]))
    out.insert(len(columns), "delta", out["acc_present"] - out["acc_absent"])
    if train_tags is None:
        return out.sort_values("delta", ascending=False, kind="stable").reset_index(drop=True)
    out["candidate"] = (out["train_share"] - out["train_share_other"]) >= min_share_gap
    return out.sort_values(["candidate", "delta"], ascending=False, kind="stable").reset_index(drop=True)


def _share(has: np.ndarray) -> float:
    return float(has.mean()) if len(has) else float("nan")
