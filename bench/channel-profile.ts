/**
 * Where the gateway's CPU for a new channel goes (issue 13), stage by stage: a `--cpu-prof` of
 * bench/gateway-server.ts (node:http + ws, crypto "auto") while channels are opened one after
 * another (open, handshake, `GET /` → "ok\n", close), as in bench/channel-cost.ts.
 *
 *   deno run -A bench/channel-profile.ts [--channels N] [--warmup N] [--top K] [--json]
 *
 * Window: after a warm-up (default 200 channels) the driver leaves the gateway idle for 2 s, opens
 * the N (default 1,000) measured channels, and is idle 2 s again; only samples between those two
 * idle runs count (the closes of the last channels finish inside the window). Each sample is
 * attributed to the first stage in STAGES whose pattern matches any frame of its stack
 * (priority order, not stack depth), so a `writev` under the handshake's ServerHello counts as
 * "socket writes", one under the proxied response too. Self time of V8's garbage collector is
 * its own stage. µs per channel = stage sample time / N. The profile's sampling interval (1 ms
 * by default in Deno) makes rows below ~5 µs noise; the sum is the gateway's main-thread time
 * per channel (it excludes Deno's other threads, which /proc CPU in channel-cost.ts includes).
 *
 * Prints a Markdown table of stages and one of the top functions (self and inclusive, µs per
 * channel); `--json` prints one JSON object instead.
 */
import WS from "ws";
import { Channel } from "../src/client/mod.ts";
import { selectBackends } from "../src/crypto/select.ts";
import { BENCH_KEY, ORIGIN_HOST, spawnReady } from "./common.ts";

const args = Deno.args;
const arg = (k: string, d: string) => args.includes(k) ? args[args.indexOf(k) + 1] : d;
const root = new URL("..", import.meta.url).pathname;
const N = Number(arg("--channels", "1000"));
const WARMUP = Number(arg("--warmup", "200"));
const TOP = Number(arg("--top", "25"));
const JSON_OUT = args.includes("--json");

/** Stage name and the frames (function name, url) that put a sample into it; first match wins. */
export const STAGES: [string, RegExp][] = [
  [
    "handshake crypto (KEM, X25519, key schedule)",
    /prepareServer|receiveClientHello|clientFinished|handshake-server\.ts|key-schedule\.ts|xwing|ml-kem|x25519|op_node_diffie_hellman|capsulateBits|deriveSessionKeys/,
  ],
  ["records: AEAD seal/open", /record-layer\.ts|aead|op_node_create_(de)?cipheriv|cipher/i],
  ["proxy: origin fetch and response", /src\/proxy\/|deno_fetch|op_fetch/],
  [
    "request/response mapping (bhttp, streams)",
    /server-streams\.ts|bhttp\.ts|http-mapping\.ts|outgoing-body|incoming-body/,
  ],
  [
    "socket writes (ws sender, net write)",
    /sender\.js|_writeGeneric|writev|writeUtf8String|writeBuffer|doWrite/,
  ],
  [
    "close (session close, ws close, socket end/destroy)",
    /session-close\.ts|onSocketClose|socketOnClose|emitClose|closeQuietly|destroy|_final|onStreamClose|emitCloseNT|\bclose\b/,
  ],
  [
    "timers (session deadlines, liveness, socket deadlines)",
    /timer-driver\.ts|liveness\.ts|setTimeout|clearTimeout|^Timeout|unrefTimer|02_timers|op_timer/,
  ],
  [
    "WebSocket set-up (ws handleUpgrade, attachWs)",
    /websocket-server\.js|ws-lifecycle\.ts:7\d|attachWs|new WebSocket|setSocket/,
  ],
  [
    "session set-up (createSession, SESSION_INFO)",
    /createSession|ServerSession|server-session\.ts|message-hold\.ts|session-driver\.ts|record-channel\.ts|output-budget\.ts/,
  ],
  [
    "HTTP upgrade (node:http parse, upgrade request, hello from URL)",
    /_http_server|http-bridge|upgradeRequest|helloFromUpgrade|client-hello\.ts|server\.ts|admission\.ts|create-gateway|hono|app\.ts/,
  ],
  [
    "socket reads (ws receiver, stream reads)",
    /receiver\.js|stream_base_commons|onStreamRead|readable/i,
  ],
];

const QUIET_MS = 2000;

interface CpuNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileRow {
  name: string;
  usPerChannel: number;
  share: number;
}

