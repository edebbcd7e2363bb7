"""InfluenceChart: how much each attribute value moves the probability of a chosen class."""

from __future__ import annotations

import traitlets as t

from .base import EXPECTED, OneOf, SessionWidget

METHODS = ("drml", "shapley")


class InfluenceChart(SessionWidget):
    """Per-value influence on class ``target``: DrML's with/without difference and Shapley values.

    Both are computed in the kernel (they embed prompts), so switching the method is instant and
    works in a saved notebook; changing the class recomputes.

    Example:
        >>> from drml_widgets.session import Session
        >>> chart = InfluenceChart(Session.from_shapes_world(n=1200, ensemble=False), target="triangle")
        >>> sorted(chart.data), {r["attribute"] for r in chart.data["drml"]} == {"size", "color", "shape"}
        (['drml', 'shapley'], True)
    """

    _bundle = "influence_chart"
    _plots = True
    classes = t.List(t.Unicode(), help="the classes a target can be").tag(sync=True)
    target = OneOf("classes", help="the class whose influence is shown; set it to measure another class").tag(sync=True)
    method = OneOf(METHODS, "drml", help="the influence shown: 'drml' or 'shapley'; set it to switch").tag(sync=True)
    data = t.Dict(help="per method, one row per attribute value: its influence and standard error").tag(sync=True)

    def __init__(self, session, target: str | None = None, method: str = "drml", **kwargs):
        classes = [str(c) for c in session.classes]
        super().__init__(session, classes=classes, target=target if target is not None else classes[0], method=method,
                         **kwargs)

    def refresh(self, event: str) -> None:
        s = self.session
        if s.head is None:
            self.data, self.status = {}, "No head yet: call session.train_head()."
            return
        data, problems = {}, []
        with self._long_work(f"measuring influence on {self.target!r}"):
            for method in METHODS:
                try:
                    frame = s.compute_influence(self.target, method=method)
                except EXPECTED as exc:  # e.g. too many prompts for exact Shapley: show the other view
                    data[method], problems = [], problems + [f"{method}: {exc}"]
                    continue
                data[method] = [{"attribute": str(r.attribute), "value": str(r.value), "influence": float(r.influence),
                                 "std_error": float(r.std_error)} for r in frame.itertuples()]
        self.data = data
        self.status = "; ".join(problems)

    @t.observe("target")
    def _retarget(self, _change) -> None:
        if self._ready:
            with self.hold_sync():
                self.refresh("target")

    def frame(self, method: str | None = None):
        """The shown influence values as a DataFrame (``method`` defaults to the one shown)."""
        import pandas as pd

        return pd.DataFrame(self.data.get(method or self.method, []))
