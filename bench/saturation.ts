/**
 * Requests/s at saturation (issue 13): many requests in flight on established channels, for a
 * fixed window, against
 * - a real serveDeno gateway (bench/gateway-server.ts, own process; it also serves the small
 *   origin, so its CPU per request is an upper bound on the gateway's), and
 * - the production Worker under Miniflare/workerd (one Durable Object per channel), the route
 *   going to a service binding in this process that answers "ok".
 * Per configuration (channels × requests in flight): req/s, the server's CPU µs per request
 * (/proc; workerd: its event-loop thread) and how busy it was. The clients share the machine's
 * two cores with the server, so "req/s per busy core" (req/s ÷ the server's utilisation) is
 * the figure that does not depend on how much CPU the clients left over.
 *
 *   deno run -A bench/saturation.ts [--quick] [--json] [--skip deno|workerd]
 *
 * Clients use the `ws` WebSocket: Deno's own client stalls ~44 ms on every message over ~1 KiB
 * (docs/benchmarks.md, "Method notes"), and with ~28 requests in flight on one channel a
 * client record of HEADERS frames passes that size, which would measure the stall.
 */
import WS from "ws";
import { Channel } from "../src/client/mod.ts";
import { toBase64Url } from "../src/protocol/bytes.ts";
import { processCpuNs, startWorker } from "../tests/cloudflare/miniflare.ts";
import { BENCH_KEY, ORIGIN_HOST, procCpuUs, spawnReady } from "./common.ts";

const args = Deno.args;
const QUICK = args.includes("--quick");
const JSON_OUT = args.includes("--json");
const skip = new Set((args.includes("--skip") ? args[args.indexOf("--skip") + 1] : "").split(","));
const WINDOW_MS = QUICK ? 1000 : 3000;
const CONFIGS: [channels: number, inFlight: number][] = [[1, 8], [1, 32], [4, 32]];
const say = (m: string) => {
  if (!JSON_OUT) console.error(m);
};

export interface SaturationRow {
  channels: number;
  inFlight: number;
  reqPerS: number;
  cpuUsPerReq: number;
  /** Server CPU seconds per second of the window (1 = one core busy). */
  busy: number;
  /** reqPerS / busy. */
  reqPerBusyCore: number;
  errors: number;
}

async function drive(
  open: () => Promise<Channel>,
  url: string,
  cpuUs: () => number,
  channels: number,
  inFlight: number,
): Promise<SaturationRow> {
  const chs = await Promise.all(Array.from({ length: channels }, open));
  try {
    for (const ch of chs) for (let i = 0; i < 20; i++) await (await ch.fetch(url)).text();
    const c0 = cpuUs();
    const t0 = performance.now();
    const end = t0 + WINDOW_MS;
    let n = 0, errors = 0;
    await Promise.all(Array.from({ length: inFlight }, async (_, i) => {
      const ch = chs[i % channels];
      while (performance.now() < end) {
        try {
          await (await ch.fetch(url)).text();
          n++;
        } catch {
          errors++;
        }
      }
    }));
    const s = (performance.now() - t0) / 1000;
    const cpu = cpuUs() - c0;
    const busy = cpu / 1e6 / s;
    return {
      channels,
      inFlight,
      reqPerS: Math.round(n / s),
      cpuUsPerReq: n ? Math.round(cpu / n) : 0,
      busy: Math.round(busy * 100) / 100,
      reqPerBusyCore: busy > 0 ? Math.round(n / s / busy) : 0,
      errors,
    };
  } finally {
    for (const ch of chs) ch.close();
  }
}

export async function saturationDeno(): Promise<SaturationRow[]> {
  const root = new URL("..", import.meta.url).pathname;
  // deno-lint-ignore no-explicit-any
  const gw = await spawnReady<any>(
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${root}bench/gateway-server.ts`, "--crypto", "auto"],
      stdout: "piped",
      stderr: "inherit",
    }),
    "gateway-server",
  );
  try {
    const open = async () => {
      const ch = new Channel(gw.info.gateway.replace(/^http/, "ws") + "/pqgate", {
        publicKey: BENCH_KEY.publicKey,
        keyId: BENCH_KEY.keyId,
        WebSocket: WS,
      });
      await ch.ready();
      return ch;
    };
    const rows: SaturationRow[] = [];
    for (const [c, k] of CONFIGS) {
      rows.push(await drive(open, `https://${ORIGIN_HOST}/`, () => procCpuUs(gw.info.pid)!, c, k));
      say(`    deno ${JSON.stringify(rows.at(-1))}`);
    }
    return rows;
  } finally {
    await gw.stop();
  }
}

export async function saturationWorkerd(): Promise<SaturationRow[]> {
  const w = await startWorker({
    keys: JSON.stringify([toBase64Url(BENCH_KEY.secretKey)]),
    routes: [{ match: { authority: "svc.test" }, origin: "service:BACKEND" }],
    services: { BACKEND: () => new Response("ok") },
  });
  try {
    const open = async () => {
      const ch = new Channel(w.url.replace(/^http/, "ws") + "pqgate", {
        publicKey: BENCH_KEY.publicKey,
        keyId: BENCH_KEY.keyId,
        WebSocket: WS,
      });
      await ch.ready();
      return ch;
    };
    const cpu = () => processCpuNs(w.workerdPid!).main / 1000;
    const rows: SaturationRow[] = [];
    for (const [c, k] of CONFIGS) {
      rows.push(await drive(open, "https://svc.test/x", cpu, c, k));
      say(`    workerd ${JSON.stringify(rows.at(-1))}`);
    }
    return rows;
  } finally {
    await w.close();
  }
}

/** Markdown table of one runtime's rows. */
export function saturationTable(runtime: string, rows: SaturationRow[]): string {
  return [
    `| runtime | channels | in flight | req/s | server CPU µs/req | server busy (cores) | req/s per busy core | errors |`,
    `| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`,
    ...rows.map((r) =>
      `| ${runtime} | ${r.channels} | ${r.inFlight} | ${r.reqPerS} | ${r.cpuUsPerReq} | ${r.busy} | ${r.reqPerBusyCore} | ${r.errors} |`
    ),
  ].join("\n");
}

if (import.meta.main) {
  const out: { deno?: SaturationRow[]; workerd?: SaturationRow[]; windowMs: number } = {
    windowMs: WINDOW_MS,
  };
  if (!skip.has("deno")) out.deno = await saturationDeno();
  if (!skip.has("workerd")) out.workerd = await saturationWorkerd();
  if (JSON_OUT) console.log(JSON.stringify(out));
  else {
    if (out.deno) console.log(saturationTable("Deno (serveDeno)", out.deno));
    if (out.workerd) console.log(saturationTable("workerd (one DO per channel)", out.workerd));
  }
  Deno.exit(0);
}
