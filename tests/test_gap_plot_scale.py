"""GapPlot at scale: coordinates quantised to uint16 on the wire, the density view binned in the
kernel above ``density_above`` points, selections on it resolved against every point, the report
of a density plot, and (in Chromium, 250,000 points) hovering and lassoing the density view."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from drml_widgets.errors import WidgetError
from drml_widgets.widgets import GapPlot
from drml_widgets.widgets.binary import QUANT_LEVELS, dequantise, quantise
from drml_widgets.widgets.density import bin_density, points_in_box, points_in_lasso
from drml_widgets.widgets.report import report_html
from kernel_bridge import connect
from widget_support import recording, synthetic_session

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # git-ignored screenshots


@pytest.fixture
def comm_of(monkeypatch):
    return recording(monkeypatch)


def ask(widget, **content):
    """A request as the page sends it; the reply the widget sent."""
    before = len(widget.comm.custom())
    widget._handle_custom_msg({"request": 1, **content}, [])
    (reply,) = widget.comm.custom()[before:]
    return reply[0]


def convex_inside(xy, px, py):
    """Points inside a convex polygon (corners counter-clockwise): left of every edge. An
    independent check of the kernel's lasso, which uses the even-odd rule on a grid."""
    inside = np.ones(len(xy), bool)
    for i in range(len(px)):
        ax, ay, bx, by = px[i], py[i], px[(i + 1) % len(px)], py[(i + 1) % len(px)]
        inside &= (bx - ax) * (xy[:, 1] - ay) - (by - ay) * (xy[:, 0] - ax) > 0
    return np.flatnonzero(inside)


