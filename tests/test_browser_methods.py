"""The method views in Chromium: live in JupyterLab (a click reaches the kernel), in the standalone
report and in a saved notebook converted to HTML (no kernel: what needs one is disabled and says
why; sorting, row clicks and embedded thumbnails work). LossQuery and SpuriousPanel also run live on
tests/kernel_bridge.py (a question typed in the page, a Fine-tune click). Screenshots go to artifacts/."""

import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from kernel_bridge import connect
from test_browser import ARTIFACTS, VSCODE_DARK, kernel_says, readable, run_all_cells, serve_jupyterlab
from test_notebook_size import serve_cdn_locally
from test_notebooks import CELL_TIMEOUT
from widget_support import XSS_TYPE, XSS_VALUE, recording

# PRIME and LBEE views of one small shapes session, as a notebook would make them.
METHOD_CELLS = [
    "from drml_widgets import Session\nfrom drml_widgets.widgets import FailureModes, HardClusters\n"
    "s = Session.from_shapes_world(n=1200, ensemble=False)",
    "modes = FailureModes(s, s=10)\nmodes",
    "clusters = HardClusters(s, n_clusters=3)\nclusters",
]


def method_notebook(path):
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in METHOD_CELLS])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(book, path)
    return path


def images_shown(view) -> int:
    """Thumbnails in a view's focus box that the browser decoded."""
    view.locator(".drml-thumbs img").first.wait_for(timeout=60_000)
    return view.locator(".drml-thumbs img").evaluate_all("imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length")


def keys(view) -> list[str]:
    return view.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.key)")


def kernel_controls_disabled(view):
    """'more images' is disabled where no kernel is behind the page, and one line says why."""
    assert view.locator(".drml-kernel-only").evaluate("f => f.disabled")
    note = view.locator(".drml-no-kernel")
    assert note.is_visible() and "Needs a running kernel" in note.text_content()


def check_modes(page, state):
    """FailureModes sorts by a header click and shows a clicked mode's tags and embedded thumbnails."""
    modes = page.locator(".drml-failure-modes")
    by_drop = sorted(state["modes"], key=lambda m: -m["drop"])
    assert keys(modes) == [m["key"] for m in by_drop]
    modes.locator('th[data-col="n_images"]').click()
    assert keys(modes) == [m["key"] for m in sorted(by_drop, key=lambda m: m["n_images"])]
    first = state["modes"][0]
    modes.locator(f'tbody tr[data-key="{first["key"]}"]').click()
    assert images_shown(modes) == len(first["thumbs"]) > 0
    assert modes.locator(".drml-focus-box .drml-chip").all_text_contents() == first["tags"]
    kernel_controls_disabled(modes)


def check_clusters(page, state):
    """HardClusters shows a clicked cluster's embedded thumbnails and outlines those a picked
    sentence describes; the table counts them per cluster."""
    clusters = page.locator(".drml-hard-clusters")
    cluster = state["clusters"][0]
    clusters.locator(f'tbody tr[data-key="{cluster["key"]}"]').click()
    assert images_shown(clusters) == len(cluster["thumbs"]) > 0
    embedded = {r for r, _, _ in cluster["thumbs"]}
    sentence = max(state["sentences"], key=lambda s: len(set(s["described"]) & embedded))
    clusters.locator("select.drml-sentence").select_option(sentence["sentence"])
    clusters.locator(".drml-thumbs img.drml-marked").first.wait_for()
    marked = clusters.locator(".drml-thumbs img.drml-marked").evaluate_all("imgs => imgs.map(i => +i.dataset.row)")
    dimmed = clusters.locator(".drml-thumbs img.drml-dim").evaluate_all("imgs => imgs.map(i => +i.dataset.row)")
    assert sorted(marked) == sorted(set(sentence["described"]) & embedded) and set(marked) | set(dimmed) == embedded
    described = clusters.locator(f'tbody tr[data-key="{cluster["key"]}"] td[data-col="described"]').text_content()
    assert described == f'{sentence["counts"][cluster["key"]]} of {cluster["n_images"]}'
    kernel_controls_disabled(clusters)


