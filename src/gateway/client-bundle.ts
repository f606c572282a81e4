/**
 * The browser build of the client library (src/client): one ESM file, built with esbuild.
 *
 *   deno task build:client            writes dist/pqgate-client.js (+ .map) and prints its size
 *   buildClient()                     builds in memory: { code, map, inputs, ms }
 *   buildClientBundle()               the bytes only
 *   loadClientBundle()                { code, map } (what the start command serves): a build if
 *                                     allowed (always current), else dist/, else a
 *                                     ClientBundleError that says what to run
 *
 * The source map (v3, sources relative to the repository, with their contents) is shipped
 * beside the bundle, so a stack trace from the minified file maps back to src/client. The
 * bundle itself carries no sourceMappingURL: `sourceMapComment(name)` gives the line for the
 * file name it is served or written under.
 *
 * Deno runs esbuild's JS API (`import("esbuild")` from node_modules) fine, but esbuild spawns
 * its native binary, so the process needs `--allow-run` (plus read and env). Without it,
 * loadClientBundle() falls back to the prebuilt dist/pqgate-client.js.
 *
 * The bundle must hold client code only: `forbiddenInputs` lists every bundled source that is
 * server code (Hono, proxy, transports, gateway, CLI, server handshake or session), and a build
 * that pulls any of it in fails.
 */
import { fileURLToPath } from "node:url";

/** Repository root (this file is src/gateway/client-bundle.ts). */
export const REPO_ROOT: string = fileURLToPath(new URL("../../", import.meta.url));
/** Where `deno task build:client` writes the bundle, relative to the repository root. */
export const CLIENT_BUNDLE_FILE = "dist/pqgate-client.js";
/** Its source map, written beside it. */
export const CLIENT_BUNDLE_MAP_FILE = CLIENT_BUNDLE_FILE + ".map";
/** Entry points tried in order (the client library's public module). */
export const CLIENT_ENTRY_CANDIDATES: readonly string[] = [
  "src/client/browser.ts",
  "src/client/mod.ts",
  "src/client/index.ts",
];

export class ClientBundleError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ClientBundleError";
  }
}

export interface ClientBuild {
  /** The ESM bundle (no sourceMappingURL line: see sourceMapComment). */
  code: Uint8Array<ArrayBuffer>;
  /** Its source map (JSON, v3). */
  map: Uint8Array<ArrayBuffer>;
  /** Bundled source files, relative to the repository root ("node_modules/..." for packages). */
  inputs: string[];
  /** Entry point used, relative to the repository root. */
  entry: string;
  ms: number;
}

export interface BuildClientOptions {
  /** Entry point relative to the repository root. Default: first of CLIENT_ENTRY_CANDIDATES. */
  entry?: string;
  /** Default true. */
  minify?: boolean;
}

