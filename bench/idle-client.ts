/**
 * Opens idle pqgate channels to a bench gateway and reports the gateway's RSS at each step.
 *
 *   deno run -A bench/idle-client.ts --gateway http://127.0.0.1:PORT --steps 1000,10000
 *
 * Run with a raised `ulimit -n` (the bench runner does). Channels are opened 32 at a time with
 * the `ws` npm WebSocket (Deno's own client stalls ~44 ms on >1 KiB client messages), each
 * completes its handshake, then stays open doing nothing (the gateway PINGs only every 5 min).
 * After each step: the gateway's /__bench/stats (RSS after GC). Prints one JSON object.
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

async function stats() {
  return await (await fetch(base + "/__bench/stats")).json() as {
    rss: number;
    heapUsed: number;
    external: number;
    sessions: number;
  };
}

const open: Channel[] = [];
const out: { channels: number; rss: number; heapUsed: number; sessions: number }[] = [];
let failed = 0;
let error: string | null = null;
const before = await stats();
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
  await new Promise((r) => setTimeout(r, 1000));
  const s = await stats();
  out.push({ channels: open.length, rss: s.rss, heapUsed: s.heapUsed, sessions: s.sessions });
}
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ before, steps: out, failed, error, seconds }));
for (const c of open) c.close();
await new Promise((r) => setTimeout(r, 500));
Deno.exit(0);
