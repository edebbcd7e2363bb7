// @vitest-environment happy-dom
// Issue 22: what each view says is true. LossQuery marks sentences it cannot judge and estimates
// past its scale; every error reads in one style; counts and notes follow what is shown; a repeat
// is refused. Views render as in hosts.test.js, with a recording plotly stand-in.
import { beforeEach, describe, expect, it, vi } from "vitest";

const HASH = "1".repeat(64);
const Plotly = {
  react(node, traces, layout) { node.figure = { traces, layout }; node.on = () => {}; return Promise.resolve(node); },
  relayout(node, update) { Object.assign(node.figure.layout, update); return Promise.resolve(node); },
  purge(node) { delete node.figure; },
};
globalThis[Symbol.for("drml-widgets.plotly")] = new Map([[HASH, Promise.resolve(Plotly)]]);
const RUNTIME = { get: (name) => (name === "source" ? `/* drml-widgets bundle; sources sha256 ${HASH} */` : undefined), on() {}, off() {} };

class Model {
  constructor(state) { Object.assign(this, { state, listeners: new Map(), sent: [], widget_manager: { get_model: async () => RUNTIME } }); }
  get(name) { return this.state[name]; }
  set(name, value) { this.state[name] = value; this.emit(`change:${name}`, value); }
  save_changes() {}
  send(content) { this.sent.push(content); }
  on(event, fn) { if (!this.listeners.has(event)) this.listeners.set(event, new Set()); this.listeners.get(event).add(fn); }
  off(event, fn) { this.listeners.get(event)?.delete(fn); }
  emit(event, ...args) { for (const fn of [...(this.listeners.get(event) || [])]) fn(...args); }
}

const COMMON = { busy: false, progress: -1, status: "", _runtime: "IPY_MODEL_runtime", _self: null };

async function render(view, state) {
  const model = new Model({ ...COMMON, ...state });
  const { render } = await import(`../src/${view}.js`);
  const el = document.createElement("div");
  document.body.appendChild(el);
  await render({ model, el });
  await vi.waitFor(() => expect(el.dataset.drmlReady).toBe("1"));
  return { el, model };
}

const frame = () => new Promise((r) => setTimeout(r, 30));
const click = (node) => node.dispatchEvent(new Event("click", { bubbles: true }));
const type = (input, text) => { input.value = text; input.dispatchEvent(new Event("input")); };

beforeEach(() => document.body.replaceChildren());

describe("LossQuery (item 1)", () => {
  const answer = (text, extra) => ({ text, lead: "ranker", percentile: 0.5, loss: 0.3, loss_low: 0.25, loss_high: 0.35,
    regressor_loss: 0.4, ranker_loss: 0.3, rank_score: -1, agree: true, in_distribution: 0.5, outside: false, beyond: "",
    matching: { named: {}, n_images: 0, actual_loss: null }, ...extra });
  const state = {
    examples: [], lead: "ranker", lead_reason: "The ranker leads.", check: [], by: ["color"], slices: [], n_held_out: 40, stale: "",
    familiar_cutoff: -0.2, familiar_from: "A sentence whose in-distribution score is below -0.200 (...) is outside what the model was trained to judge.",
    sentence: "", pair: {},
    answers: [answer("a photo of a cat", { outside: true, in_distribution: -1.1 }),
      answer("an orange square.", { beyond: "above", percentile: 1, loss: 15.728, loss_low: 15.728, loss_high: 15.728 }),
      answer("a small green triangle.")],
  };

  it("says a sentence is outside what it can judge, and an estimate past its scale is beyond it", async () => {
    const { el } = await render("loss_query", state);
    const cells = (text) => [...el.querySelector(`tr[data-text="${text}"]`).children].map((td) => td.textContent);
    expect(cells("a photo of a cat")[1]).toBe("outside what the model was trained to judge (in-distribution score -1.100)");
    expect(cells("a photo of a cat").at(-1)).toBe("\u2014"); // no agreement of two estimates it cannot make
    expect(cells("an orange square.")[1]).toBe("beyond the held-out range (\u2265 15.728)");
    expect(cells("a small green triangle.")[1]).toBe("0.300 [0.250\u20130.350]");
    const bars = el.querySelector(".drml-chart").figure?.traces[0] || (await vi.waitFor(() => el.querySelector(".drml-chart").figure)).traces[0];
    expect(bars.x).toEqual([0.3, 15.728, null]); // drawn bottom-up: the cat gets no bar
    expect(bars.error_x.array).toEqual([0.35 - 0.3, 0, 0].map((v) => expect.closeTo(v)));
  });

  it("names the column for what it compares, in one line", async () => {
    const { el } = await render("loss_query", state);
    const heads = [...el.querySelectorAll("thead th")].map((th) => th.textContent);
    expect(heads).toContain("ranker vs regressor");
    expect(heads).not.toContain("agree");
    expect(el.querySelector(".drml-familiar").textContent).toContain("compares the two estimates with each other, not with the actual loss");
    expect(el.querySelector(".drml-familiar").textContent).toContain("below -0.200");
  });
});