const FORBIDDEN: readonly { test: RegExp; what: string }[] = [
  { test: /(^|\/)node_modules\/hono\//, what: "Hono (server framework)" },
  { test: /(^|\/)node_modules\/ws\//, what: "ws (Node WebSocket server)" },
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

/** The bundled inputs that are server code, each with the reason (empty = a clean bundle). */
export function forbiddenInputs(inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    const hit = FORBIDDEN.find((f) => f.test.test(input));
    if (hit) out.push(`${input} (${hit.what})`);
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function findEntry(): Promise<string> {
  for (const c of CLIENT_ENTRY_CANDIDATES) if (await exists(REPO_ROOT + c)) return c;
  throw new ClientBundleError(
    `no client entry point found (looked for ${CLIENT_ENTRY_CANDIDATES.join(", ")})`,
  );
}

// esbuild runs one service process; builds are serialized so `stop()` never cuts one short.
let queue: Promise<unknown> = Promise.resolve();

/** Builds the browser bundle in memory. Needs --allow-read --allow-env --allow-run under Deno. */
export function buildClient(options: BuildClientOptions = {}): Promise<ClientBuild> {
  const run = queue.then(() => buildOnce(options), () => buildOnce(options));
  queue = run.catch(() => {});
  return run;
}

async function buildOnce(options: BuildClientOptions): Promise<ClientBuild> {
  const entry = options.entry ?? await findEntry();
  const t0 = performance.now();
  let esbuild: typeof import("esbuild");
  try {
    esbuild = await import("esbuild");
  } catch (e) {
    throw new ClientBundleError(
      `cannot load esbuild (run \`npm install\`): ${(e as Error).message}`,
    );
  }
  try {
    const result = await esbuild.build({
      entryPoints: [REPO_ROOT + entry],
      absWorkingDir: REPO_ROOT,
      bundle: true,
      write: false,
      outfile: "pqgate-client.js",
      format: "esm",
      platform: "browser",
      target: ["es2022", "chrome111", "firefox115", "safari16.4"],
      conditions: ["browser", "import", "default"],
      minify: options.minify ?? true,
      // Class names survive minification (`err.constructor.name` is "ConnectError", not "a").
      keepNames: true,
      sourcemap: "external",
      sourcesContent: true,
      legalComments: "none",
      metafile: true,
      logLevel: "silent",
      banner: { js: "/* pqgate client (browser build) — MIT */" },
    });
    const file = result.outputFiles.find((f) => f.path.endsWith(".js"));
    const mapFile = result.outputFiles.find((f) => f.path.endsWith(".js.map"));
    if (!file || !mapFile) throw new ClientBundleError("esbuild produced no output");
    const inputs = Object.keys(result.metafile.inputs).sort();
    const bad = forbiddenInputs(inputs);
    if (bad.length > 0) {
      throw new ClientBundleError(
        `the client bundle must not contain server code, but it bundles:\n  ${bad.join("\n  ")}`,
      );
    }
    const code = new Uint8Array(file.contents.byteLength);
    code.set(file.contents);
    const map = new Uint8Array(mapFile.contents.byteLength);
    map.set(mapFile.contents);
    return { code, map, inputs, entry, ms: performance.now() - t0 };
  } catch (e) {
    if (e instanceof ClientBundleError) throw e;
    const msg = (e as Error).message ?? String(e);
    if (
      /unref|PermissionDenied|Requires run access/i.test(msg) || e instanceof Deno.errors.NotCapable
    ) {
      throw new ClientBundleError(
        "esbuild needs to run its binary: grant --allow-run, or build ahead with `deno task build:client`",
      );
    }
    throw new ClientBundleError(`building the client bundle failed: ${msg}`);
  } finally {
    try {
      await esbuild.stop();
    } catch { /* not running */ }
  }
}

/** The bundle bytes, built now (see buildClient). */
export async function buildClientBundle(): Promise<Uint8Array<ArrayBuffer>> {
  return (await buildClient()).code;
}

function canRun(): boolean {
  try {
    return Deno.permissions.querySync({ name: "run" }).state === "granted";
  } catch {
    return false;
  }
}

/** The `//# sourceMappingURL=` line for a bundle whose map is served as `mapName`. */
export function sourceMapComment(mapName: string): string {
  return `\n//# sourceMappingURL=${mapName}\n`;
}

/** A bundle to serve: the code and, when there is one, its source map. */
export interface ClientBundle {
  code: Uint8Array<ArrayBuffer>;
  map: Uint8Array<ArrayBuffer> | null;
}

/**
 * The bundle for serving: a fresh build when this process may run esbuild (so it always
 * matches src/client), else the prebuilt dist/pqgate-client.js (and its map, if present).
 * Throws ClientBundleError with the command to run when neither is possible.
 */
export async function loadClientBundle(
  opts: { log?: (message: string) => void } = {},
): Promise<ClientBundle> {
  let buildError: Error | null = null;
  if (canRun()) {
    try {
      const b = await buildClient();
      opts.log?.(
        `built the browser client from ${b.entry} (${b.code.length} bytes, ${b.ms.toFixed(0)} ms)`,
      );
      return { code: b.code, map: b.map };
    } catch (e) {
      buildError = e as Error;
    }
  }
  try {
    const raw = await Deno.readFile(REPO_ROOT + CLIENT_BUNDLE_FILE);
    // The written file ends with its own sourceMappingURL line; the server adds the one for
    // the name it serves under.
    const text = new TextDecoder().decode(raw).replace(/\n\/\/# sourceMappingURL=\S+\n?$/, "");
    const code = new TextEncoder().encode(text);
    const map = await Deno.readFile(REPO_ROOT + CLIENT_BUNDLE_MAP_FILE).catch(() => null);
    opts.log?.(`serving the prebuilt browser client ${CLIENT_BUNDLE_FILE} (${code.length} bytes)`);
    return { code, map };
  } catch {
    throw new ClientBundleError(
      buildError
        ? buildError.message
        : `${CLIENT_BUNDLE_FILE} is missing and this process may not run esbuild: run \`deno task build:client\``,
    );
  }
}

/** Size of `bytes` after gzip (what a server with compression would send). */
export async function gzipSize(bytes: Uint8Array<ArrayBuffer>): Promise<number> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
  return (await new Response(stream).arrayBuffer()).byteLength;
}