STATE_KEYS = ("modes", "clusters", "sentences")


def open_saved_html(page, path):
    """Open the nbconvert page of ``path`` with the widget CDN served from node_modules; the page's
    errors and the outside requests it tried, as lists that fill while the page runs."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    refused = serve_cdn_locally(page)
    page.set_viewport_size({"width": 1300, "height": 1000})
    page.goto(path.with_suffix(".html").as_uri())
    return errors, refused


@pytest.fixture(scope="module")
def method_reports(tmp_path_factory):
    """Standalone reports of FailureModes and HardClusters, and the state each holds."""
    from drml_widgets.session import Session
    from drml_widgets.widgets import FailureModes, HardClusters
    from drml_widgets.widgets.report import report_html

    folder = tmp_path_factory.mktemp("method-reports")
    session = Session.from_shapes_world(n=1200, ensemble=False)
    out = {}
    for name, view in (("modes", FailureModes(session, s=10)), ("clusters", HardClusters(session, n_clusters=3))):
        path = folder / f"{name}.html"
        path.write_text(report_html(view, title=f"{type(view).__name__} report"), encoding="utf-8")
        out[name] = (path, {k: v for k, v in view.get_state().items() if k in STATE_KEYS})
        view.close()
    return out


def test_method_views_in_the_report_sort_show_thumbnails_and_disable_kernel_controls(page, method_reports):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1300, "height": 1000})
    ARTIFACTS.mkdir(exist_ok=True)
    for name, check in (("modes", check_modes), ("clusters", check_clusters)):
        path, state = method_reports[name]
        page.goto(path.as_uri())
        page.wait_for_function("document.body.dataset.drmlReport === 'ready'", timeout=60_000)
        page.locator("[data-drml-ready]").first.wait_for(timeout=60_000)
        check(page, state)
        page.screenshot(path=ARTIFACTS / f"report_{name}.png", full_page=True)
        page.evaluate("""vars => { for (const [k, v] of Object.entries(vars)) document.documentElement.style.setProperty(k, v);
            document.body.classList.add("vscode-dark"); }""", VSCODE_DARK)  # VS Code's dark theme variables
        assert {c["background"] for c in readable(page)} == {"rgb(30, 30, 30)"}
        page.screenshot(path=ARTIFACTS / f"report_{name}_vscode_dark.png", full_page=True)
    assert not errors, errors


@pytest.mark.slow
def test_method_views_in_a_saved_notebook_as_html(page, tmp_path):
    path = method_notebook(tmp_path / "methods.ipynb")
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=CELL_TIMEOUT, startup_timeout=600, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(book, path)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(path)], check=True, capture_output=True)
    state = book.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    saved = {m["state"]["_anywidget_id"].rsplit(".", 1)[1]: {k: m["state"][k] for k in STATE_KEYS if k in m["state"]}
             for m in state.values() if m["state"].get("_anywidget_id", "").startswith("drml_widgets.")}
    errors, refused = open_saved_html(page, path)
    for view in ("failure-modes", "hard-clusters"):
        page.locator(f".drml-{view}[data-drml-ready]").wait_for(timeout=120_000)
    check_modes(page, saved["FailureModes"])
    check_clusters(page, saved["HardClusters"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "saved_methods_html.png", full_page=True)
    assert not errors, errors
    assert not [u for u in refused if "mathjax" not in u.lower()], refused


@pytest.fixture(scope="module")
def lab_with_methods(tmp_path_factory):
    """JupyterLab serving a notebook that makes both views; token off, localhost only."""
    root = tmp_path_factory.mktemp("lab-methods")
    method_notebook(root / "methods.ipynb")
    yield from serve_jupyterlab(root)


@pytest.mark.slow
def test_method_views_live_in_jupyterlab_fetch_more_images_and_share_the_picked_sentence(lab_with_methods, page):
    page.add_locator_handler(page.locator(".jp-Dialog").filter(has_text="Select Kernel"),
                             lambda dialog: dialog.locator("button", has_text="Select").click())
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{lab_with_methods}/lab/tree/methods.ipynb")
    page.locator(".jp-Notebook").wait_for(timeout=120_000)
    run_all_cells(page)
    try:
        for view in ("failure-modes", "hard-clusters"):
            page.locator(f".drml-{view}[data-drml-ready]").wait_for(timeout=300_000)
        modes = page.locator(".drml-failure-modes")
        modes.locator("tbody tr").first.click()
        embedded = images_shown(modes)
        more = modes.locator(".drml-kernel-only button")
        assert more.is_enabled() and not modes.locator(".drml-no-kernel").is_visible()
        more.click()
        page.wait_for_function("n => document.querySelectorAll('.drml-failure-modes .drml-thumbs img').length > n",
                               arg=embedded, timeout=120_000)
        n_images = int(modes.locator("tbody tr.drml-focus td[data-col='n_images']").text_content())
        assert images_shown(modes) == min(48, n_images)
        clusters = page.locator(".drml-hard-clusters")
        clusters.locator("tbody tr").first.click()
        images_shown(clusters)
        options = clusters.locator("select.drml-sentence option").all_text_contents()
        clusters.locator("select.drml-sentence").select_option(options[1])
        kernel_says(page, "print('picked:', clusters.picked)", f"picked: {options[1]}")
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "jupyterlab_methods.png", full_page=True)


def test_method_views_show_markup_as_text_and_run_no_script(page, tmp_path):
    """Tags, class names and sentences written as HTML reach the page as text, in both views' reports."""
    import numpy as np
    import pandas as pd

    from drml_widgets.methods.lbee import find_hard_clusters
    from drml_widgets.methods.prime import find_failure_modes
    from drml_widgets.widgets import FailureModes, HardClusters
    from drml_widgets.widgets.report import report_html

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (80, 8, 8, 3), dtype=np.uint8)
    tags = pd.DataFrame({XSS_VALUE: [True] * 40 + [False] * 40, XSS_TYPE: [True, False] * 40})
    predictions = np.where(tags[XSS_VALUE] & tags[XSS_TYPE], "other", XSS_TYPE)
    modes = FailureModes(find_failure_modes(tags, predictions, [XSS_TYPE] * 80, s=10), images=images)
    emb = np.r_[np.tile([1.0, 0.0], (40, 1)), np.tile([0.0, 1.0], (40, 1))].astype(np.float32)
    sentences = [XSS_VALUE, XSS_TYPE, "a plain sentence."]
    text = np.array([[1, 0], [0.8, 0.6], [0, 1]], np.float32)
    result = find_hard_clusters(emb, ["hard"] * 40 + ["easy"] * 40, sentences, text, n_clusters=1, k=2)
    relevance = pd.DataFrame({XSS_VALUE: [True, False] * 40, XSS_TYPE: [False] * 80, "a plain sentence.": [False] * 80})
    clusters = HardClusters(result, images=images, relevance=relevance)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for view, name in ((modes, "failure-modes"), (clusters, "hard-clusters")):
        path = tmp_path / f"{name}.html"
        path.write_text(report_html(view, title="markup"), encoding="utf-8")
        page.goto(path.as_uri())
        page.wait_for_function("document.body.dataset.drmlReport === 'ready'", timeout=60_000)
        shown = page.locator(f".drml-{name}")
        shown.locator("tbody tr").first.click()
        images_shown(shown)
        if name == "hard-clusters":
            shown.locator("select.drml-sentence").select_option(XSS_VALUE)
            shown.locator(".drml-thumbs img.drml-marked").first.wait_for()
        page.wait_for_timeout(300)  # an injected onerror handler would have fired by now
        assert XSS_VALUE in shown.text_content() and XSS_TYPE in shown.text_content()
        assert page.locator(".drml-widget img[src='x'], .drml-widget img[src='y']").count() == 0
    assert dialogs == [] and page.evaluate("window.__xss") is None


