/**
 * `deno run -A bench/output-budget.ts [--json] [--runs N]`: what the gateway's output bounds
 * (src/tunnel/output-budget.ts) cost a well-behaved client and what they hold for an abusive one,
 * side by side in one run, in process (a client and a gateway session over in-memory sockets, so
 * the figures are the session's, not a transport's).
 *
 * Throughput: one 16 MiB download and 200 bodiless (204) requests per run, with the default
 * bounds (a flow-probe PING every maxUnackedBytes/4 = 1 MiB, answered by the client's PONG) beside
 * the baseline "probes off" (maxUnackedBytes = 2^31-1: a probe every 512 MiB, i.e. none here).
 *
 * Abuse: what one channel makes the gateway hold when its client never acknowledges (never
 * answers a PING: reads nothing): a 64 MiB response with a self-granted 16 MiB window, and 2,000
 * bodiless requests with 4 KiB response heads. The figure is the bytes the gateway handed to the
 * socket plus its own queue: the memory one such channel costs, against the configured bound.
 */
import { MAX_RECORD_LEN } from "../src/protocol/constants.ts";
import { encodeRequestHead } from "../src/tunnel/bhttp.ts";
import { DEFAULT_MAX_UNACKED_BYTES } from "../src/tunnel/output-budget.ts";
import { rawClient, settle, startPair } from "../src/tunnel/testing.ts";
import { type Stat, stat } from "./common.ts";

const args = Deno.args;
const JSON_OUT = args.includes("--json");
const RUNS = args.includes("--runs") ? Number(args[args.indexOf("--runs") + 1]) : 7;
const MiB = 1024 * 1024;
const BIG = new Uint8Array(16 * MiB).fill(1);

async function throughput(
  maxUnackedBytes: number,
): Promise<{ downloadMs: Stat; bodilessMs: Stat }> {
  const download: number[] = [];
  const bodiless: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const p = startPair({
      handler: (req) =>
        Promise.resolve(
          new URL(req.url).pathname === "/big"
            ? new Response(BIG)
            : new Response(null, { status: 204 }),
        ),
      limits: { maxUnackedBytes, idleTimeoutMs: 600_000 },
    });
    await p.client.fetch(new Request("https://a.example/warm")).then((r) => r.arrayBuffer());
    let t0 = performance.now();
    const r = await p.client.fetch(new Request("https://a.example/big"));
    const n = (await r.arrayBuffer()).byteLength;
    if (n !== BIG.length) throw new Error(`short body ${n}`);
    download.push(performance.now() - t0);
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: 200 }, (_, k) => p.client.fetch(new Request(`https://a.example/${k}`))),
    );
    bodiless.push(performance.now() - t0);
    p.client.close();
    await settle();
  }
  return { downloadMs: stat(download), bodilessMs: stat(bodiless) };
}

const get = (path: string) =>
  encodeRequestHead({ method: "GET", scheme: "https", authority: "a.example", path, headers: [] });

async function heldByAbuser(
  kind: "download" | "bodiless",
): Promise<{ held: number; bound: number }> {
  const raw = await rawClient({
    handler: () =>
      Promise.resolve(
        kind === "download"
          ? new Response(new Uint8Array(64 * MiB))
          : new Response(null, { status: 204, headers: { "x-pad": "p".repeat(4000) } }),
      ),
    limits: { maxControlFramesPerSecond: 1e6, controlFrameBurst: 1e6 },
  });
  if (kind === "download") {
    raw.send([
      { type: "headers", stream: 1, endStream: true, payload: get("/big") },
      { type: "window_update", stream: 1, increment: 16 * MiB - 65536 },
    ]);
    await settle(200);
  } else {
    for (let i = 0; i < 200; i++) {
      raw.send(Array.from({ length: 10 }, (_, k) => ({
        type: "headers" as const,
        stream: 1 + 2 * (10 * i + k),
        endStream: true,
        payload: get("/"),
      })));
      await settle(1);
    }
    await settle(50);
  }
  const held = raw.ss.bytesSent + raw.server.output.local;
  raw.cs.close();
  await settle();
  // The gate closes at maxUnacked; up to one record per stream slot may pass the check at once.
  return { held, bound: DEFAULT_MAX_UNACKED_BYTES + 100 * MAX_RECORD_LEN };
}

const defaults = await throughput(DEFAULT_MAX_UNACKED_BYTES);
const off = await throughput(2 ** 31 - 1);
const download = await heldByAbuser("download");
const bodiless = await heldByAbuser("bodiless");
const result = {
  runtime: `Deno ${Deno.version.deno}`,
  runs: RUNS,
  throughput: { defaults, probesOff: off },
  abuse: { download, bodiless },
};
if (JSON_OUT) console.log(JSON.stringify(result));
else {
  const f = (x: number, d = 1) =>
    x.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
  console.log(`## Output bounds (in-process sessions, ${result.runtime}, ${RUNS} runs)\n`);
  console.log(
    "| implementation | 16 MiB download ms median | p99 | MiB/s at median | 200 × 204 ms median | p99 |",
  );
  console.log("|---|---|---|---|---|---|");
  for (
    const [name, x] of [["default bounds (probe every 1 MiB)", defaults], [
      "baseline: probes off",
      off,
    ]] as const
  ) {
    console.log(
      `| ${name} | ${f(x.downloadMs.median)} | ${f(x.downloadMs.p99)} | ${
        f(16_000 / x.downloadMs.median)
      } | ${f(x.bodilessMs.median)} | ${f(x.bodilessMs.p99)} |`,
    );
  }
  console.log("\n| abusive client (never acknowledges) | bytes the gateway holds | bound |");
  console.log("|---|---|---|");
  console.log(
    `| 64 MiB response, 16 MiB window | ${download.held.toLocaleString("en-US")} | ${
      download.bound.toLocaleString("en-US")
    } |`,
  );
  console.log(
    `| 2,000 bodiless requests, 4 KiB heads | ${bodiless.held.toLocaleString("en-US")} | ${
      bodiless.bound.toLocaleString("en-US")
    } |`,
  );
}
