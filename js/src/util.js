// Shared helpers for every view. DOM is built with textContent only: user strings (attribute
// names, values, prompts, labels) never pass through innerHTML.

/** Make an element: h("div", {className: "x", onclick: f}, "text", child). Strings become text nodes. */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "attrs") for (const [a, v] of Object.entries(value)) node.setAttribute(a, String(v));
    else node[key] = value;
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

const ENTITIES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

/** Escape a user string for plotly, which reads a few HTML tags in legend, axis and tick text. */
export function plotlyText(value) {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Bytes of a binary trait, whatever the manager hands over (DataView, ArrayBuffer, typed array, base64). */
export function bytes(value) {
  if (value === null || value === undefined) return new Uint8Array(0);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (typeof value === "string") return Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  throw new TypeError(`not binary data: ${typeof value}`);
}

// Arrays travel as {dtype, shape, buffer}, the bytes in one binary buffer; the kernel's half of
// this contract is drml_widgets/widgets/binary.py.
const DTYPES = { uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, float32: Float32Array };

/** The typed array of an array trait ({dtype, shape, buffer}), checked against its dtype and shape. */
export function decode(value) {
  const Type = value && DTYPES[value.dtype];
  if (!Type) throw new TypeError(`not an array trait: dtype ${value && value.dtype}`);
  const n = value.shape.reduce((a, d) => a * d, 1);
  let b = bytes(value.buffer);
  if (b.byteLength !== n * Type.BYTES_PER_ELEMENT) {
    throw new RangeError(`${b.byteLength} bytes do not hold ${value.dtype} of shape [${value.shape}]`);
  }
  if (b.byteOffset % Type.BYTES_PER_ELEMENT) b = b.slice(); // typed views need aligned offsets
  return new Type(b.buffer, b.byteOffset, n);
}

/** A 1-D typed array as an array trait, for the kernel. */
export function encode(array) {
  const dtype = Object.keys(DTYPES).find((name) => array instanceof DTYPES[name]);
  if (!dtype) throw new TypeError(`cannot send ${array && array.constructor.name}: use one of ${Object.keys(DTYPES)}`);
  return { dtype, shape: [array.length], buffer: new DataView(array.buffer, array.byteOffset, array.byteLength) };
}

/** Red (0) through amber (0.5) to green (1) for a score in [0, 1]; null for missing values. */
export function scoreColor(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return null;
  const v = Math.min(1, Math.max(0, value));
  const hue = Math.round(120 * v); // 0 red, 60 amber, 120 green
  return `hsla(${hue}, 70%, 50%, 0.28)`;
}

/** A number as text with fixed digits; an em dash for missing values. */
export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "\u2014";
  return Number(value).toFixed(digits);
}

/** Ten colours that stay apart for colour-blind readers (Okabe-Ito, then Tableau). */
export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442",
  "#000000", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf", "#9467bd", "#e377c2", "#2ca02c",
  "#d62728", "#1f77b4", "#ff7f0e", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94"];

let nextRequest = 1;
// Some hosts drop the binary buffers of custom messages (Colab's widget manager does). The kernel
// says how many buffers each reply carries; once some go missing, every view on the page asks for
// base64 copies instead (the finding is shared through the page's global object).
const HOST = (globalThis[Symbol.for("drml-widgets.host")] ??= { buffersArrive: true });
/** How long a request waits for the kernel: a busy kernel answers late, a saved page never. */
export const REQUEST_TIMEOUT = 60_000;

/**
 * Ask the kernel something through a custom message; resolves with [content, buffers] or rejects
 * after `timeout` ms (no running kernel, e.g. a saved notebook or an HTML report). Buffers come
 * as the host hands them over, or as base64 text where the host drops them (util.bytes reads both).
 */
