"""Pages without a kernel, in Chromium: the standalone report, and a notebook saved with its
widget state and converted by nbconvert. What needs a kernel is disabled there and says why in
one line; what does not (sorting, filtering, a row's embedded thumbnails, the charts) works; and
no label contradicts the data (a row's image count and its thumbnails, the head version and the
before/after bars after an Undo).

Screenshots go to artifacts/ (git-ignored)."""

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from drml_widgets.session import Session
from drml_widgets.widgets import Dashboard, write_report
from test_notebook_size import NODE_MODULES, serve_cdn_locally
from test_notebooks import CELL_TIMEOUT

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
VIEWS = ("gap-plot", "slice-table", "rectify-panel", "influence-chart", "prompt-builder")
# Controls that need the kernel, per view.
KERNEL_ONLY = {
    "gap-plot": ".drml-toolbar select, .drml-toolbar input",
    "slice-table": "tbody input[type=checkbox], button",
    "rectify-panel": "button:not(.modebar-btn), select:not(.drml-score), input",  # the plot toolbar works
    "influence-chart": "select",
    "prompt-builder": "button, input, select",
}
STALE = "version 1, not the current head"


@pytest.fixture(scope="module")
def undone():
    """A session rectified on its failing slices and then undone, its dashboard, and the report
    of that state: the panel's bars describe version 1 while the head is back at version 0."""
    session = Session.from_shapes_world(n=1200, ensemble=False)
    dash = Dashboard(session)
    dash.slices.select(session.failing_slices(dash.slices.by))
    dash.rectify.epochs = 5
    dash.rectify.run()
    dash.rectify.undo()
    yield session, dash
    dash.close()


@pytest.fixture(scope="module")
def report(undone, tmp_path_factory):
    session, dash = undone
    return write_report(session, tmp_path_factory.mktemp("report") / "report.html", dashboard=dash)


def open_page(page, path):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_viewport_size({"width": 1300, "height": 900})
    page.goto(path.as_uri())
    for view in VIEWS:
        page.locator(f".drml-{view}[data-drml-ready]").first.wait_for(timeout=120_000)
    return errors


def kernel_only_controls_are_disabled_and_say_why(page):
    for view, controls in KERNEL_ONLY.items():
        root = page.locator(f".drml-{view}").first
        notes = root.locator(".drml-no-kernel")
        notes.first.wait_for(state="visible", timeout=60_000)
        assert notes.count() == 1 and re.fullmatch(r"Needs a running kernel: open the notebook and run it to [^.]+\.",
                                                   notes.first.text_content()), view
        found = root.locator(controls)
        assert found.count() > 0, view
        live = [found.nth(i).evaluate("c => c.outerHTML.slice(0, 80)") for i in range(found.count())
                if found.nth(i).is_enabled()]
        assert not live, (view, live)


def test_report_disables_what_needs_a_kernel_and_says_why(page, report):
    errors = open_page(page, report)
    kernel_only_controls_are_disabled_and_say_why(page)
    panel = page.locator(".drml-rectify-panel")
    panel.get_by_role("button", name="Undo").click(force=True)  # a disabled control does nothing
    assert panel.locator(".drml-version").text_content() == "head version 0"
    # What works without a kernel is live: the influence chart's method switch, its bars drawn.
    chart = page.locator(".drml-influence-chart")
    chart.get_by_label("Shapley").check()
    chart.locator(".drml-note").filter(has_text="Shapley: each attribute type is a player").wait_for(timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "report_no_kernel.png", full_page=True)
    assert not errors, errors


def test_report_gap_plot_hover_shows_what_the_page_embedded(page, report, undone):
    """Hovering a drawn point without a kernel shows its saved prompt, or an image's details and
    thumbnail; never "asking the kernel" or a request error."""
    session, dash = undone
    errors = open_page(page, report)
    footer = page.locator("#drml-embedded").text_content()
    assert re.search(r"Gap plot hover: [0-9,]+ of [0-9,]+ drawn prompts, [0-9,]+ of [0-9,]+ drawn images", footer)
    plot = page.locator(".drml-gap-plot")
    tooltip = plot.locator(".drml-tooltip")
    box = plot.locator(".nsewdrag").first.bounding_box()
    seen = {"text": 0, "image": 0}
    for fx in (0.2, 0.35, 0.5, 0.65, 0.8):  # sweep the plot until both kinds of point were hovered
        for fy in (0.2, 0.35, 0.5, 0.65, 0.8):
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"])
            page.wait_for_timeout(50)
            if not tooltip.is_visible():
                continue
            text = tooltip.text_content()
            assert "asking the kernel" not in text and "Needs a running kernel" not in text, text
            kind = "text" if " \u00b7 text #" in text else "image"
            row = int(re.search(r"#(\d+)", text).group(1))
            if "sample of points only" in text:
                continue
            seen[kind] += 1
            if kind == "text":
                assert str(session.prompts.iloc[row]["prompt"]) in text
            else:
                assert f"class: {session.classes[int(session.labels[row])]}" in text
                assert tooltip.locator("img").count() == 1
    assert seen["text"] and seen["image"], seen
    assert not errors, errors


