"""Name a failure by the values it needs: narrow a slice to the value its failure concentrates in,
widen it past a value the failure does not need.

Ranking slices by how much they explain (see ``scorecard.protocol.contrast``) favours wide
slices: a failure of small orange triangles also drags down every orange triangle, and the wider
slice has more members. A linear head adds up its attributes' pushes, so text probes in particular
spread a two-value failure over each value alone. The rule here is the one a person applies
reading the table, and the one that makes a planted slice the truth in the scorecard:

- **narrow** to ``S + v`` when the failure concentrates there: the rest of ``S`` fails at most half
  as much (above its baseline) as ``S + v`` does;
- **widen** to ``S - v`` when ``v`` is not needed: the rest of ``S - v`` fails more than half as
  much as ``S``. The class, when the slice names one, is never dropped.

"Half" is the midpoint between "the rest fails as much" and "the rest does not fail at all", the
same on any scale of failure (text probability, error rate).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import InputError
from .slices import ALL


def focus_slice(scored: pd.DataFrame, types: Sequence[str], failure, count, baseline, start: int,
                keep: Sequence[str] = (), max_steps: int = 8) -> dict:
    """From row ``start`` of ``scored`` (one row per slice, ``types`` columns holding a value or
    ``"*"``, as :func:`~drml_widgets.diagnose.slices.all_slices` returns), narrow and widen as the
    module describes and return the slice's values. ``failure``, ``count`` and ``baseline`` are per
    row: how much the slice fails (higher is worse), how many prompts or images it holds, and the
    failure of the population it is compared with (its class, say). ``keep`` types are never dropped.

    Example:
        >>> scored = pd.DataFrame({"color": ["red", "red", "blue", "*", "red", "blue"],
        ...                        "size": ["*", "small", "small", "small", "large", "*"]})
        >>> fail = [0.5, 0.9, 0.1, 0.5, 0.1, 0.1]   # red fails only when small
        >>> focus_slice(scored, ["color", "size"], fail, [2, 1, 1, 2, 1, 2], [0.3] * 6, start=0)
        {'color': 'red', 'size': 'small'}
        >>> fail = [0.9, 0.9, 0.1, 0.5, 0.9, 0.1]   # red fails at every size
        >>> focus_slice(scored, ["color", "size"], fail, [2, 1, 1, 2, 1, 2], [0.3] * 6, start=1)
        {'color': 'red'}
    """
    types = list(types)
    fail, n, base = (np.asarray(a, dtype=np.float64) for a in (failure, count, baseline))
    if not len(fail) == len(n) == len(base) == len(scored):
        raise InputError(f"failure ({len(fail)}), count ({len(n)}) and baseline ({len(base)}) need one value per "
                         f"slice ({len(scored)}). Fix: pass columns of the scored table.")
    keys = scored[types].astype(object).itertuples(index=False, name=None)
    row = {key: i for i, key in enumerate(keys)}
    values = {t: [v for v in pd.unique(scored[t]) if v != ALL] for t in types}

    def find(s: dict):
        return row.get(tuple(s.get(t, ALL) for t in types))

    def excess(i: int) -> float:
        return fail[i] - base[i]

    def rest(wide: int, narrow: int) -> float:
        """Excess failure of the rows of ``wide`` outside ``narrow``, against ``narrow``'s baseline."""
        left = n[wide] - n[narrow]
        return (fail[wide] * n[wide] - fail[narrow] * n[narrow]) / left - base[narrow] if left > 0 else 0.0

    current = {t: scored.iloc[start][t] for t in types if scored.iloc[start][t] != ALL}
    for _ in range(max_steps):
        i, moved = find(current), False
        best, best_excess = None, excess(i)
        for t in (t for t in types if t not in current):
            for v in values[t]:
                j = find({**current, t: v})
                if j is not None and n[j] > 0 and excess(j) > best_excess and rest(i, j) <= excess(j) / 2:
                    best, best_excess = {**current, t: v}, excess(j)
        if best is not None:
            current, i, moved = best, find(best), True
        for t in [t for t in current if t not in keep] if len(current) > 1 else []:
            wider = {k: v for k, v in current.items() if k != t}
            j = find(wider)
            if j is not None and rest(j, i) > excess(i) / 2:
                current, moved = wider, True
                break
        if not moved:
            break
    return current