# -- LossQuery (LLM2Loss) and SpuriousPanel (paper 004) ------------------------------------------
# Live views run on tests/kernel_bridge.py: the page's messages reach the widget in this process.


@pytest.fixture(scope="module")
def method_sessions_b():
    """A shapes session for LossQuery, a smaller one for SpuriousPanel, and its frozen tower outputs."""
    from drml_widgets.methods.spurious import cache_features
    from drml_widgets.session import Session

    small = Session.from_shapes_world(n=600, ensemble=False, train=False)
    data = cache_features(small.encoder, small.images, small.classes, spurious_values=["orange", "green"], progress=False)
    return Session.from_shapes_world(n=1200, ensemble=False), small, data


def open_report(page, view, path):
    """Save ``view`` as a standalone report at ``path`` and open it, its widget drawn."""
    from drml_widgets.widgets.report import report_html

    path.write_text(report_html(view), encoding="utf-8")
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.drmlReport === 'ready'", timeout=60_000)
    page.locator("[data-drml-ready]").first.wait_for(timeout=60_000)


def one_y_axis_unclipped(chart):
    """The plot has one y-axis, and nothing of it reaches past the view's right edge."""
    layout_axes = chart.evaluate("d => Object.keys(d._fullLayout).filter(k => /^yaxis\\d+$/.test(k))")
    overflow = chart.evaluate("""d => { const view = d.closest('.drml-widget').getBoundingClientRect();
        return Math.max(...[...d.querySelectorAll('text')].map(t => t.getBoundingClientRect().right)) - view.right; }""")
    return layout_axes == [] and overflow <= 0


