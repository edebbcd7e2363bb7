"""Hosts for the browser tests and the screenshot script (notebooks/screenshots/make.py): JupyterLab
(and Notebook 7) and marimo, each served on a free localhost port, and the few page actions every
run needs (run all cells, switch theme, take the kernel JupyterLab offers)."""

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from widget_support import free_port

LAB_SETTINGS = {
    # Keep every cell in the DOM (no virtual scrolling) so the widgets can be found and clicked.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def serve_jupyterlab(root):
    """JupyterLab (and Notebook 7) serving ``root`` with our settings; yields its URL until done."""
    for rel, value in LAB_SETTINGS.items():
        path = root / ".lab-settings" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    port = free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(root / ".runtime"), "JUPYTER_CONFIG_DIR": str(root / ".config")}
    yield from serve("JupyterLab", [
        sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}", "--no-browser", "--allow-root",
        "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={root / '.lab-settings'}",
        f"--LabApp.workspaces_dir={root / '.workspaces'}"], root, f"http://127.0.0.1:{port}", "/api/status", env)


def serve(name, command, root, url, probe, env=None):
    """Run a server in `root` until it answers at url + probe; yield its url; stop it."""
    log_path = root / f"{name.lower()}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env or os.environ, cwd=root)
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(url + probe, timeout=5)
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"{name} did not start; see {log_path}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
    try:
        yield url
    finally:  # also when the run using it failed
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

def serve_marimo(root, notebook):
    """`marimo run` serving the notebook file ``root / notebook``; yields its URL until done."""
    port = free_port()
    yield from serve("marimo", [sys.executable, "-m", "marimo", "run", notebook, "--host", "127.0.0.1", f"--port={port}",
                                "--headless"], root, f"http://127.0.0.1:{port}", "/")


def accept_kernel_dialogs(page):
    """JupyterLab may ask which kernel to start although the notebook names one: take the one it offers."""
    def accept(dialog):  # on a busy machine the first click can land before the dialog listens
        for _ in range(20):
            if not dialog.is_visible():
                return
            dialog.locator("button.jp-mod-accept").click(force=True)
            page.wait_for_timeout(500)

    page.add_locator_handler(page.locator(".jp-Dialog").filter(has_text="Select Kernel"), accept)


def switch_theme(page, name):
    """Settings > Theme > name, in JupyterLab or Notebook 7."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Settings").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Theme").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=name).first.click()
    page.wait_for_function("name => document.body.dataset.jpThemeName === name", arg=name, timeout=60_000)


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
    run_all = page.locator(".lm-Menu-item", has=page.locator(".lm-Menu-itemLabel", has_text="Run All Cells")).first
    for _ in range(3):
        page.wait_for_function(KERNEL_READY, timeout=120_000)
        # The menu acts on the current notebook: select its first cell, so that focus left elsewhere
        # (the file browser, a kernel dialog just closed) cannot leave "Run All Cells" disabled.
        first_prompt.click()
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        try:
            page.wait_for_function("item => !item.classList.contains('lm-mod-disabled')", arg=run_all.element_handle(),
                                   timeout=10_000)
            run_all.click()
            # Only a finished first cell proves the kernel took the cells: queued ones show "[*]" even
            # for a kernel JupyterLab replaced, and a new kernel is busy while it starts. The first
            # cell's imports outlasted 60 s on a loaded machine, so it gets 180.
            page.wait_for_function("p => /\\[1\\]/.test(p.textContent)", arg=first_prompt.element_handle(),
                                   timeout=180_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    pytest.fail("JupyterLab did not start running the notebook")


def gap_plot_spots(page, per_trace: int) -> list[list[float]]:
    """Where drawn gap-plot points are on screen: up to ``per_trace`` of each trace, spread through
    it, wherever the view puts them (for hovering them one by one)."""
    return page.evaluate("""(perTrace) => {
        const gd = document.querySelector('.drml-gap-plot .js-plotly-plot');
        const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
        const { xaxis, yaxis } = gd._fullLayout;
        return gd.data.flatMap((t) => { const n = (t.x || []).length, m = Math.min(perTrace, n);
            return Array.from({ length: m }, (_, k) => Math.floor(k * n / m))
                .map((i) => [box.left + xaxis.l2p(t.x[i]), box.top + yaxis.l2p(t.y[i])]); });
    }""", per_trace)