describe("one error style (item 7)", () => {
  it("marks the kernel's error statuses, and only those, as errors", async () => {
    const { isErrorStatus } = await import("../src/util.js");
    for (const text of ["epochs must be a whole number from 1 to 1000; got 1000000000. Fix: a few dozen epochs is plenty.",
      "The value of the 'epochs' trait ... was specified (kept the last good epochs)",
      "could not refresh after a head change: boom", "Interrupted while rectifying 2 slice(s)."]) expect(isErrorStatus(text)).toBe(true);
    for (const text of ["", "done: head version 1 (best epoch 30)", "undone: head version 0", "rectifying 2 slice(s): epoch 3/30"]) {
      expect(isErrorStatus(text)).toBe(false);
    }
  });

  it("the rectify panel's epochs error reads like the prompt builder's errors, from the line's start", async () => {
    const { el: panel, model } = await render("rectify_panel", { slices: [], mode: "replay", epochs: 30, lr: 0.001, version: 0,
      can_undo: false, can_redo: false, history: [], result: {}, unavailable: "" });
    model.set("status", "epochs must be a whole number from 1 to 1000; got 5000. Fix: a few dozen epochs is plenty for a head.");
    await frame();
    const status = panel.querySelector(".drml-status");
    expect(status.classList.contains("drml-error")).toBe(true);
    expect(panel.querySelector(".drml-progress").hidden).toBe(true); // an idle bar takes no room: no indent
    const { el: builder } = await render("prompt_builder", { attributes: [{ type: "color", values: ["red"] }], templates: ["{color}."],
      ensemble: false, ensemble_phrase: "", label_rule: "color", max_prompts: 100, count: 1, errors: ["a template names no type"],
      samples: [], applied: false });
    expect(builder.querySelector(".drml-errors").classList.contains("drml-error")).toBe(true);
    model.set("status", "done: head version 1 (best epoch 30)");
    await frame();
    expect(status.classList.contains("drml-error")).toBe(false);
  });
});

