"""End to end in a real browser: a Jupyter server on a free localhost port, Debian's Chromium driven by
playwright. Runs the quickstart in JupyterLab and in Notebook 7, clicks Rectify and Undo, and checks
what the kernel and the page see; renders a report whose attribute names are HTML and checks that
no script ran.

Screenshots go to artifacts/ (git-ignored)."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from drml_widgets.widgets import Dashboard, write_report
from widget_support import CHROMIUM_ARGS, XSS_TYPE, XSS_VALUE, chromium_path, free_port, xss_session

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts"
FRONT_ENDS = {"jupyterlab": "/lab/tree/jupyterlab/01_quickstart.ipynb", "notebook7": "/notebooks/notebook7/01_quickstart.ipynb"}
LAB_SETTINGS = {
    # Keep every cell in the DOM (no virtual scrolling) so the widgets can be found and clicked.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": chromium_path(), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab serving a copy of the notebooks; token off, localhost only."""
    root = tmp_path_factory.mktemp("lab")
    for front_end in FRONT_ENDS:  # a copy each: a front end's autosave must not leak into the other's run
        (root / front_end).mkdir()
        shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", root / front_end)
    for rel, value in LAB_SETTINGS.items():
        path = root / ".lab-settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / ".runtime"), "JUPYTER_CONFIG_DIR": str(root / ".config")}
    log = open(root / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}", "--no-browser", "--allow-root",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.open_browser=False",
         f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={root / '.lab-settings'}",
         f"--LabApp.workspaces_dir={root / '.workspaces'}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start; see {root / 'jupyterlab.log'}:\n{(root / 'jupyterlab.log').read_text()[-3000:]}")
            time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


HOST_CODE = ("/static/notebook/", "/static/lab/")  # Notebook 7's and JupyterLab's own bundles


def from_host_only(stack) -> bool:
    """Whether every frame of an error's stack is in the host's own code, not in ours (Notebook 7
    raises a few errors of its own while it starts)."""
    frames = re.findall(r"\bhttps?://\S+", stack or "")
    return bool(frames) and all(any(h in f for h in HOST_CODE) for f in frames)


def column(page, name):
    """The slice table's column, as {slice key: text shown}."""
    return page.evaluate(f"""() => Object.fromEntries([...document.querySelectorAll(
        '.drml-slice-table tbody tr')].map(tr => [tr.dataset.key, tr.querySelector('td[data-col="{name}"]').textContent]))""")


def kernel_says(page, code, expected, timeout=60_000):
    """Add a cell at the end of the notebook, run it, and wait for `expected` in its output."""
    page.locator(".jp-Notebook .jp-Cell").last.click()
    page.keyboard.press("Escape")
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.keyboard.type(code)
    page.keyboard.press("Shift+Enter")
    page.locator(".jp-Notebook .jp-Cell").filter(has_text=code).locator(".jp-OutputArea-output").filter(
        has_text=expected).wait_for(timeout=timeout)


KERNEL_READY = """() => {
    const lab = document.querySelector(".jp-Notebook-ExecutionIndicator");
    if (lab) return lab.dataset.status === "idle";
    const nb7 = document.querySelector(".jp-NotebookKernelStatus");
    return !!nb7 && !/Connecting|Starting|Restarting|Unknown/.test(nb7.textContent);
}"""