def test_loss_query_and_spurious_panel_in_the_report_show_results_and_disable_what_needs_a_kernel(page, tmp_path,
                                                                                                  method_sessions_b):
    from drml_widgets.widgets import LossQuery, SpuriousPanel

    session, small, data = method_sessions_b
    query = LossQuery(session, by=["color", "shape"], members=2, epochs=8)
    markup = "<img src=x onerror=window.__xss=1> square"
    for sentence in ("a large orange triangle.", markup):
        query.ask(sentence)
    panel = SpuriousPanel(small, "color", ["orange", "green"], variants=["plain", "vision"], seeds=[0, 1], epochs=2,
                          data=data)
    panel.run()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1000, "height": 1000})
    for view in (query, panel):
        open_report(page, view, tmp_path / f"{type(view).__name__}.html")
        kernel_controls_disabled(page.locator(".drml-widget").first)
        page.screenshot(path=ARTIFACTS / f"report_{type(view).__name__}.png", full_page=True)
        if view is query:
            rows = page.locator(".drml-answers tbody tr")
            assert rows.evaluate_all("rs => rs.map(r => r.dataset.text)") == [markup, "a large orange triangle."]
            assert page.locator(".drml-loss-query img").count() == 0 and page.evaluate("window.__xss") is None
            assert f"The {query.lead} leads" in page.locator(".drml-lead").text_content()
            charts = page.locator(".drml-loss-query .drml-chart")
            title = charts.nth(1).locator(".gtitle").text_content()
            assert title.startswith("Loss per slice: estimated from text vs actual") and "SliceLoss(" not in title
            assert all(one_y_axis_unclipped(charts.nth(i)) for i in range(2))
            assert charts.nth(1).locator(".bars .point").count() == 2 * len(query.slices)
        else:
            bars = page.locator(".drml-spurious-panel .drml-chart")
            assert bars.locator(".bars .point").count() == 2 * len(panel.result["rows"]) == 6
            assert bars.get_attribute("data-run") == "1" and "drml-stale" not in bars.get_attribute("class")
            assert page.locator(".drml-detection tbody tr").count() == len(panel.detections["zero-shot"])
            page.locator(".drml-spurious-panel select").select_option("vision")  # works without a kernel
            assert page.locator(".drml-detection tbody tr").count() == len(panel.detections["vision"])
    assert not errors, errors


