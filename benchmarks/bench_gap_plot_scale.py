"""GapPlot at a million points against 50,000: bytes a point on the wire, first render, frame
times while the mouse sweeps the plot, and the hover and lasso round trips to the kernel, in
headless Chromium with software WebGL (SwiftShader).

    nice .venv/bin/python benchmarks/bench_gap_plot_scale.py [--points 1000000 50000] [--points-view] [--umap]
        [--before REV] [--write]

Each plot is drawn by the page of tests/kernel_bridge.py: the view's models talk to the widget in
this process, as through a kernel's websocket, without a Jupyter server. Above density_above
(200,000) the plot is its density view; ``--points-view`` also draws the largest size as plain
points, the view the density view replaces. ``--umap`` times UMAP fitted on umap_points and the
rest placed (synthetic 64-d embeddings, a stand-in text encoder: the widget is measured, not CLIP).

First, at the largest size: the time from the call (``GapPlot(session)`` on a session already
built) to the first render in an open page, for the GapPlot of revision ``--before`` (its
``drml_widgets`` unpacked under another name and imported into this process) and this one, in
turns on the same session and browser. ``--write`` writes that table to
benchmarks/results/bench_gap_plot_scale.md (benchmarks/record.py: date, command, machine, load).
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import kernel_bridge  # noqa: E402
from record import load, table, write_results  # noqa: E402
from bench_widgets import hover_sweep_frames  # noqa: E402
from widget_support import CHROMIUM_ARGS, RecordingComm, synthetic_session  # noqa: E402

NEAREST_POINTS = """(gd, k) => { // k image points spread over the plot, in page coordinates
  const L = gd._fullLayout, box = gd.getBoundingClientRect(), out = [];
  for (const t of gd._fullData) {
    if (t.marker.symbol !== "circle") continue;
    const step = Math.max(1, Math.floor(t.x.length / k));
    for (let i = 0; i < t.x.length && out.length < k; i += step)
      out.push({ x: box.left + L._size.l + L.xaxis.l2p(t.x[i]), y: box.top + L._size.t + L.yaxis.l2p(t.y[i]) });
  }
  return out; }"""
NOTE = ".drml-gap-plot .drml-toolbar .drml-muted"  # "N points selected"
LASSO_PROBE = """() => { const gd = document.querySelector('.js-plotly-plot'); window.__lasso = {};
  window.addEventListener('mouseup', () => { window.__lasso.up = performance.now(); }, { capture: true, once: true });
  gd.once('plotly_selected', () => { window.__lasso.selected = performance.now(); }); }"""
PLOT_BOX = """gd => { const L = gd._fullLayout, box = gd.getBoundingClientRect();
  return { left: box.left + L._size.l, top: box.top + L._size.t, w: L._size.w, h: L._size.h }; }"""


ROOT = Path(__file__).resolve().parents[1]


def gap_plot_of(rev: str):
    """The GapPlot class of revision ``rev``: its package unpacked as ``drml_before`` and imported
    beside this one (a view takes any session: it reads it through its public API)."""
    folder = Path(tempfile.mkdtemp())
    archive = subprocess.run(["git", "archive", rev, "drml_widgets"], cwd=ROOT, capture_output=True, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(folder, filter="data")
    (folder / "drml_widgets").rename(folder / "drml_before")
    sys.path.insert(0, str(folder))
    return importlib.import_module("drml_before.widgets").GapPlot


# When the view marks itself drawn, by the page's clock: this process answers the page's requests
# (the statistics asked for once drawn) in the thread that would otherwise see the mark.
DRAWN_CLOCK = """new MutationObserver((_, seen) => { if (document.querySelector('.drml-gap-plot[data-drml-ready]')) {
  window.__drawnAt = Date.now(); seen.disconnect(); } }).observe(document, { subtree: true, childList: true, attributes: true });"""


def call_to_first_render(cls, session, browser) -> dict:
    """Seconds from ``cls(session)`` to the view drawn in a page already open, and the call's share."""
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    page.add_init_script(DRAWN_CLOCK)
    path = Path(tempfile.mkdtemp()) / "gap.html"
    start, t = time.time(), time.perf_counter()
    plot = cls(session, color_by="color")
    call = time.perf_counter() - t
    kernel_bridge.connect(page, plot, path)
    page.wait_for_function("window.__drawnAt", timeout=300_000)
    total = page.evaluate("window.__drawnAt") / 1000 - start
    page.close()
    plot.close()
    return {"call_s": call, "total_s": total, "view": plot.view, "projection": plot.projection}


