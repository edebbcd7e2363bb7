"""PRIME's result: the failure modes found, what was searched, and each mode's member images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...errors import PrimeError
from ...results import Finding, Result, name_label


@dataclass(repr=False)
class PrimeResult(Result):
    """Failure modes found by :func:`~drml_widgets.methods.prime.find_failure_modes`, with what it searched.

    ``modes`` has one row per mode: ``class``, ``tags`` (a tuple), ``n_tags``, ``n_images``,
    ``accuracy``, ``class_accuracy``, ``drop`` (class accuracy minus accuracy), ``min_gain``
    (the smallest accuracy rise from dropping one tag; NaN for single tags) and ``description``.
    """

    modes: pd.DataFrame
    class_accuracy: pd.Series
    candidates: pd.DataFrame
    params: dict
    n_evaluated: int
    seconds: float
    tags: pd.DataFrame | None = None
    labels: np.ndarray | None = None
    rows: np.ndarray | None = None  # where the searched images come from (a Session: its table rows)
    heldout: pd.DataFrame | None = None  # generalisation() on images kept aside, where any were
    tag_types: dict | None = None  # the attribute type of each tag, where the tags are attribute values
    class_type: str = "class"  # the name findings give the class under
    method = "failure_modes"

    @property
    def table(self) -> pd.DataFrame:
        """The modes, with the held-out columns (``heldout_images``, ``heldout_accuracy``,
        ``heldout_drop``, ``holds``) where images were kept aside."""
        if self.heldout is None:
            return self.modes.copy()
        held = self.heldout.drop(columns=[c for c in self.heldout.columns if c in self.modes.columns])
        return self.modes.join(held.set_axis(self.modes.index))

    def findings(self) -> list[Finding]:
        """The modes, largest accuracy drop first, named by their tags' attribute values and class
        (tags that are not attribute values name the mode by its description only); rows are the
        session's table rows where the result came from one.

        Example:
            >>> from drml_widgets.methods.prime import find_failure_modes
            >>> tags = pd.DataFrame({"dark": [True, True, False, False]})
            >>> result = find_failure_modes(tags, ["dog", "dog", "cat", "cat"], ["cat"] * 4, s=2, a=0.1)
            >>> result.findings()[0]
            Finding(cat: dark: drop 0.500, 2 images)
        """
        out = []
        for i in self.modes.sort_values("drop", ascending=False, kind="stable").index:
            mode = self.modes.loc[i]
            named = self.tag_types is not None and all(tag in self.tag_types for tag in mode["tags"])
            name = ({self.tag_types[tag]: tag for tag in mode["tags"]} | {self.class_type: mode["class"]}
                    if named else None)
            members = self.members(i)
            rows = self.rows[members] if self.rows is not None else members
            out.append(Finding(name, name_label(name, str(mode["description"])), float(mode["drop"]), "drop", rows))
        return out

    def members(self, i: int) -> np.ndarray:
        """Positions of the images in mode ``i`` (a row label of ``modes``).

        Example:
            >>> from drml_widgets.methods.prime import find_failure_modes
            >>> tags = pd.DataFrame({"dark": [True, True, False, False]})
            >>> result = find_failure_modes(tags, ["dog", "dog", "cat", "cat"], ["cat"] * 4, s=2, a=0.1)
            >>> result.members(0).tolist()
            [0, 1]
        """
        if i not in self.modes.index:
            raise PrimeError(f"There is no mode {i!r}; the {len(self.modes)} modes are rows "
                             f"{self.modes.index.tolist()[:10]} of .modes. Fix: pass one of them.")
        row = self.modes.loc[i]
        group = self.tags[list(row["tags"])].all(axis=1).to_numpy() & (self.labels == row["class"])
        return np.flatnonzero(group)

    def __repr__(self) -> str:
        p = self.params
        per_class = self.modes["class"].value_counts().to_dict() if len(self.modes) else {}
        lines = [f"PrimeResult({len(self.modes)} failure modes {per_class}; {p['search']} search, l={p['l']}, "
                 f"s={p['s']}, a={p['a']}; {self.n_evaluated:,} tag sets in {self.seconds:.2f} s)"]
        for _, r in self.modes.head(10).iterrows():
            lines.append(f"  {r['description']}: accuracy {r['accuracy']:.3f} vs {r['class_accuracy']:.3f} "
                         f"({r['n_images']} images)")
        if len(self.modes) > 10:
            lines.append(f"  ... {len(self.modes) - 10} more in .modes")
        return "\n".join(lines)
