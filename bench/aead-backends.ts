/**
 * Raw AEAD throughput per backend and runtime, to decide the gateway's default suite order
 * (src/gateway/options.ts `defaultSuites`, docs/benchmarks.md "AEAD per runtime"): seal + open
 * of one record, MB/s of plaintext, for node:crypto AES-256-GCM / ChaCha20-Poly1305, WebCrypto
 * AES-GCM (async: one await per call) and noble, at 1 KiB and 16 KiB. Bench code only.
 *
 *   deno run -A bench/aead-backends.ts [--workerd]
 *
 * Deno: best of 5 × 60 ms trials, in process. workerd (`--workerd`, the pinned and the native
 * workerd through Miniflare): the clock does not advance inside a request, so each op runs 200
 * times per request and the figure is the workerd process's CPU time per call (minus an empty
 * request), median of 5 samples.
 */
import { type Op, OPS } from "./aead-worker.ts";

const SIZES = [1024, 16384];

async function best(op: Op, size: number): Promise<number> {
  const pt = new Uint8Array(size).fill(3);
  let top = 0;
  for (let r = 0; r < 5; r++) {
    let n = 0;
    const t = performance.now();
    while (performance.now() - t < 60) {
      await op(pt);
      n++;
    }
    top = Math.max(top, n * size / ((performance.now() - t) / 1000) / 1e6);
  }
  return top;
}

async function workerd(): Promise<void> {
  const { processCpuNs, startWorker, workerdVersion } = await import(
    "../tests/cloudflare/miniflare.ts"
  );
  const { build } = await import("esbuild");
  const out = new URL("../dist/bench-aead/index.js", import.meta.url);
  await build({
    entryPoints: [new URL("./aead-worker.ts", import.meta.url).pathname],
    bundle: true,
    format: "esm",
    platform: "neutral",
    external: ["node:*"],
    outfile: out.pathname,
    logLevel: "warning",
  });
  for (const runtime of ["pinned", "native"] as const) {
    let w;
    try {
      w = await startWorker({ keys: "[]", bundle: out, runtime });
    } catch (e) {
      console.log(`workerd ${runtime}: skipped (${e instanceof Error ? e.message : e})`);
      continue;
    }
    const cpu = async (op: string, size: number, n: number) => {
      await new Promise((r) => setTimeout(r, 5));
      const c0 = processCpuNs(w.workerdPid!).main;
      const r = await fetch(`${w.url}?op=${encodeURIComponent(op)}&size=${size}&n=${n}`);
      const t = await r.text();
      if (!r.ok) throw new Error(t);
      return processCpuNs(w.workerdPid!).main - c0;
    };
    console.log(`\nworkerd ${workerdVersion(runtime)} (${runtime}): MB/s (CPU per call)`);
    for (const size of SIZES) {
      for (const op of Object.keys(OPS)) {
        const n = op.includes("noble") ? 20 : 200;
        const s: number[] = [];
        try {
          await cpu(op, size, n);
          for (let i = 0; i < 5; i++) s.push((await cpu(op, size, n)) - (await cpu("", size, 0)));
        } catch (e) {
          console.log(`| ${op} | ${size} | n/a (${String(e).slice(0, 80)}) |`);
          continue;
        }
        s.sort((a, b) => a - b);
        const nsPerCall = s[2] / n;
        console.log(`| ${op} | ${size} | ${(size / nsPerCall * 1e3).toFixed(1)} |`);
      }
    }
    await w.close();
  }
}

if (import.meta.main) {
  const g = globalThis as { Deno?: { version: { deno: string } } };
  console.log(`${g.Deno ? "Deno " + g.Deno.version.deno : "?"}: MB/s, best of 5 × 60 ms`);
  for (const size of SIZES) {
    for (const [name, op] of Object.entries(OPS)) {
      console.log(`| ${name} | ${size} | ${(await best(op, size)).toFixed(1)} |`);
    }
  }
  if (Deno.args.includes("--workerd")) await workerd();
}