def first_render_table(points: int, before: str, browser, repeats: int) -> list[str]:
    """Call to first render, revision ``before`` against this one, in turns; Markdown lines."""
    old = gap_plot_of(before)
    from drml_widgets.widgets import GapPlot

    t = time.perf_counter()
    session = synthetic_session(points)
    print(f"session of {points:,} points built in {time.perf_counter() - t:.1f} s (not counted below)", flush=True)
    here = "working tree at " + subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                              text=True, check=True).stdout.strip()
    runs = {before: [], here: []}
    loads = [load()]
    for _ in range(repeats):
        for name, cls in ((before, old), (here, GapPlot)):
            runs[name].append(call_to_first_render(cls, session, browser))
            print(f"  {name}: call {runs[name][-1]['call_s']:.2f} s, to first render {runs[name][-1]['total_s']:.2f} s",
                  flush=True)
    loads.append(load())
    med = {name: {k: statistics.median(r[k] for r in rs) for k in ("call_s", "total_s")} for name, rs in runs.items()}
    rows = [[name, rs[0]["view"], rs[0]["projection"], f"{med[name]['call_s']:.2f}", f"{med[name]['total_s']:.2f}"]
            for name, rs in runs.items()]
    return [f"GapPlot of {points:,} points (synthetic 64-d session, colour by colour), from the call on a session "
            f"already built to the first render in headless Chromium (software WebGL) in a page already open; medians "
            f"of {repeats} turns each, in one process, the revisions in turns (load {loads[0]} before the first turn, "
            f"{loads[1]} after the last).", "",
            *table(["GapPlot", "view", "projection", "call (s)", "call to first render (s)"], rows), "",
            f"Ratio {before} / {here}: call {med[before]['call_s'] / med[here]['call_s']:.2f}x, "
            f"call to first render {med[before]['total_s'] / med[here]['total_s']:.2f}x."]


def build(points: int, density_above: int | None = None):
    from drml_widgets.widgets import GapPlot

    t = time.perf_counter()
    session = synthetic_session(points)
    t_session = time.perf_counter() - t
    t = time.perf_counter()
    kwargs = {} if density_above is None else {"density_above": density_above}
    plot = GapPlot(session, color_by="color", **kwargs)
    t_plot = time.perf_counter() - t
    data = sum(j + b for j, b in plot.comm.sizes())
    return plot, {"points": points, "view": plot.view, "bytes_per_point": data / points, "data_mb": data / 1e6,
                  "session_s": t_session, "plot_s": t_plot}


def in_browser(plot, browser, repeats: int) -> dict:
    """First render (navigation start to drawn plot), frame intervals while the mouse sweeps the
    plot, hover round trips (mouse on a point until the kernel's answer shows) and lasso round
    trips (mouse up until the kernel holds the selection and the page says how many; "plotly" is
    mouse up to plotly's selection event, "kernel" the time in the widget's handler, the rest is
    the page and the bridge's JSON/base64 through playwright)."""
    handled, spent = [], []  # when the widget finished each message from the page, and how long it took
    handle = kernel_bridge.handle

    def timed(payload):
        start = time.perf_counter()
        out = handle(payload)
        handled.append(time.perf_counter())
        spent.append(handled[-1] - start)
        return out

    kernel_bridge.handle = timed
    loads, frames, hovers, lassos, kernel, plotly = [], [], [], [], [], []
    try:
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            kernel_bridge.connect(page, plot, Path(tempfile.mkdtemp()) / "gap.html")
            page.wait_for_selector(".drml-gap-plot[data-drml-ready]", timeout=300_000)
            loads.append(page.evaluate("performance.now()") / 1000)
            gd = page.locator(".js-plotly-plot")
            frames += hover_sweep_frames(page)
            page.mouse.move(0, 0)
            for target in gd.evaluate(NEAREST_POINTS, 8):
                page.mouse.move(target["x"] + 3, target["y"] + 3)
                t = time.perf_counter()
                page.mouse.move(target["x"], target["y"])
                page.wait_for_function("() => /class:/.test(document.querySelector('.drml-tooltip').textContent)")
                hovers.append(time.perf_counter() - t)
                page.mouse.move(0, 0)
                page.wait_for_function("() => getComputedStyle(document.querySelector('.drml-tooltip')).display === 'none'")
            area = gd.evaluate(PLOT_BOX)
            for radius in (0.15, 0.3):
                cx, cy = area["left"] + area["w"] / 2, area["top"] + area["h"] / 2
                r = radius * min(area["w"], area["h"])
                corners = [(cx + r * np.cos(a), cy - r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 25)]
                page.evaluate(LASSO_PROBE)
                page.mouse.move(*corners[0])
                page.mouse.down()
                for x, y in corners[1:]:
                    page.mouse.move(x, y)
                before = len(handled)
                t = time.perf_counter()
                page.mouse.up()
                page.wait_for_function(f"() => / points selected/.test(document.querySelector('{NOTE}').textContent)")
                while len(handled) == before:  # the kernel has the selection (sent by the page, or resolved there)
                    page.wait_for_timeout(1)
                lassos.append(max(handled[-1], time.perf_counter()) - t)
                kernel.append(sum(spent[before:]))
                marks = page.evaluate("window.__lasso")
                plotly.append((marks["selected"] - marks["up"]) / 1000)
                page.mouse.dblclick(area["left"] + 5, area["top"] + 5)  # clears the selection
                page.wait_for_function(f"() => !document.querySelector('{NOTE}').textContent")
            page.close()
    finally:
        kernel_bridge.handle = handle
    return {"loads": loads, "frame_ms": np.array(frames), "hover_ms": np.array(hovers) * 1000,
            "lasso_ms": np.array(lassos) * 1000, "kernel_ms": np.array(kernel) * 1000, "plotly_ms": np.array(plotly) * 1000}


