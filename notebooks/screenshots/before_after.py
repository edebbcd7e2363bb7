"""Before and after screenshots for issue 22 (one PNG per numbered item), kernel-free.

Run it with the checkout to picture on the path, e.g. for the code before a fix::

    git worktree add /tmp/ba-before-1 9ef8aa2^
    PYTHONPATH=/tmp/ba-before-1 .venv/bin/python notebooks/screenshots/before_after.py \\
        /tmp/ba-before-1 notebooks/screenshots/issue-22/before --items 1 3 5 7 9

and with ``/work/main`` (no PYTHONPATH needed) for the state after. Each item builds the smallest
page that shows it: a single view saved as the report saves it (``report_html``), the report of a
Dashboard (``write_report``), or, where the item needs a kernel (5: "more images"; 7: an edit the
kernel refuses), the view wired to this process by tests/kernel_bridge.py. Item 3 runs the code
cells of the checkout's own quickstart (all but the report cell) and saves its rectify panel.
Chromium (/usr/bin/chromium) opens each page; the PNG is cropped to the elements that show the item,
stacked when there are several, and scaled to at most 800 px wide. See issue-22/README.md.
"""

import argparse
import io
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.append(str(HERE.parents[1] / "tests"))  # kernel_bridge and widget_support come from this checkout

import pytest  # noqa: E402  (widget_support.recording takes a MonkeyPatch)
from PIL import Image  # noqa: E402
from browser_hosts import gap_plot_spots  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTH = 800


def save(parts: list[bytes], out: Path) -> Path:
    """Stack element screenshots top to bottom, scale to at most WIDTH px wide, save as a palette PNG."""
    images = [Image.open(io.BytesIO(p)).convert("RGB") for p in parts]
    width = max(i.width for i in images)
    sheet = Image.new("RGB", (width, sum(i.height for i in images) + 12 * (len(images) - 1)), "white")
    y = 0
    for image in images:
        sheet.paste(image, (0, y))
        y += image.height + 12
    if sheet.width > WIDTH:
        sheet = sheet.resize((WIDTH, round(sheet.height * WIDTH / sheet.width)), Image.LANCZOS)
    sheet.quantize(256).save(out, optimize=True)
    return out


def shots(page, *selectors: str) -> list[bytes]:
    """A screenshot of the first element each selector finds (selectors that find none are skipped)."""
    return [page.locator(s).first.screenshot() for s in selectors if page.locator(s).count()]


def open_view(page, html: str, path: Path, view: str, width: int = 1300, height: int = 1000):
    path.write_text(html, encoding="utf-8")
    page.set_viewport_size({"width": width, "height": height})
    page.goto(path.as_uri())
    page.locator(f".drml-{view}[data-drml-ready]").first.wait_for(timeout=120_000)
    page.wait_for_timeout(800)  # plotly's first layout


