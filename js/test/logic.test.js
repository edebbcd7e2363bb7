import { describe, expect, it } from "vitest";
import { categoryColors, coordinatesOf, densityPixels, groupPoints, regionOf, selectedPoints, sourceRow } from "../src/gap_logic.js";
import { filterRows, parseFilter, sortRows } from "../src/table_logic.js";
import { bytes, decode, encode, fmt, plotlyText, scoreColor } from "../src/util.js";

describe("gap plot colours", () => {
  const css = new Set(["red", "green", "blue"]);
  const isColor = (c) => css.has(c.toLowerCase());

  it("draws colour values in their own colours", () => {
    expect(categoryColors(["red", "Green", "blue"], ["#111", "#222"], isColor)).toEqual(["red", "green", "blue"]);
  });

  it("uses the palette when any category is not a colour", () => {
    expect(categoryColors(["red", "other", "blue"], ["#111", "#222"], isColor)).toEqual(["#111", "#222", "#111"]);
    expect(categoryColors(["light blue", "red"], ["#111", "#222"], () => true)).toEqual(["#111", "#222"]);
  });
});

describe("gap plot grouping", () => {
  const codes = Uint8Array.from([1, 0, 1, 0, 1]);
  const modality = Uint8Array.from([0, 0, 0, 1, 1]);

  it("groups points by category then modality, images first", () => {
    const groups = groupPoints(codes, modality, 2);
    expect(groups.map((g) => [g.category, g.modality, [...g.points]])).toEqual([
      [0, "image", [1]], [0, "text", [3]], [1, "image", [0, 2]], [1, "text", [4]],
    ]);
  });

  it("refuses codes without a category", () => {
    expect(() => groupPoints(Uint8Array.from([2]), Uint8Array.from([0]), 2)).toThrow(/no category/);
  });

  it("maps a plotly selection back to point numbers, sorted and unique", () => {
    const groups = groupPoints(codes, modality, 2);
    const selection = [{ curveNumber: 2, pointIndex: 1 }, { curveNumber: 0, pointNumber: 0 }, { curveNumber: 2, pointIndex: 1 }, { curveNumber: 9, pointIndex: 0 }];
    expect([...selectedPoints(selection, groups)]).toEqual([1, 2]);
  });

  it("reads x and y from interleaved uint16 steps across the extent", () => {
    const q = Uint16Array.from([0, 65535, 65535, 0, 32768, 32768]);
    const { x, y } = coordinatesOf(q, Uint32Array.from([1, 0, 2]), [-1, 1, 10, 20]);
    expect([...x]).toEqual([1, -1, Math.fround(-1 + (32768 / 65535) * 2)]);
    expect([...y]).toEqual([10, 20, Math.fround(10 + (32768 / 65535) * 10)]);
  });

  it("reads the region of a box or lasso selection, for the kernel", () => {
    expect(regionOf({ range: { x: [2, 1], y: [0, 3] }, points: [] })).toEqual({ box: { x: [2, 1], y: [0, 3] } });
    expect(regionOf({ lassoPoints: { x: [0, 1, 1], y: [0, 0, 1] } })).toEqual({ lasso: { x: [0, 1, 1], y: [0, 0, 1] } });
    expect(regionOf({ points: [] })).toBeNull();
    expect(regionOf(undefined)).toBeNull();
  });

  it("paints density cells top row first, in their category's colour, opaque by count", () => {
    // 2 x 2 cells, row 0 the lowest: bottom-left holds 1 point of category 1, top-right 9 of category 0.
    const px = densityPixels(Uint32Array.from([1, 0, 0, 9]), Uint8Array.from([1, 0, 0, 0]), 2, [[255, 0, 0], [0, 0, 255]]);
    const pixel = (i) => [...px.slice(4 * i, 4 * i + 4)];
    expect(pixel(0)).toEqual([0, 0, 0, 0]); // top-left: empty
    expect(pixel(1)).toEqual([255, 0, 0, 255]); // top-right: the fullest cell, opaque
    expect(pixel(2).slice(0, 3)).toEqual([0, 0, 255]); // bottom-left: one point, fainter
    expect(pixel(2)[3]).toBe(Math.round(255 * (0.2 + 0.8 * Math.log1p(1) / Math.log1p(9))));
  });

  it("names the source row of a point, through the subsample index", () => {
    expect(sourceRow(3, new Uint32Array(0), 3)).toEqual({ modality: "text", row: 0 });
    expect(sourceRow(1, Uint32Array.from([5, 20]), 10)).toEqual({ modality: "text", row: 10 });
    expect(sourceRow(0, Uint32Array.from([5, 20]), 10)).toEqual({ modality: "image", row: 5 });
  });
});

