"""PRIME (paper 001): failure modes as minimal sets of human-readable tags.

Per class, a set of tags S is a failure mode when the images of the class that carry every tag
of S (its group) number at least ``s``, the model's accuracy on them is at most the class
accuracy minus ``a``, and every tag is necessary: dropping any one raises the accuracy by at least
``b[|S|]``. The model is a black box: only its per-image predictions and the labels are used.

- :mod:`.modes`: :func:`find_failure_modes` on any tag table, and the checks of its modes
  (:func:`generalisation`, :func:`description_quality`);
- :mod:`.search`: the searches over tag sets (exhaustive and greedy over packed bitsets, and a
  naive reference);
- :mod:`.result`: :class:`PrimeResult`;
- :mod:`.method`: PRIME as a registered method on a session's attribute values
  (``session.find_failure_modes``).

Tags come from :mod:`drml_widgets.methods.tagging` (a CLIP zero-shot tagger, or known attributes).
"""

from ...errors import PrimeError
from .modes import (DEFAULT_B, HELDOUT_COLUMNS, MODE_COLUMNS, QUALITY_COLUMNS, SEARCHES, candidate_tags,
                    description_quality, find_failure_modes, generalisation)
from .result import PrimeResult
from .search import EPS, TagBits, TagFrame, exhaustive_search, failure_modes, greedy_search, naive_search
from . import method  # registers PRIME with the method registry

__all__ = ["DEFAULT_B", "EPS", "HELDOUT_COLUMNS", "MODE_COLUMNS", "QUALITY_COLUMNS", "SEARCHES", "PrimeError",
           "PrimeResult", "TagBits", "TagFrame", "candidate_tags", "description_quality", "exhaustive_search",
           "failure_modes", "find_failure_modes", "generalisation", "greedy_search", "naive_search"]