describe("small things (item 9)", () => {
  const ROWS = [["green", "triangle", 0.2], ["orange", "square", 0.9]].map(([color, shape, p]) => ({ key: `${color} ${shape}`,
    values: { color, shape }, text_prob: p, text_acc: p, image_acc: 1, n_images: 10, n_prompts: 4 }));

  it("the slice table says why Spearman and Pearson are missing, and marks a detail row the filter hides", async () => {
    const { el } = await render("slice_table", { _runtime: null, by: ["color", "shape"], columns: ["color", "shape"], rows: ROWS,
      spearman: null, pearson: null, correlation_note: "no Spearman or Pearson: every slice has image accuracy 1.000, nothing to correlate",
      version: 1, selected: [], focus: "green triangle", focus_rows: [], focus_prompts: [], focus_of: "green triangle" });
    expect(el.querySelector(".drml-muted").textContent).toContain("every slice has image accuracy 1.000");
    const note = el.querySelector(".drml-filtered");
    expect(note.hidden).toBe(true);
    type(el.querySelector("input[type=search]"), "orange");
    expect(note.hidden).toBe(false);
    type(el.querySelector("input[type=search]"), "");
    expect(note.hidden).toBe(true);
  });

  it("labels slices without images in the rectify chart", async () => {
    const { noImageLabels } = await import("../src/rectify_panel.js");
    const rows = [{ image_acc_before: 0.1, image_acc_after: 0.9 }, { image_acc_before: null, image_acc_after: null }];
    expect(noImageLabels(rows, "image_acc", ["a", "b"]).map((a) => [a.x, a.text])).toEqual([["b", "no images"]]);
    expect(noImageLabels(rows.map(() => ({ text_prob_before: 0.2, text_prob_after: 0.3 })), "text_prob", ["a", "b"])).toEqual([]);
  });

  it("gives PRIME's filter room for its placeholder", async () => {
    const { el } = await render("failure_modes", { _runtime: null, thumb_bytes: { dtype: "uint8", shape: [0], buffer: new ArrayBuffer(0) },
      focus: "", version: 0, summary: "", heldout_note: "", embed_note: "", modes: [] });
    const input = el.querySelector("input[type=search]");
    expect(parseFloat(input.style.width)).toBeGreaterThanOrEqual(input.placeholder.length);
    expect(input.style.width).toMatch(/ch$/);
  });

  it("aligns LBEE's metric headers with their numbers, and says when every score of a rule is 0", async () => {
    const zero = { sentence: "green square.", hard_similarity: 0, easy_similarity: 0 };
    const { el, model } = await render("hard_clusters", { _runtime: null, thumb_bytes: { dtype: "uint8", shape: [0], buffer: new ArrayBuffer(0) },
      methods: ["PDiff", "FPDiff"], method: "PDiff", tau: 0.3, tau_from: "mean", split_counts: { hard: 20 }, relevance_note: "", picked: "",
      embed_note: "", focus: "0", version: 0, sentences: [],
      clusters: [{ key: "0", cluster: 0, n_images: 20, accuracy: null, nearest_easy: 1, prototype_similarity: 0.3, thumbs: [],
        sentences: { PDiff: [zero], FPDiff: [{ ...zero, sentence: "green triangle.", hard_similarity: 0.4 }] } }],
      metrics: [{ method: "PDiff", AHR: 1, ACR: 0.25, TPR: 0.5, JI: 0.5, n_retained: 2, relevance: "attributes" }] });
    const heads = [...el.querySelectorAll(".drml-metrics th")];
    expect(heads.filter((th) => th.classList.contains("num")).map((th) => th.textContent)).toEqual(["AHR", "coverage (ACR)", "TPR", "JI", "sentences kept"]);
    expect(el.querySelector(".drml-zero-hint").textContent).toContain("Every PDiff score here is 0.000");
    model.set("method", "FPDiff");
    await frame();
    expect(el.querySelector(".drml-zero-hint")).toBeNull();
  });

  it("refuses a value the prompt builder already has, with a note", async () => {
    const { el, model } = await render("prompt_builder", { _runtime: null, attributes: [{ type: "color", values: ["red"] }],
      templates: ["{color}."], ensemble: false, ensemble_phrase: "", label_rule: "color", max_prompts: 100, count: 1, errors: [],
      samples: [], applied: false });
    const input = el.querySelector(".drml-attr input");
    input.value = " Red ";
    click(input.nextSibling);
    expect(model.get("attributes")).toEqual([{ type: "color", values: ["red"] }]);
    expect(el.querySelector(".drml-attr .drml-error").textContent).toBe("\u201cred\u201d is already a value of color.");
    input.value = "blue";
    click(input.nextSibling);
    expect(model.get("attributes")).toEqual([{ type: "color", values: ["red", "blue"] }]);
  });
});

describe("the report tells its story (item 2)", () => {
  const result = { version: 1, from_version: 0, mode: "replay", targets: ["orange square", "green triangle"], epochs: 5,
    done: "Rectified orange square, green triangle (mode replay, 5 epochs, best epoch 4): head version 0 \u2192 1.",
    summary: "Targeted slices (orange square, green triangle): image accuracy 0.002 \u2192 1.000.", advice: [],
    rows: [{ name: "orange square", targeted: true, text_prob_before: 0.1, text_prob_after: 0.9, image_acc_before: 0.002, image_acc_after: 1 }] };
  const state = { slices: [], mode: "replay", epochs: 5, lr: 0.001, version: 1, can_undo: true, can_redo: false, history: [], result, unavailable: "" };

  it("names the slices the shown run targeted, its epochs and head versions, where no slice is ticked", async () => {
    const { el } = await render("rectify_panel", state);
    expect(el.querySelector(".drml-done").textContent).toBe(result.done);
    expect(el.querySelector(".drml-slices").textContent).toBe("none chosen for the next run: tick rows in the slice table, "
      + "or set panel.slices from Python; the rectification below targeted orange square, green triangle");
  });

  it("says on a saved page that nothing could be chosen there, and never asks to tick rows", async () => {
    const { noSlices } = await import("../src/rectify_panel.js");
    expect(noSlices(true, ["orange square"])).toBe("none chosen when this page was saved; the rectification below targeted orange square");
    expect(noSlices(true, undefined)).toBe("none chosen when this page was saved");
    expect(noSlices(false, [])).toBe("none yet: tick rows in the slice table, or set panel.slices from Python");
  });

  it("a saved page's no-kernel line says where the page came from, when the page says so", async () => {
    const model = new Model({ ...COMMON });
    model.comm_live = false;
    model.widget_manager = { drmlHowToRun: "this page was written by `cmd`; to {doing}, run the notebook code at the top of this page" };
    const { kernelGate } = await import("../src/util.js");
    const gate = kernelGate(model, "rectify");
    await vi.waitFor(() => expect(gate.offline).toBe(true));
    expect(gate.note.textContent).toBe("Needs a running kernel: this page was written by `cmd`; to rectify, run the notebook code at the top of this page.");
    const plain = new Model({ ...COMMON });
    plain.comm_live = false;
    expect(kernelGate(plain, "rectify").note.textContent).toBe("Needs a running kernel: open the notebook and run it to rectify.");
  });
});

