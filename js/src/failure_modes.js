// FailureModes (PRIME): the modes as a sortable, filterable table; a row click shows the mode's
// tags and its embedded thumbnails at once, and more of its images when a kernel answers.
import { count, embeddedImages, imagePager, known, num, sortableTable } from "./result_view.js";
import { fill, fmt, h, onChanges, setTrait, statusLine } from "./util.js";

const held = (row) => (row.holds === null || row.holds === undefined ? "\u2014" : row.holds ? "yes" : "no");

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-failure-modes");
  const caption = h("span", { className: "drml-muted" });
  const heldNote = h("div", { className: "drml-note" });
  const embedNote = h("div", { className: "drml-note" });
  const focusBox = h("div", { className: "drml-focus-box" });
  const table = sortableTable({
    sortKey: "drop", descending: true, placeholder: "filter: square orange accuracy<0.2",
    onRow: (row) => setTrait(model, "focus", row.key),
    columns: [
      ["class", "class", (r) => r.values.class], ["tags", "tags", (r) => r.values.tags],
      ["n_images", "n", count("n_images"), "num"], ["accuracy", "accuracy", num("accuracy"), "num"],
      ["class_accuracy", "class acc", num("class_accuracy"), "num"], ["drop", "drop", num("drop"), "num"],
      ["min_gain", "min gain", num("min_gain"), "num"], ["heldout_images", "held-out n", count("heldout_images"), "num", known("heldout_images")],
      ["heldout_accuracy", "held-out acc", num("heldout_accuracy"), "num", known("heldout_accuracy")],
      ["holds", "holds", held, "", known("holds")],
    ],
  });
  const pager = imagePager(model);
  fill(el,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Failure modes (PRIME)"), caption),
    table.toolbar, heldNote, table.node, table.hiddenNote, focusBox, embedNote, statusLine(model));

  const modes = () => model.get("modes") || [];
  function draw() {
    const rows = modes();
    caption.textContent = `${model.get("summary") || ""}${model.get("version") ? ` \u00b7 head version ${model.get("version")}` : ""}`;
    heldNote.textContent = model.get("heldout_note") || "";
    embedNote.textContent = model.get("embed_note") || "";
    table.update(rows, model.get("focus"));
    el.dataset.drmlReady = "1";
  }

  function drawFocus() {
    const row = modes().find((r) => r.key === model.get("focus"));
    if (!row) {
      fill(focusBox, h("div", { className: "drml-note" }, modes().length
        ? "Click a mode to see its tags and images." : "No failure modes: no tag set passed PRIME's thresholds."));
      return;
    }
    pager.show(row.key, embeddedImages(model, row.thumbs), row.n_images, "", "no thumbnails embedded for this mode");
    fill(focusBox,
      h("div", { className: "drml-title" }, `${row.values.class}: ${row.n_images} images, accuracy ${fmt(row.accuracy)} ` +
        `(class ${fmt(row.class_accuracy)})`),
      h("div", {}, h("span", { className: "drml-muted" }, "tags "), ...row.tags.map((t) => h("span", { className: "drml-chip" }, t))),
      pager.box, h("div", { className: "drml-toolbar" }, pager.counter, pager.control));
  }

  draw();
  drawFocus();
  const stops = [onChanges(model, ["modes", "summary", "heldout_note", "embed_note", "focus", "version"], draw),
    onChanges(model, ["modes", "focus", "thumb_bytes"], drawFocus)];
  return () => { pager.stop(); stops.forEach((s) => s()); };
}
