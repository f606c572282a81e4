/**
 * The architecture's import rules (README "Repository layout"), checked: every production
 * module under src/ and worker/ may import only the layers and packages listed for its layer
 * below. Tests (`*.test.ts`) and test helpers (`testing.ts`) are exempt; type-only imports are
 * erased at build time and exempt too. Run: `deno run --allow-read scripts/check-imports.ts`
 * (prints each violation, exit 1), or through tests/architecture/imports.test.ts.
 */

export interface Rule {
  /** Internal layers this layer may import (its own is always allowed). */
  layers: readonly string[];
  /** Packages / built-ins it may import. */
  packages: readonly RegExp[];
  /** Files of allowed layers it still must not import (e.g. gateway-only code in the client). */
  forbiddenFiles?: readonly RegExp[];
  /** When set, imports of these layers are restricted to matching files only. */
  onlyFiles?: Readonly<Record<string, RegExp>>;
}

const NOBLE = /^@noble\//;
const NODE = /^node:/;

export const RULES: Readonly<Record<string, Rule>> = {
  // Pure: bytes in, bytes out; nothing but noble (src/protocol/README-level rule, PROTOCOL.md).
  protocol: { layers: [], packages: [NOBLE] },
  crypto: { layers: ["protocol"], packages: [NOBLE, /^node:crypto$/] },
  tunnel: { layers: ["protocol", "crypto"], packages: [] },
  // Knows no crypto: only the protocol's constants (record and window sizes), and from the
  // tunnel the seam's types and the tunneled-WebSocket message codec (PROTOCOL.md §6.9).
  proxy: {
    layers: ["protocol", "tunnel"],
    packages: [],
    onlyFiles: {
      protocol: /^src\/protocol\/constants\.ts$/,
      tunnel: /^src\/tunnel\/(types|ws-messages)\.ts$/,
    },
  },
  demo: { layers: [], packages: [/^hono(\/|$)/] },
  // Credential verifiers (docs/client-auth.md): the seam types, noble, jose, the argon2id build;
  // node:fs/promises only in loadArgon2Module (a dynamic import a Worker never reaches).
  auth: {
    layers: ["tunnel"],
    onlyFiles: { tunnel: /^src\/tunnel\/types\.ts$/ },
    packages: [NOBLE, /^jose$/, /^argon2id\/lib\/setup\.js$/, /^node:fs\/promises$/],
  },
  gateway: {
    layers: ["protocol", "crypto", "tunnel", "proxy", "demo", "auth"],
    // No bundler: the browser client is prebuilt (scripts/build-client.mjs) and only read.
    packages: [/^hono(\/|$)/],
  },
  transport: {
    layers: ["protocol", "crypto", "tunnel", "proxy", "gateway", "auth"],
    // prom-client: only src/transport/observe/prom-metrics.ts, by a dynamic import.
    packages: [NODE, /^ws$/, /^@hono\/node-server(\/|$)/, /^hono(\/|$)/, /^prom-client$/],
  },
  // Never imports transport, proxy, gateway or hono; never the gateway's half of the core.
  client: {
    layers: ["protocol", "crypto", "tunnel"],
    packages: [NOBLE],
    forbiddenFiles: [
      /^src\/tunnel\/(server-session|server-streams|server-output|session-persistence|session-snapshot)\.ts$/,
      /^src\/protocol\/handshake-server\.ts$/,
    ],
  },
  cli: {
    layers: [
      "protocol",
      "crypto",
      "tunnel",
      "proxy",
      "gateway",
      "transport",
      "client",
      "demo",
      "auth",
    ],
    packages: [NODE, /^ws$/],
  },
  worker: {
    layers: [
      "protocol",
      "crypto",
      "tunnel",
      "proxy",
      "gateway",
      "transport",
      "demo",
      "entry",
      "auth",
    ],
    packages: [],
  },
  // src/<name>.ts: the package's entry modules (one per audience), re-exporting the layers.
  entry: {
    layers: [
      "protocol",
      "crypto",
      "tunnel",
      "proxy",
      "gateway",
      "transport",
      "client",
      "demo",
      "auth",
    ],
    packages: [NOBLE, NODE, /^hono(\/|$)/, /^ws$/, /^@hono\/node-server(\/|$)/],
  },
};

