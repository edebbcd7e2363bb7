"""Regenerate the screenshots in this folder: every view of the quickstart in JupyterLab (light and
dark theme) and in marimo, each cropped to the view, as <view>_lab_light.png, <view>_lab_dark.png
and <view>_marimo.png, after a click on the worst slice and on Rectify (as the README describes
them). The README shows some of them.

    .venv/bin/python notebooks/screenshots/make.py

Starts JupyterLab and marimo on free localhost ports (with the browser tests' own helpers in
tests/browser_hosts.py), runs the quickstarts from a temporary copy, and drives Debian's Chromium.
Takes a few minutes; needs the dev extra (playwright, jupyterlab, marimo). Nothing is downloaded.
"""

import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import sync_playwright  # noqa: E402

from browser_hosts import accept_kernel_dialogs, run_all_cells, serve_jupyterlab, serve_marimo, switch_theme  # noqa: E402
from widget_support import CHROMIUM_ARGS, chromium_path  # noqa: E402

LAB_VIEWS = ("gap-plot", "prompt-builder", "slice-table", "influence-chart", "rectify-panel")
MARIMO_VIEWS = ("gap-plot", "slice-table", "rectify-panel")
WINDOW = {"width": 1400, "height": 1000}
WAIT_MS = 600_000  # the quickstart's first run on a busy 2-core machine


def use(page):
    """What the README's pictures show: the worst slice's images, and the panel after Rectify."""
    page.locator(".drml-slice-table tbody tr").first.click()
    page.locator(".drml-slice-table .drml-thumbs img").first.wait_for(timeout=60_000)
    panel = page.locator(".drml-rectify-panel")
    panel.get_by_role("button", name="Rectify").click()
    panel.locator(".drml-version[data-version='1']").wait_for(timeout=WAIT_MS)
    panel.locator(".drml-chart .bars path").first.wait_for(state="attached", timeout=60_000)


def shoot(page, views, suffix):
    """One PNG per view, cropped to it; returns the paths written."""
    paths = []
    for view in views:
        element = page.locator(f".drml-{view}").first
        element.scroll_into_view_if_needed()
        page.mouse.move(0, 0)  # no hover tooltip or toolbar in the picture
        page.wait_for_timeout(500)
        path = HERE / f"{view.replace('-', '_')}_{suffix}.png"
        element.screenshot(path=path)
        paths.append(path)
    return paths


def lab(browser, work):
    """The quickstart in JupyterLab, then its views in the light and the dark theme."""
    shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", work)
    with contextmanager(serve_jupyterlab)(work) as url:
        page = browser.new_page(viewport=WINDOW)
        accept_kernel_dialogs(page)
        page.goto(f"{url}/lab/tree/01_quickstart.ipynb")
        page.locator(".jp-NotebookPanel .jp-Notebook").wait_for(timeout=120_000)
        run_all_cells(page)
        page.get_by_text("wrote drml-quickstart-report.html").wait_for(timeout=WAIT_MS)
        for view in LAB_VIEWS:
            page.locator(f".drml-{view}[data-drml-ready]").wait_for(timeout=60_000)
        use(page)
        paths = shoot(page, LAB_VIEWS, "lab_light")
        switch_theme(page, "JupyterLab Dark")
        page.wait_for_timeout(2000)  # the plots redraw in the theme's colours
        return paths + shoot(page, LAB_VIEWS, "lab_dark")


def marimo(browser, work):
    """The marimo quickstart's views."""
    shutil.copy(ROOT / "notebooks" / "01_quickstart_marimo.py", work)
    with contextmanager(serve_marimo)(work, "01_quickstart_marimo.py") as url:
        page = browser.new_page(viewport=WINDOW)
        page.goto(url)
        for view in MARIMO_VIEWS:
            page.locator(f".drml-{view}[data-drml-ready]").wait_for(timeout=WAIT_MS)
        use(page)
        return shoot(page, MARIMO_VIEWS, "marimo")


def main():
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="drml-screenshots-") as work:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            paths = lab(browser, Path(work))
            paths += marimo(browser, Path(work))
        finally:
            browser.close()
    for path in paths:
        print(f"{path.relative_to(ROOT)}  {path.stat().st_size / 1e3:.0f} kB")
    print(f"total {sum(p.stat().st_size for p in paths) / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
