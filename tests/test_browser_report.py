"""Pages without a kernel, in Chromium: the standalone report, and a notebook saved with its
widget state and converted by nbconvert. What needs a kernel is disabled there and says why in
one line; what does not (sorting, filtering, a row's embedded thumbnails, the charts) works; and
no label contradicts the data (a row's image count and its thumbnails, the head version and the
before/after bars after an Undo).

Truth tests (issue 22): every view's visible text on these pages (the report's story, the rectify
panel's slices, run, versions, summary and legend, the slice table's caption and figures, each
no-kernel line) is checked against the kernel's own state (truth_of), for a report of a
Dashboard rectified in place, a report written by the command-line demo, and the nbconvert page.

Screenshots go to artifacts/ (git-ignored)."""

import inspect
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from drml_widgets.session import Session
from browser_hosts import gap_plot_spots
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


NOTEBOOK_HINT = r"Needs a running kernel: open the notebook and run it to [^.]+\."


def kernel_only_controls_are_disabled_and_say_why(page, hint=NOTEBOOK_HINT):
    for view, controls in KERNEL_ONLY.items():
        root = page.locator(f".drml-{view}").first
        notes = root.locator(".drml-no-kernel")
        notes.first.wait_for(state="visible", timeout=60_000)
        assert notes.count() == 1 and re.fullmatch(hint, notes.first.text_content()), (view, notes.first.text_content())
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
    plot.locator(".nsewdrag").first.scroll_into_view_if_needed()  # below the report's story
    spots = gap_plot_spots(page, 12)
    seen = {"text": 0, "image": 0, "outside the sample": 0}
    for x, y in spots:
        page.mouse.move(1, 1)
        page.mouse.move(x, y)
        page.wait_for_timeout(50)
        if not tooltip.is_visible():
            continue
        text = tooltip.text_content()
        assert "asking the kernel" not in text and "Needs a running kernel" not in text, text
        kind = "text" if " \u00b7 text #" in text else "image"
        row = int(re.search(r"#(\d+)", text).group(1))
        seen[kind] += 1
        if kind == "text":
            assert str(session.prompts.iloc[row]["prompt"]) in text
        else:  # every image point names its class (old code: only the 400 sampled, 39 of 40 hovered did not)
            assert f"class: {session.classes[int(session.labels[row])]}" in text, text
            sampled = "other details are saved for a sample of images only" not in text
            assert tooltip.locator("img").count() <= int(sampled) and ("split: " in text) == sampled
            seen["outside the sample"] += not sampled
    assert seen["text"] and seen["image"] and seen["outside the sample"], seen
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
    assert panel.locator(".drml-done").text_content().endswith("head version 0 \u2192 1.")
    assert "The head is now at version 0 (after an undo or redo), which the views below show; the table's version-1 " \
        "columns are not the current head." in page.locator("#drml-story .drml-story-now").text_content()
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
    """A notebook (a Dashboard rectified on its failing slices, a RectifyPanel on its own, as
    anywidget hands it a model proxy, and the kernel's state printed by truth_of), run with its
    widget state stored and converted by nbconvert."""
    folder = tmp_path_factory.mktemp("saved")
    book = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        "from drml_widgets.session import Session\nfrom drml_widgets.widgets import Dashboard, RectifyPanel\n"
        "session = Session.from_shapes_world(n=1200, ensemble=False)\ndash = Dashboard(session)\n"
        "dash.slices.select(session.find_failing_slices(dash.slices.by))\ndash.rectify.epochs = 5\ndash.rectify.run()\ndash",
        "RectifyPanel(session, slices=[{'color': 'green', 'shape': 'triangle'}])",
        f"import json\n{inspect.getsource(truth_of)}\nprint(json.dumps(truth_of(session, dash.slices.by)))")])
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


# -- the truth test: what each page says against the kernel's state ----------------------------------
def truth_of(session, by):
    """The kernel's state a page must agree with, from the session alone (never from a view's
    record); runs here and, by its source, inside the saved notebook's kernel."""
    import re as _re

    table = session.find_slices(by)
    out = {"version": int(session.version), "spearman": table.spearman, "pearson": table.pearson, "by": list(by),
           "caveats": list(table.caveats),
           "slices": {" ".join(str(r[b]) for b in by): ["\u2014" if r["image_acc"] != r["image_acc"] else f"{r['image_acc']:.3f}",
                                                        str(int(r["n_images"]))] for r in table.table.to_dict("records")}}
    r = session.last_rectify
    if r is not None:
        hit = r.image[r.image["targeted"]]
        described = session.versions.table()["description"].iloc[r.version]
        out.update(targets=[" ".join(str(v) for v in s.values()) for s in r.slices], made=int(r.version), mode=r.mode,
                   epochs=int(_re.search(r"(\d+) epochs", described).group(1)), best_epoch=int(r.best_epoch),
                   before=float(hit["image_acc_before"].mean()), after=float(hit["image_acc_after"].mean()),
                   rows={" ".join(str(x[b]) for b in by): [x["image_acc_before"], x["image_acc_after"], bool(x["targeted"])]
                         for x in r.image.to_dict("records")})
    return out


