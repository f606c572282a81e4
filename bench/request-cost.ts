/**
 * Issue 13, the per-request figures, against a real serveDeno gateway (bench/gateway-server.ts,
 * subprocess) and, in the same run, the yardstick: a plain Deno reverse proxy
 * (bench/plain-proxy.ts, `Deno.serve` + `fetch`, subprocess) in front of the same keep-alive
 * origin (the origin lives in the gateway process; its share of the CPU is subtracted, see below).
 *
 *   deno run -A bench/request-cost.ts [--n 2000] [--batches 7] [--json] [--skip rtt]
 *
 * - cpu: on one established channel (pqgate) / one keep-alive connection (plain proxy), batches
 *   of N sequential `GET /1k` (1 KiB response); per batch the proxy process's utime + stime
 *   (/proc, 10 ms ticks) / N. pqgate's origin runs inside the gateway process, so a third run
 *   measures the origin alone (direct keep-alive fetches, same process's CPU) and subtracts it
 *   from pqgate's figure ("gateway CPU" = pqgate process CPU − origin CPU per request).
 * - latency: interleaved requests: through the channel, through the plain proxy, direct to the
 *   origin (keep-alive); p50/p99 ms and each one's added p50 over direct.
 * - rtt: a user-space TCP relay in this process delays every chunk by 50 ms per direction
 *   (RTT 100 ms). New channel (pinned key) → first response, and a plain HTTP GET on a new
 *   connection (baseline, ~2 RTT: TCP + request); both / RTT. "plain + N" = (channel − plain)/RTT,
 *   for the ClientHello in the upgrade URL (default), as the first message (helloInUrl: false),
 *   and pin-only clients (first channel: key configuration fetched; then remembered).
 */
import WS from "ws";
import { Channel } from "../src/client/mod.ts";
import { selectBackends } from "../src/crypto/select.ts";
import { pinFor } from "../src/protocol/static-keys.ts";
import {
  BENCH_KEY,
  ORIGIN_HOST,
  procCpuUs,
  type ReadyProcess,
  spawnReady,
  stat,
} from "./common.ts";

const args = Deno.args;
const arg = (k: string, d: string) => args.includes(k) ? args[args.indexOf(k) + 1] : d;
const JSON_OUT = args.includes("--json");
const skip = new Set(arg("--skip", "").split(","));
const N = Number(arg("--n", "2000"));
const BATCHES = Number(arg("--batches", "7"));
const root = new URL("..", import.meta.url).pathname;
const deno = Deno.execPath();
const say = (m: string) => {
  if (!JSON_OUT) console.error(m);
};
const kem = (await selectBackends({ timeAead: false })).kem;

// deno-lint-ignore no-explicit-any
function spawn(script: string, a: string[]): Promise<ReadyProcess<any>> {
  const cmd = new Deno.Command(deno, {
    args: ["run", "-A", `${root}${script}`, ...a],
    stdout: "piped",
    stderr: "inherit",
  });
  return spawnReady(cmd, script);
}

const median = (xs: number[]) => stat(xs, 1).median;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function perRequestCpu(pid: number, once: () => Promise<void>): Promise<number[]> {
  for (let i = 0; i < 300; i++) await once();
  const per: number[] = [];
  for (let b = 0; b < BATCHES; b++) {
    await sleep(50);
    const c0 = procCpuUs(pid)!;
    for (let i = 0; i < N; i++) await once();
    await sleep(50);
    per.push((procCpuUs(pid)! - c0) / N);
  }
  return per;
}

/** TCP relay adding `delayMs` to every chunk in each direction. */
function delayingRelay(target: number, delayMs: number) {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    const buf = new Uint8Array(65536);
    let chain = Promise.resolve();
    try {
      for (;;) {
        const k = await from.read(buf);
        if (k === null) break;
        const chunk = buf.slice(0, k);
        const due = performance.now() + delayMs;
        chain = chain.then(async () => {
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          let off = 0;
          while (off < chunk.length) off += await to.write(chunk.subarray(off));
        }).catch(() => {});
      }
    } catch { /* closed */ }
    await chain;
    try {
      to.closeWrite();
    } catch { /* gone */ }
  };
  const conns: Deno.Conn[] = [];
  (async () => {
    for await (const c of l) {
      const o = await Deno.connect({ hostname: "127.0.0.1", port: target });
      c.setNoDelay(true);
      o.setNoDelay(true);
      conns.push(c, o);
      Promise.all([pipe(c, o), pipe(o, c)]).finally(() => {
        try {
          c.close();
        } catch { /* */ }
        try {
          o.close();
        } catch { /* */ }
      });
    }
  })().catch(() => {});
  return { port: (l.addr as Deno.NetAddr).port, close: () => l.close() };
}

const channel = (base: string) =>
  new Channel(base.replace(/^http/, "ws") + "/pqgate", {
    publicKey: BENCH_KEY.publicKey,
    keyId: BENCH_KEY.keyId,
    WebSocket: WS,
    kem,
  });

