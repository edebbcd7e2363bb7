// SliceTable: slices with text and image scores, sortable and filterable in the browser; a
// click shows the slice's thumbnails (asked for by image row) and sample prompts.
import { filterRows, parseFilter, sortRows } from "./table_logic.js";
import { fill, fmt, h, jpegImage, onChanges, request, scoreColor, setTrait } from "./util.js";

const NUMBERS = [
  ["text_prob", "text prob", true], ["text_acc", "text acc", true], ["image_acc", "image acc", true],
  ["n_images", "n", false], ["n_prompts", "prompts", false],
];

function sliceName(values) {
  return Object.entries(values).filter(([, v]) => v !== "*").map(([k, v]) => `${k}=${v}`).join(", ") || "all";
}

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-slice-table");
  let sortKey = "text_prob";
  let descending = false;
  const filterInput = h("input", { type: "search", placeholder: "filter: green triangle text_prob<0.5", style: { width: "260px" } });
  const filterNote = h("span", { className: "drml-error" });
  const caption = h("span", { className: "drml-muted" });
  const head = h("thead");
  const body = h("tbody");
  const focusBox = h("div", { className: "drml-focus-box" });
  const selectShown = h("button", { textContent: "select shown" });
  const clear = h("button", { textContent: "clear selection" });
  fill(el,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Error slices"), caption),
    h("div", { className: "drml-toolbar" }, filterInput, selectShown, clear, filterNote),
    h("div", { className: "drml-table-wrap" }, h("table", { className: "drml-table" }, head, body)),
    focusBox);

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
    const sp = model.get("spearman");
    const pe = model.get("pearson");
    caption.textContent = `${rows.length} slices \u00b7 head version ${model.get("version")}` +
      (sp === null || sp === undefined ? "" : ` \u00b7 Spearman ${fmt(sp, 2)}, Pearson ${fmt(pe, 2)} (text prob vs image acc)`) +
      (chosen.size ? ` \u00b7 ${chosen.size} selected` : "");
    const arrow = (key) => (key === sortKey ? (descending ? " \u25bc" : " \u25b2") : "");
    const sortBy = (key) => () => { descending = key === sortKey ? !descending : false; sortKey = key; draw(); };
    fill(head, h("tr", {}, h("th", {}, ""),
      ...columns.map((c) => h("th", { onclick: sortBy(c) }, c + arrow(c))),
      ...NUMBERS.map(([key, label]) => h("th", { onclick: sortBy(key), dataset: { col: key } }, label + arrow(key)))));
    fill(body, ...shown.map((row) => {
      const box = h("input", { type: "checkbox", checked: chosen.has(row.key), onclick: (e) => { e.stopPropagation(); toggle(row.key, box.checked); } });
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

  let thumbToken = 0;
  async function drawFocus() {
    const key = model.get("focus");
    const row = (model.get("rows") || []).find((r) => r.key === key);
    if (!row) { fill(focusBox, h("div", { className: "drml-note" }, "Click a row to see its images and prompts; tick rows to rectify them.")); return; }
    const rows = model.get("focus_rows") || [];
    const thumbs = h("div", { className: "drml-thumbs" }, rows.length ? h("span", { className: "drml-muted" }, "loading thumbnails\u2026") : h("span", { className: "drml-muted" }, "no images in this slice"));
    fill(focusBox,
      h("div", { className: "drml-title" }, `${sliceName(row.values)}: ${row.n_images} images, ${row.n_prompts} prompts`),
      thumbs,
      h("div", { className: "drml-muted" }, "sample prompts"),
      h("ul", { className: "drml-prompts" }, ...(model.get("focus_prompts") || []).map((p) => h("li", {}, p))));
    if (!rows.length) return;
    const token = ++thumbToken;
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
  const stops = [onChanges(model, ["rows", "columns", "selected", "focus", "version", "spearman"], draw),
    onChanges(model, ["focus", "focus_rows", "focus_prompts"], drawFocus)];
  return () => stops.forEach((s) => s());
}
