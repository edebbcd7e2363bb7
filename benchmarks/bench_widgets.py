"""Widget benchmarks: bytes on the wire per point for a 50,000-point GapPlot, against the same data
as JSON; time to first render and frame times while hovering in headless Chromium, 50,000
points beside 5,000.

    .venv/bin/python benchmarks/bench_widgets.py [--points 50000] [--repeats 3]

The session is synthetic (random 64-d embeddings, a stand-in text encoder) so the benchmark
measures the widget, not CLIP. Chromium: Debian's package (apt-get install chromium).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from widget_support import CHROMIUM_ARGS, RecordingComm, synthetic_session  # noqa: E402
from record import load, table, write_results  # noqa: E402


def hover_sweep_frames(page) -> list[float]:
    """Frame times (ms) while the mouse sweeps the gap plot across and back, through the densest
    part of the cloud."""
    box = page.locator(".drml-gap-plot .drml-plot").bounding_box()
    page.evaluate(FRAME_PROBE)
    for i in range(120):
        f = i / 59 if i < 60 else (119 - i) / 59
        page.mouse.move(box["x"] + box["width"] * (0.1 + 0.6 * f), box["y"] + box["height"] * (0.3 + 0.4 * f))
    page.evaluate("window.__stop = true")
    return page.evaluate("window.__frames")[1:]


def wire_bytes(session) -> dict:
    import comm

    from drml_widgets.widgets import GapPlot

    comm.create_comm = lambda **kwargs: RecordingComm(**kwargs)
    plot = GapPlot(session, color_by="color")
    n = plot.n_images + plot.n_texts
    messages = plot.comm.sizes()
    data = sum(j + b for j, b in messages)
    code = sum(j + b for j, b in plot.comm.sizes(without=())) - data
    arrays = (plot.points, plot.modality, plot.codes)
    as_json = len(json.dumps({"points": plot.points.tolist(), "modality": plot.modality.tolist(),
                              "codes": plot.codes.tolist()}))
    return {"plot": plot, "points": n, "messages": len(messages), "largest_message": max(j + b for j, b in messages),
            "bytes_per_point": data / n, "json_bytes_per_point": (data - sum(a.nbytes for a in arrays) + as_json) / n,
            "module_bytes": code, "runtime_bytes": len(plot._runtime.source)}


FRAME_PROBE = """() => { window.__frames = []; let last = performance.now();
  const tick = (t) => { window.__frames.push(t - last); last = t; if (!window.__stop) requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""


def render_and_hover(widget, repeats: int) -> dict:
    """Time to first render (page load to drawn plot) and frame intervals while the mouse sweeps
    over the plot (every move asks plotly for the nearest point and redraws the hover)."""
    from playwright.sync_api import sync_playwright

    from drml_widgets.widgets.report import report_html

    page_file = Path(tempfile.mkdtemp()) / "gap.html"
    page_file.write_text(report_html(widget, "GapPlot benchmark"))
    loads, frames = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        for _ in range(repeats):
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(page_file.as_uri())
            page.wait_for_selector(".drml-gap-plot[data-drml-ready]", timeout=120_000)
            loads.append(page.evaluate("performance.now()") / 1000)  # since navigation start
            webgl = page.locator(".drml-gap-plot canvas").count() > 0
            frames += hover_sweep_frames(page)
            page.close()
        browser.close()
    if not webgl:
        print("note: no WebGL canvas; the plot fell back to SVG")
    return {"loads": loads, "frame_ms": np.array(frames)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    at_start, t = load(), time.perf_counter()
    session = synthetic_session(args.points)
    wire = wire_bytes(session)
    built = time.perf_counter() - t
    small = wire_bytes(synthetic_session(args.points // 10))
    runs = {n: render_and_hover(w["plot"], args.repeats) for n, w in ((args.points, wire), (small["points"], small))}
    big, little = runs[args.points], runs[small["points"]]
    write_results("bench_widgets", [
        f"## On the wire: a GapPlot of {wire['points']:,} points (built in {built:.1f} s, SVD view)", "",
        *table(["what", "bytes per point", "messages", "largest message, MB"],
               [["binary buffers (as sent)", f"{wire['bytes_per_point']:.2f}", wire["messages"],
                 f"{wire['largest_message'] / 1e6:.2f}"],
                ["the same data as JSON", f"{wire['json_bytes_per_point']:.2f}", "", ""]]), "",
        f"JSON is {wire['json_bytes_per_point'] / wire['bytes_per_point']:.1f}x larger. Once per view: the view's "
        f"module and stylesheet, {wire['module_bytes'] / 1e3:.1f} kB; once per kernel: plotly.js (PlotlyRuntime), "
        f"{wire['runtime_bytes'] / 1e6:.2f} MB.", "",
        f"## In headless Chromium (software WebGL), median over {args.repeats} loads; frames while the mouse "
        "sweeps the cloud", "",
        *table(["points", "first render, s", "frame median, ms", "frame p95, ms"],
               [[f"{n:,}", f"{statistics.median(run['loads']):.2f}", f"{np.median(run['frame_ms']):.1f}",
                 f"{np.percentile(run['frame_ms'], 95):.1f}"] for n, run in runs.items()]), "",
        f"Ratio {args.points:,} / {small['points']:,} points: first render "
        f"{statistics.median(big['loads']) / statistics.median(little['loads']):.2f}x, median frame "
        f"{np.median(big['frame_ms']) / np.median(little['frame_ms']):.2f}x (1: the size costs nothing)."],
        load_at_start=at_start)


if __name__ == "__main__":
    main()