def even_odd(xy, px, py):
    """Points inside a polygon by the plain even-odd rule: an odd number of edges cross the ray to
    each point's right (every point against every edge; the kernel settles most points on a grid)."""
    x, y = xy[:, 0].astype(np.float64), xy[:, 1].astype(np.float64)
    crossings = np.zeros(len(xy), int)
    for i in range(len(px)):
        ax, ay, bx, by = px[i], py[i], px[i - 1], py[i - 1]
        spans = (ay > y) != (by > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            crossings += spans & (x < (bx - ax) * (y - ay) / (by - ay) + ax)
    return np.flatnonzero(crossings % 2)


def test_quantised_coordinates_come_back_within_half_a_step(rng):
    xy = rng.normal(size=(100_000, 2)) * [3, 0.01] + [5, -2]
    q, extent = quantise(xy)
    assert q.dtype == np.uint16 and q.nbytes == 4 * len(xy)
    step = np.array([extent[1] - extent[0], extent[3] - extent[2]]) / QUANT_LEVELS
    error = np.abs(dequantise(q, extent) - xy)
    assert (error <= step / 2 + 1e-6 * np.abs(xy)).all()  # float32 on the page adds its own rounding
    assert q.min(axis=0).tolist() == [0, 0] and q.max(axis=0).tolist() == [QUANT_LEVELS] * 2
    with pytest.raises(WidgetError, match="not finite"):
        quantise(np.array([[0.0, np.nan]]))


@pytest.fixture(scope="module")
def dense_session():
    return synthetic_session(6_000)


def test_density_view_bins_every_point_in_the_kernel(dense_session, comm_of):
    plot = GapPlot(dense_session, color_by="color", density_above=5_000, sample_points=1_000)
    n = plot.n_images + plot.n_texts
    assert plot.view == "density" and plot.points.shape == (1_000, 2) and len(plot.index) == 1_000
    assert "Density view: 6,000 points are more than a browser draws quickly (over 5,000)" in plot.note
    counts, major = plot.density, plot.density_codes
    assert counts.shape == major.shape == (2, 256, 256)
    assert counts[0].sum() == plot.n_images and counts[1].sum() == plot.n_texts  # every point, not the sample
    # The fullest image cell's colour is the most common colour of the points in it.
    # Cells of the steps that travel (cell edges at q * 256 / 65535; the edges are tested below).
    cell = np.unravel_index(counts[0].argmax(), counts[0].shape)
    col, row = (np.minimum(plot._q[:, k].astype(int) * 256 // QUANT_LEVELS, 255) for k in (0, 1))
    members = np.flatnonzero((row == cell[0]) & (col == cell[1]) & (np.arange(n) < plot.n_images))
    colours = dense_session.table["color"].to_numpy()[members]
    values, times = np.unique(colours, return_counts=True)
    assert plot.categories[major[0][cell]] in set(values[times == times.max()])
    # The sample is drawn with its own colours, through the index.
    drawn_colours = np.array(plot.categories, object)[plot.codes]
    images = plot.index < plot.n_images
    assert (drawn_colours[images] == dense_session.table["color"].to_numpy()[plot.index[images]]).all()
    # Grids and a sample travel, not every point: under a byte a point here.
    sizes = comm_of(plot).sizes()
    assert sum(j + b for j, b in sizes) < 8 * 1_000 + 2 * 256 * 256 * 5 + 50_000


def test_a_lasso_or_box_on_the_density_view_selects_every_point_inside(dense_session, comm_of):
    plot = GapPlot(dense_session, density_above=5_000, sample_points=1_000)
    x0, x1, y0, y1 = plot.extent
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, 0.3 * min(x1 - x0, y1 - y0)
    angles = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    px, py = (cx + r * np.cos(angles)).tolist(), (cy + r * np.sin(angles)).tolist()
    reply = ask(plot, type="select_region", lasso={"x": px, "y": py})
    want = convex_inside(plot._xy, px, py)
    assert reply["n"] == len(want) > len(np.intersect1d(want, plot.index))  # more than the drawn sample holds
    assert np.array_equal(plot.selected, want)
    picked = plot.selection()
    assert len(picked["images"]) + len(picked["prompts"]) == len(want)
    ask(plot, type="select_region", box={"x": [cx, x1], "y": [y0, cy]})
    xy = plot._xy
    assert np.array_equal(plot.selected, np.flatnonzero((xy[:, 0] >= cx) & (xy[:, 1] <= cy)))
    for bad, problem in [({"lasso": {"x": [0, 1], "y": [0, 1]}}, "2 corners"),
                         ({"lasso": {"x": ["a", 1, 2], "y": [0, 1, 2]}}, "not a list of numbers"),
                         ({"box": {"x": [0, float("inf")], "y": [0, 1]}}, "not finite"),
                         ({"circle": 1}, "neither a box nor a lasso")]:
        assert problem in ask(plot, type="select_region", **bad)["error"]


def test_a_density_view_leaves_what_its_first_drawing_does_not_need_until_asked(dense_session, comm_of):
    plot = GapPlot(dense_session, density_above=5_000, sample_points=1_000)
    # The gap statistics (a caption for every test image) wait for the page; so do the float
    # coordinates of every point, which only a selection needs.
    assert plot.stats == [] and plot._drawn_xy is None
    ask(plot, type="stats")
    want = dense_session.measure_gap().summary
    assert [(r["statistic"], r["level"]) for r in plot.stats] == list(zip(want["statistic"], want["level"]))
    assert [r["mean"] for r in plot.stats] == pytest.approx(want["mean"].tolist()) and plot.status == ""
    ask(plot, type="select_region", box={"x": plot.extent[:2], "y": plot.extent[2:]})
    assert plot.n_selected == plot.n_images + plot.n_texts and plot._drawn_xy is not None
    assert GapPlot(dense_session).stats  # a points view (under density_above) has them at once


def test_points_in_lasso_agrees_with_the_even_odd_rule_everywhere(rng):
    xy = rng.normal(size=(50_000, 2)).astype(np.float32)
    for trial in range(6):
        m = int(rng.integers(3, 120))
        if trial % 2:  # a star, as drawn by hand
            angles, radii = np.sort(rng.uniform(0, 2 * np.pi, m)), rng.uniform(0.3, 2, m)
            px, py = radii * np.cos(angles), radii * np.sin(angles)
        else:  # a scribble that crosses itself
            px, py = rng.uniform(-2, 2, m), rng.uniform(-2, 2, m)
        assert np.array_equal(points_in_lasso(xy, px.tolist(), py.tolist()), even_odd(xy, px, py))
    assert points_in_box(xy, [5, 6], [5, 6]).size == 0


def test_density_grids_count_per_modality_and_name_the_commonest_category():
    steps, _ = quantise(np.array([[0.0, 0.0], [0.1, 0.1], [0.1, 0.0], [1.0, 1.0]]))
    counts, major = bin_density(steps, np.array([0, 0, 0, 1]), np.array([2, 1, 1, 0]), 3, 4)
    assert counts[0, 0, 0] == 3 and counts[1, 3, 3] == 1 and counts.sum() == 4
    assert major[0, 0, 0] == 1 and major[1, 3, 3] == 0
    # Steps are binned in integers as the page places them: cell edges at q * bins / 65535.
    edges = np.array([[16383, 0], [16384, 0], [32767, 0], [32768, 0], [65535, 65535]], np.uint16)
    counts, _ = bin_density(edges, np.zeros(5), np.zeros(5), 1, 4)
    assert counts[0, 0].tolist() == [1, 2, 1, 0] and counts[0, 3, 3] == 1
    with pytest.raises(WidgetError, match="at least one bin"):
        bin_density(steps, np.zeros(4), np.zeros(4), 1, 0)


def test_the_report_of_a_density_plot_embeds_grids_and_a_sample(dense_session):
    plot = GapPlot(dense_session, density_above=5_000, sample_points=1_000)
    page = report_html(plot)
    state = json.loads(re.search(r'id="drml-state">(.*?)</script>', page).group(1).replace("\\u003c", "<"))
    gap = state["state"][plot.model_id]
    assert gap["state"]["points"]["shape"] == [1_000, 2] and gap["state"]["density"]["shape"] == [2, 256, 256]
    assert gap["state"]["stats"] == plot.stats and plot.stats  # no page asked for them: the report did
    embedded = sum(len(b["data"]) for b in gap["buffers"])  # base64
    assert embedded <= (1_000 * 10 + 2 * 256 * 256 * 5) * 4 / 3 + 100  # however many points the plot holds


def test_the_page_names_the_gap_axes_and_asks_for_the_statistics_once_drawn(page, tmp_path, comm_of, dense_session):
    plot = GapPlot(dense_session, density_above=5_000, sample_points=1_000)
    connect(page, plot, tmp_path / "gap.html")
    gap = page.locator(".drml-gap-plot[data-drml-ready]")
    gap.wait_for(timeout=60_000)
    # The default view's axes say what they are.
    assert gap.locator(".g-xtitle").text_content().startswith("gap direction (image mean - text mean")
    assert gap.locator(".g-ytitle").text_content().startswith("first component orthogonal to the gap")
    assert gap.locator("select").first.evaluate("s => s.selectedOptions[0].textContent") == "gap direction (all points)"
    # Drawn first, then the statistics: the page asked for them and shows the kernel's.
    gap.locator(".drml-stats td").filter(has_text="magnitude").first.wait_for(timeout=60_000)
    assert plot.stats and plot.stats[0]["statistic"] == "magnitude"


@pytest.mark.slow
def test_density_view_in_chromium_hovers_and_lassos_250k_points(page, tmp_path, comm_of):
    plot = GapPlot(synthetic_session(250_000), color_by="color")
    assert plot.view == "density" and plot.n_images + plot.n_texts == 250_000
    page.set_viewport_size({"width": 1200, "height": 800})
    connect(page, plot, tmp_path / "gap.html")
    gap = page.locator(".drml-gap-plot[data-drml-ready]")
    gap.wait_for(timeout=120_000)
    assert gap.get_attribute("data-view") == "density" and int(gap.get_attribute("data-points")) == 20_000
    assert gap.locator("canvas").count() > 0 and gap.locator(".imagelayer image").count() == 1  # the grids
    assert "Density view: 250,000 points" in gap.text_content()
    ARTIFACTS.mkdir(exist_ok=True)
    gap.screenshot(path=ARTIFACTS / "gap_plot_density_250k.png")

    # Hover the image point drawn nearest the middle of the plot: the kernel names its row and class.
    target = page.locator(".js-plotly-plot").evaluate("""gd => {
      const L = gd._fullLayout, box = gd.getBoundingClientRect();
      const mx = box.left + L._size.l + L._size.w / 2, my = box.top + L._size.t + L._size.h / 2;
      let best = null;
      for (const t of gd._fullData) {
        if (t.marker.symbol !== "circle") continue;
        for (let i = 0; i < t.x.length; i++) {
          const x = box.left + L._size.l + L.xaxis.l2p(t.x[i]), y = box.top + L._size.t + L.yaxis.l2p(t.y[i]);
          const d = (x - mx) ** 2 + (y - my) ** 2;
          if (!best || d < best.d) best = { x, y, d };
        }
      }
      return best; }""")
    page.mouse.move(target["x"] + 2, target["y"] + 2)
    page.mouse.move(target["x"], target["y"])
    tooltip = gap.locator(".drml-tooltip")
    tooltip.filter(has_text="class:").wait_for(timeout=60_000)
    label = tooltip.locator(".drml-title").text_content()  # "<colour> · image #<row>"
    colour, row = label.split(" \u00b7 image #")
    table = plot.session.table
    assert table["color"].iloc[int(row)] == colour
    assert f"class: {plot.session.classes[int(table['label'].iloc[int(row)])]}" in tooltip.text_content()
    page.mouse.move(0, 0)

    # Lasso an octagon around the middle: the kernel selects every point inside, not just those drawn.
    received = []
    resolve = plot._handlers["select_region"]
    plot._handlers["select_region"] = lambda content, buffers: (received.append(content), resolve(content, buffers))[1]
    L = page.locator(".js-plotly-plot").evaluate("""gd => { const L = gd._fullLayout, box = gd.getBoundingClientRect();
      return { left: box.left + L._size.l, top: box.top + L._size.t, w: L._size.w, h: L._size.h }; }""")
    cx, cy, r = L["left"] + L["w"] / 2, L["top"] + L["h"] / 2, min(L["w"], L["h"]) / 4
    corners = [(cx + r * np.cos(a), cy - r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 9)]
    page.mouse.move(*corners[0])
    page.mouse.down()
    for x, y in corners[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()
    gap.locator(".drml-muted").filter(has_text="points selected").wait_for(timeout=60_000)
    # The lasso the page sent runs through the corners (in data coordinates, by plotly's own axis
    # mapping) to within a pixel, and the kernel selected exactly the points inside it.
    px, py = page.locator(".js-plotly-plot").evaluate("""(gd, args) => { const [corners, L] = args;
      const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
      return [corners.map(c => xa.p2d(c[0] - L.left)), corners.map(c => ya.p2d(c[1] - L.top))]; }""",
                                                      [corners[:-1], L])
    (region,) = received
    lasso = np.array([region["lasso"]["x"], region["lasso"]["y"]]).T
    pixel = np.array([(plot.extent[1] - plot.extent[0]) / L["w"], (plot.extent[3] - plot.extent[2]) / L["h"]]) * 1.2
    for corner in zip(px, py):
        assert (np.abs(lasso - corner) <= 2 * pixel).all(axis=1).any(), corner
    got, want = plot.selected, even_odd(plot._xy, lasso[:, 0], lasso[:, 1])
    assert np.array_equal(got, want)
    assert abs(len(want) - len(convex_inside(plot._xy, px, py))) < 0.01 * len(want)  # the octagon's points
    assert len(want) > 5 * len(np.intersect1d(want, plot.index))  # far more than the 20,000 drawn hold
    assert f"{len(got):,} points selected" in gap.locator(".drml-muted").text_content()


def test_density_view_without_webgl_draws_the_grid_and_a_thinned_sample(browser_type, dense_session, tmp_path):
    """The report page of a density plot, in a Chromium without WebGL: the grid (an SVG image)
    and the drawn sample as SVG points, thinned, with both notes."""
    from widget_support import NO_WEBGL_ARGS, chromium_path

    plot = GapPlot(dense_session, color_by="color", density_above=5_000, sample_points=5_500)
    path = tmp_path / "gap.html"
    path.write_text(report_html(plot), encoding="utf-8")
    browser = browser_type.launch(executable_path=chromium_path(), args=NO_WEBGL_ARGS)
    try:
        page = browser.new_page(viewport={"width": 1200, "height": 800})
        page.goto(path.as_uri())
        gap = page.locator(".drml-gap-plot[data-drml-ready]")
        gap.wait_for(timeout=60_000)
        shown = int(gap.get_attribute("data-points"))
        assert gap.get_attribute("data-view") == "density" and 0 < shown <= 5_000  # thinned for SVG
        assert gap.locator(".scatterlayer .point").count() == shown and gap.locator(".imagelayer image").count() == 1
        text = gap.text_content()
        assert "Density view: 6,000 points" in text and f"showing {shown:,} of 5,500 points" in text
    finally:
        browser.close()
