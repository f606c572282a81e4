/**
 * Issue 14: what observation costs per request, side by side in the same run.
 *
 * 1. Gateway process CPU: two bench/gateway-server.ts processes, identical but for `--observe`
 *    (logs at info as JSON lines to /dev/null, plus prom-client metrics: what `npm start --
 *    --metrics-listen` runs), one established channel each, batches of N sequential
 *    GET /1k alternating between them (order flipped every round); the gateway process's
 *    utime + stime (/proc) / N is one sample; "added" is on − off per round. The origin runs in
 *    each gateway process, identically in both.
 * 2. The sinks alone: the events one request produces (stream_open + request, fresh field
 *    objects as the session makes them) through the log writer, prom-client and both, in a
 *    tight loop: µs per request, precise where 1 is bounded by the /proc tick and the VM.
 *
 * With no sink the session makes no access record and no event object per request
 * (src/tunnel/events.ts `wants`): "off" is the gateway with observation compiled in but unused.
 *
 *   deno run -A bench/observe-cost.ts [--n 1000] [--rounds 9] [--json]
 */
import WS from "ws";
import { Channel } from "../src/client/mod.ts";
import { selectBackends } from "../src/crypto/select.ts";
import { batchedLines, createLogWriter } from "../src/gateway/log-writer.ts";
import { type EventLog, teeLogs } from "../src/tunnel/events.ts";
import { createPromMetrics } from "../src/transport/observe/prom-metrics.ts";
import { toHex } from "../src/protocol/bytes.ts";
import {
  BENCH_KEY,
  ORIGIN_HOST,
  procCpuUs,
  type ReadyProcess,
  spawnReady,
  type Stat,
  stat,
} from "./common.ts";

const args = Deno.args;
const arg = (k: string, d: string) => args.includes(k) ? args[args.indexOf(k) + 1] : d;
const N = Number(arg("--n", "1000"));
const ROUNDS = Number(arg("--rounds", "9"));
const JSON_OUT = args.includes("--json");
const say = (m: string) => {
  if (!JSON_OUT) console.error(m);
};

const devNull = Deno.openSync("/dev/null", { write: true });
const toDevNull = batchedLines((chunk) => {
  devNull.writeSync(new TextEncoder().encode(chunk));
});
const root = new URL("..", import.meta.url).pathname;
const kem = (await selectBackends({ timeAead: false })).kem;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- Section 1: gateway process CPU per request, off vs on ---------------------------------
// Two bench/gateway-server.ts processes (the second with --observe), one channel each, batches
// of N sequential GET /1k alternating between them; the gateway process's CPU (/proc) / N.
interface GatewayInfo {
  gateway: string;
  pid: number;
}
function spawnGateway(extra: string[]): Promise<ReadyProcess<GatewayInfo>> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}bench/gateway-server.ts`, "--crypto", "auto", ...extra],
    stdout: "piped",
    stderr: "inherit",
  });
  return spawnReady<GatewayInfo>(cmd, "bench/gateway-server.ts");
}
const procs = [
  { name: "off", p: await spawnGateway([]) },
  { name: "logs+metrics", p: await spawnGateway(["--observe"]) },
];
const gateways = [];
for (const { name, p } of procs) {
  const ch = new Channel(p.info.gateway.replace(/^http/, "ws") + "/pqgate", {
    publicKey: BENCH_KEY.publicKey,
    keyId: BENCH_KEY.keyId,
    WebSocket: WS,
    kem,
  });
  await ch.ready();
  const once = async () => {
    const r = await ch.fetch(`https://${ORIGIN_HOST}/1k`);
    await r.arrayBuffer();
  };
  gateways.push({ name, pid: p.info.pid, once, ch });
}
for (const g of gateways) for (let i = 0; i < 300; i++) await g.once(); // warm-up
const samples: Record<string, number[]> = {};
const added: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const round: Record<string, number> = {};
  for (const g of r % 2 === 0 ? gateways : [...gateways].reverse()) {
    await sleep(30);
    const c0 = procCpuUs(g.pid)!;
    for (let i = 0; i < N; i++) await g.once();
    await sleep(30);
    round[g.name] = (procCpuUs(g.pid)! - c0) / N;
    (samples[g.name] ??= []).push(round[g.name]);
  }
  added.push(round["logs+metrics"] - round.off);
  say(
    `round ${r + 1}/${ROUNDS}: off ${round.off.toFixed(0)}, logs+metrics ${
      round["logs+metrics"].toFixed(0)
    } µs`,
  );
}
for (const g of gateways) g.ch.close();
for (const { p } of procs) await p.stop();

