// Builds the dashboard into dist/: one JavaScript bundle and one stylesheet under dist/assets/
// with their content hash in the name (the server lets browsers keep them for good), and an
// index.html naming them (checked again on every load). `npm run build`; run by
// scripts/bootstrap.sh when web/ changed. Nothing is loaded from another origin at run time.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const out = new URL("./dist/", import.meta.url);
rmSync(out, { recursive: true, force: true });
mkdirSync(new URL("assets/", out), { recursive: true });

// The member fields the forms show (name, type, enum values, group, required), read from the
// field registry so the form never disagrees with the server's schema: `import fields from
// "virtual:fields"`.
function registryFields() {
  const text = readFileSync(new URL("../config/fields.toml", import.meta.url), "utf8");
  const fields = [];
  let current = null;
  let pending = null;  // a multi-line array: [key, text so far]
  for (const raw of text.split("\n")) {
    const line = raw.replace(/\s+#.*$/, "").trim();
    if (pending) {
      pending[1] += " " + line;
      if (pending[1].includes("]")) { current[pending[0]] = JSON.parse(pending[1]); pending = null; }
      continue;
    }
    if (line === "[[field]]") { current = {}; fields.push(current); continue; }
    if (line.startsWith("[")) { current = null; continue; }  // a sub-table such as [field.aliases]
    const m = /^([a-z_]+)\s*=\s*(.+)$/.exec(line);
    if (!current || !m) continue;
    const [, key, value] = m;
    if (!["name", "type", "values", "group", "required", "sensitivity", "format"].includes(key)) continue;
    if (value.startsWith("[") && !value.includes("]")) { pending = [key, value]; continue; }
    current[key] = JSON.parse(value);
  }
  return fields;
}
const fieldsPlugin = {
  name: "fields",
  setup(b) {
    b.onResolve({ filter: /^virtual:fields$/ }, () => ({ path: "fields", namespace: "virtual" }));
    b.onLoad({ filter: /.*/, namespace: "virtual" }, () => ({
      contents: `export default ${JSON.stringify(registryFields())};`, loader: "js" }));
  },
};

const result = await build({
  entryPoints: ["src/main.js"],
  plugins: [fieldsPlugin],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  write: false,
  legalComments: "none",
  logLevel: "warning",
});
const js = result.outputFiles[0].contents;
const css = readFileSync(new URL("./src/style.css", import.meta.url));
const hash = (bytes) => createHash("sha256").update(bytes).digest("hex").slice(0, 12);
const jsName = `assets/app-${hash(js)}.js`;
const cssName = `assets/app-${hash(css)}.css`;
writeFileSync(new URL(jsName, out), js);
writeFileSync(new URL(cssName, out), css);
const html = readFileSync(new URL("./src/index.html", import.meta.url), "utf8")
  .replace("%CSS%", "/" + cssName)
  .replace("%JS%", "/" + jsName);
writeFileSync(new URL("index.html", out), html);
// gzip copies the server sends to browsers that accept them (a third of the bytes)
for (const name of [jsName, cssName, "index.html"]) {
  writeFileSync(new URL(`${name}.gz`, out), gzipSync(readFileSync(new URL(name, out)), { level: 9 }));
}
const kb = (bytes) => (gzipSync(bytes).length / 1024).toFixed(1);
console.log(`dist: ${jsName} ${kb(js)} KB gzip, ${cssName} ${kb(css)} KB gzip`);
