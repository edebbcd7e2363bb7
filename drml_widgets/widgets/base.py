"""The base of every view: an anywidget bound to a :class:`~drml_widgets.session.Session`.

A view refreshes itself when the session announces a change, and answers the front end's custom
messages in the kernel's main thread (long work included: background threads never reach the
front end in Colab, and anywidget's ``invoke`` gives up after 3 s). A reply's binary buffers also
travel as base64 text when the page asks for it: Colab's widget manager drops the buffers of
custom messages, and the page notices (``n_buffers`` says how many were sent).
"""

from __future__ import annotations

import base64
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Sequence

import anywidget
import traitlets as t
from ipywidgets import widget_serialization

from ..errors import DrmlError
from .assets import bundle
from .hosts import prepare_host
from .runtime import PlotlyRuntime, plotly_runtime

# Errors a user can fix; anything else is a bug and shows its traceback in the kernel log.
EXPECTED = (DrmlError,)


@dataclass
class ReportPart:
    """What a view adds to the standalone report so that it works there without a kernel: traits
    added to its saved state (e.g. thumbnails a kernel would serve) and one line for the page's
    footer saying what was embedded and within which budget.

    Example:
        >>> ReportPart({"offline": {}}, "Thumbnails: none embedded.")
        ReportPart(state=['offline'], note='Thumbnails: none embedded.')
    """

    state: dict = field(default_factory=dict)
    note: str = ""

    def __repr__(self) -> str:
        return f"ReportPart(state={list(self.state)}, note={self.note!r})"


class BundledWidget(anywidget.AnyWidget):
    """An anywidget drawn by one of our bundles (``static/<name>.js``) and styled by the package
    stylesheet through anywidget's ``_css``. The ``part`` bundle (a view drawn inside a
    Dashboard) carries no stylesheet: the dashboard brings it. ``_self`` names the widget's own
    model: anywidget hands a view a proxy of its model, and the view looks the model up to learn
    whether a kernel is behind it (a saved page has none; ``kernelGate`` in ``js/src/util.js``).

    Example:
        >>> from drml_widgets.widgets import Dashboard
        >>> issubclass(Dashboard, BundledWidget), ".drml-widget" in bundle("styles", "css")
        (True, True)
    """

    _css = t.Unicode("").tag(sync=True)
    _self = t.Unicode("").tag(sync=True)

    def __init__(self, bundle_name: str, **kwargs):
        prepare_host()
        css = "" if bundle_name == "part" else bundle("styles", "css")
        super().__init__(_esm=bundle(bundle_name), _css=css, **kwargs)
        self._self = self.model_id

    def report_part(self) -> ReportPart:
        """What this view embeds in a standalone report beyond its state (nothing by default).

        Example:
            >>> from drml_widgets.session import Session
            >>> from drml_widgets.widgets import InfluenceChart
            >>> InfluenceChart(Session.from_shapes_world(n=1200, ensemble=False)).report_part()
            ReportPart(state=[], note='')
        """
        return ReportPart()


class OneOf(t.Unicode):
    """A string trait that must be one of some options: a fixed sequence, or the name of a list
    trait of the same widget that holds them (e.g. the classes of the session).

    Example:
        >>> class Chart(t.HasTraits):
        ...     classes = t.List(["cat", "dog"])
        ...     target = OneOf("classes", "cat")
        >>> Chart(target="dog").target
        'dog'
        >>> Chart(target="cow")
        Traceback (most recent call last):
        ...
        traitlets.traitlets.TraitError: Unknown target 'cow'; choose one of ['cat', 'dog'].
    """

    def __init__(self, options: str | Sequence[str], default_value: str = "", **kwargs):
        self.options = options
        super().__init__(default_value, **kwargs)

    def validate(self, obj, value):
        """Accept ``value`` only when it is one of the options now offered; else a ``TraitError`` listing them."""
        value = super().validate(obj, value)
        options = list(getattr(obj, self.options) if isinstance(self.options, str) else self.options)
        if value not in options:
            raise t.TraitError(f"Unknown {self.name} {value!r}; choose one of {options}.")
        return value


