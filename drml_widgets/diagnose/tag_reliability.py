"""Can CLIP's tags of an attribute type be trusted? A check before PRIME, slicing or detection.

A CLIP that cannot see an attribute still tags every image with one of its values. Two signs
give it away, neither needing ground truth:

- **no confidence**: the softmax over the type's values stays near chance. The margin is the
  mean top probability rescaled so chance (1/k) is 0 and certainty is 1; below ``min_margin``
  the type is unreliable.
- **standing in for another type**: the tag is predictable from another type's tag. The
  dependence is Theil's uncertainty coefficient U(A|B), the share of A's tag entropy that B's tag
  explains; above ``max_dependence``, and above U(B|A), A is flagged as standing in for B (of two
  tags that follow each other, the one more determined by the other is the stand-in). On the
  shapes CLIP the position tag is 95% predictable from the colour tag (and colour 55% from
  position), while the true positions are independent of colour: the tag reads colour.

Types that pass both are ``reliable``. Both bounds are halfway marks on scales whose ends mean
the same for any CLIP and vocabulary (chance to certainty; independent to determined).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError

MIN_MARGIN = 0.5
MAX_DEPENDENCE = 0.5


def uncertainty_coefficient(a, b) -> float:
    """U(a|b): the share of the entropy of ``a`` that knowing ``b`` removes (0 to 1).

    Example:
        >>> round(uncertainty_coefficient(["x", "y", "x", "y"], ["p", "q", "p", "q"]), 3)
        1.0
        >>> round(uncertainty_coefficient(["x", "y", "x", "y"], ["p", "p", "q", "q"]), 3)
        0.0
    """
    joint = pd.crosstab(pd.Series(np.asarray(a)), pd.Series(np.asarray(b))).to_numpy(dtype=np.float64)
    p = joint / joint.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    h_a = -np.sum(pa[pa > 0] * np.log(pa[pa > 0]))
    if h_a == 0:
        return 0.0
    nz = p > 0
    mutual = np.sum(p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz]))
    return float(np.clip(mutual / h_a, 0.0, 1.0))


@dataclass(repr=False)
class TagReliability:
    """Per tag type: ``mean_confidence``, ``margin`` over chance, the type it depends on most
    (``stands_in_for``, ``dependence``), ``reliable`` and ``why``."""

    table: pd.DataFrame

    @property
    def unreliable(self) -> list[str]:
        """The attribute types whose tags are not to be trusted, in table order."""
        return self.table.loc[~self.table["reliable"], "type"].tolist()

    def warn(self, stacklevel: int = 3) -> None:
        """A warning naming every unreliable type and why (nothing when all are reliable)."""
        bad = self.table[~self.table["reliable"]]
        if len(bad):
            reasons = "; ".join(f"{r.type}: {r.why}" for r in bad.itertuples())
            warnings.warn(f"CLIP's tags of {bad['type'].tolist()} cannot be trusted ({reasons}). Fix: leave them "
                          "out, give true values from your metadata, or use a CLIP that sees them.",
                          stacklevel=stacklevel)

    def __repr__(self) -> str:
        rows = [f"  {r.type}: margin {r.margin:.2f}, most dependent on {r.stands_in_for} ({r.dependence:.2f}) -> "
                f"{'reliable' if r.reliable else r.why}" for r in self.table.itertuples()]
        return "TagReliability(\n" + "\n".join(rows) + "\n)"


def tag_reliability(values: pd.DataFrame, confidence: pd.DataFrame, n_values: Mapping[str, int], *,
                    min_margin: float = MIN_MARGIN, max_dependence: float = MAX_DEPENDENCE) -> TagReliability:
    """Check each tag type (a column of ``values``, with its top probability in ``confidence``
    and its number of possible values in ``n_values``).

    Example:
        >>> v = pd.DataFrame({"color": ["red", "blue"] * 50, "spot": ["left", "right"] * 50})
        >>> c = pd.DataFrame({"color": [0.99] * 100, "spot": [0.55] * 100})
        >>> tag_reliability(v, c, {"color": 2, "spot": 2}).unreliable
        ['spot']
    """
    types = list(values.columns)
    if list(confidence.columns) != types or len(confidence) != len(values):
        raise InputError("values and confidence must have the same tag types and rows. Fix: pass the two tables of "
                         "one tagging run.")
    deps = {(t, o): uncertainty_coefficient(values[t], values[o]) for t in types for o in types if o != t}
    rows = []
    for t in types:
        k = max(int(n_values.get(t, values[t].nunique())), 2)
        mean = float(confidence[t].mean())
        margin = (mean - 1 / k) / (1 - 1 / k)
        mine = {o: deps[t, o] for o in types if o != t}
        other = max(mine, key=mine.get) if mine else None
        dependence = mine.get(other, 0.0) if other else 0.0
        why = []
        if margin < min_margin:
            why.append(f"confidence {mean:.2f} is close to chance ({1 / k:.2f})")
        if dependence > max_dependence and dependence > deps[other, t]:
            why.append(f"it stands in for {other} ({dependence:.0%} of it follows {other}'s tag)")
        rows.append({"type": t, "n_values": k, "mean_confidence": mean, "margin": margin, "stands_in_for": other,
                     "dependence": dependence, "reliable": not why, "why": "; ".join(why) or "ok"})
    return TagReliability(pd.DataFrame(rows))