export interface ObserveRow {
  implementation: string;
  us: Stat;
  addedUs: Stat | null;
}
const rows: ObserveRow[] = gateways.map((g) => ({
  implementation: g.name,
  us: stat(samples[g.name]),
  addedUs: g.name === "off" ? null : stat(added),
}));

// ---- Section 2: the sinks alone, per request ------------------------------------------------
// The events one proxied request produces (stream_open + request, fresh field objects as the
// session makes them) through each sink, in a tight loop, rounds interleaved: µs per request.
// Precise where section 1 is noisy (its per-request figure includes the client and the origin).
const ACCESS = {
  sessionId: "00112233445566778899aabbccddeeff",
  stream: 7,
  method: "GET",
  route: "0",
  status: 200,
  gatewayError: null,
  bytesIn: 0,
  bytesOut: 1024,
  ms: 1,
  originMs: 0,
  outcome: "complete",
  authority: "api",
  path: "/1k",
  clientAddress: "192.0.2.1",
  authMethod: null,
} as const;
const SINK_N = 20_000;
const metrics = await createPromMetrics({ keyIds: [toHex(BENCH_KEY.keyId)] });
const lines = createLogWriter({ level: "info", write: toDevNull })!;
const sinks: { name: string; log: EventLog }[] = [
  { name: "logs (JSON line, batched to /dev/null)", log: lines },
  { name: "metrics (prom-client)", log: metrics.log },
  { name: "logs+metrics", log: teeLogs(lines, metrics.log)! },
];
const sinkSamples: Record<string, number[]> = {};
for (let r = 0; r < ROUNDS + 2; r++) {
  for (const k of sinks.map((_, i) => sinks[(i + r) % sinks.length])) {
    const t0 = performance.now();
    for (let i = 0; i < SINK_N; i++) {
      k.log("stream_open", { sessionId: ACCESS.sessionId, stream: i });
      k.log("request", { ...ACCESS, stream: i });
      if (i % 64 === 63) await Promise.resolve(); // a task boundary: the batch is written
    }
    await Promise.resolve();
    if (r >= 2) (sinkSamples[k.name] ??= []).push((performance.now() - t0) * 1000 / SINK_N);
  }
}
const sinkRows = sinks.map((k) => ({ implementation: k.name, us: stat(sinkSamples[k.name], 2) }));

const result = { runtime: `Deno ${Deno.version.deno}`, n: N, rounds: ROUNDS, rows, sinkRows };

if (JSON_OUT) console.log(JSON.stringify(result));
else {
  console.log(
    `\nGateway process CPU per proxied 1 KiB request (µs), ${N} GETs × ${ROUNDS} rounds, alternating\n`,
  );
  console.log("| runtime | implementation | median | p99 | added vs off (median, p99) |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const r of rows) {
    console.log(
      `| ${result.runtime} | ${r.implementation} | ${r.us.median} | ${r.us.p99} | ${
        r.addedUs ? `${r.addedUs.median}, ${r.addedUs.p99}` : "baseline"
      } |`,
    );
  }
  console.log(`\nThe sinks alone: one request's events (stream_open + request), µs per request\n`);
  console.log("| runtime | implementation | median | p99 |");
  console.log("| --- | --- | --- | --- |");
  for (const r of sinkRows) {
    console.log(`| ${result.runtime} | ${r.implementation} | ${r.us.median} | ${r.us.p99} |`);
  }
}
Deno.exit(0);
