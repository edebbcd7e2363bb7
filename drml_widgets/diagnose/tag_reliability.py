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

**Ground truth decides where it is known.** Dependence alone cannot say which of two tags that
follow each other CLIP really reads: a CLIP blind to size, whose size tags copy the shape, makes
size and shape equally predictable from each other, and the rule above may drop the shape. So
``known=`` takes true values of some types (the class labels, metadata columns, a labelled
sample; NaN where unknown). A grounded type is judged by its accuracy on the known rows, chance
corrected like the margin (``(accuracy - 1/k) / (1 - 1/k)``) and held to the same halfway mark,
whatever its confidence; and of a dependent pair, a grounded type read well is never the
stand-in: the other one is, when its tag follows the grounded one's (U above the bound). Where
neither side is grounded, the rule above stands and ``why`` says that ground truth could not decide.

**A type read well can still misread a value** (a rare colour, "medium" between "small" and
"large"). Where true values are known, each value's recall (the share of its images tagged with
it) is chance corrected the same way; a value of a reliable type is flagged when even the upper
end of its recall's 95% Wilson interval stays below the halfway mark, so a handful of known
images flags nothing. ``values`` lists every grounded value, ``misread`` the flagged ones.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from ..errors import InputError

MIN_MARGIN = 0.5
MAX_DEPENDENCE = 0.5
WILSON_Z = 1.96  # a 95% interval
VALUE_COLUMNS = ["type", "value", "n_known", "recall", "recall_over_chance", "recall_upper", "read_as",
                 "read_as_share", "misread"]


def uncertainty_coefficient(a, b) -> float:
    """U(a|b): the share of the entropy of ``a`` that knowing ``b`` removes (0 to 1).

    Example:
        >>> round(uncertainty_coefficient(["x", "y", "x", "y"], ["p", "q", "p", "q"]), 3)
        1.0
        >>> round(uncertainty_coefficient(["x", "y", "x", "y"], ["p", "p", "q", "q"]), 3)
        0.0
    """
    return _coefficient(pd.factorize(np.asarray(a))[0], pd.factorize(np.asarray(b))[0])