describe("slice table filter and sort", () => {
  const rows = [
    { values: { color: "green", shape: "triangle" }, text_prob: 0.2, n_images: 30 },
    { values: { color: "orange", shape: "triangle" }, text_prob: 0.9, n_images: 5 },
    { values: { color: "green", shape: "square" }, text_prob: null, n_images: 12 },
  ];

  it("matches every word against attribute values", () => {
    expect(filterRows(rows, parseFilter("green tri")).length).toBe(1);
    expect(filterRows(rows, parseFilter("GREEN")).length).toBe(2);
  });

  it("applies numeric conditions, with short aliases; missing numbers never match", () => {
    expect(filterRows(rows, parseFilter("text_prob<0.5")).map((r) => r.values.color)).toEqual(["green"]);
    expect(filterRows(rows, parseFilter("n>=12")).length).toBe(2);
  });

  it("reports conditions it cannot read", () => {
    expect(parseFilter("text_prob<<1").errors).toHaveLength(1);
  });

  it("sorts numbers both ways with missing values last, and attribute values as text", () => {
    expect(sortRows(rows, "text_prob").map((r) => r.text_prob)).toEqual([0.2, 0.9, null]);
    expect(sortRows(rows, "text_prob", true).map((r) => r.text_prob)).toEqual([0.9, 0.2, null]);
    expect(sortRows(rows, "color").map((r) => r.values.color)).toEqual(["green", "green", "orange"]);
  });
});

describe("helpers", () => {
  it("escapes text before plotly reads its tags", () => {
    expect(plotlyText("<img src=x onerror=alert(1)>")).toBe("&lt;img src=x onerror=alert(1)&gt;");
    expect(plotlyText(`a & "b"`)).toBe("a &amp; &quot;b&quot;");
  });

  it("decodes array traits from unaligned bytes and base64, checking dtype and shape", () => {
    const raw = new Uint8Array(9);
    raw.set(new Uint8Array(Float32Array.from([1.5, -2]).buffer), 1);
    expect([...decode({ dtype: "float32", shape: [1, 2], buffer: new DataView(raw.buffer, 1, 8) })]).toEqual([1.5, -2]);
    const base64 = Buffer.from(Uint32Array.from([7]).buffer).toString("base64");
    expect([...decode({ dtype: "uint32", shape: [1], buffer: base64 })]).toEqual([7]);
    expect(bytes(null).length).toBe(0);
    expect(() => decode({ dtype: "float32", shape: [1], buffer: new Uint8Array(3) })).toThrow(/do not hold float32 of shape \[1\]/);
    expect(() => decode({ dtype: "float64", shape: [1], buffer: new Uint8Array(8) })).toThrow(/dtype float64/);
  });

  it("encodes typed arrays as the kernel reads them, and round-trips", () => {
    const sent = encode(Uint32Array.from([4, 9]));
    expect([sent.dtype, sent.shape, sent.buffer.byteLength]).toEqual(["uint32", [2], 8]);
    expect([...decode(sent)]).toEqual([4, 9]);
    expect(() => encode([1, 2])).toThrow(/cannot send/);
  });

  it("colours scores from red to green and leaves missing values plain", () => {
    expect(scoreColor(0)).toContain("hsla(0,");
    expect(scoreColor(1)).toContain("hsla(120,");
    expect(scoreColor(null)).toBeNull();
    expect(fmt(NaN)).toBe("\u2014");
  });
});
