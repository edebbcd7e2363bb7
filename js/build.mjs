// Bundle the views with esbuild into drml_widgets/static/. Each bundle starts with the SHA-256
// of the sources it was built from; tests/test_widgets.py recomputes it to catch a stale bundle.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "drml_widgets", "static");
const HASHED = ["build.mjs", "package.json", "package-lock.json"];

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

/** sha256 over (relative path, NUL, bytes, NUL) of every source file, in sorted path order. */
export function sourcesHash() {
  const paths = [...files(join(here, "src")).map((p) => relative(here, p).split("\\").join("/")), ...HASHED].sort();
  const hash = createHash("sha256");
  for (const p of paths) {
    hash.update(p + "\0");
    hash.update(readFileSync(join(here, p)));
    hash.update("\0");
  }
  return hash.digest("hex");
}

// The views: js/src/views.json is the one list (the tests read it too). Each view's entry module
// is generated here: the view's render as anywidget's default export. plotly.js is in no view: it
// is built on its own (plotly_runtime) and travels once per kernel in the PlotlyRuntime widget,
// whose own module is `runtime`. The stylesheet is handed to anywidget as `_css` by the Python side.
const VIEWS = JSON.parse(readFileSync(join(here, "src", "views.json"), "utf8"));
const hash = sourcesHash();
const banner = `/* drml-widgets bundle; sources sha256 ${hash} */`;
mkdirSync(out, { recursive: true });
// CSS that plotly's modules import stays a string inside their bundle, as plotly expects. `define` is
// undefined inside our bundles: on pages with require.js (nbconvert's HTML, the classic notebook) the UMD
// wrappers in plotly's dependencies would hand their exports to require.js instead of to plotly.
const common = { bundle: true, minify: true, target: "es2020", banner: { js: banner }, loader: { ".css": "text" },
  alias: { buffer: join(here, "src", "shims", "buffer.js") }, define: { global: "globalThis", define: "undefined" }, logLevel: "warning", legalComments: "eof" };
const entry = (view) => ({ resolveDir: join(here, "src"), sourcefile: `${view}.entry.js`, loader: "js",
  contents: `import { render } from "./${view}.js";\nexport default { render };\n` });
await Promise.all([
  ...VIEWS.map((v) => esbuild.build({ ...common, stdin: entry(v), format: "esm", outfile: join(out, `${v}.js`) })),
  ...["part", "runtime", "plotly_runtime"].map((m) => esbuild.build({ ...common, entryPoints: [join(here, "src", `${m}.js`)], format: "esm", outfile: join(out, `${m}.js`) })),
  esbuild.build({ ...common, entryPoints: [join(here, "src", "report.js")], format: "iife", outfile: join(out, "report.js") }),
  esbuild.build({ bundle: true, minify: true, banner: { css: banner }, logLevel: "warning",
    entryPoints: [join(here, "src", "styles.css")], outfile: join(out, "styles.css") }),
]);
const built = { ...Object.fromEntries([...VIEWS, "part", "runtime", "plotly_runtime", "report"].map((v) => [v, `${v}.js`])), styles: "styles.css" };
const sizes = Object.fromEntries(Object.entries(built).map(([name, file]) => [name, statSync(join(out, file)).size]));
writeFileSync(join(out, "manifest.json"), JSON.stringify({ sources_sha256: hash, views: VIEWS, bytes: sizes }, null, 2) + "\n");
console.log(`built ${Object.keys(sizes).length} bundles (sources sha256 ${hash.slice(0, 12)}):`, sizes);
