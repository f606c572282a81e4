/**
 * Gateway CPU per pinned-key handshake, per crypto backend, and record-layer throughput.
 *
 *   node scripts/deno.mjs task bench [-- --json] [--n 300]     (Deno)
 *   node bench/handshake-node.mjs [--json] [--n 300]           (Node: bundled with esbuild)
 *
 * Handshake: only the gateway's calls are timed — `prepareServer` (where the backend has
 * one: the async native ML-KEM hop) + `ServerHandshake.receiveClientHello` +
 * `receiveClientFinished`. Client work runs between them, untimed. "wall" is elapsed time of
 * those calls (median, p99); "cpu" is process CPU time (all threads, so WebCrypto's worker
 * threads count too) over the same calls, averaged.
 *
 * Portable on purpose (no Deno.* API): the same file runs on Node after bundling.
 */
import { cpus } from "node:os";
import { readFileSync } from "node:fs";
import process from "node:process";
import { CachedXWing } from "../src/crypto/xwing.ts";
import { type ConnectionKem, selectBackends } from "../src/crypto/select.ts";
import { aes256gcm, chacha20poly1305 } from "../src/protocol/aead.ts";
import {
  SUITE_XWING_AES256GCM as AES,
  SUITE_XWING_CHACHA20POLY1305 as CHACHA,
  type SuiteId,
} from "../src/protocol/constants.ts";
import { generateStaticKey } from "../src/protocol/static-keys.ts";
import { ClientHandshake } from "../src/protocol/handshake-client.ts";
import { ServerHandshake } from "../src/protocol/handshake-server.ts";
import { xwingNoble } from "../src/protocol/kem.ts";
import { RecordLayer } from "../src/protocol/record-layer.ts";
import { seededRandom } from "../src/protocol/testing.ts";
import type { Aead, HybridKem } from "../src/protocol/types.ts";
import { benchSessionKeys } from "./session-keys.ts";

const args = process.argv.slice(2);
const JSON_OUT = args.includes("--json");
const nIdx = args.indexOf("--n");
const N = nIdx >= 0 ? Math.max(10, Number(args[nIdx + 1]) || 300) : 300;
const WARMUP = Math.max(20, Math.round(N / 5));

