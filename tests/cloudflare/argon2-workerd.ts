/**
 * Starts the Argon2id test Worker (argon2-entry.ts) in workerd through Miniflare, on either
 * with the argon2id package's SIMD module imported as a CompiledWasm module.
 */
import { Miniflare } from "miniflare";
import { fileURLToPath as fromFileUrl } from "node:url";
import { ROOT, wranglerCompat } from "./miniflare.ts";

const OUT = new URL("dist/test-argon2/index.js", ROOT);
let built: Promise<unknown> | null = null;

export interface Argon2Worker {
  mf: Miniflare;
  url: string;
  workerdPid: number | null;
  close(): Promise<void>;
}

function workerdChild(before: Set<number>): number | null {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name) || before.has(Number(e.name))) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      if (Number(stat.slice(close + 2).split(" ")[1]) === Deno.pid && comm.startsWith("workerd")) {
        return Number(e.name);
      }
    } catch { /* raced with exit */ }
  }
  return null;
}

export async function startArgon2Worker(users = ""): Promise<Argon2Worker> {
  built ??= (async () => {
    const { buildWorker } = await import("../../scripts/build-worker.mjs");
    await buildWorker({ entry: "tests/cloudflare/argon2-entry.ts", outfile: fromFileUrl(OUT) });
  })();
  await built;
  const before = new Set(
    [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).map((e) => Number(e.name)),
  );
  const { compatibilityDate, compatibilityFlags } = wranglerCompat();
  const mf = new Miniflare({
    // The entry imports the module as a deployed Worker does (wrangler's CompiledWasm rule).
    modules: [
      {
        type: "ESModule",
        path: fromFileUrl(new URL("entry.js", OUT)),
        contents: 'import wasm from "./simd.wasm"; import worker from "./index.js";\n' +
          "export default { fetch: (r, env, ctx) => worker.fetch(r, { ...env, ARGON2_WASM: wasm }, ctx) };",
      },
      { type: "ESModule", path: fromFileUrl(OUT), contents: Deno.readTextFileSync(OUT) },
      {
        type: "CompiledWasm",
        path: fromFileUrl(new URL("simd.wasm", OUT)),
        contents: Deno.readFileSync(new URL("node_modules/argon2id/dist/simd.wasm", ROOT)),
      },
    ],
    compatibilityDate,
    compatibilityFlags,
    bindings: { USERS: users },
  });
  const url = String(await mf.ready);
  return { mf, url, workerdPid: workerdChild(before), close: () => mf.dispose() };
}
