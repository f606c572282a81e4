/**
 * Where a proxied 1 KiB request's CPU goes in the gateway, stage by stage (issue 13's profile
 * table). Each stage runs alone, warm, in a loop; its CPU per request is this process's
 * user + system time (`process.cpuUsage`, µs resolution) over the loop. Rounds alternate the
 * stages so background load lands on all of them; median and p99 over the rounds.
 *
 *   deno run -A bench/request-profile.ts [--rounds 7] [--ms 250] [--json]
 *
 * Stages, in the order a request meets them:
 * - socket: one 1 KiB WebSocket message in and one out through `node:http` + `ws` (the Deno
 *   gateway's default server), as an echo in a subprocess (bench/ws-echo.ts): its CPU per
 *   echo, read and write and the kernel's loopback work included. `Deno.upgradeWebSocket`
 *   (`server: "deno"`) beside it.
 * - record open: the request's record (one HEADERS frame, END_STREAM) with the gateway's
 *   default AEAD; frame + Binary HTTP decode of its head; `decodedRequestOf` (the checked
 *   request the session hands the gateway's own handler: src/tunnel/types.ts `DecodedRequest`).
 * - proxy: `forwardParts()` (route match, header hygiene, timeout, small body read whole; the
 *   gateway's sessions take its parts without a `Response`) with an in-memory fetch that
 *   answers at once, so no network is in it.
 * - origin fetch: `fetch` of `/1k` from a keep-alive origin in a subprocess, body read
 *   (this process's share: the client side of the HTTP connection, and its loopback work).
 * - response encode + seal: Binary HTTP response head, HEADERS + DATA(END_STREAM) frames, one
 *   record sealed.
 * The sum is compared by the caller with the gateway's measured CPU per request in the same
 * `npm run bench` run (bench/request-cost.ts); the difference is what no stage holds alone:
 * the session's promise hops between the stages, stream bookkeeping, GC of their garbage.
 */
import { cpuUsage } from "node:process";
import { selectBackends } from "../src/crypto/select.ts";
import { decodeFrames, encodeFrame } from "../src/protocol/frames.ts";
import { RecordLayer } from "../src/protocol/record-layer.ts";
import { forwardParts } from "../src/proxy/forward.ts";
import { clientResponseFields } from "../src/proxy/headers.ts";
import { compileRoutes } from "../src/proxy/routes.ts";
import { decodeRequestHead, encodeRequestHead, encodeResponseHead } from "../src/tunnel/bhttp.ts";
import { decodedRequestOf } from "../src/tunnel/http-mapping.ts";
import { defaultSuites } from "../src/gateway/options.ts";
import {
  ORIGIN_HOST,
  procCpuUs,
  type ReadyProcess,
  spawnReady,
  type Stat,
  stat,
} from "./common.ts";
import { benchSessionKeys } from "./session-keys.ts";

const args = Deno.args;
const arg = (k: string, d: string) => args.includes(k) ? args[args.indexOf(k) + 1] : d;
const ROUNDS = Number(arg("--rounds", "7"));
const STAGE_MS = Number(arg("--ms", "250"));
const JSON_OUT = args.includes("--json");
const root = new URL("..", import.meta.url).pathname;

export interface StageRow {
  stage: string;
  what: string;
  us: Stat;
}