const denoVersion = (globalThis as { Deno?: { version: { deno: string } } }).Deno?.version.deno;
const runtime = denoVersion ? `Deno ${denoVersion}` : `Node ${process.version}`;
function cpuModel(): string {
  try {
    const m = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return cpus()[0]?.model ?? "unknown";
}
const machine = { cpu: cpuModel(), cores: cpus().length };

function cpuNow(): number {
  const u = process.cpuUsage();
  return u.user + u.system; // µs
}
function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
const r1 = (x: number) => Math.round(x * 10) / 10;

const KEY = generateStaticKey(seededRandom("bench gateway key")(32));
const sysRandom = (n: number) => crypto.getRandomValues(new Uint8Array(n));

interface HsRow {
  backend: string;
  medianUs: number;
  p99Us: number;
  cpuUs: number;
  n: number;
}

/** Times the gateway's side of N pinned handshakes with `serverKem()` per connection. */
async function benchHandshake(
  label: string,
  serverKem: () => ConnectionKem,
  clientKem: HybridKem,
): Promise<HsRow> {
  const wall: number[] = [];
  let cpu = 0;
  for (let i = 0; i < WARMUP + N; i++) {
    const c = new ClientHandshake({
      kem: clientKem,
      random: sysRandom,
      server: { keyId: KEY.keyId, publicKey: KEY.publicKey },
    });
    const ch = c.start();
    const kem = serverKem();
    const s = new ServerHandshake({ kem, keys: [KEY], random: sysRandom });
    let c0 = cpuNow(), t0 = performance.now();
    if (kem.prepareServer) await kem.prepareServer(ch);
    const sh = s.receiveClientHello(ch);
    let t = performance.now() - t0, cu = cpuNow() - c0;
    const { clientFinished } = c.receiveServerHello(sh);
    c0 = cpuNow();
    t0 = performance.now();
    s.receiveClientFinished(clientFinished);
    t += performance.now() - t0;
    cu += cpuNow() - c0;
    if (i >= WARMUP) {
      wall.push(t * 1000);
      cpu += cu;
    }
  }
  wall.sort((a, b) => a - b);
  return {
    backend: label,
    medianUs: r1(quantile(wall, 0.5)),
    p99Us: r1(quantile(wall, 0.99)),
    cpuUs: r1(cpu / N),
    n: N,
  };
}

/** A "KEM" that returns fixed outputs: what is left is codec + key schedule (noble hashes). */
function nullKem(): HybridKem {
  const e = xwingNoble.encapsulate(KEY.publicKey, new Uint8Array(64).fill(7));
  return {
    name: "none (fixed outputs)",
    keygen: (seed) => xwingNoble.keygen(seed),
    encapsulate: () => ({
      cipherText: new Uint8Array(e.cipherText),
      sharedSecret: new Uint8Array(e.sharedSecret),
    }),
    decapsulate: () => new Uint8Array(e.sharedSecret),
  };
}

interface TpRow {
  suite: string;
  aead: string;
  size: number;
  recordMBs: number;
  rawMBs: number;
  /** recordMBs / rawMBs in percent: what the record layer keeps of the raw AEAD's speed. */
  ratioPct: number;
}

/** Seal+open throughput through the record layer and through the raw AEAD, MB/s of plaintext. */
function benchThroughput(suite: SuiteId, aead: Aead, size: number): TpRow {
  const keys = benchSessionKeys(suite, "bench keys " + suite);
  const pick = () => aead;
  const tx = new RecordLayer({ role: "server", keys, now: 0, aead: pick });
  const rx = new RecordLayer({ role: "client", keys, now: 0, aead: pick });
  const pt = seededRandom("pt")(size);
  // Record layer and raw AEAD are timed in alternating ~60 ms trials (5 each) and the best
  // trial of each is kept: on a shared 2-core machine background load comes and goes, and
  // timing one side entirely before the other (as an earlier version did) let a burst of load
  // land on one side only (ratios above 100% were seen). Both sides do the same work per
  // iteration: one seal + one open of `size` bytes.
  const key = seededRandom("raw key")(32), nonce = new Uint8Array(12), aad = new Uint8Array(10);
  const record = () => {
    rx.open(tx.seal(pt, 1), 1);
  };
  const raw = () => {
    aead.open(key, nonce, aad, aead.seal(key, nonce, aad, pt));
  };
  const trial = (f: () => void): number => {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 60) {
      for (let i = 0; i < 4; i++) f();
      n += 4;
    }
    return (n * size) / ((performance.now() - t0) / 1000) / 1e6;
  };
  for (let i = 0; i < 5; i++) {
    record();
    raw();
  }
  let recordMBs = 0, rawMBs = 0;
  for (let t = 0; t < 5; t++) {
    recordMBs = Math.max(recordMBs, trial(record));
    rawMBs = Math.max(rawMBs, trial(raw));
  }
  return {
    suite: suite === AES ? "AES-256-GCM" : "ChaCha20-Poly1305",
    aead: aead.name,
    size,
    recordMBs: r1(recordMBs),
    rawMBs: r1(rawMBs),
    ratioPct: r1((recordMBs / rawMBs) * 100),
  };
}

// ---- run -----------------------------------------------------------------------------------
const selected = await selectBackends({ staticKeys: [KEY] });
const nobleCached = new CachedXWing();
nobleCached.addStaticKeys([KEY]);
const fast = selected.kem;

const handshakes: HsRow[] = [];
handshakes.push(await benchHandshake("all-noble (core default)", () => xwingNoble, fast));
handshakes.push(await benchHandshake("noble + cached static key", () => nobleCached, fast));
if (fast !== xwingNoble) {
  handshakes.push(await benchHandshake(`sync native: ${fast.name}`, () => fast, fast));
}
if (selected.report.prepared) {
  handshakes.push(
    await benchHandshake(
      `prepared: ${selected.report.prepared}`,
      () => selected.forConnection(),
      fast,
    ),
  );
}
const nk = nullKem();
handshakes.push(await benchHandshake("floor: no KEM (codec + noble key schedule)", () => nk, nk));

