"""The base of every view: an anywidget bound to a :class:`~drml_widgets.session.Session`.

A view refreshes itself when the session announces a change, and answers the front end's custom
messages in the kernel's main thread (long work included: background threads never reach the
front end in Colab, and anywidget's ``invoke`` gives up after 3 s).
"""

from __future__ import annotations

import traceback
from typing import Callable

import anywidget
import traitlets as t

from ..errors import DrmlError
from ..prompts.generate import PromptError
from .assets import bundle
from .thumbnails import ThumbnailError

# Errors a user can fix; anything else is a bug and shows its traceback in the kernel log.
EXPECTED = (DrmlError, PromptError, ThumbnailError, ValueError, KeyError, IndexError)


def binary_from_front_end(value, widget) -> bytes:
    """Bytes of a binary trait sent by the front end (ipywidgets hands over a memoryview)."""
    return bytes(value) if value is not None else b""


class SessionWidget(anywidget.AnyWidget):
    """Base class: binds a view to a session and routes the front end's messages.

    Subclasses name their bundle (``_bundle``), implement :meth:`refresh` and register message
    handlers in ``_handlers``: ``{"type": method(content, buffers) -> (reply, buffers) | None}``.
    A message with a ``request`` number gets a reply with the same number (or an ``error``).

    Example:
        >>> from drml_widgets.widgets import SliceTable
        >>> isinstance(SliceTable.__mro__[1], type) and issubclass(SliceTable, SessionWidget)
        True
    """

    _bundle = "part"
    _ready = False  # trait observers wait until the session is bound
    busy = t.Bool(False).tag(sync=True)
    progress = t.Float(-1.0).tag(sync=True)
    status = t.Unicode("").tag(sync=True)

    def __init__(self, session, *, in_dashboard: bool = False, **kwargs):
        if not (hasattr(session, "observe") and hasattr(session, "prompts")):
            raise TypeError(f"{type(self).__name__} needs a drml_widgets Session; got {type(session).__name__}. "
                            "Fix: Session.from_shapes_world() or Session(encoder, image_emb, table, ...).")
        self._handlers: dict[str, Callable] = {}
        super().__init__(_esm=bundle("part" if in_dashboard else self._bundle), **kwargs)
        self.session = session
        self.on_msg(self._dispatch)
        session.observe(self._on_session)
        with self.hold_sync():
            self.refresh("init")
        self._ready = True

    # -- session events ------------------------------------------------------------------------
    def refresh(self, event: str) -> None:
        """Recompute what the view shows after a session event (``init``, ``head``, ``prompts``)."""

    def _on_session(self, event: str) -> None:
        try:
            with self.hold_sync():
                self.refresh(event)
        except EXPECTED as exc:  # a view that cannot follow the change says so instead of breaking the session
            self.status = f"could not refresh after a {event} change: {exc}"

    def close(self) -> None:
        """Stop following the session and close the front-end model."""
        session = getattr(self, "session", None)
        if session is not None and self._on_session in session._observers:
            session.unobserve(self._on_session)
        super().close()

    # -- messages ------------------------------------------------------------------------------
    def _dispatch(self, _widget, content, buffers) -> None:
        if not isinstance(content, dict) or content.get("type") not in self._handlers:
            return  # anywidget's own messages and unknown kinds are not ours
        request = content.get("request")
        try:
            answer = self._handlers[content["type"]](content, buffers)
        except EXPECTED as exc:
            if request is None:
                self.status = str(exc)
            else:
                self.send({"request": request, "error": str(exc)})
            return
        except Exception as exc:
            traceback.print_exc()
            if request is not None:
                self.send({"request": request, "error": f"{type(exc).__name__}: {exc}"})
            raise
        if request is not None:
            reply, out = answer if answer is not None else ({}, [])
            self.send({**reply, "request": request}, out)

    def _long_work(self, message: str):
        """Context manager: busy flag and status while the kernel works in its main thread."""
        return _Busy(self, message)


class _Busy:
    def __init__(self, widget: SessionWidget, message: str):
        self.widget, self.message = widget, message

    def __enter__(self):
        self.widget.progress = -1.0
        self.widget.status = self.message
        self.widget.busy = True
        return self

    def __exit__(self, *exc):
        self.widget.busy = False
        return False