describe("the report's hover names the class of every drawn point (item 8)", () => {
  it("reads one code a point against the class table, in drawn order", async () => {
    const { classOf } = await import("../src/gap_plot.js");
    const classes = { codes: btoa(String.fromCharCode(1, 0, 255)), dtype: "uint8", names: ["square", "triangle"] };
    expect([0, 1, 2].map((p) => classOf(classes, p))).toEqual(["triangle", "square", ""]);
    const wide = { codes: btoa(String.fromCharCode(44, 1, 1, 0)), dtype: "uint16", names: Array.from({ length: 301 }, (_, i) => `c${i}`) };
    expect([0, 1].map((p) => classOf(wide, p))).toEqual(["c300", "c1"]);
    expect(classOf(undefined, 0)).toBe("");
  });
});

describe("SpuriousPanel explains its terms (item 10)", () => {
  const rows = [{ class: "square", tag: "green", delta: 0.4, acc_present: 0.9, acc_absent: 0.5, train_share: 1, candidate: true }];
  const state = { attribute: "color", values: ["orange", "green"], variants: ["plain", "class", "vision"], seeds: [0], epochs: 2,
    detections: { "zero-shot": rows }, n_evaluate: 10, n_train: 20,
    result: { run: 1, settings: { variants: ["plain", "class", "vision"], seeds: [0], epochs: 2, values: ["orange", "green"] },
      rows: ["zero-shot", "plain", "class", "vision"].map((method) => ({ method, average: 0.8, worst_group: 0.5, worst: "x", seeds: 1 })) } };

  it("every header of the detection table and every variant has a one-line explanation", async () => {
    const { VARIANT_HELP } = await import("../src/spurious_panel.js");
    const { el } = await render("spurious_panel", state);
    const heads = [...el.querySelectorAll(".drml-detection th")];
    expect(heads.length).toBe(7);
    for (const th of heads) expect(th.title.length).toBeGreaterThan(20);
    expect(heads.find((th) => th.textContent.startsWith("\u03b4")).title).toContain("minus");
    expect(heads.find((th) => th.textContent === "train share").title).toContain("training images");
    for (const label of el.querySelectorAll(".drml-toolbar label")) {
      if (label.querySelector("input[type=checkbox]")) expect(label.title).toBe(`${label.textContent}: ${VARIANT_HELP[label.textContent]}`);
    }
    const terms = el.querySelector(".drml-terms").textContent; // the chart's models, in words, in the view
    for (const m of ["zero-shot", "plain", "class", "vision"]) expect(terms).toContain(`${m}: ${VARIANT_HELP[m]}`);
    expect(el.textContent).toContain("\u03b4: accuracy with the tag minus without it");
  });
});

describe("the slice table explains its figures (item 10, other views)", () => {
  it("every number column's header has a one-line hover", async () => {
    const { el } = await render("slice_table", { _runtime: null, by: ["color"], columns: ["color"], spearman: null, pearson: null,
      rows: [{ key: "red", values: { color: "red" }, text_prob: 0.2, text_acc: 0.2, image_acc: 1, n_images: 10, n_prompts: 4 }],
      correlation_note: "", version: 0, selected: [], focus: "", focus_rows: [], focus_prompts: [], focus_of: "" });
    const heads = [...el.querySelectorAll("thead th[data-col]")];
    expect(heads.map((th) => th.title.split(":")[0])).toEqual(["text prob", "text acc", "image acc", "n", "prompts"]);
    for (const th of heads) expect(th.title.length).toBeGreaterThan(20);
  });
});

