// A caution under a view's caption: the slicing types the session's CLIP reads poorly (the
// kernel's `caveats` trait, one line each), so a reader judges those slices by their images.
import { fill, h, onChanges } from "./util.js";

/** The `caveats` lines as a caution note that takes no room when there are none; `stop` ends its updates. */
export function caveatNote(model) {
  const node = h("div", { className: "drml-note drml-caveats", attrs: { role: "note" } });
  const update = () => {
    const lines = model.get("caveats") || [];
    fill(node, ...lines.map((line) => h("div", {}, `\u26a0 Caution: ${line}.`)));
    node.hidden = !lines.length;
  };
  update();
  return { node, stop: onChanges(model, ["caveats"], update) };
}
