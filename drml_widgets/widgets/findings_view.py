"""FindingsView: any method's result (a :class:`~drml_widgets.results.Result`) as a ranked,
sortable table of its findings; a row click shows the finding's images. A newly registered method
is shown by this view without one of its own."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import traitlets as t

from ..errors import InputError
from ..methods.protocol import Method, get_method
from ..results import Finding, Result
from ..session import Session
from .result_view import ImageRows, ResultView


class FindingsView(ResultView):
    """A method's findings, worst first: rank, label, score (the column named by the method's
    ``score_name``) and number of images; a click on a row shows up to eight of its images at once
    (embedded in the state, so a saved notebook shows them) and more from a running kernel.

    ``FindingsView.from_session(session, "text_slices", by=["color"])`` runs
    ``session.run("text_slices", by=["color"])`` and runs it again when the head or the prompts
    change. ``FindingsView.from_result(result, images=...)`` shows a computed result: finding
    rows index ``images`` (for a result a session made, its table rows: pass ``session.images``).

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> view = FindingsView.from_session(s, "text_slices", by=["color", "shape"])
        >>> view.method, view.score_name, view.findings[0]["label"], view.findings[0]["rank"]
        ('text_slices', 'text_prob', 'color=orange, shape=square', 1)
        >>> FindingsView.from_result(s.find_failure_modes(s=10), images=s.images).score_name
        'drop'
    """

    _bundle = "findings_view"
    method = t.Unicode("", help="the registry's name of the method whose result is shown").tag(sync=True)
    summary = t.Unicode("", help="the first line of the result's repr").tag(sync=True)
    score_name = t.Unicode("score", help="what the findings' scores measure ('score' where they differ)").tag(sync=True)
    findings = t.List(t.Dict(), help="one row per finding, worst first: key, rank, label, score, score_name, "
                                     "n_images and its embedded thumbnails").tag(sync=True)
    version = t.Int(0, help="the session's head version the result was computed on (0 for a result alone)").tag(sync=True)

    @classmethod
    def from_session(cls, session: Session, method: str, /, **options) -> "FindingsView":
        """The findings of ``session.run(method, **options)``, run again when the session changes.

        Example:
            >>> from drml_widgets.session import Session
            >>> FindingsView.from_session(Session.from_shapes_world(n=1200, ensemble=False), "no such")
            Traceback (most recent call last):
            ...
            drml_widgets.errors.SessionError: No method 'no such'; the registered methods are [...]. Fix: pass one of them, or register(Method(...)) first.
        """
        return super().from_session(session, method=method, options=options)

    def __init__(self, source, *, method: str | None = None, options: Mapping | None = None, images=None):
        self._result: Result | None = None
        self._method: Method | None = None
        if isinstance(source, Session):
            if images is not None:
                raise InputError("A Session brings its own images. Fix: leave out images=, or pass a computed result.")
            if not isinstance(method, str):
                raise InputError("FindingsView of a Session needs the method to run. "
                                 'Fix: FindingsView.from_session(session, "text_slices"); see session.methods().')
            self._method, self._options, session = get_method(method), dict(options or {}), source
        elif isinstance(source, Result):
            if method is not None or options:
                raise InputError("method= and options= apply when the view runs a method on a Session; this result "
                                 "is already computed. Fix: pass the Session, or leave them out.")
            self._result, self._given_images, session = source, images, None
        else:
            raise InputError(f"FindingsView shows a method's result or runs one on a Session; got {type(source).__name__}. "
                             'Fix: FindingsView.from_session(session, "name") or FindingsView.from_result(result, images=...).')
        super().__init__(session)

    def refresh(self, event: str) -> None:
        s = self.session
        if s is None:
            self._show(self._result, self._given_images)
            return
        applies, why = self._method.applies(s.view)
        if not applies:  # e.g. no head yet: the view waits for one and says what is missing
            self._result, self._groups, self.findings, self.focus = None, {}, [], ""
            self.status = f"{self._method.name} does not apply to this session yet: {why}."
            return
        with self._long_work(f"running {self._method.name}"):
            self._result = s.run(self._method.name, **self._options)
        self.version = s.version if s.versions else 0
        self._show(self._result, s.images)

    def _show(self, result: Result, images) -> None:
        found = result.findings()
        self._groups = {str(i): f.rows for i, f in enumerate(found)}
        self._images = None if images is None else ImageRows(fitting_images(images, found))
        spans = self._embed(list(self._groups), "findings")
        names = {f.score_name for f in found}
        self.score_name = names.pop() if len(names) == 1 else "score"
        self.findings = [{"key": str(i), "rank": i + 1, "label": f.label, "values": {"label": f.label},
                          "score": None if not math.isfinite(f.score) else float(f.score), "score_name": f.score_name,
                          "n_images": int(f.n_images), "thumbs": spans[str(i)]} for i, f in enumerate(found)]
        self.method = result.method or type(result).__name__
        self.summary = (repr(result).splitlines() or [""])[0]
        if self.focus not in self._groups:
            self.focus = ""
        self.status = ""

    # -- Python side ---------------------------------------------------------------------------
    @property
    def result(self) -> Result | None:
        """The result shown (None while the method does not apply to the session)."""
        return self._result

    @property
    def focus_rows(self) -> np.ndarray:
        """The focused finding's rows (into the images shown); empty without a focus."""
        return self._groups.get(self.focus, np.zeros(0, np.int64))


def fitting_images(images, found: list[Finding]):
    """``images`` when every finding's rows index it, else an InputError that says what to pass.

    Example:
        >>> fitting_images(np.zeros((3, 2, 2, 3)), [Finding(None, "x", 0.5, "s", [5])])
        Traceback (most recent call last):
        ...
        drml_widgets.errors.InputError: A finding names image row 5, but 3 images were given. Fix: pass the images the result's rows index (for a result a session made: session.images).
    """
    try:
        n = len(images)
    except TypeError:
        raise InputError(f"images must be a sequence of images (an array, PIL images or paths); got "
                         f"{type(images).__name__}.") from None
    top = max((int(f.rows.max()) for f in found if len(f.rows)), default=-1)
    if top >= n:
        raise InputError(f"A finding names image row {top}, but {n} images were given. Fix: pass the images the "
                         "result's rows index (for a result a session made: session.images).")
    return images
