#!/usr/bin/env node
// The browser build of the client library (src/client/mod.ts): one self-contained, minified ES
// module and its source map, built with esbuild's JS API on Node. A build step, never a
// runtime one: the gateway only reads the file (src/gateway/client-bundle.ts).
//
//   node scripts/build-client.mjs [--outfile dist/pqgate-client.js] [--entry src/client/mod.ts]
//                                 [--no-minify] [--if-changed] [--service-worker]
//
// --service-worker: the Service Worker instead (docs/service-worker.md): entry
// src/client/service-worker-entry.ts, a classic script (IIFE: browsers start a worker
// registered without { type: "module" } only from one), banner SW_BANNER, default outfile
// dist/pqgate-sw.js (the package's copy: dist/pkg/browser/pqgate-sw.js, `pqgate/sw`).
//
// Run by `npm run build:client` / `deno task build:client` (dist/pqgate-client.js, what
// `npm start` serves at /client.js: `npm start` runs this first, with --if-changed) and by
// scripts/build-package.mjs (dist/pkg/browser/pqgate-client.js, the package's `pqgate/browser`).
//
// --if-changed: keep the existing bundle when it is what a build would write: its map records
// the build (`x_pqgate_build`: a hash of this script, esbuild's version and the options, and of
// every file esbuild read), and each of those files still hashes the same (by content, not by
// time: npm gives node_modules files a fixed date). Any difference, a missing file or map: a
// build. Saves esbuild's ~250 ms on an unchanged `npm start`. A kept bundle gets the current
// time, as a build would.
//
// The file ends with `//# sourceMappingURL=<name>.map`; the map (v3, sources relative to it,
// with their contents) is written beside it, so a stack trace from the minified file maps back
// to src/client. Class names survive minification (`err.constructor.name` is "ConnectError").
//
// The bundle must hold client code only: `forbiddenInputs` names every bundled source that is
// server code (Hono, ws, the proxy, transports, gateway, CLI, demo, the gateway's half of the
// handshake and session, Node built-ins), and a build that pulls any of it in fails.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, isAbsolute, join, relative, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

/** Repository root (this file is scripts/build-client.mjs). */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Where `npm run build:client` writes the bundle, relative to the repository root. */
export const CLIENT_BUNDLE_FILE = "dist/pqgate-client.js";
/** The client library's public module. */
export const CLIENT_ENTRY = "src/client/mod.ts";
/** First line of every bundle (src/gateway/client-bundle.ts checks it). */
export const BANNER = "/* pqgate client (browser build) — MIT */";
/** The Service Worker's entry, default file and first line (--service-worker). */
export const SW_ENTRY = "src/client/service-worker-entry.ts";
export const SW_BUNDLE_FILE = "dist/pqgate-sw.js";
export const SW_BANNER = "/* pqgate service worker (browser build) — MIT */";
/** The options of the Service Worker build (outfile: SW_BUNDLE_FILE unless given). */
export const SW_BUILD = Object.freeze({ entry: SW_ENTRY, format: "iife", banner: SW_BANNER });
/** Browsers the bundle targets (WebCrypto, top-level await, class fields). */
export const TARGET = ["es2022", "chrome111", "firefox115", "safari16.4"];