export async function request(model, content, timeout = REQUEST_TIMEOUT) {
  if (!(await reachesKernel(model))) throw new Error(NO_KERNEL);
  const [msg, buffers] = await exchange(model, { ...content, base64: !HOST.buffersArrive }, timeout);
  if (msg.base64) return [msg, msg.base64];
  if (buffers.length >= (msg.n_buffers || 0)) return [msg, buffers];
  HOST.buffersArrive = false; // dropped on the way: ask again for text
  const [again] = await exchange(model, { ...content, base64: true }, timeout);
  return [again, again.base64 || []];
}

function exchange(model, content, timeout) {
  const id = nextRequest++;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      model.off("msg:custom", handler);
      reject(new Error("no reply from the kernel (is it running?)"));
    }, timeout);
    function handler(msg, buffers) {
      if (!msg || msg.request !== id) return;
      clearTimeout(timer);
      model.off("msg:custom", handler);
      if (msg.error) reject(new Error(msg.error));
      else resolve([msg, buffers || []]);
    }
    model.on("msg:custom", handler);
    model.send({ ...content, request: id });
  });
}

// -- Is there a kernel behind this view? --------------------------------------------------------
// A model with no comm reaches no kernel: in the standalone report, in nbconvert's HTML (the
// widgets' HTML manager), and in a notebook reopened from its saved widget state whose cells have
// not run again. ipywidgets' models say so in `comm_live` (and announce changes to it); anywidget
// hands a view a proxy without it, so every view's state names its own model (`_self`, set by the
// kernel) and the model is looked up. Hosts whose models have no `comm_live` (marimo) count as live.

/** What a control that needs the kernel says where there is none. */
export const NO_KERNEL = "Needs a running kernel";
const MODELS = new WeakMap(); // view's model -> Promise of the manager's model that says comm_live

function managerModel(model) {
  if (!MODELS.has(model)) {
    const id = typeof model.comm_live === "boolean" ? null : model.get("_self");
    MODELS.set(model, typeof model.comm_live === "boolean" ? Promise.resolve(model)
      : !id || !model.widget_manager?.get_model ? Promise.resolve(null)
        : Promise.resolve(model.widget_manager.get_model(String(id))).catch(() => null));
  }
  return MODELS.get(model);
}

/** Whether the view's model can reach a running kernel (resolves at once; true where unknown). */
export async function reachesKernel(model) {
  const found = await managerModel(model);
  return !found || found.comm_live !== false;
}

/**
 * The part of a view that needs the kernel. `gate.wrap(...controls)` holds controls in a fieldset
 * that is disabled, every control in it, where no kernel is behind the model; `gate.note` is the
 * one line that then says why ("Needs a running kernel: open the notebook and run it to
 * <doing>.", or the page manager's `drmlHowToRun`); `gate.offline` is true once that is known;
 * `onChange(fn)` hears it change; `stop()` stops following the model.
 */
export function kernelGate(model, doing) {
  const boxes = [];
  const listeners = [];
  // A page says where it came from (report.js: the command that wrote it); a saved notebook is run again.
  const how = model.widget_manager?.drmlHowToRun || "open the notebook and run it to {doing}";
  const note = h("div", { className: "drml-note drml-no-kernel", hidden: true }, `${NO_KERNEL}: ${how.replace("{doing}", doing)}.`);
  let found = null;
  const gate = {
    offline: false, note,
    wrap(...controls) {
      const box = h("fieldset", { className: "drml-kernel-only", disabled: gate.offline }, ...controls);
      boxes.push(box);
      return box;
    },
    onChange(fn) { listeners.push(fn); },
    stop() { found?.off?.("comm_live_update", update); },
  };
  async function update() {
    const offline = !(await reachesKernel(model));
    if (offline === gate.offline) return;
    gate.offline = offline;
    note.hidden = !offline;
    for (const box of boxes) box.disabled = offline;
    for (const fn of listeners) fn(offline);
  }
  managerModel(model).then((m) => {
    found = m;
    found?.on?.("comm_live_update", update); // e.g. the kernel shut down under an open page
    return update();
  });
  return gate;
}

