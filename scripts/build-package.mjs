#!/usr/bin/env node
// `npm run build:package`: cleans dist/pkg/ and compiles the package's entry files with tsc to
// ESM JavaScript, .d.ts files and source maps, in two runs into the same dist/pkg/:
//
//   1. tsconfig.build.json: pqgate/client, pqgate/hono, pqgate/cloudflare and pqgate/node
//      (src/<entry>.ts and what they import), without Deno's types: a reference to `Deno`
//      fails to compile.
//   2. tsconfig.build.deno.json: pqgate/deno (src/deno.ts), with Deno's types from `deno types`
//      (the repository's Deno, through scripts/deno.mjs) written to a temporary directory and
//      added by a generated tsconfig that extends it.
//
// Then checks the output is what a consumer can load: every relative import rewritten to .js;
// the modules of run 1 refer to no Deno global and run 2 rewrote none of them differently (so
// the node:http transport pqgate/deno and pqgate/node share is one set of files); those that
// client, hono and cloudflare reach import no Node built-in, ws or @hono/node-server at the top
// level (they run on browsers and Workers). Only modules that run 2 added (the deno entry's)
// may refer to Deno.
//
// Then the two things tsc does not make:
//
//   3. dist/pkg/browser/pqgate-client.js (+ .map, + .d.ts re-exporting pqgate/client's types):
//      the browser build of the client (scripts/build-client.mjs: one self-contained minified
//      ES module, no server code), exported as `pqgate/browser`; the source map carries
//      pqgate's own sources, not noble's (the consumer has those installed).
//   3b. dist/pkg/browser/pqgate-sw.js (+ .map, + a .d.ts with no exports): the Service Worker
//      (build-client.mjs SW_BUILD, a classic script), exported as `pqgate/sw` so an app can copy
//      it to where its pages are served (docs/service-worker.md); `npx pqgate serve` serves it.
//   4. dist/pkg/demo/page/{index.html,demo.js}: the demo page's files, which `npx pqgate serve`
//      serves with that bundle (src/cli/demo-page.ts).
// dist/ is git-ignored.
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { ClientBuildError, describe, SW_BUILD, writeClientBundle } from "./build-client.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "pkg");
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

function tscRun(project) {
  const r = spawnSync(process.execPath, [tsc, "-p", project], { stdio: "inherit", cwd: root });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** All files under dir, recursively, with their contents. */
function snapshot(dir) {
  const files = new Map();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.set(p, readFileSync(p, "utf8"));
    }
  };
  walk(dir);
  return files;
}

rmSync(out, { recursive: true, force: true });
tscRun(join(root, "tsconfig.build.json"));
const portable = snapshot(out);

const tmp = mkdtempSync(join(tmpdir(), "pqgate-build-"));
try {
  const types = spawnSync(process.execPath, [join(root, "scripts", "deno.mjs"), "types"], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (types.error) throw types.error;
  if (types.status !== 0 || !types.stdout.includes("declare namespace Deno")) {
    console.error("build:package: `deno types` failed");
    process.exit(types.status || 1);
  }
  // tsc knows none of Deno's built-in lib names (deno.ns, deno.net, ...; their contents are in
  // this file) nor "node" as a lib, and no-default-lib would drop the `lib` option.
  const lib = types.stdout.replace(
    /^\/\/\/ <reference (?:no-default-lib="true"|lib="(?:deno\.[a-z_]+|node)") \/>\n/gm,
    "",
  );
  writeFileSync(join(tmp, "lib.deno.d.ts"), lib);
  writeFileSync(
    join(tmp, "tsconfig.json"),
    JSON.stringify({
      extends: join(root, "tsconfig.build.deno.json"),
      // @types/node is looked up from the config's directory: point at the repository's.
      compilerOptions: { typeRoots: [join(root, "node_modules", "@types")] },
      files: [
        join(tmp, "lib.deno.d.ts"),
        join(root, "scripts", "types", "ws.d.ts"),
        join(root, "src", "deno.ts"),
        // Loaded by URL, not imported (src/auth/argon2-pool.ts): the Argon2id worker thread.
        join(root, "src", "auth", "argon2-worker.ts"),
      ],
    }),
  );
  tscRun(join(tmp, "tsconfig.json"));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
const all = snapshot(out);

/** The .js modules an entry reaches through relative imports (the entry included). */
function reach(entries) {
  const seen = new Set();
  const todo = entries.map((e) => join(out, e));
  while (todo.length) {
    const f = todo.pop();
    if (seen.has(f) || !all.has(f)) continue;
    seen.add(f);
    for (const m of all.get(f).matchAll(/\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
      todo.push(join(dirname(f), m[1]));
    }
  }
  return seen;
}
const browserSafe = reach(["client/mod.js", "hono.js", "cloudflare.js"]);

const problems = [];
const NOT_PORTABLE = /\b(?:from|import)\s*["'](node:[^"']+|ws|@hono\/node-server)["']/;
for (const [f, text] of all) {
  const at = relative(root, f);
  if (portable.has(f) && portable.get(f) !== text) {
    problems.push(`${at}: emitted differently by the deno build`);
  }
  if (!f.endsWith(".js")) continue;
  for (const m of text.matchAll(/\b(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
    if (!m[1].endsWith(".js")) problems.push(`${at}: import "${m[1]}" is not a .js path`);
  }
  if (portable.has(f) && /\bDeno\./.test(text)) {
    problems.push(`${at}: refers to Deno (client/hono/cloudflare/node must not)`);
  }
  if (browserSafe.has(f)) {
    const m = text.match(NOT_PORTABLE);
    if (m) {
      problems.push(`${at}: imports "${m[1]}" at the top level (client/hono/cloudflare must not)`);
    }
  }
}
if (problems.length) {
  console.error(
    "build:package: the output is not what consumers can load:\n  " + problems.join("\n  "),
  );
  process.exit(1);
}

let browser;
let sw;
try {
  browser = await writeClientBundle({
    outfile: join(out, "browser", "pqgate-client.js"),
    packageSources: false,
  });
  sw = await writeClientBundle({
    ...SW_BUILD,
    outfile: join(out, "browser", "pqgate-sw.js"),
    packageSources: false,
  });
} catch (e) {
  if (!(e instanceof ClientBuildError)) throw e;
  console.error(`build:package: ${e.message}`);
  process.exit(1);
}
writeFileSync(
  join(out, "browser", "pqgate-client.d.ts"),
  "// The browser build (pqgate/browser) exports exactly pqgate/client's API.\n" +
    'export * from "../client/mod.js";\n',
);
writeFileSync(
  join(out, "browser", "pqgate-sw.d.ts"),
  "// pqgate/sw is a Service Worker script (docs/service-worker.md): register it with\n" +
    "// registerPqgate from pqgate/browser; it exports nothing.\nexport {};\n",
);
mkdirSync(join(out, "demo", "page"), { recursive: true });
for (const f of ["index.html", "demo.js"]) {
  copyFileSync(join(root, "src", "demo", "page", f), join(out, "demo", "page", f));
}

console.log(
  `build:package: ${all.size + 8} files in ${relative(root, out)}/ ` +
    `(${all.size - portable.size} of them pqgate/deno only; browser/pqgate-client.js, ` +
    `browser/pqgate-sw.js and the demo page's files besides tsc's)\n${describe(browser)}\n${
      describe(sw)
    }`,
);