def test_text_views_show_in_chromium_what_the_noisy_clip_reads_poorly(page, tmp_path):
    """Issue 25: on a CLIP that reads size near chance, the views that read slices through CLIP's
    text (LossQuery, SpuriousPanel's language variant, LBEE's sentences) carry a caution line naming size."""
    from drml_widgets import ClipEncoder, Session
    from drml_widgets.widgets import HardClusters, LossQuery, SpuriousPanel

    noisy = Session.from_shapes_world(n=600, ensemble=False, encoder=ClipEncoder("shapes-noisy", progress=False))
    query = LossQuery(noisy, by=["size", "color"], members=2, epochs=4)
    panel = SpuriousPanel(noisy, "size", ["small", "large"], variants=["language", "vision"], epochs=1)
    clusters = HardClusters(noisy, n_clusters=3)
    assert query.caveats and panel.caveats and any("reads size poorly" in line for line in clusters.caveats)
    for view in (query, panel, clusters):
        open_report(page, view, tmp_path / f"noisy_{type(view).__name__}.html")
        note = page.locator(".drml-widget .drml-caveats").first
        assert note.is_visible() and note.get_attribute("role") == "note"
        assert note.text_content() == "".join(f"\u26a0 Caution: {line}." for line in view.caveats)
        assert "reads size poorly" in note.text_content()


def test_loss_query_round_trip_from_the_page(page, monkeypatch, tmp_path, method_sessions_b):
    from drml_widgets.widgets import LossQuery

    recording(monkeypatch)
    query = LossQuery(method_sessions_b[0], by=["color", "shape"], examples=["a green square."], members=2, epochs=8)
    page.set_viewport_size({"width": 1300, "height": 1000})
    connect(page, query, tmp_path / "loss_query.html")
    view = page.locator(".drml-loss-query")
    assert not view.locator(".drml-kernel-only").evaluate("f => f.disabled")
    assert not view.locator(".drml-no-kernel").is_visible()
    view.locator("input[type=text]").fill("a small cyan triangle.")
    view.locator("input[type=text]").press("Enter")
    view.locator('.drml-answers tbody tr[data-text="a small cyan triangle."]').wait_for(timeout=60_000)
    assert query.answers[0]["text"] == "a small cyan triangle." and query.sentence == "a small cyan triangle."
    shown = view.locator(".drml-answers tbody tr").first.locator("td").all_text_contents()
    assert shown[1].startswith(f"{query.answers[0]['loss']:.3f}")
    view.locator("select").select_option("a green square.")  # an example: asked at once
    view.locator('.drml-answers tbody tr[data-text="a green square."]').wait_for(timeout=60_000)
    assert [a["text"] for a in query.answers] == ["a green square.", "a small cyan triangle."]
    assert "a small cyan triangle." in view.locator(".drml-pair").text_content()
    view.locator("input[type=text]").fill("<img src=x onerror=window.__xss=1>")
    view.locator("input[type=text]").press("Enter")
    view.locator(".drml-answers tbody tr").nth(2).wait_for(timeout=60_000)
    assert view.locator("img").count() == 0 and page.evaluate("window.__xss") is None
    page.screenshot(path=ARTIFACTS / "live_loss_query.png", full_page=True)


