"""A standalone HTML report of a Dashboard: its last state, drawn without Jupyter or a network.

The page holds the widget state in ipywidgets' embed format plus a small loader
(``static/report.js``) that hands each view a model with the live interface and no kernel. What
needs a kernel (rectify, undo, prompt edits, recomputation) is disabled and says why; what can
work without one does (sorting, filtering, charts), and each view embeds what a kernel would have
served (:meth:`~drml_widgets.widgets.base.BundledWidget.report_part`, e.g. slice thumbnails
within a budget that the page's footer states).
"""

from __future__ import annotations

import html
import json
import os
from contextlib import contextmanager, suppress
from pathlib import Path

import comm

from ipywidgets.embed import dependency_state, embed_data
from ipywidgets.widgets.widget import _instances

from ..errors import ReportNotWritableError
from .assets import bundle
from .dashboard import Dashboard
from .runtime import plotly_runtime


def _script_json(value) -> str:
    # "<" escaped so no "</script>" or "<!--" inside the data can end the script element.
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def report_html(widget, title: str = "drml-widgets report") -> str:
    """The report page of a widget (a Dashboard, or any single view), as a string.

    Example:
        >>> from drml_widgets.session import Session
        >>> page = report_html(Dashboard(Session.from_shapes_world(n=1200, ensemble=False)))
        >>> page.startswith("<!DOCTYPE html>"), "drml-state" in page
        (True, True)
    """
    # The widget and the widgets it refers to (not every widget alive in the kernel), with every
    # trait, defaults too: the front-end models have no defaults of their own.
    deps = dependency_state([widget], drop_defaults=False)
    state = embed_data(views=[widget], drop_defaults=False, state=deps)["manager_state"]["state"]
    notes = []
    for model_id, entry in state.items():  # what each view embeds to work without a kernel
        part = getattr(_instances.get(model_id), "report_part", None)
        if part is not None:
            extra = part()
            entry["state"].update(extra.state)
            notes += [extra.note] if extra.note else []
    footer = "".join(f"<p>{html.escape(note)}</p>" for note in notes)
    data = {"root": widget.model_id, "state": state}
    session = getattr(widget, "session", None)  # a view of a result alone follows no session
    subtitle = repr(session) if session is not None else f"{type(widget).__name__} of a result"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
  body {{ margin: 24px auto; max-width: 1280px; padding: 0 16px; font: 14px/1.5 system-ui, sans-serif; color: #1f2328; }}
  header p, footer p {{ color: #656d76; margin-top: 0; }}
</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}. The last state, saved without its kernel: what needs one is disabled and says so.</p></header>
<main id="drml-root"></main>
<footer id="drml-embedded">{footer}</footer>
<script type="application/json" id="drml-state">{_script_json(data)}</script>
<script>{bundle("report")}</script>
</body>
</html>
"""


@contextmanager
def _without_front_end():
    """Widgets made here get a comm that talks to no one: a report needs their state only, and a
    live front end would see models open and close at once (and log that it failed). The kernel's
    plotting runtime is made before, with a live comm: these views name it, and so do later ones."""
    plotly_runtime()
    create = comm.create_comm
    comm.create_comm = comm.DummyComm
    try:
        yield
    finally:
        comm.create_comm = create


def write_report(session, path, title: str = "drml-widgets report", dashboard: Dashboard | None = None) -> Path:
    """Write a standalone HTML page of a session's Dashboard (made here unless one is given).

    The page goes to a temporary file beside ``path`` that is then moved into place, so a failed
    write leaves no half report (and an older report at ``path`` stays whole). A path that cannot
    be written raises :class:`~drml_widgets.errors.ReportNotWritableError` (an ``OSError``).

    Example:
        >>> import tempfile, os
        >>> from drml_widgets.session import Session
        >>> s = Session.from_shapes_world(n=1200, ensemble=False)
        >>> out = write_report(s, os.path.join(tempfile.mkdtemp(), "report.html"))
        >>> out.name, out.stat().st_size > 1_000_000
        ('report.html', True)
    """
    own = dashboard is None
    if own:
        with _without_front_end():
            dashboard = Dashboard(session)
    try:
        page = report_html(dashboard, title)
    finally:
        if own:
            dashboard.close()
    path = Path(path)
    _write_atomically(path, page)
    return path


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with suppress(OSError):  # nothing was written where the folder is missing
            tmp.unlink()
        raise ReportNotWritableError(_why_not_writable(path, exc)) from exc


def _why_not_writable(path: Path, exc: OSError) -> str:
    folder = path.parent
    if path.is_dir():
        return f"Cannot write the report to {path}: it is a folder. Fix: name a file in it, e.g. {path / 'report.html'}."
    if not folder.exists():
        return f"Cannot write the report to {path}: the folder {folder} does not exist. Fix: create it first, or choose another path."
    if not folder.is_dir():
        return f"Cannot write the report to {path}: {folder} is a file, not a folder. Fix: choose a path in a folder."
    if isinstance(exc, PermissionError):
        return f"Cannot write the report to {path}: no permission to write there. Fix: choose a folder you can write to."
    return f"Cannot write the report to {path}: {exc.strerror or exc}. Fix: choose another path."
