#!/usr/bin/env node
// `npm run build:package`: cleans dist/pkg/ and compiles the package's entry files
// (tsconfig.build.json: src/client/mod.ts and what it imports) with tsc to ESM JavaScript,
// .d.ts files and source maps. Then checks the output is what a consumer can load: every
// relative import rewritten to .js, no reference to Deno. dist/ is git-ignored.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "pkg");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

rmSync(out, { recursive: true, force: true });
const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], {
  stdio: "inherit",
  cwd: root,
});
if (r.error) throw r.error;
if (r.status !== 0) process.exit(r.status ?? 1);

/** All files under dir, recursively. */
function walk(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]
  );
}

const problems = [];
const files = walk(out);
for (const f of files) {
  if (!f.endsWith(".js")) continue;
  const text = readFileSync(f, "utf8");
  for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
    if (!m[1].endsWith(".js")) problems.push(`${relative(root, f)}: import "${m[1]}" is not a .js path`);
  }
  if (/\bDeno\./.test(text)) problems.push(`${relative(root, f)}: refers to Deno`);
}
if (problems.length) {
  console.error("build:package: the output is not loadable outside Deno:\n  " + problems.join("\n  "));
  process.exit(1);
}
console.log(`build:package: ${files.length} files in ${relative(root, out)}/`);