/**
 * The layer of a repository path ("src/tunnel/x.ts" → "tunnel", "worker/x.ts" → "worker",
 * "src/cloudflare.ts" → "entry").
 */
export function layerOf(path: string): string | null {
  if (path.startsWith("worker/")) return "worker";
  if (/^src\/[^/]+\.ts$/.test(path)) return "entry";
  const m = /^src\/([^/]+)\//.exec(path);
  return m ? m[1] : null;
}

/** Import specifiers of a module's source, type-only imports excluded. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  // Static imports and re-exports; `import type` / `export type` are skipped.
  const stmt = /(?:^|\n)\s*(import|export)\s+(type\s+)?([^;]*?)\s*from\s*["']([^"']+)["']/g;
  for (const m of source.matchAll(stmt)) if (!m[2]) out.push(m[4]);
  for (const m of source.matchAll(/(?:^|\n)\s*import\s*["']([^"']+)["']/g)) out.push(m[1]);
  for (const m of source.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) out.push(m[1]);
  return out;
}

function normalize(path: string): string {
  const parts: string[] = [];
  for (const p of path.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== "." && p !== "") parts.push(p);
  }
  return parts.join("/");
}

/** The violations of one module (repository-relative path and its source). */
export function violationsOf(path: string, source: string): string[] {
  const layer = layerOf(path);
  if (layer === null) return [];
  const rule = RULES[layer];
  if (!rule) {
    return [`${path}: layer "${layer}" has no import rule (add it to scripts/check-imports.ts)`];
  }
  const out: string[] = [];
  const dir = path.slice(0, path.lastIndexOf("/"));
  for (const spec of importsOf(source)) {
    if (spec.startsWith(".")) {
      const target = normalize(`${dir}/${spec}`);
      const to = layerOf(target);
      if (to === null) {
        out.push(`${path}: imports ${spec}, outside src/ and worker/`);
        continue;
      }
      if (to !== layer && !rule.layers.includes(to)) {
        out.push(`${path}: ${layer} must not import ${to} (${spec})`);
      } else if (rule.forbiddenFiles?.some((f) => f.test(target))) {
        out.push(`${path}: ${layer} must not import ${target}`);
      } else if (to !== layer && rule.onlyFiles?.[to] && !rule.onlyFiles[to].test(target)) {
        out.push(
          `${path}: ${layer} may import only ${
            rule.onlyFiles[to].source
          } from ${to}, not ${target}`,
        );
      }
    } else if (!rule.packages.some((p) => p.test(spec))) {
      out.push(`${path}: ${layer} must not import the package ${spec}`);
    }
  }
  return out;
}

const EXEMPT = /(\.test\.ts|\/testing\.ts)$/;

/** Every violation in the repository at `root` (a file URL ending in "/"). */
export async function checkRepository(root: URL): Promise<string[]> {
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for await (const e of Deno.readDir(new URL(rel, root))) {
      const p = `${rel}${e.name}`;
      if (e.isDirectory) await walk(`${p}/`);
      else if (p.endsWith(".ts") && !EXEMPT.test(p)) {
        out.push(...violationsOf(p, await Deno.readTextFile(new URL(p, root))));
      }
    }
  }
  await walk("src/");
  await walk("worker/");
  return out;
}

if (import.meta.main) {
  const problems = await checkRepository(new URL("../", import.meta.url));
  for (const p of problems) console.error(p);
  if (problems.length > 0) Deno.exit(1);
  console.log("check-imports: every module follows the layer rules");
}
