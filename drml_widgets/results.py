"""The shape every method's result shares, whatever the paper behind it.

A result has a ``.table`` (a DataFrame, always a property or a field, never a method), a
readable repr, :meth:`Result.findings` (ranked, worst first: each with a name where the method
can state one as attribute values, and the member rows behind it, for thumbnails) and
:meth:`Result.describe` (a few lines a person can read). Views, the scorecard and users read
results through this shape alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd


@dataclass(frozen=True, repr=False)
class Finding:
    """One ranked finding of a method.

    ``name``: the attribute values the method states (``{"color": "green", "shape":
    "triangle"}``), or None where it cannot name one (a cluster described by a free sentence);
    ``label``: how a person reads it; ``score``: the method's own measure (its ``score_name``
    says which, e.g. ``drop`` or ``text_prob``); ``rows``: the member images, most typical first
    (rows of the session's table when the result came from a session, else positions in the data
    the method was given); ``n_images``: how many members there are (``len(rows)`` unless the
    result knows the count but not the rows).

    Example:
        >>> Finding({"color": "green"}, "color=green", 0.4, "drop", np.array([3, 1]))
        Finding(color=green: drop 0.400, 2 images)
    """

    name: Mapping[str, str] | None
    label: str
    score: float
    score_name: str
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    n_images: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "rows", np.asarray(self.rows, dtype=np.int64))
        if self.n_images is None:
            object.__setattr__(self, "n_images", len(self.rows))

    def __repr__(self) -> str:
        return f"Finding({self.label}: {self.score_name} {number(self.score, self.score_name)}, {self.n_images} images)"


def number(value: float, name: str = "") -> str:
    """A score as people read it: counts (``n_...``) without decimals, the rest to three places.

    Example:
        >>> number(87.0, "n_images"), number(1.0, "accuracy"), number(0.48312)
        ('87', '1.000', '0.483')
    """
    return f"{value:.0f}" if name.startswith("n_") else f"{value:.3f}"


def name_label(name: Mapping[str, str] | None, fallback: str = "unnamed") -> str:
    """How a named finding reads: ``type=value`` pairs joined by commas.

    Example:
        >>> name_label({"color": "green", "shape": "triangle"}), name_label(None, "a sentence")
        ('color=green, shape=triangle', 'a sentence')
    """
    return ", ".join(f"{k}={v}" for k, v in name.items()) if name else fallback


class Result:
    """The base of every method's result. Subclasses give ``table`` (a DataFrame field or
    property), :meth:`findings` and :attr:`method` (the registry's name of the method that made
    it); :meth:`describe` and :meth:`top` follow. ``caveats``: lines on what limits the result
    (say, attributes its CLIP reads poorly), shown by :meth:`describe`.

    Example:
        >>> from drml_widgets.diagnose.slices import compare_slices
        >>> t = pd.DataFrame({"c": ["a", "b"], "text_prob": [0.2, 0.9]})
        >>> i = pd.DataFrame({"c": ["a", "b"], "image_acc": [0.1, 0.8], "n_images": [5, 5]})
        >>> result = compare_slices(t, i, ["c"])
        >>> isinstance(result, Result), result.top().label
        (True, 'c=a')
    """

    method: str = ""
    table: pd.DataFrame
    caveats: tuple[str, ...] = ()

    def findings(self) -> list[Finding]:
        """The ranked findings, worst first (none by default)."""
        return []

    def top(self) -> Finding | None:
        """The first finding, or None when there is none."""
        found = self.findings()
        return found[0] if found else None

    def describe(self, k: int = 5) -> str:
        """A few lines: what the result is, then its first ``k`` findings.

        Example:
            >>> from drml_widgets.diagnose.slices import compare_slices
            >>> t = pd.DataFrame({"c": ["a", "b"], "text_prob": [0.2, 0.9]})
            >>> i = pd.DataFrame({"c": ["a", "b"], "image_acc": [0.1, 0.8], "n_images": [5, 5]})
            >>> print(compare_slices(t, i, ["c"]).describe(k=1))
            SliceComparison(by=['c'], slices=2, spearman=nan, pearson=nan)
              1. c=a: text_prob 0.200, 5 images
              ... 1 more in .findings()
        """
        found = self.findings()
        lines = [repr(self).splitlines()[0]] + [f"  caution: {c}" for c in self.caveats]
        for i, f in enumerate(found[:k], 1):
            lines.append(f"  {i}. {f.label}: {f.score_name} {number(f.score, f.score_name)}, {f.n_images} images")
        if len(found) > k:
            lines.append(f"  ... {len(found) - k} more in .findings()")
        if not found:
            lines.append("  no findings")
        return "\n".join(lines)