def umap_timing(points: int) -> None:
    from drml_widgets.widgets import GapPlot

    plot = GapPlot(synthetic_session(points))
    t = time.perf_counter()
    plot.projection = "umap"
    print(f"  UMAP at {points:,} points: {time.perf_counter() - t:.1f} s; the plot says: {plot.note.split(';')[0]}; "
          f"{plot.note.split(';')[1].strip()}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[1_000_000, 50_000])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--points-view", action="store_true", help="also draw the largest size as plain points")
    parser.add_argument("--umap", action="store_true", help="also time UMAP at the largest size")
    parser.add_argument("--before", default=None, help="a revision whose GapPlot to time from call to first render")
    parser.add_argument("--write", action="store_true", help="write that table to benchmarks/results/bench_gap_plot_scale.md")
    parser.add_argument("--first-render-only", action="store_true", help="stop after the call-to-first-render table")
    args = parser.parse_args(argv)
    import comm
    from playwright.sync_api import sync_playwright

    comm.create_comm = lambda **kwargs: RecordingComm(**kwargs)
    start = load()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        if args.before:
            body = first_render_table(max(args.points), args.before, browser, args.repeats)
            if args.write:
                write_results("bench_gap_plot_scale", body, load_at_start=start)
            else:
                print("\n".join(body), flush=True)
            if args.first_render_only:
                browser.close()
                return
        sizes = [(n, None) for n in args.points] + ([(max(args.points), 10 * max(args.points))] if args.points_view else [])
        for n, above in sizes:
            plot, wire = build(n, above)
            print(f"built {n:,} points ({wire['view']} view): session {wire['session_s']:.1f} s, GapPlot {wire['plot_s']:.1f} s",
                  flush=True)
            rows.append({**wire, **in_browser(plot, browser, args.repeats)})
            plot.close()
        browser.close()
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("GapPlot in headless Chromium (software WebGL); medians over loads, hovers and lassos:")
    print(f"  {'points':>9} {'view':>8} {'bytes/pt':>9} {'data MB':>8} {'first render':>13} {'frame med':>10} {'frame p95':>10} "
          f"{'hover rt':>9} {'lasso rt':>9} {'(plotly)':>9} {'(kernel)':>9}")
    for r in rows:
        print(f"  {r['points']:>9,} {r['view']:>8} {r['bytes_per_point']:>9.2f} {r['data_mb']:>8.2f} "
              f"{statistics.median(r['loads']):>11.2f} s {np.median(r['frame_ms']):>7.1f} ms {np.percentile(r['frame_ms'], 95):>7.1f} ms "
              f"{np.median(r['hover_ms']):>6.0f} ms {np.median(r['lasso_ms']):>6.0f} ms {np.median(r['plotly_ms']):>6.0f} ms {np.median(r['kernel_ms']):>6.0f} ms")
    big, small = rows[0], rows[1] if len(rows) > 1 else rows[0]
    print(f"  ratio {big['points']:,} / {small['points']:,}: bytes a point {big['bytes_per_point'] / small['bytes_per_point']:.2f}x, "
          f"first render {statistics.median(big['loads']) / statistics.median(small['loads']):.2f}x, median frame "
          f"{np.median(big['frame_ms']) / np.median(small['frame_ms']):.2f}x, hover {np.median(big['hover_ms']) / np.median(small['hover_ms']):.2f}x, "
          f"lasso {np.median(big['lasso_ms']) / np.median(small['lasso_ms']):.2f}x")
    if args.umap:
        umap_timing(max(args.points))


if __name__ == "__main__":
    main()
