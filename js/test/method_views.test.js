// @vitest-environment happy-dom
// FailureModes, HardClusters and FindingsView: sorting, row clicks that show embedded thumbnails, select by
// sentence, and the kernel-only "more images" button, live and without a kernel (a report).
import { beforeEach, describe, expect, it, vi } from "vitest";

const JPEG = [0xff, 0xd8, 0xff, 0xe0];
const PAGE = 24; // images per members reply here (the kernel's MAX_PER_REQUEST is 48)
const TOTAL = 40; // images in every group the stand-in kernel serves

class Model {
  constructor(state, live, dropsBuffers = false) {
    Object.assign(this, { state, listeners: new Map(), sent: [], dropsBuffers });
    if (!live) this.comm_live = false; // as the report's and ipywidgets' HTML manager's models say
  }
  get(name) { return this.state[name]; }
  set(name, value) { this.state[name] = value; this.emit(`change:${name}`, value); }
  save_changes() {}
  send(content) {
    this.sent.push(content);
    if (content.type === "members") { // as result_view.py answers through base.py; Colab's manager drops the buffers
      const offset = content.offset ?? 0; // a page of PAGE from offset, of TOTAL images
      const rows = Array.from({ length: Math.max(0, Math.min(PAGE, TOTAL - offset)) }, (_, i) => offset + i);
      const reply = { request: content.request, key: content.key, rows, total: TOTAL, offset, described: [8] };
      const jpegs = rows.map(() => new DataView(Uint8Array.from(JPEG).buffer));
      if (content.base64) reply.base64 = rows.map(() => btoa(String.fromCharCode(...JPEG)));
      else reply.n_buffers = 3;
      queueMicrotask(() => this.emit("msg:custom", reply, this.dropsBuffers ? [] : jpegs));
    }
  }
  on(event, fn) { if (!this.listeners.has(event)) this.listeners.set(event, new Set()); this.listeners.get(event).add(fn); }
  off(event, fn) { this.listeners.get(event)?.delete(fn); }
  emit(event, ...args) { for (const fn of [...(this.listeners.get(event) || [])]) fn(...args); }
}

// Two thumbnails of four bytes each, as the kernel embeds them (rows 2 and 5 of the images).
const THUMBS = { dtype: "uint8", shape: [8], buffer: new Uint8Array([...JPEG, ...JPEG]).buffer };
const COMMON = { busy: false, progress: -1, status: "", _runtime: null, thumb_bytes: THUMBS, focus: "", version: 0 };
const mode = (key, cls, tags, acc, thumbs) => ({ key, tags, values: { class: cls, tags: tags.join(" + ") }, n_tags: tags.length,
  n_images: 40, accuracy: acc, class_accuracy: 0.6, drop: 0.6 - acc, min_gain: null, heldout_images: 30, heldout_accuracy: acc,
  heldout_drop: 0.5, holds: true, thumbs });

function failureModes(live, dropsBuffers) {
  return new Model({ ...COMMON, summary: "2 failure modes", heldout_note: "Held out: 2 of 2 modes", embed_note: "embedded",
    modes: [mode("0", "square", ["<b>pink</b>"], 0.3, [[2, 0, 4]]), mode("1", "triangle", ["green", "small"], 0.0, [[5, 4, 8]])] }, live, dropsBuffers);
}

function hardClusters(live) {
  const sentences = (s) => ({ TopS: [{ sentence: s, hard_similarity: 0.5, easy_similarity: 0.1 }], PDiff: [], SetDiff: [],
    FPDiff: [{ sentence: `${s} (fp)`, hard_similarity: 0.4, easy_similarity: 0 }] });
  return new Model({ ...COMMON, methods: ["TopS", "PDiff", "SetDiff", "FPDiff"], method: "FPDiff", tau: 0.33, tau_from: "mean + 1 sd",
    split_counts: { hard: 50 }, relevance_note: "attributes", picked: "", embed_note: "embedded",
    clusters: [{ key: "0", cluster: 0, n_images: 20, accuracy: null, nearest_easy: 1, prototype_similarity: 0.3, thumbs: [[2, 0, 4], [5, 4, 8]],
      sentences: sentences("pink square") }, { key: "1", cluster: 1, n_images: 30, accuracy: null, nearest_easy: 0,
      prototype_similarity: 0.2, thumbs: [], sentences: sentences("green triangle") }],
    sentences: [{ sentence: "pink square (fp)", counts: { 0: 12, 1: 0 }, described: [5] }],
    metrics: [{ method: "FPDiff", AHR: 1, ACR: 0.25, TPR: 0.5, JI: 0.5, n_retained: 2, relevance: "attributes" }] }, live);
}