// The async hop alone: one awaited already-resolved promise and one tiny WebCrypto call.
async function hop(): Promise<{ awaitUs: number; digestUs: number }> {
  const n = 2000;
  let t = performance.now();
  for (let i = 0; i < n; i++) await Promise.resolve();
  const awaitUs = ((performance.now() - t) * 1000) / n;
  const d = new Uint8Array(32);
  for (let i = 0; i < 50; i++) await crypto.subtle.digest("SHA-256", d);
  t = performance.now();
  for (let i = 0; i < 500; i++) await crypto.subtle.digest("SHA-256", d);
  return {
    awaitUs: Math.round(awaitUs * 100) / 100,
    digestUs: r1(((performance.now() - t) * 1000) / 500),
  };
}
const asyncHop = await hop();

const throughput: TpRow[] = [];
for (const [suite, noble] of [[AES, aes256gcm], [CHACHA, chacha20poly1305]] as const) {
  const impls = [noble];
  if (selected.aead(suite) !== noble) impls.push(selected.aead(suite));
  for (const a of impls) {
    for (const size of [1024, 16384]) throughput.push(benchThroughput(suite, a, size));
  }
}

const result = {
  runtime,
  machine,
  n: N,
  warmup: WARMUP,
  selection: selected.report,
  handshakes,
  asyncHop,
  throughput,
};

if (JSON_OUT) {
  console.log(JSON.stringify(result));
} else {
  const pad = (s: string | number, w: number) => String(s).padStart(w);
  const padE = (s: string | number, w: number) => String(s).padEnd(w);
  console.log(
    `runtime: ${runtime}   machine: ${machine.cpu}, ${machine.cores} cores   n=${N} (warmup ${WARMUP})`,
  );
  console.log(
    `selection (${selected.report.ms} ms): ${JSON.stringify(selected.report.aead)}${
      selected.report.fallbacks.length ? "  fallbacks: " + selected.report.fallbacks.join("; ") : ""
    }`,
  );
  console.log(
    "\nGateway CPU per pinned-key handshake (prepare + receiveClientHello + receiveClientFinished)",
  );
  console.log(
    `| ${padE("backend", 78)} | ${pad("median µs", 9)} | ${pad("p99 µs", 8)} | ${
      pad("cpu µs", 8)
    } |`,
  );
  console.log(`|${"-".repeat(80)}|${"-".repeat(11)}|${"-".repeat(10)}|${"-".repeat(10)}|`);
  for (const r of handshakes) {
    console.log(
      `| ${padE(r.backend, 78)} | ${pad(r.medianUs, 9)} | ${pad(r.p99Us, 8)} | ${
        pad(r.cpuUs, 8)
      } |`,
    );
  }
  console.log(
    `\nasync hop: await of a resolved promise ${asyncHop.awaitUs} µs; one WebCrypto SHA-256 digest of 32 B ${asyncHop.digestUs} µs`,
  );
  console.log(
    "\nRecord layer (seal + open, one direction each) vs raw AEAD (seal + open), MB/s of plaintext, best of 5 alternating 60 ms trials",
  );
  console.log(
    `| ${padE("suite", 18)} | ${padE("AEAD", 32)} | ${pad("record", 6)} | ${
      pad("layer MB/s", 10)
    } | ${pad("raw MB/s", 8)} | ${pad("ratio", 6)} |`,
  );
  console.log(
    `|${"-".repeat(20)}|${"-".repeat(34)}|${"-".repeat(8)}|${"-".repeat(12)}|${"-".repeat(10)}|${
      "-".repeat(8)
    }|`,
  );
  for (const r of throughput) {
    console.log(
      `| ${padE(r.suite, 18)} | ${padE(r.aead, 32)} | ${
        pad(r.size === 1024 ? "1 KiB" : "16 KiB", 6)
      } | ${pad(r.recordMBs, 10)} | ${pad(r.rawMBs, 8)} | ${pad(r.ratioPct + "%", 6)} |`,
    );
  }
}