describe("LBEE's metrics explain themselves (item 10, other views)", () => {
  it("every metric header has a one-line hover naming what it measures", async () => {
    const { el } = await render("hard_clusters", { _runtime: null, thumb_bytes: { dtype: "uint8", shape: [0], buffer: new ArrayBuffer(0) },
      methods: ["PDiff"], method: "PDiff", tau: 0.3, tau_from: "mean", split_counts: { hard: 20 }, relevance_note: "", picked: "",
      embed_note: "", focus: "", version: 0, sentences: [], clusters: [],
      metrics: [{ method: "PDiff", AHR: 1, ACR: 0.25, TPR: 0.5, JI: 0.5, n_retained: 2, relevance: "attributes" }] });
    const heads = [...el.querySelectorAll(".drml-metrics th.num")];
    expect(heads.map((th) => th.title.split(":")[0])).toEqual(["AHR", "ACR", "TPR", "JI", "sentences kept"]);
    expect(heads[0].title).toContain("S*");
  });
});

describe("a saved rectify panel whose record was cleared (item 2)", () => {
  it("does not say no rectification was run when the head has later versions", async () => {
    const base = { slices: [], mode: "replay", epochs: 5, lr: 0.001, version: 1, can_undo: true, can_redo: false, result: {}, unavailable: "" };
    const offline = async (history) => {
      const model = new Model({ ...COMMON, ...base, history });
      model.comm_live = false;
      const { render: draw } = await import("../src/rectify_panel.js");
      const el = document.createElement("div");
      await draw({ model, el });
      await vi.waitFor(() => expect(el.querySelector(".drml-no-kernel").hidden).toBe(false));
      return el.querySelector(".drml-summary").textContent;
    };
    const v0 = { version: 0, description: "trained", current: false };
    expect(await offline([v0, { version: 1, description: "rectified (replay, 5 epochs): color=orange", current: true }]))
      .toBe("The last rectification's before and after are not shown: the prompts changed after it.");
    expect(await offline([{ ...v0, current: true }])).toBe("No rectification was run before this page was saved.");
  });
});

describe("what the session's CLIP reads poorly (issue 25)", () => {
  const LINE = "CLIP reads size poorly (accuracy 0.54 on 600 known values is close to chance (0.33)): "
    + "the text scores of slices naming size are not grounded in images";
  const TABLE = { _runtime: null, by: ["size"], columns: ["size"], spearman: 0.5, pearson: 0.5, correlation_note: "", version: 0,
    selected: [], focus: "", focus_rows: [], focus_prompts: [], focus_of: "",
    rows: [{ key: "small", values: { size: "small" }, text_prob: 0.5, text_acc: 0.5, image_acc: 0.9, n_images: 10, n_prompts: 4 }] };
  const QUERY = { examples: [], lead: "ranker", lead_reason: "", check: [], by: ["size"], slices: [], n_held_out: 40, stale: "",
    familiar_cutoff: -0.2, familiar_from: "", sentence: "", pair: {}, answers: [] };
  const SPURIOUS = { attribute: "size", values: ["small", "large"], variants: ["language"], seeds: [0], epochs: 2,
    detections: {}, n_evaluate: 10, n_train: 20, result: {} };

  const CLUSTERS = { _runtime: null, thumb_bytes: { dtype: "uint8", shape: [0], buffer: new ArrayBuffer(0) }, methods: ["FPDiff"],
    method: "FPDiff", tau: 0.3, tau_from: "mean", split_counts: { hard: 20 }, relevance_note: "", picked: "", embed_note: "",
    focus: "", version: 0, sentences: [], clusters: [], metrics: [] };

  it.each([["slice_table", TABLE], ["loss_query", QUERY], ["spurious_panel", SPURIOUS], ["hard_clusters", CLUSTERS]])("%s shows the caveats as a caution, and nothing when there are none", async (view, state) => {
    const { el, model } = await render(view, { ...state, caveats: [LINE] });
    const note = el.querySelector(".drml-caveats");
    expect(note.hidden).toBe(false);
    expect(note.textContent).toBe(`\u26a0 Caution: ${LINE}.`);
    expect(note.getAttribute("role")).toBe("note");
    model.set("caveats", []);
    await frame();
    expect(note.hidden).toBe(true);
    expect(note.textContent).toBe("");
    const { el: plain } = await render(view, { ...state, caveats: [] });
    expect(plain.querySelector(".drml-caveats").hidden).toBe(true);
  });
});
