"""Which of a session's attribute types its CLIP reads poorly, so results built on them can say so.

The text probe and LossQuery read slices through CLIP: a slice's prompts name its attribute
values, and CLIP places them by what it learnt of those words. Where CLIP cannot see an
attribute, the text of "a large square" and "a small square" lands in one place, and the slice's
score says nothing about size. So each image is tagged zero-shot with every attribute type of the
session (one grouped softmax; :func:`~drml_widgets.diagnose.zero_shot.tag_attributes`) and the
tags pass the reliability check (:mod:`~drml_widgets.diagnose.tag_reliability`), grounded by the
table's true values where it has them: its columns of those types, except the ones CLIP tagged
itself. The check runs once per session, image embeddings, encoder, attributes and table columns.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Iterable, Mapping, Sequence

from ..diagnose.tag_reliability import TagReliability
from ..diagnose.zero_shot import tag_attributes
from ..errors import DrmlError
from ..prompts.generate import AttributeSet
from .protocol import SessionView

_CHECKED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def clip_tagged(view: SessionView) -> list[str]:
    """The table's attribute columns that CLIP tagged (no true values: they are CLIP's own reading).

    Example:
        >>> from drml_widgets import Session
        >>> clip_tagged(Session.from_shapes_world(n=1200, ensemble=False, train=False).view)
        []
    """
    tags = getattr(view.source, "attribute_tags", None)
    return [str(t) for t in tags.values.columns] if tags is not None else []


def clip_reads(view: SessionView) -> TagReliability | None:
    """The reliability check of CLIP's zero-shot tags of the session's attribute types, grounded by
    the table's true values; None when the attributes cannot be tagged (a type of one value, or an
    encoder that cannot embed their captions). Cached per session.

    Example:
        >>> from drml_widgets import Session
        >>> clip_reads(Session.from_shapes_world(n=1200, ensemble=False, train=False).view).unreliable
        []
    """
    types = [t for t in view.attributes.types if len(view.attributes.values[t]) > 1]
    tagged = clip_tagged(view)
    truth = [t for t in types if t in view.table.columns and t not in tagged]
    # the embeddings and encoder by identity, held by the entry so that no new object can take their id
    key = (view.image_emb, view.encoder, tuple((t, tuple(view.attributes.values[t])) for t in types), tuple(truth))
    try:
        cached = _CHECKED.get(view.source)
    except TypeError:  # a source that cannot be weakly referenced: check every time
        cached = None
    if cached is not None and cached[0][0] is key[0] and cached[0][1] is key[1] and cached[0][2:] == key[2:]:
        return cached[1]
    try:
        tags = tag_attributes(view.image_emb, AttributeSet({t: view.attributes.values[t] for t in types},
                                                           {t: p for t, p in view.attributes.phrases.items()
                                                            if t in types}), view.encoder)
    except DrmlError:  # advisory only: a result is never refused because its attributes cannot be tagged
        checked = None
    else:
        checked = tags.reliability(known=view.table[truth].reset_index(drop=True))
    try:
        _CHECKED[view.source] = (key, checked)
    except TypeError:
        pass
    return checked


def read_poorly(view: SessionView, types: Sequence[str]) -> dict[str, str]:
    """The types of ``types`` that the session's CLIP reads poorly, each with why, in their order
    (types the check does not cover, such as a column outside the attribute set, are not named).

    Example:
        >>> from drml_widgets import Session
        >>> read_poorly(Session.from_shapes_world(n=1200, ensemble=False, train=False).view, ["color", "size"])
        {}
    """
    checked = clip_reads(view)
    if checked is None:
        return {}
    why = checked.table.set_index("type")["why"]
    return {t: str(why[t]) for t in types if t in checked.unreliable}


def misread_values(view: SessionView, types: Sequence[str], named: Mapping[str, Iterable[str]] | None = None
                   ) -> dict[str, dict[str, str]]:
    """Values of ``types`` (only those in ``named[type]`` where given) that the session's CLIP
    misreads though it reads their type well, type -> value -> why (see
    :mod:`~drml_widgets.diagnose.tag_reliability`: a value whose recall on known images stays
    near chance).

    Example:
        >>> from drml_widgets import Session
        >>> misread_values(Session.from_shapes_world(n=1200, ensemble=False, train=False).view, ["size"])
        {}
    """
    checked = clip_reads(view)
    if checked is None:
        return {}
    out = {}
    for t, per in checked.misread().items():
        if t in types:
            keep = {v: why for v, why in per.items() if named is None or v in set(map(str, named.get(t, ())))}
            if keep:
                out[t] = keep
    return out


def poorly_read(view: SessionView, types: Sequence[str], what: str, stacklevel: int = 3,
                judge_by: str = "their images (image_acc)", named: Mapping[str, Iterable[str]] | None = None
                ) -> list[str]:
    """Caveats on a result over ``types``: one line per type CLIP reads poorly, and per value it
    misreads in a type it reads well (only the values in ``named`` where given), with why; also
    given as a warning, whose fix says to judge the ``what`` by ``judge_by``; none when CLIP
    reads them all.

    Example:
        >>> from drml_widgets import Session
        >>> poorly_read(Session.from_shapes_world(n=1200, ensemble=False, train=False).view, ["color"], "slices")
        []
    """
    lines = [f"CLIP reads {t} poorly ({why}): the text scores of {what} naming {t} are not grounded in images"
             for t, why in read_poorly(view, types).items()]
    lines += [f"CLIP misreads {t} {v} ({why}): the text scores of {what} naming it are not grounded in images"
              for t, per in misread_values(view, types, named).items() for v, why in per.items()]
    if lines:
        warnings.warn(f"The {what} name attributes CLIP reads poorly: " + "; ".join(lines)
                      + f". Fix: judge these {what} by {judge_by}, give true values, or use a CLIP "
                      "that sees them.", stacklevel=stacklevel)
    return lines