class SessionWidget(BundledWidget):
    """Base class: binds a view to a session and routes the front end's messages.

    Subclasses name their bundle (``_bundle``), implement :meth:`refresh` and register message
    handlers in ``_handlers``: ``{"type": method(content, buffers) -> (reply, buffers) | None}``.
    A message with a ``request`` number gets a reply with the same number (or an ``error``).
    Views that plot set ``_plots``: they name the kernel's :class:`PlotlyRuntime` in ``_runtime``.
    Views of a method's result may stand alone (``_needs_session = False``): with ``session=None``
    they follow no session and show what they were given.
    A trait edit from the browser that the view refuses (a validator or an observer raises) is
    undone, on both sides, and the status line says why (:meth:`set_state`).

    Example:
        >>> from drml_widgets.widgets import SliceTable
        >>> isinstance(SliceTable.__mro__[1], type) and issubclass(SliceTable, SessionWidget)
        True
    """

    _bundle = "part"
    _plots = False
    _needs_session = True
    _ready = False  # trait observers wait until the session is bound
    _runtime = t.Instance(PlotlyRuntime, allow_none=True).tag(sync=True, **widget_serialization)
    busy = t.Bool(False, help="true while the kernel works for this view (the page shows a progress bar)").tag(sync=True)
    progress = t.Float(-1.0, help="share of the current work done, 0 to 1; -1 while unknown").tag(sync=True)
    status = t.Unicode("", help="one line on the last thing the view did, or why it could not").tag(sync=True)

    def __init__(self, session, *, in_dashboard: bool = False, **kwargs):
        is_session = hasattr(session, "observe") and hasattr(session, "prompts")
        if not is_session and (session is not None or self._needs_session):
            raise TypeError(f"{type(self).__name__} needs a drml_widgets Session; got {type(session).__name__}. "
                            "Fix: Session.from_shapes_world() or Session(encoder, image_emb, table, ...).")
        self._handlers: dict[str, Callable] = {}
        if self._plots:
            kwargs["_runtime"] = plotly_runtime()
        super().__init__("part" if in_dashboard else self._bundle, **kwargs)
        self.session = session
        self.on_msg(self._dispatch)
        if session is not None:
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
        if session is not None:
            session.unobserve(self._on_session)
        super().close()

    # -- trait edits and messages from the front end ------------------------------------------
    def set_state(self, sync_data) -> None:
        """Apply trait edits from the browser. One that the view refuses (an unknown option, a
        malformed array, kernel work that fails on the new value) is undone: the last good values
        are restored, sent back to the page, and the status line names the problem.

        Example:
            >>> from drml_widgets.session import Session
            >>> from drml_widgets.widgets import RectifyPanel
            >>> panel = RectifyPanel(Session.from_shapes_world(n=1200, ensemble=False))
            >>> panel.set_state({"mode": "fast"})
            >>> panel.mode, panel.status
            ('replay', "Unknown mode 'fast'; choose one of ['replay', 'balanced', 'text']. (kept the last good mode)")
        """
        names = [name for name in sync_data if name in self.keys]
        good = {name: getattr(self, name) for name in names}
        try:
            super().set_state(sync_data)
        except (t.TraitError, *EXPECTED) as exc:
            with self.hold_sync():
                for name, value in good.items():
                    self.set_trait(name, value)
                self.status = f"{exc} (kept the last good {', '.join(names)})"
            self.send_state(names)  # the page still shows the refused value where nothing changed here

    def _dispatch(self, _widget, content, buffers) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if not isinstance(kind, str) or kind not in self._handlers:
            return  # anywidget's own messages and unknown kinds are not ours
        request = content.get("request")
        try:
            answer = self._handlers[kind](content, buffers)
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
        if request is None:
            return
        reply, out = answer if answer is not None else ({}, [])
        if content.get("base64"):
            self.send({**reply, "request": request, "base64": [base64.b64encode(b).decode("ascii") for b in out]})
        else:
            self.send({**reply, "request": request, "n_buffers": len(out)}, out)

    @contextmanager
    def _long_work(self, what: str):
        """Busy flag and status while the kernel works in its main thread (``what`` says on
        what); an interrupt leaves the view idle and says so."""
        self.progress, self.status, self.busy = -1.0, f"{what}\u2026", True
        try:
            yield
        except KeyboardInterrupt:
            self.status = f"Interrupted while {what}."
            raise
        finally:
            self.busy = False