def test_spurious_panel_fine_tunes_from_the_page_and_greys_stale_bars(page, monkeypatch, tmp_path, method_sessions_b):
    from drml_widgets.widgets import SpuriousPanel

    recording(monkeypatch)
    _, small, data = method_sessions_b
    panel = SpuriousPanel(small, "color", ["orange", "green"], variants=["plain"], seeds=[0], epochs=3, data=data)
    page.set_viewport_size({"width": 1300, "height": 1000})
    connect(page, panel, tmp_path / "spurious_panel.html")
    view = page.locator(".drml-spurious-panel")
    chart, summary = view.locator(".drml-chart"), view.locator(".drml-summary")
    chart.locator(".bars .point").first.wait_for(timeout=60_000)
    assert chart.get_attribute("data-run") == "0" and chart.locator(".bars .point").count() == 2
    view.locator(".drml-kernel-only button.drml-primary").click()  # Fine-tune
    page.wait_for_function("document.querySelector('.drml-spurious-panel .drml-chart').dataset.run === '1'", timeout=120_000)
    assert panel.result["run"] == 1 and chart.locator(".bars .point").count() == 4
    assert "drml-stale" not in chart.get_attribute("class") and "done in" in view.locator(".drml-status").text_content()
    # The bridge answers each page message with what the kernel sent meanwhile, all at once, so a
    # run's busy=True never shows between its messages here; a kernel under way is stood in for by
    # one that says busy=True while it handles the next edit (seeds: 2).
    busy = lambda change: setattr(panel, "busy", change["name"] == "seeds")  # noqa: E731
    panel.observe(busy, ["seeds", "epochs"])
    view.locator("input[type=number]").nth(1).fill("2")
    view.locator("input[type=number]").nth(1).dispatch_event("change")
    page.wait_for_function("document.querySelector('.drml-spurious-panel .drml-summary').textContent.startsWith("
                           "'A new run is under way; these bars are from run 1: 3 epochs, 1 seed(s).')")
    assert panel.seeds == [0, 1] and "drml-stale" in chart.get_attribute("class")
    assert view.locator(".drml-kernel-only button.drml-primary").is_disabled()
    page.screenshot(path=ARTIFACTS / "live_spurious_panel_running.png", full_page=True)
    view.locator("input[type=number]").first.fill("4")
    view.locator("input[type=number]").first.dispatch_event("change")  # epochs: 4, and busy=False
    page.wait_for_function("!document.querySelector('.drml-spurious-panel .drml-kernel-only button.drml-primary').disabled")
    assert panel.epochs == 4
    assert "drml-stale" in chart.get_attribute("class") and "the settings have changed" in summary.text_content()


LOSS_SPURIOUS_CELLS = [
    "from drml_widgets import Session\nfrom drml_widgets.widgets import LossQuery, SpuriousPanel\n"
    "s = Session.from_shapes_world(n=1200, ensemble=False)",
    "query = LossQuery(s, by=['color', 'shape'], members=2, epochs=8)\nquery.ask('a large orange triangle.')\nquery",
    "panel = SpuriousPanel(s, 'color', ['orange', 'green'], variants=['plain'], seeds=[0, 1], epochs=2)\n"
    "panel.run()\npanel",
]


@pytest.mark.slow
def test_loss_query_and_spurious_panel_in_a_saved_notebook_as_html(page, tmp_path):
    path = tmp_path / "loss_spurious.ipynb"
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in LOSS_SPURIOUS_CELLS])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(book, timeout=CELL_TIMEOUT, startup_timeout=600, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(book, path)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(path)], check=True, capture_output=True)
    errors, refused = open_saved_html(page, path)
    for view in ("loss-query", "spurious-panel"):
        page.locator(f".drml-{view}[data-drml-ready]").wait_for(timeout=120_000)
        kernel_controls_disabled(page.locator(f".drml-{view}"))
    assert page.locator(".drml-answers tbody tr").evaluate_all("rs => rs.map(r => r.dataset.text)") == [
        "a large orange triangle."]
    chart = page.locator(".drml-spurious-panel .drml-chart")
    assert chart.get_attribute("data-run") == "1" and chart.locator(".bars .point").count() == 4
    # the saved state's objects have sorted keys: the bars still describe the panel's settings
    assert "drml-stale" not in chart.get_attribute("class")
    assert page.locator(".drml-spurious-panel .drml-summary").text_content().startswith("Bars: mean over seeds")
    assert page.locator(".drml-spurious-panel select").input_value() == "zero-shot"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "saved_loss_spurious_html.png", full_page=True)
    assert not errors, errors
    assert not [u for u in refused if "mathjax" not in u.lower()], refused
