// FindingsView: any method's result as a sortable, filterable table of its ranked findings (the
// score column named by the method's score_name); a row click shows the finding's embedded
// thumbnails at once, and more of its images when a kernel answers.
import { count, embeddedImages, imagePager, sortableTable } from "./result_view.js";
import { fill, fmt, h, onChanges, setTrait, statusLine } from "./util.js";

/** A score as results.number writes it: counts (a score_name "n_...") without decimals, the rest to three places. */
export const score = (value, name = "") => (typeof value === "number" && String(name).startsWith("n_")
  ? String(Math.round(value)) : fmt(value, 3));

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-findings-view");
  const title = h("span", { className: "drml-title" });
  const caption = h("span", { className: "drml-muted" });
  const embedNote = h("div", { className: "drml-note" });
  const focusBox = h("div", { className: "drml-focus-box" });
  const scoreColumn = ["score", "score", (r) => score(r.score, r.score_name), "num"];
  const table = sortableTable({
    sortKey: "rank", descending: false, placeholder: "filter: green score<0.5 n>=20",
    onRow: (row) => setTrait(model, "focus", row.key),
    columns: [["rank", "rank", count("rank"), "num"], ["label", "finding", (r) => r.values.label], scoreColumn,
      ["n_images", "images", count("n_images"), "num"]],
  });
  const pager = imagePager(model);
  fill(el, h("div", { className: "drml-toolbar" }, title, caption), table.toolbar, table.node, focusBox, embedNote,
    statusLine(model));

  const findings = () => model.get("findings") || [];
  function draw() {
    title.textContent = model.get("method") || "Findings";
    caption.textContent = `${model.get("summary") || ""}${model.get("version") ? ` \u00b7 head version ${model.get("version")}` : ""}`;
    scoreColumn[1] = model.get("score_name") || "score"; // the table reads its columns' labels at each draw
    embedNote.textContent = model.get("embed_note") || "";
    table.update(findings(), model.get("focus"));
    el.dataset.drmlReady = "1";
  }

  function drawFocus() {
    const row = findings().find((r) => r.key === model.get("focus"));
    if (!row) {
      fill(focusBox, h("div", { className: "drml-note" }, findings().length
        ? "Click a finding to see its images." : "No findings to show."));
      return;
    }
    pager.show(row.key, embeddedImages(model, row.thumbs), row.n_images, "", "no thumbnails embedded for this finding");
    fill(focusBox,
      h("div", { className: "drml-title" }, `${row.rank}. ${row.label}: ${row.score_name} ${score(row.score, row.score_name)}, ${row.n_images} images`),
      pager.box, h("div", { className: "drml-toolbar" }, pager.counter, pager.control));
  }

  draw();
  drawFocus();
  const stops = [onChanges(model, ["findings", "method", "summary", "score_name", "embed_note", "focus", "version"], draw),
    onChanges(model, ["findings", "focus", "thumb_bytes"], drawFocus)];
  return () => { pager.stop(); stops.forEach((s) => s()); };
}
