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

const VIEWS = ["gap_plot", "slice_table", "influence_chart", "rectify_panel", "prompt_builder", "dashboard", "part"];
const hash = sourcesHash();
const banner = `/* drml-widgets bundle; sources sha256 ${hash} */`;
mkdirSync(out, { recursive: true });
const common = { bundle: true, minify: true, target: "es2020", banner: { js: banner }, loader: { ".css": "text" },
  alias: { buffer: join(here, "src", "shims", "buffer.js") }, define: { global: "globalThis" }, logLevel: "warning", legalComments: "eof" };
await Promise.all([
  ...VIEWS.map((v) => esbuild.build({ ...common, entryPoints: [join(here, "src", "entries", `${v}.js`)], format: "esm", outfile: join(out, `${v}.js`) })),
  esbuild.build({ ...common, entryPoints: [join(here, "src", "report.js")], format: "iife", outfile: join(out, "report.js") }),
]);
const sizes = Object.fromEntries([...VIEWS, "report"].map((v) => [v, statSync(join(out, `${v}.js`)).size]));
writeFileSync(join(out, "manifest.json"), JSON.stringify({ sources_sha256: hash, bytes: sizes }, null, 2) + "\n");
console.log(`built ${Object.keys(sizes).length} bundles (sources sha256 ${hash.slice(0, 12)}):`, sizes);
