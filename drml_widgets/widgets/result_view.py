"""The base of the views of one method's result (FailureModes, HardClusters): built from a
Session (recomputed when its head changes) or from a result object alone.

Each group of images the view lists (a failure mode, a hard cluster) carries a few JPEG
thumbnails in the widget state, within a stated budget, so a row click shows images at once, in
a saved notebook and in the standalone report too; more of a group's images come from the kernel
on request (``members``), by group key, never by a row or path the browser names.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import traitlets as t

from ..errors import InputError, WidgetError
from ..results import Result
from ..session import Session
from .base import SessionWidget
from .binary import Array
from .thumbnails import MAX_PER_REQUEST, jpeg, thumbnails

EMBED_PER_GROUP = 8  # thumbnails per group kept in the widget state
EMBED_BYTES = 300_000  # and at most this many bytes of them in all
EMBED_SIZE = 64  # pixels


class ImageRows(Sequence):
    """The images a result was built on, as a sequence: ``images[rows[i]]`` for position ``i``
    (``rows=None``: ``images`` in that order already).

    Example:
        >>> pictures = ImageRows(np.zeros((5, 4, 4, 3), np.uint8), [4, 1])
        >>> len(pictures), pictures[1].shape
        (2, (4, 4, 3))
    """

    def __init__(self, images, rows=None):
        self.images, self.rows = images, None if rows is None else np.asarray(rows, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.images) if self.rows is None else len(self.rows)

    def __getitem__(self, i):
        return self.images[int(i) if self.rows is None else int(self.rows[i])]


def json_records(frame: pd.DataFrame) -> list[dict]:
    """Rows of a DataFrame as plain JSON values: NaN becomes None, numpy scalars Python ones.

    Example:
        >>> json_records(pd.DataFrame({"a": [1.5, float("nan")], "b": ["x", "y"]}))
        [{'a': 1.5, 'b': 'x'}, {'a': None, 'b': 'y'}]
    """
    out = []
    for row in frame.to_dict("records"):
        out.append({k: (None if isinstance(v, float) and np.isnan(v) else v.item() if isinstance(v, np.generic) else v)
                    for k, v in row.items()})
    return out


def checked_images(images, n: int, what: str):
    """``images`` if it holds one image per row of a result (``n``), else an InputError."""
    if images is None:
        return None
    try:
        count = len(images)
    except TypeError:
        raise InputError(f"images must be a sequence of images (an array, PIL images or paths); got "
                         f"{type(images).__name__}.") from None
    if count != n:
        raise InputError(f"{count} images for {n} {what}. Fix: pass the images the result was built on, one per "
                         "row and in the same order (e.g. world.images[rows]).")
    return images


class ResultView(SessionWidget):
    """Shared by the method views: the embedded thumbnails of each group, and the ``members``
    request for more of them.

    Subclasses set ``self._images`` (an :class:`ImageRows` or None) and ``self._groups``
    (group key -> positions of its images) in ``refresh``, then call :meth:`_embed`.

    Example:
        >>> from drml_widgets.widgets import FailureModes
        >>> issubclass(FailureModes, ResultView)
        True
    """

    _needs_session = False
    thumb_bytes = Array("uint8", help="the embedded JPEG thumbnails, end to end; "
                                      "rows point into it by byte span").tag(sync=True)
    embed_note = t.Unicode("", help="one line on how many thumbnails are embedded, within which budget").tag(sync=True)
    focus = t.Unicode("", help="the key of the row shown in detail ('' for none); set it to show another row").tag(sync=True)

    @classmethod
    def from_session(cls, session: Session, **options) -> "ResultView":
        """The view of a session's result (``options`` go to the method), run again when the
        session's head changes.

        Example:
            >>> from drml_widgets.widgets import FailureModes
            >>> FailureModes.from_session("not a session")
            Traceback (most recent call last):
            ...
            drml_widgets.errors.InputError: FailureModes.from_session takes a Session; got str. Fix: pass the session, or use FailureModes.from_result(result).
        """
        if not isinstance(session, Session):
            raise InputError(f"{cls.__name__}.from_session takes a Session; got {type(session).__name__}. "
                             f"Fix: pass the session, or use {cls.__name__}.from_result(result).")
        return cls(session, **options)

    @classmethod
    def from_result(cls, result: Result, **options) -> "ResultView":
        """The view of a computed result alone (``images=`` the images it was built on, for
        thumbnails).

        Example:
            >>> from drml_widgets.widgets import FailureModes
            >>> FailureModes.from_result("not a result")
            Traceback (most recent call last):
            ...
            drml_widgets.errors.InputError: FailureModes.from_result takes a method's result; got str. Fix: pass the result, or use FailureModes.from_session(session).
        """
        if not isinstance(result, Result) or isinstance(result, Session):
            raise InputError(f"{cls.__name__}.from_result takes a method's result; got {type(result).__name__}. "
                             f"Fix: pass the result, or use {cls.__name__}.from_session(session).")
        return cls(result, **options)

    def __init__(self, session, **kwargs):
        self._images: ImageRows | None = None
        self._groups: dict[str, np.ndarray] = {}
        super().__init__(session, **kwargs)
        self._handlers["members"] = self._members

    @t.validate("focus")
    def _check_focus(self, proposal) -> str:
        value = proposal["value"]
        if value and value not in self._groups:
            raise t.TraitError(f"There is no row {value[:40]!r} in this view. Fix: click one of its rows.")
        return value

    def _embed(self, order: Sequence[str], what: str) -> dict[str, list[list[int]]]:
        """JPEG thumbnails of up to EMBED_PER_GROUP images of each group, in ``order``, within
        EMBED_BYTES; returns ``{key: [[position, start, end], ...]}`` into ``thumb_bytes``."""
        spans: dict[str, list[list[int]]] = {key: [] for key in self._groups}
        if self._images is None or not len(self._images):
            self.thumb_bytes = np.zeros(0, np.uint8)
            self.embed_note = "No images were given, so there are no thumbnails."
            return spans
        chunks, used, full = [], 0, 0
        for key in order:
            rows = self._groups[key][:EMBED_PER_GROUP]
            pictures = [jpeg(self._images[r], EMBED_SIZE) for r in rows]
            size = sum(len(p) for p in pictures)
            if used + size > EMBED_BYTES:
                break
            for r, p in zip(rows, pictures):
                spans[key].append([int(r), used, used + len(p)])
                chunks.append(p)
                used += len(p)
            full += 1
        self.thumb_bytes = np.frombuffer(b"".join(chunks), np.uint8)
        left = f"; the other {len(order) - full} {what} show images only with a running kernel" if full < len(order) else ""
        self.embed_note = (f"Up to {EMBED_PER_GROUP} thumbnails of each of {full} {what} are embedded "
                           f"({used / 1000:.0f} kB of a {EMBED_BYTES / 1000:.0f} kB budget){left}.")
        return spans

    def _members(self, content, _buffers):
        """A page of a group's images: MAX_PER_REQUEST of them from position ``offset`` (0 if
        not given), with the group's ``total`` and the ``offset`` the page starts at."""
        key, offset = content.get("key"), content.get("offset", 0)
        if not isinstance(key, str) or key not in self._groups:
            raise WidgetError(f"There is no group {str(key)[:40]!r} in this view. Fix: click a row of the table.")
        rows = self._groups[key]
        if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= len(rows):
            raise WidgetError(f"offset must be a whole number from 0 to {len(rows)} (the group's images); got "
                              f"{str(offset)[:20]!r}. Fix: ask from the number of images already shown.")
        shown, jpegs = thumbnails(self._images, [int(r) for r in rows[offset:offset + MAX_PER_REQUEST]])
        return ({"key": key, "rows": shown, "total": int(len(rows)), "offset": offset,
                 **self._member_extras(key, shown)}, jpegs)

    def _member_extras(self, key: str, rows: list[int]) -> Mapping:
        """More for a ``members`` reply (HardClusters: which rows the picked sentence describes)."""
        return {}
