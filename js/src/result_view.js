// Shared by the views of one method's result (failure_modes.js, hard_clusters.js): a sortable,
// filterable table, the thumbnails embedded in the widget state (they show without a kernel), and
// a "more images" button that needs one.
import { filterRows, parseFilter, sortRows } from "./table_logic.js";
import { decode, filteredNote, fill, fmt, h, jpegImage, kernelGate, request, searchInput } from "./util.js";

/**
 * The focused group's thumbnails (`box`), the line that counts them (`counter`) and a "more images"
 * control (`control`, held by a kernel gate). `show(key, images, total, extra)` starts a group from
 * its embedded thumbnails (its first images); each click asks the kernel for the next page
 * (`members` from the number shown) and appends it. The count follows what is shown, and the
 * control hides once every image is. `marked(described)` marks the fetched images as embedded ones.
 */
export function imagePager(model, marked = () => null) {
  const gate = kernelGate(model, "fetch more of a group's images");
  const button = h("button", { textContent: "more images", onclick: () => next() });
  const box = h("div", { className: "drml-thumbs" });
  const counter = h("span", { className: "drml-muted drml-shown" });
  const control = h("span", { className: "drml-kernel-control" }, gate.wrap(button), gate.note);
  const state = { key: "", shown: 0, total: 0, extra: "", token: 0 };
  function update() {
    counter.textContent = `${state.shown} of ${state.total} images shown${state.extra}`;
    control.hidden = state.shown >= state.total;
  }
  async function next() {
    const { token, key, shown } = state;
    button.disabled = true;
    try {
      const [msg, buffers] = await request(model, { type: "members", key, offset: shown });
      if (token !== state.token) return;
      const described = msg.described ? new Set(msg.described) : null;
      const images = buffers.map((b, i) => thumbImage(b, msg.rows[i], marked(described)));
      if (shown) box.append(...images); else fill(box, ...images); // nothing embedded: drop the placeholder
      Object.assign(state, { shown: msg.offset + msg.rows.length, total: msg.total });
    } catch (err) {
      if (token === state.token) box.append(h("span", { className: "drml-error" }, `thumbnails: ${err.message}`));
    } finally {
      button.disabled = false;
      update();
    }
  }
  return {
    box, counter, control,
    show(key, images, total, extra = "", empty = "no thumbnails embedded") {
      Object.assign(state, { key, shown: images.length, total, extra, token: state.token + 1 });
      fill(box, ...(images.length ? images : [h("span", { className: "drml-muted" }, empty)]));
      update();
    },
    stop: () => gate.stop(),
  };
}

/** <img> elements for embedded thumbnails: spans [[row, start, end], ...] into the `thumb_bytes` trait. */
export function embeddedImages(model, spans, marked = null) {
  if (!spans || !spans.length) return [];
  const all = decode(model.get("thumb_bytes"));
  return spans.map(([row, start, end]) => thumbImage(all.subarray(start, end), row, marked));
}

/** One thumbnail, marked (outlined) or dimmed when a selection says which images it holds. */
export function thumbImage(buffer, row, marked = null) {
  const img = jpegImage(buffer, `image ${row}`);
  img.dataset.row = String(row);
  if (marked) img.classList.add(marked.has(row) ? "drml-marked" : "drml-dim");
  return img;
}

/**
 * A table sorted by a header click and filtered by a query (words match the row's `values`,
 * conditions such as `accuracy<0.2` compare its numbers). `columns` are
 * [key, label, format(row) -> text, className?, shown(rows)?] (a column whose `shown` says no, e.g.
 * one with no values, is left out); `onRow(row)` hears row clicks.
 */
export function sortableTable({ columns, sortKey, descending = false, placeholder, onRow }) {
  const state = { sortKey, descending, rows: [], focus: "" };
  const filterInput = searchInput(placeholder);
  const hidden = filteredNote();
  const filterNote = h("span", { className: "drml-error" });
  const head = h("thead");
  const body = h("tbody");
  const wrap = h("div", { className: "drml-table-wrap" }, h("table", { className: "drml-table" }, head, body));
  function draw() {
    const filter = parseFilter(filterInput.value);
    filterNote.textContent = filter.errors.join("; ");
    const shown = sortRows(filterRows(state.rows, filter), state.sortKey, state.descending);
    hidden.update(state.rows.some((r) => r.key === state.focus) && state.focus, shown.map((r) => r.key));
    const arrow = (key) => (key === state.sortKey ? (state.descending ? " \u25bc" : " \u25b2") : "");
    const sortBy = (key) => () => {
      state.descending = key === state.sortKey ? !state.descending : false;
      state.sortKey = key;
      draw();
    };
    const visible = columns.filter(([, , , , when]) => !when || when(state.rows));
    fill(head, h("tr", {}, ...visible.map(([key, label]) => h("th", { onclick: sortBy(key), dataset: { col: key } }, label + arrow(key)))));
    fill(body, ...shown.map((row) => h("tr", { className: row.key === state.focus ? "drml-focus" : "", dataset: { key: row.key },
      onclick: () => onRow(row) },
    ...visible.map(([key, , format, className]) => h("td", { className: className || "", dataset: { col: key } }, format(row))))));
  }
  filterInput.addEventListener("input", draw);
  return {
    toolbar: h("div", { className: "drml-toolbar" }, filterInput, filterNote),
    node: wrap,
    hiddenNote: hidden.node,
    update(rows, focus) { state.rows = rows; state.focus = focus; draw(); },
    shown: () => [...body.children].map((tr) => tr.dataset.key),
  };
}

/** A number cell: fixed digits, an em dash where missing. */
export const num = (key, digits = 3) => (row) => fmt(row[key], digits);
/** A column test: some row has a value in `key`. */
export const known = (key) => (rows) => rows.some((r) => r[key] !== null && r[key] !== undefined);
/** A count cell. */
export const count = (key) => (row) => (row[key] === null || row[key] === undefined ? "\u2014" : String(row[key]));