function findingsView(live) {
  const finding = (key, label, score, thumbs) => ({ key, rank: Number(key) + 1, label, values: { label }, score,
    score_name: "mean_loss", n_images: 12, thumbs });
  return new Model({ ...COMMON, method: "toy", summary: "LowestLoss(3 colours)", score_name: "mean_loss", embed_note: "embedded",
    findings: [finding("0", "<b>color=pink</b>", 0.25, [[2, 0, 4]]), finding("1", "color=green", null, []),
      finding("2", "color=blue", 3, [[5, 4, 8]])] }, live);
}

async function render(view, model) {
  const { render } = await import(`../src/${view}.js`);
  const el = document.createElement("div");
  document.body.appendChild(el);
  await render({ model, el });
  await vi.waitFor(() => expect(el.dataset.drmlReady).toBe("1"));
  return el;
}

const click = (node) => node.dispatchEvent(new Event("click", { bubbles: true }));
const frame = () => new Promise((r) => setTimeout(r, 30));

describe.each([["live", true, false], ["live in Colab", true, true], ["report", false, false]])("%s", (_name, live, drops) => {
  beforeEach(() => {
    vi.resetModules(); // a fresh page: nothing known yet about buffers
    delete globalThis[Symbol.for("drml-widgets.host")];
    document.body.replaceChildren();
  });

  it("FailureModes sorts, shows a clicked mode's tags and embedded thumbnails", async () => {
    const model = failureModes(live, drops);
    const el = await render("failure_modes", model);
    const keys = () => [...el.querySelectorAll("tbody tr")].map((tr) => tr.dataset.key);
    expect(keys()).toEqual(["1", "0"]); // largest drop first
    expect(el.querySelector('th[data-col="holds"]')).not.toBeNull();
    click(el.querySelector('th[data-col="accuracy"]'));
    expect(keys()).toEqual(["1", "0"]);
    click(el.querySelector('th[data-col="accuracy"]'));
    expect(keys()).toEqual(["0", "1"]);
    click(el.querySelector('tbody tr[data-key="0"]'));
    await frame();
    expect(el.querySelector(".drml-focus-box").textContent).toContain("<b>pink</b>"); // a tag as text, not markup
    expect(el.querySelector(".drml-focus-box b")).toBeNull();
    expect([...el.querySelectorAll(".drml-thumbs img")].map((i) => i.dataset.row)).toEqual(["2"]);
    const more = el.querySelector(".drml-kernel-only");
    await vi.waitFor(() => expect(more.disabled).toBe(!live));
    const shownText = () => el.querySelector(".drml-shown").textContent;
    expect(shownText()).toBe("1 of 40 images shown");
    if (live) { // each click fetches the next page; the count follows, the button goes once all are shown
      click(el.querySelector(".drml-kernel-only button"));
      await vi.waitFor(() => expect(el.querySelectorAll(".drml-thumbs img")).toHaveLength(1 + PAGE));
      expect(shownText()).toBe(`${1 + PAGE} of 40 images shown`);
      expect(el.querySelector(".drml-kernel-control").hidden).toBe(false);
      click(el.querySelector(".drml-kernel-only button"));
      await vi.waitFor(() => expect(el.querySelectorAll(".drml-thumbs img")).toHaveLength(40));
      expect([...el.querySelectorAll(".drml-thumbs img")].map((i) => Number(i.dataset.row))).toEqual([2, ...Array.from({ length: 39 }, (_, i) => i + 1)]);
      expect(shownText()).toBe("40 of 40 images shown");
      expect(el.querySelector(".drml-kernel-control").hidden).toBe(true);
      const asked = model.sent.filter((m) => m.type === "members");
      expect(asked.map((m) => [m.key, m.offset, m.base64])).toEqual(drops
        ? [["0", 1, false], ["0", 1, true], ["0", 1 + PAGE, true]] : [["0", 1, false], ["0", 1 + PAGE, false]]);
    } else {
      expect(el.querySelector(".drml-no-kernel").hidden).toBe(false);
      expect(el.querySelector(".drml-no-kernel").textContent).toContain("Needs a running kernel");
    }
  });

  it("HardClusters switches rule and marks the images a picked sentence describes", async () => {
    const model = hardClusters(live);
    const el = await render("hard_clusters", model);
    expect(el.textContent).toContain("tau = 0.3300: mean + 1 sd");
    expect(el.querySelector('th[data-col="accuracy"]')).toBeNull(); // no cluster has one: no column of dashes
    expect(el.querySelector('th[data-col="nearest_easy"]')).not.toBeNull();
    expect(el.querySelector('tbody tr[data-key="0"] td[data-col="sentences_text"]').textContent).toBe("pink square (fp)");
    const rule = el.querySelector("select");
    rule.value = "TopS";
    rule.dispatchEvent(new Event("change"));
    await frame();
    expect(el.querySelector('tbody tr[data-key="0"] td[data-col="sentences_text"]').textContent).toBe("pink square");
    click(el.querySelector('tbody tr[data-key="0"]'));
    await frame();
    expect(el.querySelectorAll(".drml-thumbs img")).toHaveLength(2);
    const pick = el.querySelector("select.drml-sentence");
    pick.value = "pink square (fp)";
    pick.dispatchEvent(new Event("change"));
    await frame();
    expect(model.get("picked")).toBe("pink square (fp)");
    expect([...el.querySelectorAll(".drml-thumbs img.drml-marked")].map((i) => i.dataset.row)).toEqual(["5"]);
    expect([...el.querySelectorAll(".drml-thumbs img.drml-dim")].map((i) => i.dataset.row)).toEqual(["2"]);
    expect(el.querySelector('tbody tr[data-key="0"] td[data-col="described"]').textContent).toBe("12 of 20");
    expect(el.querySelector(".drml-shown").textContent).toBe("2 of 20 images shown \u00b7 outlined: described by \u201cpink square (fp)\u201d (12 of 20 in this cluster)");
    await vi.waitFor(() => expect(el.querySelector(".drml-kernel-only").disabled).toBe(!live));
  });

  it("FindingsView ranks any result's findings under its score's name and shows a clicked one's images", async () => {
    const model = findingsView(live);
    const el = await render("findings_view", model);
    const keys = () => [...el.querySelectorAll("tbody tr")].map((tr) => tr.dataset.key);
    expect(keys()).toEqual(["0", "1", "2"]); // by rank
    expect(el.querySelector(".drml-title").textContent).toBe("toy");
    expect(el.querySelector('th[data-col="score"]').textContent).toBe("mean_loss");
    expect([...el.querySelectorAll('td[data-col="score"]')].map((td) => td.textContent)).toEqual(["0.250", "\u2014", "3.000"]); // as results.number writes it: only n_ counts drop decimals
    click(el.querySelector('th[data-col="score"]'));
    expect(keys()).toEqual(["0", "2", "1"]); // a missing score sorts last
    model.set("score_name", "drop");
    await frame();
    expect(el.querySelector('th[data-col="score"]').textContent).toBe("drop \u25b2");
    click(el.querySelector('tbody tr[data-key="0"]'));
    await frame();
    expect(model.get("focus")).toBe("0");
    expect(el.querySelector(".drml-focus-box").textContent).toContain("<b>color=pink</b>"); // a label as text, not markup
    expect(el.querySelector("b")).toBeNull();
    expect([...el.querySelectorAll(".drml-thumbs img")].map((i) => i.dataset.row)).toEqual(["2"]);
    await vi.waitFor(() => expect(el.querySelector(".drml-kernel-only").disabled).toBe(!live));
    if (live) {
      click(el.querySelector(".drml-kernel-only button"));
      // the next page follows the embedded thumbnail, and the count follows what is shown
      await vi.waitFor(() => expect(el.querySelectorAll(".drml-thumbs img")).toHaveLength(1 + PAGE));
      expect(el.querySelector(".drml-shown").textContent).toMatch(new RegExp(`^${1 + PAGE} of \\d+ images shown`));
      expect(model.sent.filter((m) => m.type === "members").map((m) => m.key)).toEqual(["0"]);
    }
  });
});