/** An <img> for JPEG bytes; the object URL is freed once the image has loaded. */
export function jpegImage(buffer, alt) {
  const url = URL.createObjectURL(new Blob([bytes(buffer)], { type: "image/jpeg" }));
  const img = h("img", { alt: alt || "", src: url });
  img.addEventListener("load", () => URL.revokeObjectURL(url), { once: true });
  return img;
}

/** Run `fn` on every change of the named traits, once per animation frame at most. */
export function onChanges(model, names, fn) {
  let queued = false;
  const run = () => { queued = false; fn(); };
  const schedule = () => {
    if (queued) return;
    queued = true;
    (typeof requestAnimationFrame === "function" ? requestAnimationFrame : setTimeout)(run);
  };
  for (const name of names) model.on(`change:${name}`, schedule);
  return () => { for (const name of names) model.off(`change:${name}`, schedule); };
}

/** What names the page's theme: JupyterLab's theme attributes, VS Code's body class and colours. */
function themeSignature() {
  const body = document.body;
  const vscode = [...body.classList].filter((c) => c.startsWith("vscode-")).join(" ");
  const background = getComputedStyle(document.documentElement).getPropertyValue("--vscode-editor-background");
  return [body.dataset.jpThemeName, body.dataset.jpThemeLight, vscode, background].join("|");
}

/** Run `fn` when the page switches theme (JupyterLab's light and dark themes, VS Code's theme
 * classes and colours), once per animation frame at most. Returns a function that stops it. */
export function onThemeChange(fn) {
  if (typeof MutationObserver !== "function" || !document.body) return () => {};
  let last = themeSignature();
  let queued = false;
  const observer = new MutationObserver(() => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      const now = themeSignature();
      if (now !== last) { last = now; fn(); }
    });
  });
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ["class", "style"] });
  observer.observe(document.body, { attributes: true, attributeFilter: ["class", "data-jp-theme-name", "data-jp-theme-light"] });
  return () => observer.disconnect();
}

/** A filter box as wide as its placeholder, so the example it gives is read whole (the
 * stylesheet caps it at the view's width). */
export function searchInput(placeholder) {
  return h("input", { type: "search", placeholder, style: { width: `${Math.max(24, placeholder.length + 4)}ch` } });
}

/** The line above a table's detail panel that says when the row it shows is one the table's
 * filter hides; `update(focus, shownKeys)` shows or hides it (no focus: hidden). */
export function filteredNote() {
  const node = h("div", { className: "drml-note drml-filtered", hidden: true },
    "The row shown below is hidden by the filter; clear the filter to see it in the table.");
  return { node, update(focus, shownKeys) { node.hidden = !focus || shownKeys.includes(focus); } };
}

/** Set a trait from the front end and send it to the kernel. */
export function setTrait(model, name, value) {
  model.set(name, value);
  model.save_changes();
}

// The forms of the status lines the kernel writes when something went wrong (widgets/base.py): a
// refused edit, a DrmlError (its message names the fix), a refresh that failed, an interrupt.
const ERROR_STATUS = /\(kept the last good |\bFix: |^could not refresh after |^Interrupted while /;

/** Whether a status line reports an error (shown in the one error style, `drml-error`). */
export function isErrorStatus(text) {
  return ERROR_STATUS.test(text || "");
}

/** A labelled progress bar / status line shared by views with long kernel work. The bar takes no
 * room while idle, so the line starts where every other line of the view does. */
export function statusLine(model) {
  const bar = h("progress", { max: 1, value: 0, className: "drml-progress" });
  const text = h("span", { className: "drml-status" });
  const node = h("div", { className: "drml-statusline" }, bar, text);
  const update = () => {
    bar.hidden = !model.get("busy");
    const p = model.get("progress");
    if (typeof p === "number" && p >= 0) bar.value = p; else bar.removeAttribute("value");
    text.textContent = model.get("status") || "";
    text.classList.toggle("drml-error", isErrorStatus(text.textContent));
  };
  update();
  onChanges(model, ["busy", "progress", "status"], update);
  return node;
}
