// Pure logic of the gap plot: points grouped into one WebGL trace per (category, modality), and
// plotly's selection events mapped back to point numbers. No DOM here, so vitest covers it.

export const MODALITIES = ["image", "text"];

/**
 * Group point numbers by (category code, modality). Returns [{category, modality, points}] with
 * points a Uint32Array, in category order, images before texts; empty groups are left out.
 */
export function groupPoints(codes, modality, nCategories) {
  const n = codes.length;
  if (modality.length !== n) throw new RangeError(`codes (${n}) and modality (${modality.length}) differ in length`);
  const slots = nCategories * 2;
  const counts = new Uint32Array(slots);
  for (let i = 0; i < n; i++) {
    if (codes[i] >= nCategories) throw new RangeError(`code ${codes[i]} at point ${i} has no category (${nCategories})`);
    counts[codes[i] * 2 + (modality[i] ? 1 : 0)]++;
  }
  const groups = [];
  const bySlot = new Array(slots);
  for (let s = 0; s < slots; s++) {
    if (!counts[s]) continue;
    bySlot[s] = { category: s >> 1, modality: MODALITIES[s & 1], points: new Uint32Array(counts[s]), fill: 0 };
    groups.push(bySlot[s]);
  }
  for (let i = 0; i < n; i++) {
    const g = bySlot[codes[i] * 2 + (modality[i] ? 1 : 0)];
    g.points[g.fill++] = i;
  }
  for (const g of groups) delete g.fill;
  return groups;
}

/** The x and y of some points, from uint16 steps across extent [x0, x1, y0, y1] (as binary.dequantise). */
export const QUANT_LEVELS = 65535;
export function coordinatesOf(q, points, extent) {
  const [x0, x1, y0, y1] = extent;
  const x = new Float32Array(points.length);
  const y = new Float32Array(points.length);
  for (let j = 0; j < points.length; j++) {
    x[j] = x0 + (q[2 * points[j]] / QUANT_LEVELS) * (x1 - x0);
    y[j] = y0 + (q[2 * points[j] + 1] / QUANT_LEVELS) * (y1 - y0);
  }
  return { x, y };
}

/**
 * Point numbers of a plotly selection: each selected item names its trace (curveNumber) and its
 * position in that trace (pointIndex or pointNumber). Sorted, without duplicates.
 */
export function selectedPoints(selection, groups) {
  const out = new Set();
  for (const p of selection || []) {
    const g = groups[p.curveNumber];
    if (!g) continue;
    const k = p.pointIndex ?? p.pointNumber;
    if (k >= 0 && k < g.points.length) out.add(g.points[k]);
  }
  return Uint32Array.from([...out].sort((a, b) => a - b));
}

/**
 * The region of a plotly selection event, in data coordinates, for the kernel to resolve:
 * {box: {x: [a, b], y: [c, d]}} or {lasso: {x: [...], y: [...]}}; null when it has neither.
 */
export function regionOf(event) {
  if (event && event.range && event.range.x && event.range.y) return { box: { x: [...event.range.x], y: [...event.range.y] } };
  const lasso = event && event.lassoPoints;
  if (lasso && lasso.x && lasso.y) return { lasso: { x: [...lasso.x], y: [...lasso.y] } };
  return null;
}

/**
 * RGBA pixels (top row first) of one modality's density grid: `counts` and `major` hold
 * bins x bins cells, row 0 the lowest band; a cell is painted in its most common category's
 * colour (`rgb[code]` = [r, g, b]), more opaque the more points it holds (log scale); empty cells
 * stay transparent.
 */
export function densityPixels(counts, major, bins, rgb) {
  const out = new Uint8ClampedArray(bins * bins * 4);
  let max = 0;
  for (let i = 0; i < bins * bins; i++) if (counts[i] > max) max = counts[i];
  const scale = 1 / Math.log1p(max || 1);
  for (let row = 0; row < bins; row++) {
    for (let col = 0; col < bins; col++) {
      const cell = row * bins + col;
      if (!counts[cell]) continue;
      const px = ((bins - 1 - row) * bins + col) * 4;
      const [r, g, b] = rgb[major[cell]] || [128, 128, 128];
      out[px] = r; out[px + 1] = g; out[px + 2] = b;
      out[px + 3] = Math.round(255 * (0.2 + 0.8 * Math.log1p(counts[cell]) * scale));
    }
  }
  return out;
}

/** The source row of a point: images come first, then prompts; `index` maps subsampled points. */
export function sourceRow(point, index, nImages) {
  const row = index && index.length ? index[point] : point;
  return row < nImages ? { modality: "image", row } : { modality: "text", row: row - nImages };
}

/**
 * One colour per category: the category's own name when every category names a colour (an
 * attribute "color" with values red, green... is drawn in those colours), else the palette.
 * `isColor` says whether a string is a colour (CSS.supports in the browser).
 */
export function categoryColors(categories, palette, isColor) {
  const named = categories.length > 0 && categories.every((c) => /^[a-z]+$/i.test(c) && isColor(c));
  return categories.map((c, i) => (named ? c.toLowerCase() : palette[i % palette.length]));
}
