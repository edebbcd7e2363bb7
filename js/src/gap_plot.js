// GapPlot: image and text embeddings in 2-D (the gap's own axes, SVD or UMAP), one WebGL trace per colour group.
// Coordinates arrive as uint16 steps across `extent` (util.decode, gap_logic.coordinatesOf); hover asks
// the kernel for a prompt or thumbnail by row. Above the kernel's density_above the view is "density":
// per-modality grids binned in the kernel, drawn as images under a sample of the points, and a box or
// lasso is sent to the kernel, which selects every point inside it; its gap statistics are asked for
// once it has drawn (GapPlot._send_stats), so a million points draw first.
import { categoryColors, coordinatesOf, densityPixels, groupPoints, regionOf, selectedPoints, sourceRow } from "./gap_logic.js";
import { TOOLBAR_SPACE, chart, hasWebGL, themeLayout } from "./plots.js";
import { PALETTE, bytes, decode, encode, fill, fmt, h, jpegImage, kernelGate, onChanges, plotlyText, request, setTrait, statusLine } from "./util.js";

const SVG_LIMIT = 5000; // plotly's SVG scatter is only fluid for a few thousand points
const HEIGHT = 440;
const CURSOR_GAP = 14; // px between the pointer and its tooltip

/** The class name of drawn point `point` from a report's embedded codes (GapPlot._class_codes),
 * or "" where none was saved. */
export function classOf(classes, point) {
  if (!classes || !classes.codes) return "";
  if (!CODES.has(classes)) { // decoded once per page, not once per hover
    const raw = bytes(classes.codes);
    CODES.set(classes, classes.dtype === "uint16" ? new Uint16Array(raw.slice().buffer) : raw);
  }
  return classes.names[CODES.get(classes)[point]] ?? "";
}
const CODES = new WeakMap();

function selectBox(model, name, optionsName, labels = {}) {
  const node = h("select", { onchange: () => setTrait(model, name, node.value) });
  const update = () => {
    fill(node, ...(model.get(optionsName) || []).map((o) => h("option", { value: o, textContent: labels[o] || o })));
    node.value = model.get(name);
  };
  update();
  onChanges(model, [name, optionsName], update);
  return node;
}

function statsTable(model, gate) {
  const body = h("tbody");
  const node = h("div", {},
    h("div", { className: "drml-title" }, "Modality gap"),
    h("table", { className: "drml-stats" },
      h("thead", {}, h("tr", {}, h("th", {}, "statistic"), h("th", {}, "level"), h("th", {}, "mean \u00b1 std"))), body),
    h("div", { className: "drml-note" }, "Test images against captions of their own attributes. The centre should sit near 0. Closing the gap makes the pair gaps stop pointing one way (direction towards 0) and the class means of the two modalities meet."));
  const pending = () => h("tr", {}, h("td", { colSpan: 3, className: "drml-muted" }, gate.offline
    ? "not saved with this page (the kernel computes them once the plot is drawn)" : "computing in the kernel\u2026"));
  const update = () => {
    const stats = model.get("stats") || [];
    fill(body, ...(stats.length ? stats.map((s) =>
      h("tr", {}, h("td", {}, s.statistic), h("td", {}, s.level), h("td", { className: "num" }, `${fmt(s.mean)} \u00b1 ${fmt(s.std)}`)))
      : [pending()]));
  };
  update();
  onChanges(model, ["stats"], update);
  gate.onChange(update);
  return node;
}

/** [r, g, b] of CSS colours, read back through a canvas; null where the browser has no 2-D canvas. */
function rgbOf(colors) {
  const ctx = document.createElement("canvas").getContext?.("2d");
  if (!ctx) return null;
  return colors.map((c) => {
    ctx.fillStyle = "#808080";
    ctx.fillStyle = c;
    const hex = /^#([0-9a-f]{6})$/i.exec(ctx.fillStyle);
    return hex ? [0, 2, 4].map((i) => parseInt(hex[1].slice(i, i + 2), 16)) : [128, 128, 128];
  });
}

