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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class ReportSource:
    """Where a report came from, when not from a notebook: the shell ``command`` that wrote it (run
    again, it writes the same page) and the notebook ``code`` that makes the same views live. The
    page names both, and every control that needs a kernel points to them (the default points to
    the notebook the report was written from).

    Example:
        >>> ReportSource("python -m drml_widgets demo --n 2000", "Dashboard(run_demo(n=2000).session)").command
        'python -m drml_widgets demo --n 2000'
    """

    command: str
    code: str


def report_html(widget, title: str = "drml-widgets report", source: ReportSource | None = None) -> str:
    """The report page of a widget (a Dashboard, or any single view), as a string. A Dashboard's
    page opens with its story: what failed, what was done (the last rectification), what it is now.

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
    origin = ""
    if source is not None:
        data["how_to_run"] = (f"this page was written by the command \u201c{source.command}\u201d; to {{doing}}, run the notebook code at the "
                              "top of this page")
        origin = (f'<p class="drml-origin">Written by <code>{html.escape(source.command)}</code> (run it again to '
                  f'reproduce this page). To use its controls, run in a notebook: <code>{html.escape(source.code)}</code></p>')
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>
  body {{ margin: 24px auto; max-width: 1280px; padding: 0 16px; font: 14px/1.5 system-ui, sans-serif; color: #1f2328; }}
  header p, footer p {{ color: #656d76; margin-top: 0; }}
  #drml-story table {{ border-collapse: collapse; margin: 8px 0 24px; }}
  #drml-story th, #drml-story td {{ padding: 2px 10px; border-bottom: 1px solid #d0d7de; text-align: left; }}
  #drml-story td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
  #drml-story tr.targeted td {{ font-weight: 600; }}
</style>
</head>
<body>
<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}. The last state, saved without its kernel: what needs one is disabled and says so.</p>{origin}</header>
{_story(getattr(widget, "rectify", None))}
<main id="drml-root"></main>
<footer id="drml-embedded">{footer}</footer>
<script type="application/json" id="drml-state">{_script_json(data)}</script>
<script>{bundle("report")}</script>
</body>
</html>
"""


def _story(panel) -> str:
    """What failed, what was done, what it is now: a Dashboard's last rectification (its rectify
    panel's record) told in that order, with every slice before and after side by side."""
    if panel is None:
        return ""
    now, result = panel.version, panel.result
    if not result.get("rows"):  # none run, or its before and after were cleared by a prompt change
        why = ("No rectification was run before this page was saved" if len(panel.history) <= 1 else
               "The last rectification's before and after are not shown: the prompts changed after it")
        return f'<section id="drml-story"><p>{why}; the views show head version {now}.</p></section>'

    was, made = result["from_version"], result["version"]
    key = "image_acc" if any(r["image_acc_before"] is not None for r in result["rows"]) else "text_prob"
    rows = sorted(result["rows"], key=lambda r: (r[f"{key}_before"] is None, r[f"{key}_before"] or 0.0))
    known = [r for r in rows if r[f"{key}_before"] is not None]
    rest = [r for r in known if not r["targeted"]]
    failed = (f"the targeted slices had {key.replace('_acc', ' accuracy').replace('_prob', ' probability')} "
              + (", ".join(f"{r['name']} {r[f'{key}_before']:.3f}" for r in known if r["targeted"]) or "no figure")
              + (f"; the lowest of the others, {rest[0]['name']} {rest[0][f'{key}_before']:.3f}" if rest else ""))
    after = (f"The head is at version {now}, which the views below show." if now == made else
             f"The head is now at version {now} (after an undo or redo), which the views below show; "
             f"the table's version-{made} columns are not the current head.")
    columns = ("image_acc_before", "image_acc_after", "text_prob_before", "text_prob_after")
    body = "".join(f'<tr class="{"targeted" if r["targeted"] else ""}"><td>{html.escape(r["name"])}'
                   + (" (targeted)" if r["targeted"] else "") + "</td>"
                   + "".join(f'<td class="num">{_figure(r[c])}</td>' for c in columns)
                   + "</tr>" for r in rows)
    e = html.escape
    return f"""<section id="drml-story">
<h2>What failed, what was done, what it is now</h2>
<ol>
<li class="drml-story-failed"><b>What failed.</b> On head version {was}, {e(failed)} (every slice is in the table below).</li>
<li class="drml-story-done"><b>What was done.</b> {e(result["done"])}</li>
<li class="drml-story-now"><b>What it is now.</b> {e(result["summary"])} {e(after)}</li>
</ol>
<table><thead><tr><th>slice</th><th>image accuracy, version {was}</th><th>image accuracy, version {made}</th>
<th>text probability, version {was}</th><th>text probability, version {made}</th></tr></thead><tbody>{body}</tbody></table>
</section>"""


def _figure(value) -> str:
    return "\u2014" if value is None else f"{value:.3f}"


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


def write_report(session, path, title: str = "drml-widgets report", dashboard: Dashboard | None = None,
                 source: ReportSource | None = None) -> Path:
    """Write a standalone HTML page of a session's Dashboard (made here unless one is given);
    ``source`` says where the page came from when not from a notebook (see :class:`ReportSource`).

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
        page = report_html(dashboard, title, source)
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
