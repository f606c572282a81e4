/**
 * What one channel costs the gateway outside its handshake crypto (issue 13): gateway CPU per new
 * channel, and gateway RSS per idle channel.
 *
 *   deno run -A bench/channel-cost.ts [--cpu BATCHES] [--batch N] [--mem 1000,10000,19500]
 *     [--prof DIR] [--profile N] [--heap PREFIX] [--server node|deno] [--skip cpu|mem] [--json]
 *
 * The gateway is bench/gateway-server.ts (a real serveDeno, node:http + ws, crypto "auto"; with
 * `--server deno` serveDeno's Deno.serve + upgradeWebSocket server instead) in a
 * subprocess with `--v8-flags=--expose-gc`, so its /proc CPU and RSS are its own; `--prof DIR`
 * adds `--cpu-prof --cpu-prof-dir=DIR` to it (the profile is written at SIGTERM). The whole run
 * re-executes itself under `ulimit -n $(ulimit -Hn)` as bench/main.ts does (gateway and client
 * each hold one descriptor per channel: the hard limit, 20,000 on the issue-13 machine, where
 * even root may not raise it, caps a step near 19,500). Clients: the `ws` npm WebSocket (see
 * bench/main.ts for why).
 *
 * - cpu: warm-up (200 channels), then BATCHES batches (default 15) of N (default 100) channels,
 *   one after another: open, handshake, one small request (`GET /` → "ok\n"), close; after each
 *   batch 300 ms so the closes finish. Per batch: gateway CPU (utime + stime, /proc, 10 ms
 *   ticks) / N. Median and p99 are over the batches (p99 of 15 batches is their maximum).
 * - `--profile N`: after cpu, where a new channel's gateway CPU goes, stage by stage, over N
 *   channels (bench/channel-profile.ts: a `--cpu-prof` of a second gateway); in the JSON as
 *   `profile`, and as a Markdown table on stderr.
 * - mem: idle channels opened 32 at a time up to each step; after each step the gateway's
 *   /__bench/stats (RSS after 3 GCs) minus the RSS before the first channel, per channel.
 *   Loopback has ~28,000 ephemeral ports per source address: the client's sockets are spread
 *   over 127.0.0.2..127.0.0.9 (`localAddress`). `--heap PREFIX`: the gateway runs with
 *   `--inspect` and a heap snapshot is written after each step (PREFIX-<channels>.heapsnapshot).
 */
import WS from "ws";
import { Channel } from "../src/client/mod.ts";
import { selectBackends } from "../src/crypto/select.ts";
import { BENCH_KEY, ORIGIN_HOST, procCpuUs, spawnReady } from "./common.ts";
import { profileChannels, profileMarkdown } from "./channel-profile.ts";

const args = Deno.args;
const arg = (k: string, d: string) => args.includes(k) ? args[args.indexOf(k) + 1] : d;
const root = new URL("..", import.meta.url).pathname;
const deno = Deno.execPath();

if (!Deno.env.get("PQGATE_CHANNEL_COST_CHILD")) {
  const self = new URL(import.meta.url).pathname;
  const st = await new Deno.Command("bash", {
    args: ["-c", `ulimit -n $(ulimit -Hn) && exec "$0" run -A "$1" "\${@:2}"`, deno, self, ...args],
    env: { PQGATE_CHANNEL_COST_CHILD: "1" },
  }).spawn().status;
  Deno.exit(st.code);
}

const JSON_OUT = args.includes("--json");
const skip = new Set(arg("--skip", "").split(","));
const say = (m: string) => {
  if (!JSON_OUT) console.error(m);
};

interface Gw {
  gateway: string;
  pid: number;
  stop(): Promise<void>;
}

const INSPECT_PORT = 9339;
const SERVER = arg("--server", "node") === "deno" ? "deno" : "node";

async function startGateway(prof: string | null, inspect = false): Promise<Gw> {
  const flags = ["run", "-A", "--v8-flags=--expose-gc"];
  if (prof) flags.push("--cpu-prof", `--cpu-prof-dir=${prof}`);
  if (inspect) flags.push(`--inspect=127.0.0.1:${INSPECT_PORT}`);
  const cmd = new Deno.Command(deno, {
    args: [...flags, `${root}bench/gateway-server.ts`, "--crypto", "auto", "--server", SERVER],
    stdout: "piped",
    stderr: "inherit",
  });
  const p = await spawnReady<{ gateway: string; pid: number }>(cmd, "gateway");
  return { gateway: p.info.gateway, pid: p.info.pid, stop: p.stop };
}