/** The density grids as one plotly layout image under the points: images' grid, prompts' laid over it. */
function densityImages(model, colors, extent) {
  const counts = decode(model.get("density"));
  const major = decode(model.get("density_codes"));
  const shape = model.get("density").shape || [];
  const rgb = rgbOf(colors);
  if (shape.length !== 3 || !rgb) return [];
  const bins = shape[1];
  const cells = bins * bins;
  const [canvas, layer] = [0, 1].map(() => Object.assign(document.createElement("canvas"), { width: bins, height: bins }));
  const ctx = canvas.getContext("2d");
  for (let m = 0; m < shape[0]; m++) {
    const pixels = densityPixels(counts.subarray(m * cells, (m + 1) * cells), major.subarray(m * cells, (m + 1) * cells), bins, rgb);
    layer.getContext("2d").putImageData(new ImageData(pixels, bins, bins), 0, 0);
    ctx.drawImage(layer, 0, 0); // alpha-composited, so both modalities show
  }
  const [x0, x1, y0, y1] = extent;
  return [{ source: canvas.toDataURL("image/png"), xref: "x", yref: "y", x: x0, y: y1, sizex: x1 - x0, sizey: y1 - y0,
    sizing: "stretch", layer: "below", xanchor: "left", yanchor: "top" }];
}

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-gap-plot");
  const webgl = hasWebGL();
  const plot = h("div", { className: "drml-plot" });
  const tooltip = h("div", { className: "drml-tooltip" });
  const note = h("div", { className: "drml-note" });
  const selectionNote = h("span", { className: "drml-muted" });
  const closeGap = h("input", { type: "checkbox", onchange: () => setTrait(model, "close_gap", closeGap.checked) });
  const gate = kernelGate(model, "change the view, colouring or gap, or to select points");
  fill(el,
    h("div", { className: "drml-toolbar" },
      h("span", { className: "drml-title" }, "Image and text embeddings"),
      gate.wrap(
        h("label", {}, "view", selectBox(model, "projection", "projections",
          { gap: "gap direction (all points)", svd: "SVD (all points)", umap: "UMAP (fit on a sample)" })),
        h("label", {}, "colour by", selectBox(model, "color_by", "color_options")),
        h("label", {}, closeGap, "close the gap")),
      selectionNote),
    gate.note,
    statusLine(model),
    h("div", { className: "drml-row" }, h("div", { className: "drml-grow" }, plot, note), h("div", { className: "drml-side" }, statsTable(model, gate))),
    tooltip);

  let groups = [];
  let index = new Uint32Array(0);
  let categories = [];
  let density = false;
  const cache = new Map();
  let hoverToken = 0;
  let selectToken = 0;
  const figure = chart(model, plot, () => draw());

  async function draw() {
    closeGap.checked = !!model.get("close_gap");
    const q = decode(model.get("points"));
    const extent = model.get("extent") || [0, 1, 0, 1];
    const modality = decode(model.get("modality"));
    const codes = decode(model.get("codes"));
    index = decode(model.get("index"));
    categories = model.get("categories") || [];
    density = model.get("view") === "density";
    let all = groupPoints(codes, modality, categories.length);
    const n = modality.length;
    let shown = n;
    if (!webgl && n > SVG_LIMIT) { // keep every group, thinned evenly, so the picture stays honest
      const step = Math.ceil(n / SVG_LIMIT);
      all = all.map((g) => ({ ...g, points: g.points.filter((_, j) => j % step === 0) }));
      shown = all.reduce((s, g) => s + g.points.length, 0);
    }
    groups = all;
    const colors = categoryColors(categories, PALETTE, (c) => CSS.supports("color", c));
    const traces = groups.map((g) => {
      const { x, y } = coordinatesOf(q, g.points, extent);
      const color = colors[g.category];
      const text = g.modality === "text";
      return {
        type: webgl ? "scattergl" : "scatter", mode: "markers", x, y, hoverinfo: "none",
        name: plotlyText(categories[g.category]) + (text && model.get("color_by") !== "modality" ? " \u00b7 text" : ""),
        legendgroup: String(g.category),
        marker: { color, size: text ? 7 : density ? 3 : 4, opacity: text ? 0.95 : density ? 0.35 : 0.5, symbol: text ? "diamond" : "circle",
          line: text ? { width: 0.6, color: "#222" } : { width: 0 } },
      };
    });
    const theme = themeLayout(el);
    const [ax, ay] = model.get("axis_labels") || ["", ""];
    const pad = (a, b) => [a - 0.02 * (b - a), b + 0.02 * (b - a)];
    const layout = {
      ...theme, height: HEIGHT, margin: { l: 50, r: 10, t: TOOLBAR_SPACE, b: 40 }, dragmode: "lasso", hovermode: "closest",
      uirevision: `${model.get("projection")}-${model.get("close_gap")}`,
      legend: { itemsizing: "constant", font: { size: 11 } },
      xaxis: { ...theme.xaxis, title: { text: plotlyText(ax) } },
      yaxis: { ...theme.yaxis, title: { text: plotlyText(ay) } },
    };
    if (density) { // the grids cover the extent of every point, not only of those drawn
      layout.images = densityImages(model, colors, extent);
      layout.xaxis.range = pad(extent[0], extent[1]);
      layout.yaxis.range = pad(extent[2], extent[3]);
    }
    const parts = [model.get("note")];
    if (!webgl) parts.push(`WebGL is unavailable in this browser: ${shown < n ? `showing ${shown.toLocaleString()} of ${n.toLocaleString()} points` : "showing the points"} as a 2-D (SVG) scatter.`);
    note.textContent = parts.filter(Boolean).join(" ");
    const drawn = await figure.draw(traces, layout);
    if (density && !(model.get("stats") || []).length) request(model, { type: "stats" }).catch(() => {}); // none offline; or they come as a trait
    el.dataset.drmlReady = "1";
    el.dataset.points = String(drawn ? shown : 0);
    el.dataset.view = density ? "density" : "points";
    return drawn;
  }

  async function selectRegion(event) { // the density view draws a sample: the kernel knows every point
    const region = regionOf(event);
    if (!region) return;
    const token = ++selectToken;
    selectionNote.textContent = "selecting in the kernel\u2026";
    try {
      await request(model, { type: "select_region", ...region });
      if (token === selectToken) showSelection(); // the kernel counted the selection before it replied
    } catch (err) {
      if (token === selectToken) selectionNote.textContent = `selection: ${err.message}`;
    }
  }

  function showTooltip(event, lines, image) {
    fill(tooltip, ...lines.map((l, i) => h("div", { className: i ? "" : "drml-title" }, l)), image || null);
    tooltip.style.display = "block";
    // Beside the pointer, flipped to its other side where it would leave the view or the window.
    const box = el.getBoundingClientRect();
    const { width, height } = tooltip.getBoundingClientRect();
    const x = event.clientX - box.left;
    const y = event.clientY - box.top;
    const right = Math.min(box.width, window.innerWidth - box.left);
    const bottom = Math.min(box.height, window.innerHeight - box.top);
    const left = x + CURSOR_GAP + width <= right ? x + CURSOR_GAP : x - CURSOR_GAP - width;
    const top = y + CURSOR_GAP + height <= bottom ? y + CURSOR_GAP : y - CURSOR_GAP - height;
    tooltip.style.left = `${Math.max(0, left)}px`;
    tooltip.style.top = `${Math.max(0, top)}px`;
  }

  async function hover(data) {
    const p = data.points && data.points[0];
    const g = p && groups[p.curveNumber];
    if (!g) return;
    const point = g.points[p.pointIndex ?? p.pointNumber];
    const src = sourceRow(point, index, model.get("n_images"));
    const label = `${categories[g.category]} \u00b7 ${src.modality} #${src.row}`;
    const token = ++hoverToken;
    const key = `${src.modality}:${src.row}`;
    const event = data.event;
    if (gate.offline) { // what the page embedded for this point (a report's `offline` entry), else why not
      const offline = model.get("offline") || {};
      const stored = (offline.hover || {})[key];
      const cls = classOf(offline.classes, point);
      showTooltip(event, stored ? [label, ...stored.lines]
        : [label, ...(cls ? [`class: ${cls}`] : []), `other details are saved for a sample of ${src.modality}s only`],
        stored && stored.jpeg ? jpegImage(stored.jpeg, `image ${src.row}`) : null);
      return;
    }
    showTooltip(event, [label, "asking the kernel\u2026"]);
    try {
      if (!cache.has(key)) cache.set(key, request(model, { type: "hover", modality: src.modality, row: src.row }));
      const [msg, buffers] = await cache.get(key);
      if (token !== hoverToken) return;
      const lines = [label, ...(msg.lines || [])];
      showTooltip(event, lines, buffers.length ? jpegImage(buffers[0], `image ${src.row}`) : null);
    } catch (err) {
      cache.delete(key);
      if (token === hoverToken) showTooltip(event, [label, err.message]);
    }
  }

  const ready = draw().then((drawn) => {
    if (!drawn) return;
    plot.on("plotly_hover", hover);
    plot.on("plotly_unhover", () => { hoverToken++; tooltip.style.display = "none"; });
    plot.on("plotly_selected", (ev) => {
      if (density) selectRegion(ev);
      else setTrait(model, "selected", encode(selectedPoints(ev && ev.points, groups)));
    });
    plot.on("plotly_deselect", () => { selectToken++; setTrait(model, "selected", encode(new Uint32Array(0))); });
  });
  const showSelection = () => { // the kernel's word: it may refuse a selection, or resolve one on every point
    const n = model.get("n_selected") || 0;
    selectionNote.textContent = n ? `${n.toLocaleString()} points selected` : "";
  };
  showSelection();
  const stops = [onChanges(model, ["points", "extent", "codes", "categories", "modality", "index", "view", "density", "density_codes",
    "close_gap", "note", "axis_labels"], draw),
    onChanges(model, ["n_selected"], showSelection)];
  return () => { stops.forEach((s) => s()); gate.stop(); figure.dispose(); };
}
