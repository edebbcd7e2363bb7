"""Jupyter widgets bound to a :class:`~drml_widgets.session.Session` (anywidget + plotly.js).

Example:
    >>> from drml_widgets.session import Session
    >>> from drml_widgets.widgets import Dashboard
    >>> dash = Dashboard(Session.from_shapes_world(n=1200, ensemble=False))
    >>> type(dash.gap).__name__
    'GapPlot'
"""

from .dashboard import Dashboard
from .failure_modes import FailureModes
from .findings_view import FindingsView
from .gap_plot import GapPlot
from .hard_clusters import HardClusters
from .influence_chart import InfluenceChart
from .loss_query import LossQuery
from .prompt_builder import PromptBuilder
from .rectify_panel import RectifyPanel
from .report import write_report
from .slice_table import SliceTable
from .spurious_panel import SpuriousPanel
from .thumbnails import thumbnail_strip

__all__ = ["Dashboard", "FailureModes", "FindingsView", "GapPlot", "HardClusters", "InfluenceChart", "LossQuery", "PromptBuilder",
           "RectifyPanel", "SliceTable", "SpuriousPanel", "thumbnail_strip", "write_report"]
