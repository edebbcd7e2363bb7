"""Notebook 01 executed with its widget state stored (nbclient's ``store_widget_state``, as
JupyterLab's "save widget state" does): plotly.js is saved once, in the runtime widget, so the file
stays small; and the saved notebook, converted with ``jupyter nbconvert --to html``, draws every
view from its state in Chromium, with no kernel.

nbconvert's page loads require.js, the widgets' HTML manager and anywidget from CDNs. Here they are
served from local copies of the same packages (js/node_modules, the installed anywidget); any other
request is refused, so the page works offline or fails."""

import json
import re
import subprocess
import sys
from pathlib import Path

import anywidget
import nbformat
import pytest
from nbclient import NotebookClient

from test_notebooks import CELL_TIMEOUT, NOTEBOOKS

MAX_BYTES = 2_000_000
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
NODE_MODULES = Path(__file__).resolve().parents[1] / "js" / "node_modules"
CDN = {  # what nbconvert's page asks for -> the local file of the same package
    r"/require\.js/[^/]+/require(\.min)?\.js$": lambda m: NODE_MODULES / "requirejs" / "require.js",
    r"/@jupyter-widgets/html-manager@[^/]+/dist/([\w.-]+)$": lambda m: NODE_MODULES / "@jupyter-widgets" / "html-manager" / "dist" / m.group(1),
    r"/anywidget@[^/]+/dist/index\.js$": lambda m: Path(anywidget.__file__).parent / "nbextension" / "index.js",
}
VIEWS = ("gap-plot", "prompt-builder", "slice-table", "influence-chart", "rectify-panel")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Notebook 01 run top to bottom in a fresh kernel, saved with its widget state."""
    folder = tmp_path_factory.mktemp("saved")
    book = nbformat.read(NOTEBOOKS / "01_quickstart.ipynb", as_version=4)
    NotebookClient(book, timeout=CELL_TIMEOUT, startup_timeout=600, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    path = folder / "01_quickstart.ipynb"
    nbformat.write(book, path)
    return path


def widget_state(path) -> dict:
    return json.loads(path.read_text())["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]


def javascript_bytes(model) -> int:
    return len(model["state"].get("_esm", "")) + len(model["state"].get("source", ""))


@pytest.mark.slow
def test_quickstart_saved_with_widget_state_is_at_most_2_mb(executed):
    state = widget_state(executed)
    kinds = [m["state"].get("_anywidget_id", "").rsplit(".", 1)[-1] for m in state.values()]
    assert kinds.count("PlotlyRuntime") == 1
    views = [m for m, kind in zip(state.values(), kinds) if kind in ("GapPlot", "InfluenceChart", "RectifyPanel")]
    assert len(views) == 3 and max(javascript_bytes(m) for m in views) <= 50_000  # plotly.js is not in them
    size, js = executed.stat().st_size, sum(javascript_bytes(m) for m in state.values())
    print(f"01_quickstart with widget state: {size / 1e6:.2f} MB, {js / 1e6:.2f} MB of it JavaScript")
    assert size <= MAX_BYTES


def serve_cdn_locally(page) -> list[str]:
    """Route the page's CDN requests to local files; refuse any other; returns the refused URLs."""
    refused = []

    def handle(route):
        url = route.request.url
        if url.startswith(("file:", "blob:", "data:")):
            return route.continue_()
        for pattern, local in CDN.items():
            if (match := re.search(pattern, url)) and local(match).is_file():
                return route.fulfill(path=local(match))
        refused.append(url)
        return route.abort()

    page.route("**/*", handle)
    return refused


@pytest.mark.slow
def test_saved_quickstart_as_html_draws_every_view_without_a_kernel(executed, page):
    missing = [p for p in (NODE_MODULES / "requirejs", NODE_MODULES / "@jupyter-widgets" / "html-manager") if not p.is_dir()]
    assert not missing, f"{missing} missing. Fix: cd js && npm ci"
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)], check=True,
                   capture_output=True)
    html = executed.with_suffix(".html")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    refused = serve_cdn_locally(page)
    page.set_viewport_size({"width": 1300, "height": 1000})
    page.goto(html.as_uri())
    for view in VIEWS:
        page.locator(f".drml-{view}[data-drml-ready]").wait_for(timeout=120_000)
    state = widget_state(executed)
    gap = next(m["state"] for m in state.values() if m["state"].get("_anywidget_id", "").endswith("GapPlot"))
    assert int(page.locator(".drml-gap-plot").get_attribute("data-points")) == gap["n_images"] + gap["n_texts"]
    assert page.locator(".drml-gap-plot canvas").count() > 0  # the point cloud is drawn
    assert page.locator(".drml-slice-table tbody tr").count() == 12
    assert page.locator(".drml-influence-chart .drml-chart .bars path").count() > 0
    # The notebook's rectify example runs on a session of its own: the panel is saved in its starting state.
    assert page.locator(".drml-rectify-panel .drml-chart .bars path").count() == 0
    assert "No rectification was run" in page.locator(".drml-rectify-panel .drml-summary").text_content()
    assert "prompts" in page.locator(".drml-prompt-builder .drml-count").text_content()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "saved_notebook_html.png", full_page=True)
    assert not errors, errors
    assert not [u for u in refused if "mathjax" not in u.lower()], refused  # nothing else was needed