// deno-lint-ignore no-explicit-any
function spawn(script: string, a: string[]): Promise<ReadyProcess<any>> {
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}${script}`, ...a],
    stdout: "piped",
    stderr: "inherit",
  });
  return spawnReady(cmd, script);
}

const cpuNow = () => {
  const c = cpuUsage();
  return c.user + c.system;
};

/** CPU µs per call of `f` over about `ms` of calls (after a warm-up). */
async function perCall(f: () => unknown, ms: number): Promise<number> {
  for (let i = 0; i < 200; i++) await f();
  let n = 0;
  const c0 = cpuNow();
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 20; i++) await f();
    n += 20;
  }
  return (cpuNow() - c0) / n;
}

/** The same for a stage whose CPU is spent in another process (pid), from /proc. */
async function perCallIn(pid: number, f: () => Promise<unknown>, n: number): Promise<number> {
  for (let i = 0; i < 200; i++) await f();
  const c0 = procCpuUs(pid)!;
  for (let i = 0; i < n; i++) await f();
  return (procCpuUs(pid)! - c0) / n;
}

export async function requestProfile(): Promise<{ suite: string; rows: StageRow[] }> {
  const backends = await selectBackends({ timeAead: false });
  const suite = defaultSuites()[0];
  const aead = backends.aead;
  const k = benchSessionKeys(suite, "request profile keys");
  const client = new RecordLayer({ role: "client", keys: k, now: 0, aead });
  const server = new RecordLayer({ role: "server", keys: k, now: 0, aead });
  const serverTx = new RecordLayer({ role: "server", keys: k, now: 0, aead });

  // What the bench client sends for GET https://origin.bench/1k, and what the origin answers.
  const requestHead = encodeRequestHead({
    method: "GET",
    scheme: "https",
    authority: ORIGIN_HOST,
    path: "/1k",
    headers: [["accept", "*/*"]],
  });
  const requestPlain = encodeFrame({
    type: "headers",
    stream: 1,
    endStream: true,
    payload: requestHead,
  });
  const KIB = new Uint8Array(1024).fill(0x61);
  const originResponse = () =>
    new Response(KIB, {
      headers: {
        "content-type": "text/plain",
        "content-length": "1024",
        date: new Date().toUTCString(),
      },
    });
  const routes = compileRoutes([{
    match: { authority: ORIGIN_HOST },
    origin: "http://127.0.0.1:9",
  }]);
  const signal = new AbortController().signal;

  const origin = await spawn("bench/ws-echo.ts", ["--origin"]);
  const nodeEcho = await spawn("bench/ws-echo.ts", ["--server", "node"]);
  const denoEcho = await spawn("bench/ws-echo.ts", ["--server", "deno"]);
  const { default: WS } = await import("ws");
  const openEcho = async (port: number) => {
    const ws = new WS(`ws://127.0.0.1:${port}/`);
    ws.binaryType = "nodebuffer";
    await new Promise((r, j) => {
      ws.once("open", r);
      ws.once("error", j);
    });
    const msg = new Uint8Array(1024 + 40);
    const once = () =>
      new Promise<void>((r) => {
        ws.once("message", () => r());
        ws.send(msg);
      });
    return { ws, once };
  };
  const echoNode = await openEcho(nodeEcho.info.port);
  const echoDeno = await openEcho(denoEcho.info.port);
  const originUrl = `http://127.0.0.1:${origin.info.port}/1k`;

  const stages: { stage: string; what: string; run: () => Promise<number> }[] = [
    {
      stage: "socket read + write",
      what: "1 KiB WebSocket message in and out, node:http + ws (default server; echo process CPU)",
      run: () => perCallIn(nodeEcho.info.pid, echoNode.once, 1500),
    },
    {
      stage: "  (same, Deno.upgradeWebSocket)",
      what: 'server: "deno", for comparison (not summed)',
      run: () => perCallIn(denoEcho.info.pid, echoDeno.once, 1500),
    },
    {
      stage: "record open",
      what: `request record (HEADERS, ${requestPlain.length} B plaintext)`,
      run: () => {
        // Sealed outside the timed call: a fresh record per call, opened in sequence order.
        const records: Uint8Array[] = [];
        for (let i = 0; i < 40_000; i++) records.push(client.seal(requestPlain, 0));
        let i = 0;
        return perCall(() => server.open(records[i++ % records.length], 0), STAGE_MS);
      },
    },
    {
      stage: "frame + Binary HTTP decode",
      what: "frames of the record, request head",
      run: () =>
        perCall(() => {
          const [f] = decodeFrames(requestPlain);
          if (f.type === "headers") decodeRequestHead(f.payload, { maxBytes: 16_384 });
        }, STAGE_MS),
    },
    {
      stage: "request for the handler",
      what: "decodedRequestOf: URL checks, Headers (no Request object since issue 13 round 3)",
      run: () => {
        const [f] = decodeFrames(requestPlain);
        const head = decodeRequestHead((f as { payload: Uint8Array }).payload, {
          maxBytes: 16_384,
        });
        return perCall(() => decodedRequestOf(head, null, signal), STAGE_MS);
      },
    },
    {
      stage: "proxy",
      what: "forwardParts(): route, header hygiene, timeout, small body read (in-memory origin)",
      run: () =>
        perCall(async () => {
          const res = await forwardParts({
            method: "GET",
            scheme: "https",
            authority: ORIGIN_HOST,
            path: "/1k",
            headers: new Headers([["accept", "*/*"]]),
            body: null,
          }, {
            routes,
            clientAddress: "127.0.0.1",
            suite,
            sessionId: k.sessionId,
            fetch: () => Promise.resolve(originResponse()),
            // As the gateway's default origin fetch: URL and init, no Request (the platform
            // fetch builds its own: the "origin fetch" stage).
            fetchUrl: () => Promise.resolve(originResponse()),
            timeoutMs: 30_000,
            bodyIdleTimeoutMs: 30_000,
            maxBodyBytes: 0,
            signal,
          });
          if (res instanceof Response) await res.arrayBuffer(); // a gateway error
        }, STAGE_MS),
    },
    {
      stage: "origin fetch",
      what: "fetch(url, init) of /1k on a keep-alive connection, body read (client side)",
      run: () =>
        perCall(async () => {
          // As the gateway's default origin fetch calls it (forward.ts `fetchUrl`).
          const res = await fetch(originUrl, { redirect: "manual", signal });
          await res.arrayBuffer();
        }, STAGE_MS),
    },
    {
      stage: "response encode + seal",
      what: "Binary HTTP head, HEADERS + DATA(END_STREAM), one record sealed",
      run: () => {
        const res = originResponse();
        return perCall(() => {
          // As the session encodes forwardParts' answer: status and client-bound field pairs.
          const head = encodeResponseHead({
            status: res.status,
            headers: clientResponseFields(res.headers),
          });
          const h = encodeFrame({ type: "headers", stream: 1, endStream: false, payload: head });
          const d = encodeFrame({ type: "data", stream: 1, endStream: true, payload: KIB });
          const pt = new Uint8Array(h.length + d.length);
          pt.set(h);
          pt.set(d, h.length);
          serverTx.seal(pt, 0);
        }, STAGE_MS);
      },
    },
  ];

  const samples = stages.map(() => [] as number[]);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < stages.length; i++) samples[i].push(await stages[i].run());
    }
  } finally {
    echoNode.ws.close();
    echoDeno.ws.close();
    await Promise.all([origin.stop(), nodeEcho.stop(), denoEcho.stop()]);
  }
  const rows = stages.map((s, i) => ({ stage: s.stage, what: s.what, us: stat(samples[i], 1) }));
  return { suite: `0x${suite.toString(16).padStart(4, "0")}`, rows };
}

