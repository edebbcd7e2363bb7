"""Dashboard: every view around one session, for demos and reports."""

from __future__ import annotations

import traitlets as t
from ipywidgets import widget_serialization

from .base import BundledWidget
from .gap_plot import GapPlot
from .influence_chart import InfluenceChart
from .prompt_builder import PromptBuilder
from .rectify_panel import RectifyPanel
from .slice_table import SliceTable


class Dashboard(BundledWidget):
    """The gap plot, slice table, rectify panel, influence chart and prompt builder of one session.

    The parts are the ordinary widgets (``dashboard.gap``, ``.slices``, ``.rectify``,
    ``.influence``, ``.prompts``); ticking slices in the table chooses what the panel rectifies
    and what the gap plot highlights. The views' code travels once, with the dashboard (plotly.js
    travels once per kernel, in the runtime widget the plotting parts name).

    Example:
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> dash = Dashboard(s)
        >>> sorted(dash.parts)
        ['gap', 'influence', 'prompts', 'rectify', 'slices']
        >>> dash.slices.select(s.find_failing_slices(["color", "shape"]))
        >>> dash.rectify.slices == dash.slices.selected_slices == dash.gap.highlight
        True
    """

    parts = t.Dict(help="the views the dashboard lays out: "
                        "gap, slices, rectify, influence and prompts").tag(sync=True, **widget_serialization)

    def __init__(self, session, by=None, **kwargs):
        by = default_by(session) if by is None else [b for b in by if b in session.attributes.types
                                                      and b in session.table.columns]
        self.session = session
        self.gap = GapPlot(session, in_dashboard=True)
        self.slices = SliceTable(session, by=by, in_dashboard=True)
        self.rectify = RectifyPanel(session, table=self.slices, in_dashboard=True)
        self.influence = InfluenceChart(session, in_dashboard=True)
        self.prompts = PromptBuilder(session, in_dashboard=True)
        self.slices.observe(self._highlight, "selected")
        super().__init__("dashboard", parts={
            "gap": self.gap, "slices": self.slices, "rectify": self.rectify,
            "influence": self.influence, "prompts": self.prompts})

    def _highlight(self, _change) -> None:
        self.gap.highlight = self.slices.selected_slices
        if self.slices.selected_slices:
            self.gap.color_by = "slice"

    def close(self) -> None:
        """Close the dashboard and its parts."""
        for part in (self.gap, self.slices, self.rectify, self.influence, self.prompts):
            part.close()
        super().close()


def default_by(session) -> list[str]:
    """The slices a dashboard opens on: the attribute type whose slices the head's text scores
    spread most over, beside the class attribute (when the label rule names one).

    Example:
        >>> from drml_widgets.session import Session
        >>> default_by(Session.from_shapes_world(n=1200, ensemble=False))
        ['color', 'shape']
    """
    class_type = session.view.class_type
    label = [class_type] if class_type in session.table.columns else []
    types = [t for t in session.attributes.types if t in session.table.columns and t not in label]
    if session.head is None or len(types) < 2:
        return types[:1] + label
    spread = {t: float(session.find_slices([t] + label).table["text_prob"].std()) for t in types}
    return [max(spread, key=spread.get)] + label
