/**
 * `deno task bench:argon2`: one Argon2id password verification at the default parameters
 * (m = 19456 KiB, t = 2, p = 1, 32-byte tag), per implementation and runtime, and what it does to
 * the gateway's event loop (docs/benchmarks.md, "Argon2id"; docs/client-auth.md).
 *
 *   deno run -A bench/argon2.ts [--json] [--quick]
 *
 * Deno: wall ms per verification (median / p99) for the chosen build (argon2id, OpenPGP.js
 * WebAssembly SIMD), hash-wasm (WebAssembly compiled at run time), @node-rs/argon2 (native napi,
 * async on its own thread), @noble/hashes (pure JS), beside a baseline (WebCrypto SHA-256 of the
 * password). Every implementation's tag is checked against the chosen one's first.
 *
 * Event-loop stall: the longest and p99 gap of a 1 ms timer while 10 verifications run one
 * after another (each in its own task, as AUTH frames arrive), on the main thread and in the
 * worker pool (src/auth/argon2-pool.ts).
 *
 * workerd (Miniflare, the pinned runtime): CPU ms of workerd's event-loop thread per verification
 * (a request doing one, minus a request doing none), the figure Workers bills.
 */
import { hashRaw } from "@node-rs/argon2";
import { argon2id as nobleArgon2id } from "@noble/hashes/argon2.js";
import { argon2id as hashWasmArgon2id } from "hash-wasm";
import { createArgon2WorkerPool } from "../src/auth/argon2-pool.ts";
import { loadArgon2Module, wasmArgon2 } from "../src/auth/argon2.ts";
import { type Argon2Backend, DEFAULT_ARGON2 } from "../src/auth/options.ts";
import { processCpuNs, workerdVersion } from "../tests/cloudflare/miniflare.ts";
import { startArgon2Worker } from "../tests/cloudflare/argon2-workerd.ts";
import { cpuModel, type Stat, stat } from "./common.ts";

const JSON_OUT = Deno.args.includes("--json");
const QUICK = Deno.args.includes("--quick");
const N = QUICK ? 7 : 25;
const P = DEFAULT_ARGON2;
const salt = new Uint8Array(16).fill(7);
const pw = (i: number) => new TextEncoder().encode(`password-${i}-of-the-bench`);
const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");

type Impl = { name: string; runtime: string; hash: (p: Uint8Array) => Promise<Uint8Array> };

const wasm = await wasmArgon2(await loadArgon2Module());
const pool = createArgon2WorkerPool(1);
const impls: Impl[] = [
  {
    name: "argon2id 1.0.1 WASM SIMD (chosen), main thread",
    runtime: "deno",
    hash: (p) => wasm.hash(p, salt, P),
  },
  {
    name: "argon2id 1.0.1 WASM SIMD (chosen), worker pool",
    runtime: "deno",
    hash: (p) => pool.hash(p, salt, P),
  },
  {
    name: "hash-wasm 4.13.0",
    runtime: "deno",
    hash: (p) =>
      hashWasmArgon2id({
        password: p,
        salt,
        memorySize: P.m,
        iterations: P.t,
        parallelism: P.p,
        hashLength: P.hashLength,
        outputType: "binary",
      }),
  },
  {
    name: "@node-rs/argon2 2.2.1 (native, async)",
    runtime: "deno",
    hash: async (p) =>
      new Uint8Array(
        await hashRaw(p, {
          salt,
          memoryCost: P.m,
          timeCost: P.t,
          parallelism: P.p,
          outputLen: P.hashLength,
          algorithm: 2,
        }),
      ),
  },
  {
    name: "@noble/hashes 2.4.0 (pure JS)",
    runtime: "deno",
    hash: (p) =>
      Promise.resolve(nobleArgon2id(p, salt, { m: P.m, t: P.t, p: P.p, dkLen: P.hashLength })),
  },
  {
    name: "baseline: WebCrypto SHA-256 of the password",
    runtime: "deno",
    hash: async (p) => new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(p))),
  },
];

const rows: { runtime: string; implementation: string; unit: string; stat: Stat }[] = [];
const want = hex(await wasm.hash(pw(0), salt, P));
for (const impl of impls) {
  const got = hex(await impl.hash(pw(0)));
  if (!impl.name.startsWith("baseline") && got !== want) {
    throw new Error(`${impl.name}: tag differs`);
  }
  const n = impl.name.includes("noble") ? Math.min(N, 9) : N;
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await impl.hash(pw(i));
    xs.push(performance.now() - t);
  }
  rows.push({
    runtime: "Deno " + Deno.version.deno,
    implementation: impl.name,
    unit: "wall ms",
    stat: stat(xs),
  });
}

/** Longest and p99 gap of a 1 ms timer while `run` runs. */
async function stall(run: () => Promise<void>): Promise<{ maxMs: number; p99Ms: number }> {
  const gaps: number[] = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const t = performance.now();
    gaps.push(t - last);
    last = t;
  }, 1);
  await new Promise((r) => setTimeout(r, 20));
  await run();
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(timer);
  const s = stat(gaps);
  return { maxMs: Math.round(Math.max(...gaps) * 10) / 10, p99Ms: s.p99 };
}
// One verification per macrotask, as AUTH frames arrive: the gap is one verification's stall.
const serial = (b: Argon2Backend) => async () => {
  for (let i = 0; i < 10; i++) {
    await b.hash(pw(i), salt, P);
    await new Promise((r) => setTimeout(r, 0));
  }
};
const stalls = {
  idle: await stall(() => new Promise((r) => setTimeout(r, 300))),
  mainThread: await stall(serial(wasm)),
  workerPool: await stall(serial(pool)),
};
pool.close?.();

// workerd
const w = await startArgon2Worker();
const cpu: number[] = [];
try {
  if (w.workerdPid === null) throw new Error("workerd pid not found");
  const req = async (n: number) => {
    const c0 = processCpuNs(w.workerdPid!).main;
    await (await w.mf.dispatchFetch(`${w.url}hash?n=${n}`)).arrayBuffer();
    return processCpuNs(w.workerdPid!).main - c0;
  };
  await req(1);
  await req(0);
  for (let i = 0; i < N; i++) cpu.push((await req(1) - (await req(0))) / 1e6);
} finally {
  await w.close();
}
rows.push({
  runtime: `workerd ${workerdVersion("pinned")}`,
  implementation: "argon2id 1.0.1 WASM SIMD (chosen), CompiledWasm module",
  unit: "CPU ms",
  stat: stat(cpu),
});

const result = { machine: cpuModel(), params: P, rows, eventLoopStall: stalls };
if (JSON_OUT) console.log(JSON.stringify(result, null, 2));
else {
  console.log(`Argon2id m=${P.m} KiB t=${P.t} p=${P.p}, ${result.machine}\n`);
  console.log("| runtime | implementation | unit | median | p99 |\n|---|---|---|---|---|");
  for (const r of rows) {
    console.log(
      `| ${r.runtime} | ${r.implementation} | ${r.unit} | ${r.stat.median} | ${r.stat.p99} |`,
    );
  }
  console.log("\nEvent-loop stall (1 ms timer gaps) during 10 serial verifications:");
  console.log("| where | max gap ms | p99 gap ms |\n|---|---|---|");
  for (const [k, v] of Object.entries(stalls)) console.log(`| ${k} | ${v.maxMs} | ${v.p99Ms} |`);
}