def _coefficient(ia: np.ndarray, ib: np.ndarray) -> float:
    """U(a|b) from the codes 0..k-1 of ``a`` and ``b`` (each type coded once, whatever its pairs)."""
    k = int(ib.max()) + 1
    joint = np.bincount(ia * k + ib, minlength=(int(ia.max()) + 1) * k).reshape(-1, k).astype(np.float64)
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
    (``stands_in_for``, ``dependence``), ``reliable`` and ``why``; where true values were given,
    ``accuracy`` on the ``n_known`` rows, chance corrected as ``accuracy_over_chance``, and
    ``grounded`` (NaN, 0 and False elsewhere); ``grounded_by``: the type whose true values the
    verdict rests on (the type itself, or the one it was found to stand in for; "" when none).
    ``values``: per grounded value, ``n_known`` images, ``recall`` (and over chance, and the upper
    end of its 95% interval over chance), the tag most of its misses get (``read_as``, its share of
    the value's images) and ``misread`` (see the module's docstring)."""

    table: pd.DataFrame
    values: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=VALUE_COLUMNS))

    @property
    def unreliable(self) -> list[str]:
        """The attribute types whose tags are not to be trusted, in table order."""
        return self.table.loc[~self.table["reliable"], "type"].tolist()

    @property
    def ruled_out(self) -> list[str]:
        """The unreliable types that true values show CLIP misreads (not merely unsure, or undecided).

        Example:
            >>> v = pd.DataFrame({"size": ["small", "large"] * 50, "shape": ["square", "circle"] * 50})
            >>> c = pd.DataFrame({"size": [0.9] * 100, "shape": [0.9] * 100})
            >>> tag_reliability(v, c, {"size": 2, "shape": 2}, known=v[["shape"]]).ruled_out
            ['size']
        """
        return self.table.loc[~self.table["reliable"] & (self.table["grounded_by"] != ""), "type"].tolist()

    def misread(self) -> dict[str, dict[str, str]]:
        """The misread values of reliable types, type -> value -> why.

        Example:
            >>> v = pd.DataFrame({"size": ["small"] * 60 + ["small"] * 30 + ["large"] * 30})
            >>> truth = pd.DataFrame({"size": ["small"] * 60 + ["medium"] * 30 + ["large"] * 30})
            >>> tag_reliability(v, v.assign(size=0.9), {"size": 3}, known=truth).misread()
            {'size': {'medium': 'recall 0.00 on 30 known images, close to chance (0.33); most are tagged small (100%)'}}
        """
        out: dict[str, dict[str, str]] = {}
        ks = self.table.set_index("type")["n_values"]
        for r in self.values[self.values["misread"].astype(bool)].itertuples():
            k = int(ks[r.type])
            out.setdefault(r.type, {})[r.value] = (
                f"recall {r.recall:.2f} on {r.n_known} known images, close to chance ({1 / k:.2f})"
                + (f"; most are tagged {r.read_as} ({r.read_as_share:.0%})" if r.read_as else ""))
        return out

    def warn(self, stacklevel: int = 3) -> None:
        """A warning naming every unreliable type and misread value, and why (nothing when all are read well)."""
        bad = self.table[~self.table["reliable"]]
        values = [f"{t}={v}: {why}" for t, per in self.misread().items() for v, why in per.items()]
        if len(bad):
            reasons = "; ".join(f"{r.type}: {r.why}" for r in bad.itertuples())
            warnings.warn(f"CLIP's tags of {bad['type'].tolist()} cannot be trusted ({reasons}). Fix: leave them "
                          "out, give true values from your metadata (known=), or use a CLIP that sees them.",
                          stacklevel=stacklevel)
        if values:
            warnings.warn(f"CLIP misreads some values of types it reads well ({'; '.join(values)}). Fix: judge "
                          "slices naming them by their true values, or use a CLIP that sees them.", stacklevel=stacklevel)

    def __repr__(self) -> str:
        rows = []
        for r in self.table.itertuples():
            truth = (f", accuracy {r.accuracy:.2f} on {r.n_known} known ({r.accuracy_over_chance:.2f} over chance)"
                     if r.grounded else "")
            rows.append(f"  {r.type}: margin {r.margin:.2f}{truth}, most dependent on {r.stands_in_for} "
                        f"({r.dependence:.2f}) -> {'reliable' if r.reliable else r.why}")
        rows += [f"  {t}={v}: misread, {why}" for t, per in self.misread().items() for v, why in per.items()]
        return "TagReliability(\n" + "\n".join(rows) + "\n)"


def over_chance(share: float, k: int) -> float:
    """A share rescaled so chance among ``k`` values (1/k) is 0 and certainty is 1.

    Example:
        >>> over_chance(0.75, 2), over_chance(1.0, 4)
        (0.5, 1.0)
    """
    return (share - 1 / k) / (1 - 1 / k)


def _accuracy(values: pd.DataFrame, known: pd.DataFrame | None) -> dict[str, tuple[float, int]]:
    """Per grounded type, the share of its known rows tagged with the true value, and their count."""
    if known is None:
        return {}
    if not isinstance(known, pd.DataFrame) or len(known) != len(values):
        raise InputError(f"known must be a DataFrame with one row per tagged image ({len(values)}); got "
                         f"{type(known).__name__} of {len(known) if hasattr(known, '__len__') else '?'} rows. "
                         "Fix: pass true values in the images' order, NaN where unknown.")
    stray = [c for c in known.columns if c not in values.columns]
    if stray:
        raise InputError(f"known has columns {stray} that are not tag types {list(values.columns)}. Fix: name its "
                         "columns after the tagged types, e.g. known=table[['class']].")
    out = {}
    for t in known.columns:
        mask = known[t].notna().to_numpy()
        if mask.any():
            truth = known[t].to_numpy(dtype=object)[mask].astype(str)
            out[t] = (float(np.mean(values[t].to_numpy(dtype=object)[mask].astype(str) == truth)), int(mask.sum()))
    return out


def wilson_upper(share: float, n: int, z: float = WILSON_Z) -> float:
    """The upper end of the Wilson score interval of a share seen on ``n`` trials.

    Example:
        >>> round(wilson_upper(0.5, 10), 3), round(wilson_upper(0.5, 1000), 3)
        (0.763, 0.531)
    """
    centre = share + z * z / (2 * n)
    spread = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return float((centre + spread) / (1 + z * z / n))


def _value_recall(values: pd.DataFrame, known: pd.DataFrame | None, ks: dict[str, int],
                  min_margin: float) -> pd.DataFrame:
    """Per value of each grounded type: its known images' recall and what the misses are tagged
    (one count table per type, so a type of many values costs no pass per value)."""
    rows = []
    for t in [] if known is None else known.columns:
        mask = known[t].notna().to_numpy()
        truth, names = pd.factorize(known[t].to_numpy(dtype=object)[mask].astype(str))
        tagged = pd.Categorical(values[t].to_numpy(dtype=object)[mask].astype(str))
        tag_names = list(tagged.categories)
        counts = np.zeros((len(names), len(tag_names)), np.int64)
        np.add.at(counts, (truth, tagged.codes), 1)
        same = np.array([tag_names.index(v) if v in tag_names else -1 for v in names])
        for i, v in enumerate(names):
            n, hits = int(counts[i].sum()), int(counts[i, same[i]]) if same[i] >= 0 else 0
            wrong = counts[i].copy()
            if same[i] >= 0:
                wrong[same[i]] = 0
            recall = hits / n
            upper = over_chance(wilson_upper(recall, n), ks[t])
            rows.append({"type": t, "value": v, "n_known": n, "recall": recall,
                         "recall_over_chance": over_chance(recall, ks[t]), "recall_upper": upper,
                         "read_as": tag_names[int(wrong.argmax())] if wrong.any() else "",
                         "read_as_share": float(wrong.max() / n), "misread": upper < min_margin})
    return pd.DataFrame(rows, columns=VALUE_COLUMNS)


def _stand_in(t: str, types: list[str], deps: dict, read_well: dict[str, bool],
              max_dependence: float) -> tuple[str, str] | None:
    """Why the ungrounded type ``t`` stands in for another, and the grounded type that decided it
    ("" when none did), or None. A partner that ground truth shows CLIP reads well makes ``t`` the
    stand-in; otherwise the more determined of the two is. Only ``t``'s tag following the partner's
    counts against ``t``: a many-valued tag that merely predicts a well-read class is a finer
    tag, not a copy (and a spurious attribute predicts the class where data are biased)."""
    for o in sorted((o for o in types if o != t), key=lambda o: -deps[t, o]):
        if read_well.get(o) and deps[t, o] > max_dependence:
            return (f"it stands in for {o} ({deps[t, o]:.0%} of it follows {o}'s tag), which ground truth shows "
                    f"CLIP reads", o)
        if deps[t, o] > max_dependence and deps[t, o] > deps[o, t] and not read_well.get(o):
            undecided = "" if o in read_well else (
                f"; ground truth could not decide which of the two CLIP reads. Fix: pass known= true values of "
                f"{t} or {o} (class labels, a metadata column or a small labelled sample)")
            decided_by = o if o in read_well else ""
            return f"it stands in for {o} ({deps[t, o]:.0%} of it follows {o}'s tag){undecided}", decided_by
    return None


def tag_reliability(values: pd.DataFrame, confidence: pd.DataFrame, n_values: Mapping[str, int], *,
                    known: pd.DataFrame | None = None, min_margin: float = MIN_MARGIN,
                    max_dependence: float = MAX_DEPENDENCE) -> TagReliability:
    """Check each tag type (a column of ``values``, with its top probability in ``confidence``
    and its number of possible values in ``n_values``). ``known``: true values of some types,
    columns named after them, one row per image, NaN where unknown (see the module's docstring).

    Example:
        >>> v = pd.DataFrame({"color": ["red", "blue"] * 50, "spot": ["left", "left", "right", "right"] * 25})
        >>> c = pd.DataFrame({"color": [0.99] * 100, "spot": [0.55] * 100})
        >>> tag_reliability(v, c, {"color": 2, "spot": 2}).unreliable
        ['spot']
        >>> tag_reliability(v, c, {"color": 2, "spot": 2}, known=v[["spot"]]).unreliable  # true, though unsure
        []
    """
    types = list(values.columns)
    if list(confidence.columns) != types or len(confidence) != len(values):
        raise InputError("values and confidence must have the same tag types and rows. Fix: pass the two tables of "
                         "one tagging run.")
    accuracy = _accuracy(values, known)
    ks = {t: max(int(n_values.get(t, values[t].nunique())), 2) for t in types}
    read_well = {t: over_chance(acc, ks[t]) >= min_margin for t, (acc, _) in accuracy.items()}
    codes = {t: pd.factorize(values[t].to_numpy())[0] for t in types}
    deps = {(t, o): _coefficient(codes[t], codes[o]) for t in types for o in types if o != t}
    rows = []
    for t in types:
        k = ks[t]
        mean = float(confidence[t].mean())
        margin = over_chance(mean, k)
        mine = {o: deps[t, o] for o in types if o != t}
        other = max(mine, key=mine.get) if mine else None
        acc, n_known = accuracy.get(t, (float("nan"), 0))
        why, grounded_by = [], t if t in accuracy else ""
        if t in accuracy:
            if not read_well[t]:
                why.append(f"accuracy {acc:.2f} on {n_known} known values is close to chance ({1 / k:.2f})")
        else:
            if margin < min_margin:
                why.append(f"confidence {mean:.2f} is close to chance ({1 / k:.2f})")
            stand_in = _stand_in(t, types, deps, read_well, max_dependence)
            if stand_in:
                why.append(stand_in[0])
                grounded_by = stand_in[1]
        rows.append({"type": t, "n_values": k, "mean_confidence": mean, "margin": margin, "stands_in_for": other,
                     "dependence": mine.get(other, 0.0) if other else 0.0, "reliable": not why,
                     "why": "; ".join(why) or "ok", "accuracy": acc, "accuracy_over_chance": over_chance(acc, k),
                     "n_known": n_known, "grounded": t in accuracy, "grounded_by": grounded_by})
    table = pd.DataFrame(rows)
    per_value = _value_recall(values, known, ks, min_margin)
    reliable = set(table.loc[table["reliable"], "type"])
    per_value["misread"] = per_value["misread"].astype(bool) & per_value["type"].isin(reliable)
    return TagReliability(table, per_value)