class Items:
    """One method per issue item; each returns the PNG parts that show it."""

    def __init__(self, tmp: Path):
        from drml_widgets.session import Session

        self.tmp, self.Session = tmp, Session
        self.session = Session.from_shapes_world(n=1200, ensemble=False)
        self._quickstart = None

    def query(self, *sentences):
        """The browser test's LossQuery (tests/test_browser.py), asked ``sentences``."""
        from drml_widgets.widgets import LossQuery

        query = LossQuery(self.session, by=["color", "shape"], members=2, epochs=8)
        for sentence in sentences:
            query.ask(sentence)
        return query

    def item1(self, page):
        """LossQuery answers "a photo of a cat" and "an orange square." (the issue's two sentences)."""
        from drml_widgets.widgets.report import report_html

        query = self.query("a photo of a cat", "an orange square.")
        open_view(page, report_html(query), self.tmp / "item1.html", "loss-query")
        return shots(page, ".drml-loss-query .drml-answers")

    def item2(self, page):
        """The report of a session rectified before its Dashboard was made (the command-line demo's
        case): the story (where there is one) and the rectify panel."""
        from drml_widgets.widgets import Dashboard, write_report

        session = self.Session.from_shapes_world(n=1200, ensemble=False)
        session.rectify(session.find_failing_slices(["color", "shape"]).table, epochs=4)
        dash = Dashboard(session)
        path = write_report(session, self.tmp / "item2.html", dashboard=dash)
        page.set_viewport_size({"width": 1300, "height": 1000})
        page.goto(path.as_uri())
        page.wait_for_function("document.body.dataset.drmlReport === 'ready'", timeout=120_000)
        page.locator(".drml-rectify-panel[data-drml-ready]").wait_for(timeout=120_000)
        page.wait_for_timeout(800)
        return shots(page, "#drml-story", ".drml-rectify-panel")

    def quickstart(self):
        """The checkout's own quickstart, every code cell but the one writing the report."""
        if self._quickstart is None:
            book = json.loads((ROOT / "notebooks" / "01_quickstart.ipynb").read_text())
            ns = {}
            for cell in book["cells"]:
                source = "".join(cell["source"])
                if cell["cell_type"] == "code" and "write_report(session" not in source:
                    exec(source, ns)
            self._quickstart = ns
        return self._quickstart

    def item3(self, page):
        """The quickstart's rectify panel as the notebook leaves it (the Python example has run)."""
        from drml_widgets.widgets.report import report_html

        open_view(page, report_html(self.quickstart()["panel"]), self.tmp / "item3.html", "rectify-panel")
        return shots(page, ".drml-rectify-panel")

    def item4(self, page):
        """GapPlot coloured by modality in its default view, gap open (top) and closed (bottom)."""
        from drml_widgets.widgets import GapPlot
        from drml_widgets.widgets.report import report_html

        plot = GapPlot(self.session, color_by="modality")
        parts = []
        for closed in (False, True):
            plot.close_gap = closed
            open_view(page, report_html(plot), self.tmp / f"item4_{closed}.html", "gap-plot", 1000, 800)
            parts += shots(page, ".drml-gap-plot .js-plotly-plot")
        plot.close_gap = False
        return parts

    def item5(self, page):
        """FailureModes, live: a mode clicked, then "more images" clicked twice."""
        from drml_widgets.widgets import FailureModes
        from kernel_bridge import connect

        view = FailureModes(self.session, s=10)
        page.set_viewport_size({"width": 1300, "height": 1000})
        connect(page, view, self.tmp / "item5.html")
        modes = page.locator(".drml-failure-modes")
        big = max(view.modes, key=lambda m: m["n_images"])["key"]
        modes.locator(f'tbody tr[data-key="{big}"]').click()
        page.wait_for_timeout(500)
        for _ in range(2):
            more = modes.locator(".drml-kernel-only button")
            if more.count() and more.first.is_visible() and more.first.is_enabled():
                more.first.click()
                page.wait_for_timeout(3000)
        return shots(page, ".drml-failure-modes .drml-focus-box")

    def item6(self, page):
        """LossQuery's charts after the window narrows from 1300 px to 800 px, its height changing
        at every step (tests/test_browser.py's sweep): legends, bars and the plot toolbar."""
        from drml_widgets.widgets.report import report_html

        query = self.query("a large orange triangle.", "a photo of a cat", "a small green square.")
        open_view(page, report_html(query), self.tmp / "item6.html", "loss-query")
        for step, width in enumerate(range(1300, 780, -20)):
            page.set_viewport_size({"width": width, "height": 700 if step % 2 else 1000})
            page.wait_for_timeout(300)
        # plotly shows its toolbar while the pointer is over the chart: a corner clear of the bars
        page.locator(".drml-loss-query .js-plotly-plot").first.hover(position={"x": 4, "y": 4})
        page.wait_for_timeout(300)
        return shots(page, ".drml-loss-query .js-plotly-plot")

    def item7(self, page):
        """The rectify panel, live: 5000 epochs typed, Rectify clicked; the kernel refuses the epochs."""
        from drml_widgets.widgets import RectifyPanel
        from kernel_bridge import connect

        panel = RectifyPanel(self.session, slices=[{"color": "green", "shape": "triangle"}], epochs=30)
        page.set_viewport_size({"width": 1100, "height": 900})
        connect(page, panel, self.tmp / "item7.html")
        epochs = page.locator(".drml-rectify-panel input[type=number]").first
        epochs.fill("5000")
        epochs.dispatch_event("change")
        page.locator(".drml-rectify-panel button.drml-primary").first.click()
        page.locator(".drml-rectify-panel .drml-status").filter(has_text="epochs").wait_for(timeout=60_000)
        view = page.locator(".drml-rectify-panel")
        box, status = view.bounding_box(), view.locator(".drml-status").first.bounding_box()
        bottom = status["y"] + status["height"] + 12
        return [page.screenshot(clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": bottom - box["y"]})]

    def item9(self, page):
        """The quickstart's slice table after Rectify (its header: Spearman and Pearson)."""
        from drml_widgets.widgets.report import report_html

        ns = self.quickstart()
        ns["panel"].run()
        try:
            open_view(page, report_html(ns["table"]), self.tmp / "item9.html", "slice-table")
            view = page.locator(".drml-slice-table")
            box, table = view.bounding_box(), view.locator("table").first.bounding_box()
            top = table["y"] + 80  # the caption and toolbar, the header and the first rows
            return [page.screenshot(clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": top - box["y"]})]
        finally:
            ns["session"].undo()

    def item8(self, page):
        """The report's gap plot, an image point outside the saved sample hovered."""
        from drml_widgets.widgets import write_report

        path = write_report(self.session, self.tmp / "item8.html")
        page.set_viewport_size({"width": 1300, "height": 1000})
        page.goto(path.as_uri())
        page.wait_for_function("document.body.dataset.drmlReport === 'ready'", timeout=120_000)
        plot = page.locator(".drml-gap-plot")
        plot.locator(".nsewdrag").first.scroll_into_view_if_needed()
        page.wait_for_timeout(800)
        spots = gap_plot_spots(page, 40)
        tooltip = plot.locator(".drml-tooltip")
        for x, y in spots:
            page.mouse.move(1, 1)
            page.mouse.move(x, y)
            page.wait_for_timeout(80)
            if tooltip.is_visible() and " \u00b7 text #" not in (text := tooltip.text_content()) and "split: " not in text:
                break  # an image point whose details were not saved
        return shots(page, ".drml-gap-plot")

    def item10(self, page):
        """SpuriousPanel after a run of its default variants (one seed, 2 epochs)."""
        from drml_widgets.methods.spurious import cache_features
        from drml_widgets.widgets import SpuriousPanel
        from drml_widgets.widgets.report import report_html

        small = self.Session.from_shapes_world(n=600, ensemble=False, train=False)
        data = cache_features(small.encoder, small.images, small.classes, spurious_values=["orange", "green"], progress=False)
        panel = SpuriousPanel(small, "color", ["orange", "green"], seeds=[0], epochs=2, data=data)
        panel.run()
        open_view(page, report_html(panel), self.tmp / "item10.html", "spurious-panel", 1100, 1000)
        return shots(page, ".drml-spurious-panel")


NAMES = {1: "loss_query", 2: "report_story", 3: "quickstart_panel", 4: "gap_closing", 5: "more_images",
         6: "loss_query_legend", 7: "error_style", 8: "report_hover", 9: "correlation_note", 10: "spurious_terms"}


def main():
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the checkout pictured (its package must be the one imported)")
    parser.add_argument("out", type=Path, help="folder for itemNN_<name>.png")
    parser.add_argument("--items", type=int, nargs="+", default=sorted(NAMES))
    args = parser.parse_args()
    ROOT = args.root.resolve()
    import drml_widgets

    if not Path(drml_widgets.__file__).resolve().is_relative_to(ROOT):
        sys.exit(f"drml_widgets is imported from {drml_widgets.__file__}, not from {ROOT}. Fix: PYTHONPATH={ROOT}")
    print("drml_widgets from", drml_widgets.__file__, flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as monkeypatch, sync_playwright() as p:
        from widget_support import recording

        recording(monkeypatch)  # the kernel bridge reads what the widgets send
        items = Items(Path(tmp))
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        for n in args.items:
            page = browser.new_page()
            try:
                out = save(getattr(items, f"item{n}")(page), args.out / f"item{n:02d}_{NAMES[n]}.png")
                print(f"item {n}: {out} ({out.stat().st_size / 1e3:.0f} kB)", flush=True)
            except Exception as exc:  # one item's failure leaves the others' pictures
                print(f"item {n}: not captured: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
            finally:
                page.close()
        browser.close()


ROOT = Path.cwd()
if __name__ == "__main__":
    main()