const kem = (await selectBackends({ timeAead: false })).kem;
let local = 0;
/** The `ws` client, its sockets spread over 127.0.0.2..9 (ephemeral ports per source address). */
class SpreadWS extends WS {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { localAddress: `127.0.0.${2 + (local++ % 8)}` });
  }
}
const channel = (g: Gw) =>
  new Channel(g.gateway.replace(/^http/, "ws") + "/pqgate", {
    publicKey: BENCH_KEY.publicKey,
    keyId: BENCH_KEY.keyId,
    WebSocket: SpreadWS as unknown as typeof WS,
    kem,
    handshakeTimeoutMs: 30_000,
  });

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function oneChannel(g: Gw): Promise<void> {
  const ch = channel(g);
  await ch.ready();
  const r = await ch.fetch(`https://${ORIGIN_HOST}/`);
  await r.arrayBuffer();
  ch.close();
}

async function cpu(prof: string | null) {
  const g = await startGateway(prof);
  try {
    const batches = Number(arg("--cpu", "15"));
    const n = Number(arg("--batch", "100"));
    for (let i = 0; i < 200; i++) await oneChannel(g);
    await sleep(500);
    const per: number[] = [];
    for (let b = 0; b < batches; b++) {
      const c0 = procCpuUs(g.pid)!;
      for (let i = 0; i < n; i++) await oneChannel(g);
      await sleep(300);
      per.push((procCpuUs(g.pid)! - c0) / n);
    }
    return {
      batches,
      batch: n,
      medianUs: Math.round(quantile(per, 0.5)),
      p99Us: Math.round(quantile(per, 0.99)),
      perBatchUs: per.map(Math.round),
    };
  } finally {
    await g.stop();
  }
}

async function stats(g: Gw) {
  return await (await fetch(g.gateway + "/__bench/stats")).json() as {
    rss: number;
    heapUsed: number;
    external: number;
    sessions: number;
  };
}

/** A heap snapshot of the gateway through its inspector (HeapProfiler), written to `file`. */
async function heapSnapshot(file: string): Promise<void> {
  const list = await (await fetch(`http://127.0.0.1:${INSPECT_PORT}/json/list`)).json();
  const ws = new WS(list[0].webSocketDebuggerUrl);
  await new Promise((r) => ws.once("open", r));
  const chunks: string[] = [];
  const done = new Promise<void>((resolve) => {
    ws.on("message", (d: Uint8Array) => {
      const m = JSON.parse(new TextDecoder().decode(d));
      if (m.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(m.params.chunk);
      if (m.id === 2) resolve();
    });
  });
  ws.send(JSON.stringify({ id: 1, method: "HeapProfiler.enable" }));
  ws.send(JSON.stringify({ id: 2, method: "HeapProfiler.takeHeapSnapshot", params: {} }));
  await done;
  ws.close();
  await Deno.writeTextFile(file, chunks.join(""));
}

async function mem() {
  const heap = arg("--heap", "");
  const g = await startGateway(null, !!heap);
  const steps = arg("--mem", "1000,10000,19500").split(",").map(Number);
  const open: Channel[] = [];
  const out = [];
  let failed = 0;
  let error: string | null = null;
  try {
    const before = await stats(g);
    for (const target of steps) {
      const worker = async () => {
        while (open.length + inFlight < target && failed <= 20) {
          inFlight++;
          const ch = channel(g);
          try {
            await ch.ready();
            open.push(ch);
          } catch (e) {
            failed++;
            error = (e as Error).message;
          } finally {
            inFlight--;
          }
        }
      };
      let inFlight = 0;
      await Promise.all(Array.from({ length: 32 }, worker));
      if (failed > 20) break;
      await sleep(1000);
      const s = await stats(g);
      const kb = (s.rss - before.rss) / open.length / 1024;
      out.push({
        channels: open.length,
        sessions: s.sessions,
        rssMB: Math.round(s.rss / 1e5) / 10,
        heapMB: Math.round(s.heapUsed / 1e5) / 10,
        externalMB: Math.round(s.external / 1e5) / 10,
        kbPerChannel: Math.round(kb * 10) / 10,
      });
      say(`  mem ${JSON.stringify(out.at(-1))}`);
      if (heap) await heapSnapshot(`${heap}-${open.length}.heapsnapshot`);
    }
    return { baselineRssMB: Math.round(before.rss / 1e5) / 10, steps: out, failed, error };
  } finally {
    for (const c of open) c.close();
    await sleep(500);
    await g.stop();
  }
}

const result: Record<string, unknown> = {};
if (!skip.has("cpu")) {
  say("· gateway CPU per new channel …");
  result.cpu = await cpu(arg("--prof", "") || null);
  say(`  cpu ${JSON.stringify(result.cpu)}`);
}
if (args.includes("--profile")) {
  say("· gateway CPU per new channel, by stage (--cpu-prof) …");
  const { self: _s, inclusive: _i, ...p } = await profileChannels(Number(arg("--profile", "1000")));
  result.profile = p;
  say(profileMarkdown(p));
}
if (!skip.has("mem")) {
  say("· gateway RSS per idle channel …");
  result.mem = await mem();
}
console.log(JSON.stringify(result));
Deno.exit(0);
