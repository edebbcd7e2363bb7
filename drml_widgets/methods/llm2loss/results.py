"""What LLM2Loss (paper 002) reports about itself: correlations of predicted with actual loss,
per image and per slice, and the slices ranked by loss predicted from their text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ...errors import LLM2LossError

CORRELATIONS = ("pearson", "spearman", "kendall")


def check_model(model: str, allowed: Sequence[str] = ("regressor", "ranker")) -> str:
    """``model`` when it is one of ``allowed``, else an ``LLM2LossError`` listing them."""
    if model not in allowed:
        raise LLM2LossError(f"Unknown model {model!r}; choose one of {list(allowed)}.")
    return model


def correlations(pred: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman and Kendall with their p-values (NaN when either side is constant)."""
    out = {}
    for name, fn in zip(CORRELATIONS, (stats.pearsonr, stats.spearmanr, stats.kendalltau)):
        if len(pred) < 3 or np.ptp(pred) == 0 or np.ptp(actual) == 0:
            out[name] = out[f"{name}_p"] = float("nan")
        else:
            res = fn(pred, actual)
            out[name], out[f"{name}_p"] = float(res.statistic), float(res.pvalue)
    return out


@dataclass(repr=False)
class LossEvaluation:
    """Correlations between predicted and actual loss, one row per model with p-values:
    ``images`` per image and, when slices were given, ``slices`` between per-slice means.

    Example:
        >>> row = {"model": "ranker", **correlations(np.arange(5.0), np.arange(5.0) ** 2)}
        >>> LossEvaluation(pd.DataFrame([row]), None, 5)
        LossEvaluation(n=5; Spearman per image: ranker 1.000)
    """

    images: pd.DataFrame
    slices: pd.DataFrame | None
    n_images: int

    def spearman(self, model: str = "ranker", level: str = "images") -> float:
        """The Spearman correlation of one model, per image (``images``) or per slice (``slices``)."""
        check_model(model, ("regressor", "ranker", "classifier"))
        if level not in ("images", "slices"):
            raise LLM2LossError(f"Unknown level {level!r}; choose 'images' or 'slices'.")
        table = self.images if level == "images" else self.slices
        if table is None:
            raise LLM2LossError("No per-slice evaluation: pass table= and by= to evaluate().")
        return float(table.set_index("model").loc[model, "spearman"])

    def __repr__(self) -> str:
        fmt = lambda t: ", ".join(f"{r.model} {r.spearman:.3f}" for r in t.itertuples())  # noqa: E731
        text = f"LossEvaluation(n={self.n_images}; Spearman per image: {fmt(self.images)}"
        return text + (f"; per slice: {fmt(self.slices)})" if self.slices is not None else ")")


@dataclass(repr=False)
class SliceLoss:
    """Slices ordered by the loss predicted from their *text*, beside their actual mean image
    loss (``table``), and the correlations between the two.

    Example:
        >>> t = pd.DataFrame({"color": list("abc"), "text_score": [3.0, 2, 1], "image_loss": [9.0, 4, 1]})
        >>> SliceLoss(t, ["color"], "ranker", correlations(t["text_score"], t["image_loss"]))
        SliceLoss(by=['color'], slices=3, model='ranker', spearman=1.000, pearson=0.990, kendall=1.000)
    """

    table: pd.DataFrame
    by: list[str]
    model: str
    correlations: dict

    @property
    def spearman(self) -> float:
        """The Spearman correlation between estimated and actual loss over the slices."""
        return self.correlations["spearman"]

    def __repr__(self) -> str:
        c = self.correlations
        return (f"SliceLoss(by={self.by}, slices={len(self.table)}, model={self.model!r}, "
                f"spearman={c['spearman']:.3f}, pearson={c['pearson']:.3f}, kendall={c['kendall']:.3f})")