const FORBIDDEN = [
  { test: /(^|\/)node_modules\/hono\//, what: "Hono (server framework)" },
  { test: /(^|\/)node_modules\/ws\//, what: "ws (Node WebSocket server)" },
  { test: /(^|\/)node_modules\/@hono\/node-server\//, what: "the Node HTTP server" },
  {
    test: /(^|\/)node_modules\/(esbuild|playwright-core|miniflare|wrangler)\//,
    what: "build/test tooling",
  },
  { test: /^src\/(proxy|transport|gateway|cli|demo)\//, what: "server code" },
  { test: /^worker\//, what: "the Cloudflare Worker" },
  {
    test:
      /^src\/tunnel\/(server-session|server-streams|server-output|session-persistence|session-snapshot)\.ts$/,
    what: "the gateway session",
  },
  { test: /^src\/protocol\/(handshake-server|testing)\.ts$/, what: "gateway-side protocol code" },
  { test: /^node:/, what: "a Node built-in" },
];

/**
 * The bundled inputs that are server code, each with the reason (empty: a clean bundle).
 * @param {readonly string[]} inputs repository-relative paths ("node_modules/..." for packages)
 * @returns {string[]}
 */
export function forbiddenInputs(inputs) {
  const out = [];
  for (const input of inputs) {
    const hit = FORBIDDEN.find((f) => f.test.test(input));
    if (hit) out.push(`${input} (${hit.what})`);
  }
  return out;
}

export class ClientBuildError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = "ClientBuildError";
  }
}

/**
 * @typedef {object} ClientBuild
 * @property {Uint8Array} code the ESM bundle, ending with its sourceMappingURL line
 * @property {Uint8Array} map its source map (JSON, v3; sources relative to the map's directory)
 * @property {string[]} inputs bundled sources, relative to the repository root
 * @property {string} entry the entry point, relative to the repository root
 * @property {string} outfile where the bundle is meant to be written (absolute)
 * @property {number} ms
 */

/**
 * @typedef {object} BuildClientOptions
 * @property {string} [outfile] where the bundle goes (absolute, or relative to the repository
 *   root); names the map and makes the map's sources relative to it. Default CLIENT_BUNDLE_FILE.
 * @property {string} [entry] relative to the repository root. Default CLIENT_ENTRY.
 * @property {boolean} [minify] default true
 * @property {"esm" | "iife"} [format] default "esm"; "iife": a classic script (the worker)
 * @property {string} [banner] the first line, default BANNER
 * @property {boolean} [packageSources] default true: the map carries the contents of the
 *   bundled node_modules files (noble) too. False (the npm package's copy): only of pqgate's own
 *   sources, the packages' entries are null (they are the consumer's installed dependencies;
 *   they would quadruple the map).
 */

/**
 * What identifies a build besides its sources: this script, esbuild's version and the options.
 * @param {BuildClientOptions} options
 */
function buildKey(options) {
  const esbuildVersion = createRequire(import.meta.url)("esbuild/package.json").version;
  return createHash("sha256")
    .update(readFileSync(fileURLToPath(import.meta.url)))
    .update(JSON.stringify({
      esbuildVersion,
      entry: options.entry ?? CLIENT_ENTRY,
      minify: options.minify ?? true,
      packageSources: options.packageSources ?? true,
      format: options.format ?? "esm",
      banner: options.banner ?? BANNER,
    }))
    .digest("base64url");
}

/** @param {string | undefined} out */
function outfileOf(out) {
  const o = out ?? CLIENT_BUNDLE_FILE;
  return isAbsolute(o) ? o : join(ROOT, o);
}

/** @param {string} path */
const hashFile = (path) => createHash("sha256").update(readFileSync(path)).digest("base64url");

/**
 * Whether the bundle at `options.outfile` is what buildClient(options) would write (see
 * --if-changed above). Returns the number of input files it checked, or null (build it).
 * @param {BuildClientOptions} [options]
 * @returns {number | null}
 */
export function upToDate(options = {}) {
  const outfile = outfileOf(options.outfile);
  try {
    const code = readFileSync(outfile, "latin1");
    // The banner is UTF-8 (an em dash): compare it as such, not as the latin1 text above.
    const banner = new TextEncoder().encode(options.banner ?? BANNER);
    if (code.slice(0, banner.length) !== String.fromCharCode(...banner)) return null;
    if (!code.endsWith(`\n//# sourceMappingURL=${basename(outfile)}.map\n`)) return null;
    const build = JSON.parse(readFileSync(outfile + ".map", "utf8")).x_pqgate_build;
    if (build?.key !== buildKey(options)) return null;
    const inputs = Object.entries(build.inputs ?? {});
    if (inputs.length === 0) return null;
    for (const [input, hash] of inputs) if (hashFile(join(ROOT, input)) !== hash) return null;
    return inputs.length;
  } catch {
    return null; // missing or unreadable: build
  }
}

// esbuild runs one service process; builds are serialized so `stop()` never cuts one short.
/** @type {Promise<unknown>} */
let queue = Promise.resolve();

/**
 * Builds the bundle in memory (nothing is written). Throws ClientBuildError when the bundle
 * would contain server code or esbuild fails.
 * @param {BuildClientOptions} [options]
 * @returns {Promise<ClientBuild>}
 */
export function buildClient(options = {}) {
  const run = queue.then(() => buildOnce(options), () => buildOnce(options));
  queue = run.catch(() => {});
  return run;
}

/**
 * @param {BuildClientOptions} options
 * @returns {Promise<ClientBuild>}
 */
async function buildOnce(options) {
  const entry = options.entry ?? CLIENT_ENTRY;
  const outfile = outfileOf(options.outfile);
  const mapName = basename(outfile) + ".map";
  const t0 = performance.now();
  // Loaded here, not at the top: `--if-changed` with nothing to do never loads it.
  const esbuild = await import("esbuild");
  try {
    const result = await esbuild.build({
      entryPoints: [join(ROOT, entry)],
      absWorkingDir: ROOT,
      bundle: true,
      write: false,
      outfile,
      format: options.format ?? "esm",
      platform: "browser",
      target: TARGET,
      conditions: ["browser", "import", "default"],
      minify: options.minify ?? true,
      // Class names survive minification (`err.constructor.name` is "ConnectError", not "a").
      keepNames: true,
      sourcemap: "external",
      sourcesContent: true,
      legalComments: "none",
      metafile: true,
      logLevel: "silent",
      banner: { js: options.banner ?? BANNER },
      footer: { js: `//# sourceMappingURL=${mapName}` },
    });
    const file = result.outputFiles.find((f) => f.path.endsWith(".js"));
    const mapFile = result.outputFiles.find((f) => f.path.endsWith(".js.map"));
    if (!file || !mapFile) throw new ClientBuildError("esbuild produced no output");
    const inputs = Object.keys(result.metafile.inputs).sort();
    const bad = forbiddenInputs(inputs);
    if (bad.length > 0) {
      throw new ClientBuildError(
        `the client bundle must not contain server code, but it bundles:\n  ${bad.join("\n  ")}`,
      );
    }
    const json = JSON.parse(new TextDecoder().decode(mapFile.contents));
    // The packages' package.json files too: their `exports` decide which files are read.
    const manifests = new Set();
    for (const input of inputs) {
      const pkg = /^(?:.*\/)?node_modules\/(?:@[^/]+\/)?[^/]+\//.exec(input);
      if (pkg) manifests.add(pkg[0] + "package.json");
    }
    json.x_pqgate_build = {
      key: buildKey(options),
      inputs: Object.fromEntries(
        [...inputs, ...manifests].map((i) => [i, hashFile(join(ROOT, i))]),
      ),
    };
    if (options.packageSources === false) {
      json.sourcesContent = json.sources.map((/** @type {string} */ s, /** @type {number} */ i) =>
        /(^|\/)node_modules\//.test(s) ? null : json.sourcesContent[i]
      );
    }
    const map = new TextEncoder().encode(JSON.stringify(json));
    return {
      code: file.contents,
      map,
      inputs,
      entry,
      outfile,
      ms: performance.now() - t0,
    };
  } catch (e) {
    if (e instanceof ClientBuildError) throw e;
    throw new ClientBuildError(`building the client bundle failed: ${e?.message ?? e}`);
  } finally {
    try {
      await esbuild.stop();
    } catch { /* not running */ }
  }
}

/**
 * Builds the bundle and writes it and its map (creating the directory).
 * @param {BuildClientOptions} [options]
 * @returns {Promise<ClientBuild & { gzipBytes: number }>}
 */
export async function writeClientBundle(options = {}) {
  const b = await buildClient(options);
  mkdirSync(dirname(b.outfile), { recursive: true });
  writeFileSync(b.outfile, b.code);
  writeFileSync(b.outfile + ".map", b.map);
  return { ...b, gzipBytes: gzipSync(b.code).length };
}

/** @param {ClientBuild & { gzipBytes: number }} b */
export function describe(b) {
  const kib = (/** @type {number} */ n) => (n / 1024).toFixed(1);
  const at = relative(process.cwd(), b.outfile) || b.outfile;
  return `build:client: ${at} from ${b.entry} (${b.inputs.length} inputs, no server code) in ${
    b.ms.toFixed(0)
  } ms: ${b.code.length} bytes (${kib(b.code.length)} KiB), ${b.gzipBytes} gzipped (${
    kib(b.gzipBytes)
  } KiB), map ${kib(b.map.length)} KiB`;
}

/** @param {string[]} argv */
async function main(argv) {
  /** @param {string} flag */
  const arg = (flag) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const known = new Set([
    "--outfile",
    "--entry",
    "--no-minify",
    "--if-changed",
    "--service-worker",
  ]);
  for (let i = 0; i < argv.length; i++) {
    if (!known.has(argv[i])) {
      console.error(`build:client: unknown argument ${argv[i]}`);
      return 2;
    }
    if (argv[i] === "--outfile" || argv[i] === "--entry") {
      if (argv[i + 1] === undefined || argv[i + 1].startsWith("--")) {
        console.error(`build:client: ${argv[i]} needs a value`);
        return 2;
      }
      i++;
    }
  }
  const outfile = arg("--outfile");
  const sw = argv.includes("--service-worker");
  /** @type {BuildClientOptions} */
  const options = {
    ...(sw ? SW_BUILD : {}),
    // Relative to where the command was typed (npm scripts run in the repository root).
    outfile: outfile === undefined
      ? (sw ? SW_BUNDLE_FILE : undefined)
      : resolve(process.cwd(), outfile),
    minify: !argv.includes("--no-minify"),
  };
  const entry = arg("--entry");
  if (entry !== undefined) options.entry = entry;
  if (argv.includes("--if-changed")) {
    const sources = upToDate(options);
    if (sources !== null) {
      // Its time says "as new as its sources" (src/cli/start.ts warns by time when it is not).
      const now = new Date();
      utimesSync(outfileOf(options.outfile), now, now);
      const at = relative(process.cwd(), outfileOf(options.outfile));
      console.log(`build:client: ${at} is up to date (${sources} input files unchanged)`);
      return 0;
    }
  }
  try {
    const b = await writeClientBundle(options);
    console.log(describe(b));
    return 0;
  } catch (e) {
    if (e instanceof ClientBuildError) {
      console.error(`build:client: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
