// SliceTable: slices with text and image scores, sortable and filterable in the browser; a
// click shows the slice's thumbnails (asked for by image row) and sample prompts. Without a
// kernel (a report, a saved page), a click shows what the page embedded, and ticking is off.
import { caveatNote } from "./caveats.js";
import { filterRows, parseFilter, sortRows } from "./table_logic.js";
import { filteredNote, fill, fmt, h, jpegImage, kernelGate, onChanges, request, scoreColor, searchInput, setTrait } from "./util.js";

// [key, header, scored, what it means (the header's hover)]
const NUMBERS = [
  ["text_prob", "text prob", true, "text prob: the head's mean probability of the true class on the slice's prompts"],
  ["text_acc", "text acc", true, "text acc: the share of the slice's prompts the head classifies right"],
  ["image_acc", "image acc", true, "image acc: the share of the slice's evaluation images the head classifies right"],
  ["n_images", "n", false, "n: evaluation images in the slice"], ["n_prompts", "prompts", false, "prompts: prompts that describe the slice"],
];

function sliceName(values) {
  return Object.entries(values).filter(([, v]) => v !== "*").map(([k, v]) => `${k}=${v}`).join(", ") || "all";
}

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-slice-table");
  const gate = kernelGate(model, "tick slices for the rectify panel");
  let sortKey = "text_prob";
  let descending = false;
  const filterInput = searchInput("filter: green triangle text_prob<0.5");
  const filterNote = h("span", { className: "drml-error" });
  const caption = h("span", { className: "drml-muted" });
  const caveats = caveatNote(model);
  const head = h("thead");
  const body = h("tbody");
  const focusBox = h("div", { className: "drml-focus-box" });
  const hidden = filteredNote();
  const selectShown = h("button", { textContent: "select shown" });
  const clear = h("button", { textContent: "clear selection" });
  fill(el,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Error slices"), caption),
    caveats.node,
    h("div", { className: "drml-toolbar" }, filterInput, gate.wrap(selectShown, clear), filterNote),
    gate.note,
    h("div", { className: "drml-table-wrap" }, h("table", { className: "drml-table" }, head, body)),
    hidden.node, focusBox);

  let shown = [];
  const selected = () => new Set(model.get("selected") || []);
  function toggle(key, on) {
    const s = selected();
    if (on) s.add(key); else s.delete(key);
    setTrait(model, "selected", [...s]);
  }

  function draw() {
    const columns = model.get("columns") || [];
    const rows = model.get("rows") || [];
    const filter = parseFilter(filterInput.value);
    filterNote.textContent = filter.errors.join("; ");
    shown = sortRows(filterRows(rows, filter), sortKey, descending);
    const chosen = selected();
    const focus = model.get("focus");
    hidden.update(rows.some((r) => r.key === focus) && focus, shown.map((r) => r.key));
    const sp = model.get("spearman");
    const pe = model.get("pearson");
    caption.textContent = `${rows.length} slices \u00b7 head version ${model.get("version")}` +
      (sp === null || sp === undefined ? (model.get("correlation_note") ? ` \u00b7 ${model.get("correlation_note")}` : "")
        : ` \u00b7 Spearman ${fmt(sp, 2)}, Pearson ${fmt(pe, 2)} (text prob vs image acc)`) +
      (chosen.size ? ` \u00b7 ${chosen.size} selected` : "");
    const arrow = (key) => (key === sortKey ? (descending ? " \u25bc" : " \u25b2") : "");
    const sortBy = (key) => () => { descending = key === sortKey ? !descending : false; sortKey = key; draw(); };
    fill(head, h("tr", {}, h("th", {}, ""),
      ...columns.map((c) => h("th", { onclick: sortBy(c) }, c + arrow(c))),
      ...NUMBERS.map(([key, label, , help]) => h("th", { onclick: sortBy(key), dataset: { col: key }, title: help }, label + arrow(key)))));
    fill(body, ...shown.map((row) => {
      const box = h("input", { type: "checkbox", checked: chosen.has(row.key), disabled: gate.offline,
        onclick: (e) => { e.stopPropagation(); toggle(row.key, box.checked); } });
      return h("tr", { className: row.key === focus ? "drml-focus" : "", dataset: { key: row.key },
        onclick: () => setTrait(model, "focus", row.key) },
      h("td", {}, box),
      ...columns.map((c) => h("td", { className: row.values[c] === "*" ? "drml-any" : "" }, row.values[c] === "*" ? "any" : row.values[c])),
      ...NUMBERS.map(([key, , scored]) => h("td", {
        className: "num", dataset: { col: key },
        style: scored && scoreColor(row[key]) ? { background: scoreColor(row[key]) } : {},
      }, scored ? fmt(row[key]) : (row[key] ?? "\u2014"))));
    }));
    el.dataset.drmlReady = "1";
  }

  // What a click on a row shows: the kernel's pick for it (once `focus_of` names the row), or
  // without a kernel what the page embedded for it (a report's `offline` entry), else why not.
  function focusSamples(key, row) {
    const muted = (text) => h("span", { className: "drml-muted" }, text);
    if (gate.offline) {
      const stored = ((model.get("offline") || {}).slices || {})[key];
      if (stored && stored.jpegs.length) return { prompts: stored.prompts, images: stored.jpegs.map((b, i) => jpegImage(b, `image ${stored.rows[i]}`)) };
      const why = !row.n_images ? "no images in this slice"
        : stored ? "this slice's thumbnails are not in the page (its thumbnail budget was spent); the notebook shows them"
          : "thumbnails need a running kernel: open the notebook and run it";
      return { prompts: stored ? stored.prompts : model.get("focus_of") === key ? model.get("focus_prompts") : [], images: [muted(why)] };
    }
    if (model.get("focus_of") !== key) return { prompts: [], images: [muted("asking the kernel\u2026")] };
    const rows = model.get("focus_rows") || [];
    return { prompts: model.get("focus_prompts") || [], rows, images: [muted(rows.length ? "loading thumbnails\u2026" : "no images in this slice")] };
  }

  let thumbToken = 0;
  async function drawFocus() {
    const key = model.get("focus");
    const row = (model.get("rows") || []).find((r) => r.key === key);
    const token = ++thumbToken;
    if (!row) {
      fill(focusBox, h("div", { className: "drml-note" }, "Click a row to see its images and prompts" + (gate.offline ? "." : "; tick rows to rectify them.")));
      return;
    }
    const { prompts, rows, images } = focusSamples(key, row);
    const thumbs = h("div", { className: "drml-thumbs" }, ...images);
    fill(focusBox,
      h("div", { className: "drml-title" }, `${sliceName(row.values)}: ${row.n_images} images, ${row.n_prompts} prompts`),
      thumbs,
      h("div", { className: "drml-muted" }, "sample prompts"),
      h("ul", { className: "drml-prompts" }, ...prompts.map((p) => h("li", {}, p))));
    if (!rows || !rows.length) return;
    try {
      const [msg, buffers] = await request(model, { type: "thumbs", rows });
      if (token !== thumbToken) return;
      fill(thumbs, ...buffers.map((b, i) => jpegImage(b, `image ${msg.rows[i]}`)));
    } catch (err) {
      if (token === thumbToken) fill(thumbs, h("span", { className: "drml-muted" }, `thumbnails: ${err.message}`));
    }
  }

  filterInput.addEventListener("input", draw);
  selectShown.addEventListener("click", () => setTrait(model, "selected", [...new Set([...selected(), ...shown.map((r) => r.key)])]));
  clear.addEventListener("click", () => setTrait(model, "selected", []));
  draw();
  drawFocus();
  gate.onChange(() => { draw(); drawFocus(); });
  const stops = [onChanges(model, ["rows", "columns", "selected", "focus", "version", "spearman", "correlation_note"], draw),
    onChanges(model, ["focus", "focus_rows", "focus_prompts", "focus_of"], drawFocus), () => gate.stop(), caveats.stop];
  return () => stops.forEach((s) => s());
}