export async function requestCost() {
  const gw = await spawn("bench/gateway-server.ts", ["--crypto", "auto"]);
  const proxy = await spawn("bench/plain-proxy.ts", ["--origin", gw.info.origin]);
  const out: Record<string, unknown> = { n: N, batches: BATCHES, crypto: gw.info.crypto.summary };
  try {
    const ch = channel(gw.info.gateway);
    await ch.ready();
    const viaChannel = async () => {
      const r = await ch.fetch(`https://${ORIGIN_HOST}/1k`);
      await r.arrayBuffer();
    };
    const viaProxy = async () => {
      const r = await fetch(proxy.info.url + "/1k");
      await r.arrayBuffer();
    };
    const direct = async () => {
      const r = await fetch(gw.info.origin + "/1k");
      await r.arrayBuffer();
    };
    say("  · CPU per proxied 1 KiB request (pqgate, origin alone, plain Deno proxy) …");
    const pq: number[] = [], orig: number[] = [], plain: number[] = [];
    for (let round = 0; round < 1; round++) {
      pq.push(...await perRequestCpu(gw.info.pid, viaChannel));
      orig.push(...await perRequestCpu(gw.info.pid, direct));
      plain.push(...await perRequestCpu(proxy.info.pid, viaProxy));
    }
    const originUs = median(orig);
    out.cpu = {
      pqgateProcessUs: stat(pq, 0),
      originUs: stat(orig, 0),
      pqgateUs: stat(pq.map((x) => x - originUs), 0),
      plainProxyUs: stat(plain, 0),
    };
    say(`    ${JSON.stringify(out.cpu)}`);
    say("  · added latency on an established channel vs direct, and the plain proxy …");
    const a: number[] = [], b: number[] = [], c: number[] = [];
    const t = async (f: () => Promise<void>) => {
      const t0 = performance.now();
      await f();
      return performance.now() - t0;
    };
    const n = Math.max(500, N);
    for (let i = 0; i < n + 100; i++) {
      const x = await t(viaChannel), y = await t(viaProxy), z = await t(direct);
      if (i >= 100) a.push(x), b.push(y), c.push(z);
    }
    const sa = stat(a, 3), sb = stat(b, 3), sc = stat(c, 3);
    const r3 = (x: number) => Math.round(x * 1000) / 1000;
    out.latency = {
      pqgateMs: sa,
      plainProxyMs: sb,
      directMs: sc,
      pqgateAddedP50Ms: r3(sa.median - sc.median),
      pqgateAddedP99Ms: r3(sa.p99 - sc.p99),
      plainProxyAddedP50Ms: r3(sb.median - sc.median),
      plainProxyAddedP99Ms: r3(sb.p99 - sc.p99),
    };
    say(`    ${JSON.stringify(out.latency)}`);
    ch.close();

    if (!skip.has("rtt")) {
      say("  · round trips through a 50 ms/direction delaying relay …");
      const delay = 50, rtt = 2 * delay;
      const gport = Number(new URL(gw.info.gateway).port);
      const oport = Number(new URL(gw.info.origin).port);
      const rg = delayingRelay(gport, delay), ro = delayingRelay(oport, delay);
      // Interleaved per round: the 1.2 flow (ClientHello in the upgrade URL, key known), the 1.1
      // flow (helloInUrl: false: "before"), a pin-only client's first channel (a separate
      // key-configuration connection first), a pin-only client whose key is remembered from an
      // earlier channel (key-config.ts), and a plain GET on a new connection.
      const pqT: number[] = [], oldT: number[] = [], pinFirstT: number[] = [];
      const pinCachedT: number[] = [], plT: number[] = [];
      const time = async (c: Channel) => {
        const t0 = performance.now();
        const r = await c.fetch(`https://${ORIGIN_HOST}/1k`);
        await r.arrayBuffer();
        const ms = performance.now() - t0;
        c.close();
        return ms;
      };
      const base = `http://127.0.0.1:${rg.port}`;
      const wsUrl = base.replace(/^http/, "ws") + "/pqgate";
      const keyConfigUrl = `http://127.0.0.1:${rg.port}/.well-known/pqgate`;
      const benchPin = pinFor(BENCH_KEY.publicKey);
      for (let i = 0; i < 7; i++) {
        pqT.push(await time(channel(base)));
        oldT.push(
          await time(
            new Channel(wsUrl, {
              publicKey: BENCH_KEY.publicKey,
              keyId: BENCH_KEY.keyId,
              WebSocket: WS,
              kem,
              helloInUrl: false,
            }),
          ),
        );
        // A fetch function of its own per round: nothing remembered from an earlier round.
        const fetchConfig: typeof fetch = (input, init) => {
          const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
          return fetch(input, { ...init, client }).finally(() => client.close());
        };
        const pinned = () =>
          new Channel(wsUrl, { pin: benchPin, WebSocket: WS, kem, fetchConfig, keyConfigUrl });
        pinFirstT.push(await time(pinned()));
        pinCachedT.push(await time(pinned()));
        const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
        const t0 = performance.now();
        const r2 = await fetch(`http://127.0.0.1:${ro.port}/1k`, { client });
        await r2.arrayBuffer();
        plT.push(performance.now() - t0);
        client.close();
      }
      rg.close();
      ro.close();
      const q = median(plT);
      const r2 = (x: number) => Math.round(x * 100) / 100;
      const over = (xs: number[]) => r2((median(xs) - q) / rtt);
      const p = median(pqT);
      out.rtt = {
        delayMsPerDirection: delay,
        newChannelFirstResponseMs: stat(pqT, 1),
        plainNewConnectionMs: stat(plT, 1),
        newChannelRtts: r2(p / rtt),
        plainRtts: r2(q / rtt),
        extraRttsOverPlain: r2((p - q) / rtt),
        helloAsFirstMessageExtraRtts: over(oldT),
        pinOnlyFirstChannelExtraRtts: over(pinFirstT),
        pinOnlyKeyRememberedExtraRtts: over(pinCachedT),
      };
      say(`    ${JSON.stringify(out.rtt)}`);
    }
  } finally {
    await proxy.stop();
    await gw.stop();
  }
  return out;
}

if (import.meta.main) {
  const r = await requestCost();
  console.log(JSON.stringify(r));
  Deno.exit(0);
}