def run_all_cells(page):
    """Run > Run All Cells, again if the kernel was not ready to take it the first time (JupyterLab
    can replace the kernel it started while the page loads; cells sent to the first one never run)."""
    first_prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").first
    for _ in range(3):
        page.wait_for_function(KERNEL_READY, timeout=120_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function("p => /\\[1\\]/.test(p.textContent)", arg=first_prompt.element_handle(), timeout=60_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    pytest.fail("JupyterLab did not start running the notebook")


@pytest.fixture
def lab_page(page, front_end):
    """The page, with a screenshot of how it ended in artifacts/ (the place to look when it fails)."""
    # JupyterLab may ask which kernel to start although the notebook names one: take the one it offers.
    page.add_locator_handler(page.locator(".jp-Dialog").filter(has_text="Select Kernel"),
                             lambda dialog: dialog.locator("button", has_text="Select").click())
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{front_end}_last.png")


@pytest.mark.slow
@pytest.mark.parametrize("front_end", FRONT_ENDS)
def test_quickstart_in_jupyterlab(jupyterlab, lab_page, front_end):
    """The same server serves JupyterLab and Notebook 7; the whole flow runs in each."""
    page = lab_page
    ARTIFACTS.mkdir(exist_ok=True)
    errors = []
    page.on("pageerror", lambda exc: errors.append(exc))
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(jupyterlab + FRONT_ENDS[front_end])
    page.locator(".jp-NotebookPanel .jp-Notebook").wait_for(timeout=120_000)
    run_all_cells(page)

    page.get_by_text("wrote drml-quickstart-report.html").wait_for(timeout=420_000)
    for view in ("gap-plot", "prompt-builder", "slice-table", "influence-chart", "rectify-panel"):
        page.locator(f".drml-{view}[data-drml-ready]").wait_for(timeout=60_000)
    assert int(page.locator(".drml-gap-plot").get_attribute("data-points")) > 3000
    assert page.locator(".drml-gap-plot canvas").count() > 0  # WebGL point cloud
    assert page.evaluate("getComputedStyle(document.querySelector('.drml-widget')).borderRadius") == "8px"  # _css
    page.locator(".drml-gap-plot").screenshot(path=ARTIFACTS / f"{front_end}_gap_plot.png")
    page.locator(".drml-influence-chart").screenshot(path=ARTIFACTS / f"{front_end}_influence_chart.png")
    page.locator(".drml-prompt-builder").screenshot(path=ARTIFACTS / f"{front_end}_prompt_builder.png")

    # A class the kernel does not know, picked in the page: the status line says so and the choice reverts.
    chart = page.locator(".drml-influence-chart").first
    chart.locator("select").evaluate("""s => { s.add(new Option("nope", "nope")); s.value = "nope";
        s.dispatchEvent(new Event("change")); }""")
    chart.locator(".drml-status").filter(has_text="Unknown target 'nope'").wait_for(timeout=30_000)
    page.wait_for_function("() => document.querySelector('.drml-influence-chart select').value === 'triangle'")

    panel = page.locator(".drml-rectify-panel")
    assert panel.locator(".drml-version").get_attribute("data-version") == "0"  # the notebook undid its own run
    before = {name: column(page, name) for name in ("text_prob", "image_acc")}
    table = page.locator(".drml-slice-table")
    table.locator("tbody tr").first.click()  # thumbnails of the worst slice, fetched by row number
    table.locator(".drml-thumbs img").first.wait_for(timeout=30_000)
    table.screenshot(path=ARTIFACTS / f"{front_end}_slice_table_before.png")

    panel.get_by_role("button", name="Rectify").click()
    panel.locator(".drml-version[data-version='1']").wait_for(timeout=180_000)
    page.wait_for_function("() => !document.querySelector('.drml-rectify-panel button.drml-primary').disabled")
    after = {name: column(page, name) for name in ("text_prob", "image_acc")}
    assert after["text_prob"].keys() == before["text_prob"].keys()
    assert after["text_prob"] != before["text_prob"] and after["image_acc"] != before["image_acc"]
    panel.screenshot(path=ARTIFACTS / f"{front_end}_rectify_panel.png")
    table.screenshot(path=ARTIFACTS / f"{front_end}_slice_table.png")
    kernel_says(page, "print('HEAD_VERSION', session.version)", "HEAD_VERSION 1")

    panel.get_by_role("button", name="Undo").click()
    panel.locator(".drml-version[data-version='0']").wait_for(timeout=60_000)
    page.wait_for_function(f"""() => [...document.querySelectorAll('.drml-slice-table td[data-col="image_acc"]')]
        .map(td => td.textContent).join() !== {json.dumps(",".join(after["image_acc"].values()))}""")
    assert {name: column(page, name) for name in ("text_prob", "image_acc")} == before
    kernel_says(page, "print('HEAD_VERSION_AFTER_UNDO', session.version)", "HEAD_VERSION_AFTER_UNDO 0")
    page.screenshot(path=ARTIFACTS / f"{front_end}.png")
    ours = [f"{e}\n{e.stack}" for e in errors if not from_host_only(e.stack)]
    assert not ours, ours


def test_report_shows_html_as_text_and_runs_no_script(page, tmp_path):
    session = xss_session()
    dash = Dashboard(session, by=[XSS_TYPE, "shape"])
    dash.gap.color_by = XSS_TYPE
    path = write_report(session, tmp_path / "xss.html", dashboard=dash)
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.set_viewport_size({"width": 1300, "height": 900})
    page.goto(path.as_uri())
    page.wait_for_function("document.body.dataset.drmlReport === 'ready'", timeout=60_000)
    page.locator(".drml-gap-plot[data-drml-ready]").wait_for()
    assert page.evaluate("getComputedStyle(document.querySelector('.drml-widget')).borderRadius") == "8px"  # _css
    page.wait_for_timeout(500)  # any injected onerror handler would have fired by now
    assert dialogs == [] and page.evaluate("window.__xss") is None
    headers = page.locator(".drml-slice-table thead th").all_text_contents()
    assert XSS_TYPE in headers
    assert XSS_VALUE in page.locator(".drml-slice-table tbody").text_content()
    assert XSS_TYPE in page.locator(".drml-prompt-builder").text_content()
    assert XSS_VALUE in page.locator(".drml-gap-plot .legend").text_content()  # plotly shows it as text
    assert page.locator(".drml-widget img[src='x'], .drml-widget img[src='y']").count() == 0
    rows = page.locator(".drml-slice-table tbody tr").count()
    assert rows == len(dash.slices.rows)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "report_xss.png", full_page=True)
    dash.close()