def rows_shown(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('.drml-slice-table tbody tr')].map(tr => ({
        key: tr.dataset.key, image_acc: Number(tr.querySelector('td[data-col="image_acc"]').textContent),
        n: Number(tr.querySelector('td[data-col="n_images"]').textContent)}))""")


def test_report_table_sorts_filters_and_shows_each_rows_embedded_thumbnails(page, report, undone):
    _, dash = undone
    errors = open_page(page, report)
    table = page.locator(".drml-slice-table")
    footer = page.locator("#drml-embedded").text_content()
    assert re.search(r"Slice thumbnails: 12 of 12 slices with images, up to 12 each, [0-9.]+ MB of a 2\.0 MB budget", footer)

    table.locator("th[data-col='image_acc']").click()  # sorting happens in the page
    accs = [r["image_acc"] for r in rows_shown(page)]
    assert accs == sorted(accs) and len(accs) == 12
    table.locator("input[type=search]").fill("text_prob<0.5")  # and so does filtering
    expected = sum(r["text_prob"] < 0.5 for r in dash.slices.rows)
    page.wait_for_function(f"() => document.querySelectorAll('.drml-slice-table tbody tr').length === {expected}")
    table.locator("input[type=search]").fill("")

    for row in rows_shown(page):  # every row: its image count and what the click shows agree
        table.locator(f"tbody tr[data-key='{row['key']}']").click()
        title = table.locator(".drml-focus-box .drml-title")
        title.filter(has_text=f": {row['n']} images").wait_for(timeout=10_000)
        thumbs = table.locator(".drml-thumbs")
        if row["n"]:
            thumbs.locator("img").nth(min(12, row["n"]) - 1).wait_for(timeout=10_000)
            assert thumbs.locator("img").count() == min(12, row["n"])
            assert table.locator(".drml-prompts li").count() > 0
        else:
            assert thumbs.text_content() == "no images in this slice"
    table.screenshot(path=ARTIFACTS / "report_slice_table_thumbnails.png")
    assert not errors, errors


def test_report_after_an_undo_every_label_names_the_version_its_bars_show(page, report):
    errors = open_page(page, report)
    panel = page.locator(".drml-rectify-panel")
    assert panel.locator(".drml-version").text_content() == "head version 0"
    assert panel.locator(".drml-chart.drml-stale").count() == 1
    assert f"Before and after ({STALE})" in panel.text_content()
    legend = panel.locator(".legend .traces").all_text_contents()
    assert legend == ["before", f"after ({STALE})"], legend
    summary = panel.locator(".drml-summary").text_content()
    assert "from head version 1; the head is now at version 0." in summary and "Redo" not in summary
    # Plotly's own hover on a bar leaves with the pointer: nothing stays behind.
    panel.scroll_into_view_if_needed()
    bars = panel.locator(".bars path").all()
    bar = next(b for b in bars if (b.bounding_box() or {}).get("height", 0) > 4)  # a bar of some height
    bar.hover(force=True)
    panel.locator(".hoverlayer .hovertext").first.wait_for(timeout=10_000)
    page.mouse.move(1, 1)
    page.wait_for_function("() => !document.querySelector('.drml-rectify-panel .hoverlayer .hovertext')")
    assert not errors, errors


@pytest.fixture(scope="module")
def saved_html(tmp_path_factory):
    """A two-cell notebook (a Dashboard, and a RectifyPanel on its own, as anywidget hands it a
    model proxy), run with its widget state stored and converted by nbconvert."""
    folder = tmp_path_factory.mktemp("saved")
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        "from drml_widgets.session import Session\nfrom drml_widgets.widgets import Dashboard, RectifyPanel\n"
        "session = Session.from_shapes_world(n=1200, ensemble=False)\nDashboard(session)",
        "RectifyPanel(session, slices=[{'color': 'green', 'shape': 'triangle'}])")])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(book, timeout=CELL_TIMEOUT, startup_timeout=600, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / "saved.ipynb"
    nbformat.write(book, path)
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(path)], check=True,
                   capture_output=True)
    return path.with_suffix(".html")


@pytest.mark.slow
def test_saved_notebook_as_html_disables_what_needs_a_kernel(page, saved_html):
    assert (NODE_MODULES / "@jupyter-widgets" / "html-manager").is_dir(), "Fix: cd js && npm ci"
    refused = serve_cdn_locally(page)
    errors = open_page(page, saved_html)
    kernel_only_controls_are_disabled_and_say_why(page)  # the dashboard's parts
    alone = page.locator(".drml-rectify-panel").nth(1)  # the panel displayed on its own
    alone.and_(page.locator("[data-drml-ready]")).wait_for(timeout=60_000)
    alone.locator(".drml-no-kernel").wait_for(state="visible", timeout=60_000)
    assert not alone.get_by_role("button", name="Rectify").is_enabled()
    table = page.locator(".drml-slice-table")
    table.locator("tbody tr").first.click()  # no thumbnails saved here: it says why, at once
    table.locator(".drml-thumbs").filter(has_text="thumbnails need a running kernel").wait_for(timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "saved_html_no_kernel.png", full_page=True)
    assert not errors, errors
    assert not [u for u in refused if "mathjax" not in u.lower()], refused