def ticked(truth, by=("color", "shape")) -> str:
    """The panel's chips for the targeted slices, ticked in the table before the run."""
    return "".join(", ".join(f"{b}={v}" for b, v in zip(by, name.split(" "))) for name in truth["targets"])


def check_the_page_against_the_kernel(page, truth, chips, panel_index=0):
    """The rectify panel names the run its bars show (slices, mode, epochs, versions), and its
    summary, legend and title carry the kernel's figures; the slice table's caption and every row
    are the current head's."""
    t = truth
    panel = page.locator(".drml-rectify-panel").nth(panel_index)
    assert panel.locator(".drml-version").text_content() == f"head version {t['version']}"
    assert panel.locator(".drml-slices").text_content() == chips
    assert "none yet" not in panel.text_content()
    names = ", ".join(t["targets"])
    assert panel.locator(".drml-done").text_content() == (
        f"Rectified {names} (mode {t['mode']}, {t['epochs']} epochs, best epoch {t['best_epoch']}): "
        f"head version {t['made'] - 1} \u2192 {t['made']}.")
    which = f"version {t['made']}" + ("" if t["made"] == t["version"] else ", not the current head")
    assert panel.locator(".drml-toolbar .drml-title").nth(1).text_content() == f"Before and after ({which})"
    assert panel.locator(".legend .traces").all_text_contents() == ["before", f"after ({which})"]
    assert f"Targeted slices ({names}): image accuracy {t['before']:.3f} \u2192 {t['after']:.3f}." in \
        panel.locator(".drml-summary").text_content()
    table = page.locator(".drml-slice-table").first
    caption = table.locator(".drml-toolbar").first.locator(".drml-muted").text_content()
    assert caption.startswith(f"{len(t['slices'])} slices \u00b7 head version {t['version']}"), caption
    if t["spearman"] is not None:
        assert f"Spearman {t['spearman']:.2f}, Pearson {t['pearson']:.2f}" in caption, caption
    check_the_caution(table, t)
    shown = page.evaluate("""n => Object.fromEntries([...document.querySelector('.drml-slice-table').querySelectorAll('tbody tr')]
        .map(tr => [[...tr.children].slice(1, n + 1).map(td => td.textContent).join(" "),
                    [tr.querySelector('td[data-col="image_acc"]').textContent,
                                     tr.querySelector('td[data-col="n_images"]').textContent]]))""", len(t["by"]))
    assert shown == t["slices"]


def check_the_caution(table, truth):
    """The table's caution names the slicing types the kernel's CLIP reads poorly, and is hidden when it reads them all."""
    notice = table.locator(".drml-caveats")
    assert notice.is_visible() == bool(truth["caveats"])
    assert notice.locator("div").all_text_contents() == [f"\u26a0 Caution: {c}." for c in truth["caveats"]]


def check_the_story(page, truth):
    """The report opens with what failed (the targeted slices' figures before), what was done and
    what it is now, and its table holds every slice before and after: the kernel's figures."""
    t = truth
    story = page.locator("#drml-story")
    failed = story.locator(".drml-story-failed").text_content()
    hit = sorted((v[0], k) for k, v in t["rows"].items() if v[2])
    assert f"On head version {t['made'] - 1}, the targeted slices had image accuracy " in failed
    for before, name in hit:
        assert f"{name} {before:.3f}" in failed
    done = story.locator(".drml-story-done").text_content()
    assert f"Rectified {', '.join(t['targets'])}" in done and f"head version {t['made'] - 1} \u2192 {t['made']}" in done
    now = story.locator(".drml-story-now").text_content()
    assert f"image accuracy {t['before']:.3f} \u2192 {t['after']:.3f}" in now and f"version {t['version']}" in now
    rows = story.evaluate("""s => [...s.querySelectorAll('tbody tr')].map(tr => [...tr.children].map(td => td.textContent))""")
    fmt = lambda v: "\u2014" if v != v or v is None else f"{v:.3f}"  # noqa: E731
    assert {r[0].removesuffix(" (targeted)"): [r[1], r[2], r[0].endswith(" (targeted)")] for r in rows} == \
        {k: [fmt(v[0]), fmt(v[1]), v[2]] for k, v in t["rows"].items()}
    befores = [float(r[1]) for r in rows if r[1] != "\u2014"]
    assert befores == sorted(befores)  # what failed first


