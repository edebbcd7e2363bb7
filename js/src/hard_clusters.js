// HardClusters (LBEE): hard clusters with the sentences a rule keeps for each, how tau was
// chosen, the metrics per rule, and select by sentence (the images a picked sentence describes
// are outlined, the others dimmed). Rule and sentence switch in the browser: both work in a report.
import { caveatNote } from "./caveats.js";
import { count, embeddedImages, imagePager, known, num, sortableTable } from "./result_view.js";
import { fill, fmt, h, onChanges, setTrait, statusLine } from "./util.js";

// [key, header, what it means (the header's hover)]; S*: the sentences whose relevant images the model does worse on
const METRICS = [["AHR", "AHR", "AHR: the share of a cluster's kept sentences that are true failure descriptions (S*), averaged over clusters"],
  ["ACR", "coverage (ACR)", "ACR: the share of a cluster's images each kept sentence is relevant to, averaged"],
  ["TPR", "TPR", "TPR: the share of the true failure descriptions (S*) that some cluster kept"],
  ["JI", "JI", "JI: Jaccard index between the kept sentences and the true failure descriptions (S*)"]];

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-hard-clusters");
  const caption = h("span", { className: "drml-muted" });
  const tauNote = h("div", { className: "drml-note" });
  const relevanceNote = h("div", { className: "drml-note" });
  const embedNote = h("div", { className: "drml-note" });
  const methodSelect = h("select", { onchange: () => setTrait(model, "method", methodSelect.value) });
  const sentenceSelect = h("select", { className: "drml-sentence", onchange: () => setTrait(model, "picked", sentenceSelect.value) });
  const metricsBox = h("div");
  const focusBox = h("div", { className: "drml-focus-box" });
  const picked = () => model.get("picked") || "";
  const pickedRecord = () => (model.get("sentences") || []).find((s) => s.sentence === picked());
  const described = (key, row) => {
    const s = pickedRecord();
    return s && s.counts[key] !== undefined ? `${s.counts[key]} of ${row.n_images}` : "\u2014";
  };
  const table = sortableTable({
    sortKey: "n_images", descending: true, placeholder: "filter: n>=50",
    onRow: (row) => setTrait(model, "focus", row.key),
    columns: [
      ["cluster", "cluster", (r) => String(r.cluster)], ["n_images", "n", count("n_images"), "num"],
      ["accuracy", "accuracy", num("accuracy"), "num", known("accuracy")], ["nearest_easy", "nearest easy", count("nearest_easy"), "num"],
      ["prototype_similarity", "similarity to nearest easy", num("prototype_similarity"), "num"],
      ["sentences_text", "sentences kept", (r) => r.sentences_text],
      ["described", "described by the picked sentence", (r) => described(r.key, r), "num"],
    ],
  });
  const caveats = caveatNote(model);
  const marking = (set) => (picked() ? set || new Set() : null);
  const pager = imagePager(model, marking);
  fill(el,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Hard clusters (LBEE)"), caption),
    tauNote, caveats.node,
    h("div", { className: "drml-toolbar" }, h("label", {}, "rule", methodSelect), h("label", {}, "select by sentence", sentenceSelect)),
    relevanceNote, table.toolbar, table.node, table.hiddenNote, focusBox, metricsBox, embedNote, statusLine(model));

  const clusters = () => model.get("clusters") || [];
  function draw() {
    const rows = clusters();
    const split = model.get("split_counts") || {};
    caption.textContent = `${rows.length} hard clusters of ${split.hard ?? 0} hard images` +
      (model.get("version") ? ` \u00b7 head version ${model.get("version")}` : "");
    const tau = model.get("tau");
    tauNote.textContent = tau === null || tau === undefined ? "" : `tau = ${fmt(tau, 4)}: ${model.get("tau_from")}`;
    relevanceNote.textContent = model.get("relevance_note") || "";
    embedNote.textContent = model.get("embed_note") || "";
    fill(methodSelect, ...(model.get("methods") || []).map((m) => h("option", { value: m, textContent: m, selected: m === model.get("method") })));
    fill(sentenceSelect, h("option", { value: "", textContent: "(none)" }),
      ...(model.get("sentences") || []).map((s) => h("option", { value: s.sentence, textContent: s.sentence, selected: s.sentence === picked() })));
    sentenceSelect.value = picked();
    const method = model.get("method");
    table.update(rows.map((r) => ({ ...r, values: {}, described: pickedRecord()?.counts[r.key],
      sentences_text: (r.sentences[method] || []).map((x) => x.sentence).join(" | ") })), model.get("focus"));
    drawMetrics();
    el.dataset.drmlReady = "1";
  }

  function drawMetrics() {
    const metrics = model.get("metrics") || [];
    if (!metrics.length) { fill(metricsBox, h("div", { className: "drml-note" }, "Metrics need which images each sentence describes and which the model got right.")); return; }
    fill(metricsBox, h("div", { className: "drml-muted" }, `metrics per rule (relevance: ${metrics[0].relevance})`),
      h("table", { className: "drml-stats drml-metrics" },
        h("thead", {}, h("tr", {}, h("th", {}, "rule"), ...METRICS.map(([, label, help]) => h("th", { className: "num", title: help }, label)),
          h("th", { className: "num", title: "sentences kept: distinct sentences the rule kept over every cluster" }, "sentences kept"))),
        h("tbody", {}, ...metrics.map((m) => h("tr", { className: m.method === model.get("method") ? "drml-focus" : "" },
          h("td", {}, m.method), ...METRICS.map(([key]) => h("td", { className: "num" }, fmt(m[key]))), h("td", { className: "num" }, String(m.n_retained)))))));
  }

  function drawFocus() {
    const row = clusters().find((r) => r.key === model.get("focus"));
    if (!row) {
      fill(focusBox, h("div", { className: "drml-note" }, clusters().length
        ? "Click a cluster to see its sentences and images; pick a sentence to mark the images it describes."
        : "No hard clusters: nothing to explain (see the status line)."));
      return;
    }
    const s = pickedRecord();
    pager.show(row.key, embeddedImages(model, row.thumbs, marking(s && new Set(s.described))), row.n_images,
      s ? ` \u00b7 outlined: described by \u201c${s.sentence}\u201d (${s.counts[row.key] ?? 0} of ${row.n_images} in this cluster)` : "",
      "no thumbnails embedded for this cluster");
    const method = model.get("method");
    const kept = row.sentences[method] || [];
    const allZero = kept.length && kept.every((x) => !x.hard_similarity && !x.easy_similarity);
    fill(focusBox,
      h("div", { className: "drml-title" }, `cluster ${row.cluster}: ${row.n_images} hard images, nearest easy cluster ${row.nearest_easy}`),
      h("table", { className: "drml-stats" },
        h("thead", {}, h("tr", {}, h("th", {}, `${method} sentence`), h("th", { className: "num" }, "similarity (hard)"),
          h("th", { className: "num" }, "similarity (easy)"))),
        h("tbody", {}, ...kept.map((x) => h("tr", { className: x.sentence === picked() ? "drml-focus" : "" },
          h("td", {}, x.sentence), h("td", { className: "num" }, fmt(x.hard_similarity)), h("td", { className: "num" }, fmt(x.easy_similarity)))))),
      allZero ? h("div", { className: "drml-note drml-zero-hint" }, `Every ${method} score here is 0.000: no sentence sets this `
        + "cluster apart from its nearest easy one, so the sentences shown are ties, not a description of its images.") : null,
      pager.box, h("div", { className: "drml-toolbar" }, pager.counter, pager.control));
  }

  draw();
  drawFocus();
  const stops = [onChanges(model, ["clusters", "sentences", "picked", "method", "metrics", "tau", "focus", "version", "embed_note"], draw),
    onChanges(model, ["clusters", "focus", "picked", "method", "thumb_bytes", "sentences"], drawFocus)];
  return () => { pager.stop(); caveats.stop(); stops.forEach((s) => s()); };
}
