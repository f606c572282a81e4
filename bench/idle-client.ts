/**
 * Opens idle pqgate channels to a bench gateway and reports the gateway's RSS at each step.
 *
 *   deno run -A bench/idle-client.ts --gateway http://127.0.0.1:PORT --steps 1000,10000
 *
 * Run with a raised `ulimit -n` (the bench runner does). Channels are opened 32 at a time with
 * the `ws` npm WebSocket (Deno's own client stalls ~44 ms on >1 KiB client messages), each
 * completes its handshake, then stays open doing nothing (the gateway PINGs only every 5 min).
 *
 * After each step (and before the first channel) the gateway is left idle until V8 has given
 * back the young generation that the burst of handshakes grew (its memory reducer runs on its
 * own once allocation stops, within ~10-30 s here; the committed new space drops from ~50 MB
 * to ~2 MB): polled without a forced GC every 2 s until the new space is <= 4 MB and RSS
 * moved < 1 MB since the last poll, at most 60 s. Then the gateway's /__bench/stats (RSS after
 * GC) is the step's figure; `burstRss` is the RSS 1 s after the step (no GC), before settling.
 * Prints one JSON object.
 */
import WS from "ws";
import { Channel } from "../src/client/mod.ts";
import { selectBackends } from "../src/crypto/select.ts";
import { BENCH_KEY } from "./common.ts";

const arg = (k: string) => Deno.args[Deno.args.indexOf(k) + 1];
const base = arg("--gateway");
const steps = arg("--steps").split(",").map(Number);
const wsUrl = base.replace(/^http/, "ws") + "/pqgate";
const kem = (await selectBackends({ timeAead: false })).kem;

interface Stats {
  rss: number;
  heapUsed: number;
  external: number;
  newSpaceMB: number | null;
  sessions: number;
}
async function stats(gc = true): Promise<Stats> {
  return await (await fetch(base + "/__bench/stats" + (gc ? "" : "?nogc"))).json() as Stats;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (no forced GC) until V8 gave back the burst's young generation; then stats after GC. */
async function settled(): Promise<Stats & { burstRss: number; settleSeconds: number }> {
  await sleep(1000);
  const t = performance.now();
  const burst = await stats(false);
  let prev = burst.rss;
  while (performance.now() - t < 60_000) {
    await sleep(2000);
    const s = await stats(false);
    const still = Math.abs(s.rss - prev) < 1e6;
    prev = s.rss;
    if (s.newSpaceMB !== null && s.newSpaceMB <= 4 && still) break;
  }
  const settleSeconds = Math.round((performance.now() - t) / 1000);
  return { ...await stats(), burstRss: burst.rss, settleSeconds };
}

const open: Channel[] = [];
const out: {
  channels: number;
  rss: number;
  heapUsed: number;
  sessions: number;
  burstRss: number;
  settleSeconds: number;
  newSpaceMB: number | null;
}[] = [];
let failed = 0;
let error: string | null = null;
const before = await settled();
const t0 = performance.now();
outer: for (const target of steps) {
  let next = open.length;
  const worker = async () => {
    while (next < target) {
      next++;
      const ch = new Channel(wsUrl, {
        publicKey: BENCH_KEY.publicKey,
        keyId: BENCH_KEY.keyId,
        WebSocket: WS,
        kem,
        handshakeTimeoutMs: 30_000,
      });
      try {
        await ch.ready();
        open.push(ch);
      } catch (e) {
        failed++;
        error = (e as Error).message;
        if (failed > 20) return;
      }
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  if (failed > 20) break outer;
  const s = await settled();
  out.push({
    channels: open.length,
    rss: s.rss,
    heapUsed: s.heapUsed,
    sessions: s.sessions,
    burstRss: s.burstRss,
    settleSeconds: s.settleSeconds,
    newSpaceMB: s.newSpaceMB,
  });
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ before, steps: out, failed, error, seconds }));
for (const c of open) c.close();
await sleep(500);
Deno.exit(0);