@pytest.fixture(scope="module")
def rectified(tmp_path_factory):
    """A session rectified from its Dashboard (its failing slices ticked), and the report of it."""
    session = Session.from_shapes_world(n=1200, ensemble=False)
    dash = Dashboard(session)
    dash.slices.select(session.find_failing_slices(dash.slices.by))
    dash.rectify.epochs = 5
    dash.rectify.run()
    path = write_report(session, tmp_path_factory.mktemp("rectified") / "report.html", dashboard=dash)
    yield session, dash, path
    dash.close()


def test_a_report_of_a_dashboard_rectified_in_place_tells_the_truth(page, rectified):
    """Old code: no story (the slice table showed the head after, so the failures were never
    seen), and no .drml-done line naming what the panel's bars show."""
    session, dash, path = rectified
    errors = open_page(page, path)
    truth = truth_of(session, dash.slices.by)
    check_the_story(page, truth)
    check_the_page_against_the_kernel(page, truth, chips=ticked(truth))
    kernel_only_controls_are_disabled_and_say_why(page)
    page.screenshot(path=ARTIFACTS / "report_rectified_truth.png", full_page=True)
    assert not errors, errors


def test_a_report_on_a_clip_that_reads_size_poorly_says_so_under_the_slice_table(page, tmp_path):
    from drml_widgets import ClipEncoder

    session = Session.from_shapes_world(n=600, ensemble=False, encoder=ClipEncoder("shapes-noisy"))
    with pytest.warns(UserWarning, match="CLIP reads size poorly"):
        dash = Dashboard(session, by=["size", "color"])
    errors = open_page(page, write_report(session, tmp_path / "report.html", dashboard=dash))
    truth = truth_of(session, dash.slices.by)
    assert len(truth["caveats"]) == 1
    check_the_caution(page.locator(".drml-slice-table").first, truth)
    dash.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory):
    """The command-line demo's report (`python -m drml_widgets demo`, run in this process so the
    kernel's session can be read: run_demo is wrapped to keep what it returns)."""
    import drml_widgets.demo as demo
    from drml_widgets.cli import main

    real, kept = demo.run_demo, {}

    def keep(**kwargs):
        kept["result"] = real(**kwargs)
        return kept["result"]

    path = tmp_path_factory.mktemp("demo") / "demo.html"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(demo, "run_demo", keep)
        assert main(["demo", "--n", "1200", "--no-ensemble", "--report", str(path)]) == 0
    return kept["result"].session, path


def test_the_command_line_demos_report_tells_the_truth_and_how_to_reproduce_it(page, demo_report):
    """Old code: the panel said 'slices: none yet: tick rows...' beside a run that targeted two
    slices, and every no-kernel line said 'open the notebook' of a page no notebook wrote."""
    session, path = demo_report
    errors = open_page(page, path)
    truth = truth_of(session, ["color", "shape"])
    check_the_story(page, truth)
    check_the_page_against_the_kernel(page, truth, chips="none chosen when this page was saved; the rectification below "
                                                         f"targeted {', '.join(truth['targets'])}")
    command = "python -m drml_widgets demo --n 1200 --seed 0 --no-ensemble"
    hint = f"Needs a running kernel: this page was written by the command \u201c{command}\u201d; to "
    kernel_only_controls_are_disabled_and_say_why(page, re.escape(hint) + r"[^;]+"
                                                  + re.escape(", run the notebook code at the top of this page."))
    origin = page.locator("header .drml-origin").text_content()
    assert command in origin and "Dashboard(run_demo(n=1200, seed=0, ensemble=False).session)" in origin
    assert "open the notebook" not in page.locator("body").inner_text()
    page.screenshot(path=ARTIFACTS / "report_demo_truth.png", full_page=True)
    assert not errors, errors


@pytest.mark.slow
def test_a_saved_notebook_as_html_tells_the_truth(page, saved_html):
    """The nbconvert page against what its kernel printed: both rectify panels name the run and
    the versions, the slice table shows the current head's figures, and each no-kernel line points
    to the notebook."""
    book = nbformat.read(saved_html.with_suffix(".ipynb"), as_version=4)
    truth = json.loads(book.cells[2].outputs[0]["text"])
    serve_cdn_locally(page)
    errors = open_page(page, saved_html)
    check_the_page_against_the_kernel(page, truth, chips=ticked(truth))
    alone = page.locator(".drml-rectify-panel").nth(1)
    alone.and_(page.locator("[data-drml-ready]")).wait_for(timeout=60_000)
    check_the_page_against_the_kernel(page, truth, chips="color=green, shape=triangle", panel_index=1)
    kernel_only_controls_are_disabled_and_say_why(page)
    assert not errors, errors
