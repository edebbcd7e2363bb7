// PromptBuilder: edit attribute types and values, templates, the 80-template ensemble and the
// label rule. The kernel validates every edit and answers with the count, errors and samples.
import { fill, h, kernelGate, onChanges, setTrait, statusLine } from "./util.js";

function copy(attrs) {
  return attrs.map((a) => ({ type: a.type, values: [...a.values] }));
}

/** The entry already in `list` that `value` repeats (ignoring case and outer spaces), or undefined. */
export function repeated(list, value) {
  const key = value.trim().toLowerCase();
  return list.find((x) => x.trim().toLowerCase() === key);
}

// An input and its "add" button; `existing()` lists what it adds to: a repeat is refused with a
// note (and kept in the box to edit), never added as a second chip.
function addInput(placeholder, existing, what, onAdd) {
  const input = h("input", { type: "text", placeholder, onkeydown: (e) => { if (e.key === "Enter") submit(); } });
  const note = h("span", { className: "drml-error" });
  const submit = () => {
    const v = input.value.trim();
    const twin = v && repeated(existing(), v);
    note.textContent = twin ? `\u201c${twin}\u201d is already ${what}.` : "";
    if (v && !twin) { onAdd(v); input.value = ""; }
  };
  return h("span", {}, input, h("button", { textContent: "add", onclick: submit }), note);
}

function chip(text, onRemove, title) {
  return h("span", { className: "drml-chip" }, text, h("button", { textContent: "\u00d7", title, onclick: onRemove }));
}

export function render({ model, el }) {
  el.classList.add("drml-widget", "drml-prompt-builder");
  const gate = kernelGate(model, "edit the prompts (the kernel checks and embeds them)");
  const attrsBox = h("div");
  const templatesBox = h("div");
  const ensemble = h("input", { type: "checkbox", onchange: () => setTrait(model, "ensemble", ensemble.checked) });
  const phrase = h("input", { type: "text", style: { width: "220px" }, onchange: () => setTrait(model, "ensemble_phrase", phrase.value) });
  const rule = h("select", { onchange: () => setTrait(model, "label_rule", rule.value) });
  const count = h("span", { className: "drml-count" });
  const errors = h("ul", { className: "drml-error drml-errors" });
  const samples = h("ul", { className: "drml-prompts" });
  const apply = h("button", { className: "drml-primary", textContent: "Use these prompts", onclick: () => model.send({ type: "apply" }) });
  const applied = h("span", { className: "drml-muted" });
  const setAttrs = (attrs) => setTrait(model, "attributes", attrs);
  fill(el,
    h("div", { className: "drml-toolbar" }, h("span", { className: "drml-title" }, "Prompt builder")),
    gate.note,
    gate.wrap(h("div", { className: "drml-row" },
      h("div", { className: "drml-grow" },
        h("div", { className: "drml-muted" }, "attribute types and values"), attrsBox,
        addInput("new attribute type", () => model.get("attributes").map((a) => a.type), "an attribute type", (t) => setAttrs([...copy(model.get("attributes")), { type: t, values: [] }]))),
      h("div", { className: "drml-grow" },
        h("div", { className: "drml-muted" }, "templates ({type} is replaced by a value)"), templatesBox,
        addInput("{size} {color} {shape}.", () => model.get("templates"), "a template", (t) => setTrait(model, "templates", [...model.get("templates"), t])),
        h("div", { className: "drml-toolbar", style: { marginTop: "8px" } },
          h("label", {}, ensemble, "CLIP's 80-template ensemble, over"), phrase),
        h("div", { className: "drml-toolbar" }, h("label", {}, "class is the value of", rule))))),
    h("div", { className: "drml-toolbar" }, count, gate.wrap(apply), applied),
    statusLine(model), errors,
    h("div", { className: "drml-muted" }, "sample prompts"), samples);

  function draw() {
    const attrs = model.get("attributes") || [];
    fill(attrsBox, ...attrs.map((a, i) => h("div", { className: "drml-attr" },
      h("div", { className: "drml-attr-head" }, h("strong", {}, a.type),
        h("button", { textContent: "remove type", onclick: () => setAttrs(copy(attrs).filter((_, j) => j !== i)) })),
      h("div", {}, ...a.values.map((v, k) => chip(v, () => {
        const next = copy(attrs);
        next[i].values.splice(k, 1);
        setAttrs(next);
      }, `remove ${v}`)), addInput("value", () => a.values, `a value of ${a.type}`, (v) => {
        const next = copy(attrs);
        next[i].values.push(v);
        setAttrs(next);
      })))));
    const templates = model.get("templates") || [];
    fill(templatesBox, ...templates.map((t, i) => h("div", {}, chip(t, () => setTrait(model, "templates", templates.filter((_, j) => j !== i)), "remove template"))));
    ensemble.checked = !!model.get("ensemble");
    phrase.value = model.get("ensemble_phrase") || "";
    phrase.disabled = !ensemble.checked;
    fill(rule, ...attrs.map((a) => h("option", { value: a.type, textContent: a.type })));
    rule.value = model.get("label_rule");
    const errs = model.get("errors") || [];
    count.textContent = `${Number(model.get("count")).toLocaleString()} prompts (cap ${Number(model.get("max_prompts")).toLocaleString()})`;
    count.classList.toggle("drml-error", errs.length > 0);
    fill(errors, ...errs.map((e) => h("li", {}, e)));
    fill(samples, ...(model.get("samples") || []).map((s) => h("li", {}, s)));
    apply.disabled = errs.length > 0 || !!model.get("applied");
    applied.textContent = model.get("applied") ? "the session uses these prompts" : "not applied yet";
    el.dataset.drmlReady = "1";
  }
  draw();
  const stop = onChanges(model, ["attributes", "templates", "ensemble", "ensemble_phrase", "label_rule", "count", "errors", "samples", "applied", "max_prompts"], draw);
  return () => { stop(); gate.stop(); };
}