/** Aggregates `p` over the window between the two markers: stages, top self and inclusive. */
export function aggregate(p: CpuProfile, channels: number, top: number) {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const label = (n: CpuNode) => {
    const cf = n.callFrame;
    const u = cf.url.replace(/^.*\/(node_modules|src|bench)\//, "$1/");
    return `${cf.functionName || "(anonymous)"} ${u}${u ? `:${cf.lineNumber + 1}` : ""}`;
  };
  const stackOf = (id: number) => {
    const out: string[] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      out.push(label(byId.get(x)!));
    }
    return out;
  };
  // The markers: the driver leaves the gateway idle for QUIET_MS before and after the measured
  // channels; the window lies between the last two idle runs of at least QUIET_MS / 2.
  const idle = new Set(
    p.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id),
  );
  const runs: [number, number][] = [];
  let runStart = -1, runUs = 0;
  for (let i = 0; i <= p.samples.length; i++) {
    if (i < p.samples.length && idle.has(p.samples[i])) {
      if (runStart < 0) (runStart = i), (runUs = 0);
      runUs += p.timeDeltas[i + 1] ?? 0;
      continue;
    }
    if (runStart >= 0 && runUs >= QUIET_MS * 500) runs.push([runStart, i]);
    runStart = -1;
  }
  let start = -1, end = -1;
  if (runs.length >= 2) {
    start = runs[runs.length - 2][1];
    end = runs[runs.length - 1][0];
  }
  if (start < 0) throw new Error("profile: the two markers were not found");
  const stage = new Map<string, number>();
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const stageSelf = new Map<string, Map<string, number>>();
  let total = 0;
  for (let i = start; i < end; i++) {
    const id = p.samples[i];
    const t = p.timeDeltas[i + 1] ?? 0;
    const leaf = label(byId.get(id)!);
    if (leaf.startsWith("(idle)")) continue;
    total += t;
    const stack = stackOf(id);
    let s = leaf.startsWith("(garbage collector)")
      ? "garbage collector"
      : leaf.startsWith("(program)")
      ? "runtime (V8/Deno outside JS frames)"
      : STAGES.find(([, re]) => stack.some((f) => re.test(f)))?.[0] ?? "other";
    if (s === undefined) s = "other";
    stage.set(s, (stage.get(s) ?? 0) + t);
    self.set(leaf, (self.get(leaf) ?? 0) + t);
    const ss = stageSelf.get(s) ?? new Map<string, number>();
    ss.set(leaf, (ss.get(leaf) ?? 0) + t);
    stageSelf.set(s, ss);
    for (const f of new Set(stack)) incl.set(f, (incl.get(f) ?? 0) + t);
  }
  const rows = (m: Map<string, number>, k: number): ProfileRow[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, t]) => ({
      name,
      usPerChannel: Math.round(t / channels * 10) / 10,
      share: Math.round(t / total * 1000) / 10,
    }));
  return {
    totalUsPerChannel: Math.round(total / channels),
    stages: rows(stage, 100),
    /** Per stage: its top functions by self time. */
    stageTop: Object.fromEntries([...stageSelf].map(([k, m]) => [k, rows(m, 6)])),
    self: rows(self, top),
    inclusive: rows(incl, top + 10).filter((r) => !r.name.startsWith("(root)")),
  };
}

export function table(title: string, rows: ProfileRow[], total?: number): string {
  const lines = [`| ${title} | µs per channel | share |`, "| --- | ---: | ---: |"];
  for (const r of rows) {
    lines.push(`| ${r.name.replaceAll("|", "\\|")} | ${r.usPerChannel} | ${r.share}% |`);
  }
  if (total !== undefined) lines.push(`| **total (main thread, not idle)** | **${total}** | |`);
  return lines.join("\n");
}

export type ChannelProfile = ReturnType<typeof aggregate> & { channels: number };

/** The stage table (and each stage's top functions) as Markdown, for reports. */
export function profileMarkdown(
  p: Pick<ChannelProfile, "channels" | "stages" | "stageTop" | "totalUsPerChannel">,
  withFunctions = true,
): string {
  const out = [
    `### Gateway main-thread CPU per new channel by stage (${p.channels} channels, --cpu-prof)`,
    "",
    table("stage", p.stages, p.totalUsPerChannel),
  ];
  if (withFunctions) {
    out.push("", "Top functions (self µs per channel) per stage:", "");
    for (const r of p.stages) {
      const top = p.stageTop[r.name];
      if (top) out.push(`- ${r.name}: ` + top.map((t) => `${t.name} ${t.usPerChannel}`).join("; "));
    }
  }
  return out.join("\n");
}

/**
 * Starts a profiled bench gateway, opens `channels` channels after `warmup` ones (see the
 * module comment for the window), stops it and aggregates its profile.
 */
export async function profileChannels(
  channels: number,
  warmup = 200,
  top = 25,
  keep = false,
): Promise<ChannelProfile> {
  const dir = await Deno.makeTempDir({ prefix: "pqgate-channel-profile-" });
  const cmd = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "--v8-flags=--expose-gc",
      "--cpu-prof",
      `--cpu-prof-dir=${dir}`,
      `${root}bench/gateway-server.ts`,
      "--crypto",
      "auto",
    ],
    stdout: "piped",
    stderr: "inherit",
  });
  const gw = await spawnReady<{ gateway: string; pid: number }>(cmd, "gateway");
  const kem = (await selectBackends({ timeAead: false })).kem;
  const one = async () => {
    const ch = new Channel(gw.info.gateway.replace(/^http/, "ws") + "/pqgate", {
      publicKey: BENCH_KEY.publicKey,
      keyId: BENCH_KEY.keyId,
      WebSocket: WS as unknown as typeof WebSocket,
      kem,
      handshakeTimeoutMs: 30_000,
    });
    await ch.ready();
    const r = await ch.fetch(`https://${ORIGIN_HOST}/`);
    await r.arrayBuffer();
    ch.close();
  };
  const quiet = () => new Promise((r) => setTimeout(r, QUIET_MS));
  try {
    for (let i = 0; i < warmup; i++) await one();
    await quiet();
    for (let i = 0; i < channels; i++) await one();
    await quiet();
  } finally {
    await gw.stop();
  }
  const file = [...Deno.readDirSync(dir)].find((e) => e.name.endsWith(".cpuprofile"));
  if (!file) throw new Error("no profile written");
  const prof = JSON.parse(await Deno.readTextFile(`${dir}/${file.name}`)) as CpuProfile;
  if (!keep) await Deno.remove(dir, { recursive: true });
  else console.error(`profile kept: ${dir}/${file.name}`);
  return { channels, ...aggregate(prof, channels, top) };
}

if (import.meta.main) {
  const p = await profileChannels(N, WARMUP, TOP, args.includes("--keep"));
  if (JSON_OUT) console.log(JSON.stringify(p));
  else {
    console.log(profileMarkdown(p));
    console.log("\n" + table(`top ${TOP} functions, self`, p.self));
    console.log("\n" + table(`top functions, inclusive`, p.inclusive));
  }
  Deno.exit(0);
}