/** Markdown: stage, µs median / p99, and each summed stage's share of `totalUs` if given. */
export function renderRequestProfile(
  p: { suite: string; rows: StageRow[] },
  totalUs?: number,
): string {
  const summed = p.rows.filter((r) => !r.stage.startsWith(" "));
  const sum = summed.reduce((a, r) => a + r.us.median, 0);
  const pct = (x: number) => (totalUs ? `${Math.round((100 * x) / totalUs)} %` : "–");
  const lines = [
    `| stage | what | µs median | p99 | share of the measured request |`,
    `| --- | --- | ---: | ---: | ---: |`,
    ...p.rows.map((r) =>
      `| ${r.stage.trim()} | ${r.what} | ${r.us.median} | ${r.us.p99} | ${
        r.stage.startsWith(" ") ? "–" : pct(r.us.median)
      } |`
    ),
    `| **sum of the stages** | each alone, warm | **${Math.round(sum)}** | | ${pct(sum)} |`,
  ];
  if (totalUs !== undefined) {
    lines.push(
      `| **remainder** | promise hops between stages, stream bookkeeping, GC (measured − sum) | **${
        Math.round(totalUs - sum)
      }** | | ${pct(totalUs - sum)} |`,
      `| **measured** | gateway CPU per proxied request (bench/request-cost.ts, same run) | **${totalUs}** | | 100 % |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const p = await requestProfile();
  const total = args.includes("--total") ? Number(arg("--total", "0")) : undefined;
  if (JSON_OUT) console.log(JSON.stringify(p));
  else console.log(renderRequestProfile(p, total));
}
