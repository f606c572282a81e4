/**
 * pqgate/1 in memory: a client and a gateway run the handshake (PROTOCOL.md §3-§4) with real
 * randomness, then exchange records (§5) carrying frames (§6): a request and its response, a
 * KeyUpdate in both directions, more traffic in the new epoch, and a CLOSE. Prints the size of
 * every message and how long each step took.
 *
 *   npm run demo:protocol        (or: node scripts/deno.mjs run -A examples/protocol-demo.ts)
 *
 * Timings: median and minimum over several runs, after unreported warm-up runs (JIT, cipher
 * tables); single measurements on a busy machine are noisy.
 * `--chacha` selects suite 0x0002 instead of 0x0001.
 */
import {
  ClientHandshake,
  dataFrames,
  decodeFrames,
  encodeFrames,
  type Frame,
  generateStaticKey,
  pinFor,
  type RandomSource,
  RecordLayer,
  ServerHandshake,
  SUITE_XWING_AES256GCM,
  SUITE_XWING_CHACHA20POLY1305,
  type SuiteId,
  toHex,
} from "../src/protocol/mod.ts";
import {
  decodeRequestHead,
  decodeResponseHead,
  encodeRequestHead,
  encodeResponseHead,
} from "../src/tunnel/bhttp.ts";

const random: RandomSource = (n) => crypto.getRandomValues(new Uint8Array(n));
const now = () => Date.now();

interface Row {
  step: string;
  dir: string;
  what: string;
  bytes: number | null;
  us: number;
}
let rows: Row[] = [];

function timed<T>(
  step: string,
  dir: string,
  what: string,
  fn: () => T,
  size?: (r: T) => number,
): T {
  const t0 = performance.now();
  const r = fn();
  const us = (performance.now() - t0) * 1000;
  rows.push({ step, dir, what, bytes: size ? size(r) : null, us });
  return r;
}

const WARMUP_RUNS = 5;
const MEASURED_RUNS = 21;

function describe(frames: Frame[]): string {
  return frames.map((f) => {
    switch (f.type) {
      case "headers":
      case "data":
        return `${f.type.toUpperCase()}(${f.stream}${f.endStream ? ",END" : ""})`;
      default:
        return f.type.toUpperCase();
    }
  }).join("+");
}

function handshake(suite: SuiteId) {
  const seed = random(32);
  const gatewayKey = timed(
    "0",
    "gateway",
    "static key (X-Wing keygen)",
    () => generateStaticKey(seed),
    (k) => k.publicKey.length,
  );
  const other = suite === SUITE_XWING_AES256GCM
    ? SUITE_XWING_CHACHA20POLY1305
    : SUITE_XWING_AES256GCM;
  const client = new ClientHandshake({
    random,
    suites: [suite, other],
    server: { keyId: gatewayKey.keyId, publicKey: gatewayKey.publicKey },
  });
  const gateway = new ServerHandshake({ keys: [gatewayKey], random, suites: [suite, other] });
  const t = timed;
  const ch = t(
    "1",
    "C → G",
    "ClientHello (keygen ek_C, Encaps pk_S)",
    () => client.start(),
    (b) => b.length,
  );
  const sh = t(
    "2",
    "G → C",
    "ServerHello (Decaps ct_S, Encaps ek_C)",
    () => gateway.receiveClientHello(ch),
    (b) => b.length,
  );
  const fin = t(
    "3",
    "C → G",
    "ClientFinished (Decaps ct_E, verify)",
    () => client.receiveServerHello(sh),
    (r) => r.clientFinished.length,
  );
  const gkeys = t(
    "4",
    "gateway",
    "verify ClientFinished",
    () => gateway.receiveClientFinished(fin.clientFinished),
  );
  if (toHex(gkeys.sessionId) !== toHex(fin.keys.sessionId)) throw new Error("keys disagree");
  return { gatewayKey, ckeys: fin.keys, gkeys };
}

function main(): void {
  const suite: SuiteId = Deno.args.includes("--chacha")
    ? SUITE_XWING_CHACHA20POLY1305
    : SUITE_XWING_AES256GCM;
  // Warm-up runs (JIT, cipher tables), not reported; then the measured runs.
  for (let i = 0; i < WARMUP_RUNS; i++) {
    session(suite);
    rows = [];
  }
  const runs: Row[][] = [];
  let last: ReturnType<typeof session> | null = null;
  for (let i = 0; i < MEASURED_RUNS; i++) {
    last = session(suite);
    runs.push(rows);
    rows = [];
  }
  print(suite, last!, runs);
}

function session(suite: SuiteId) {
  const { gatewayKey, ckeys, gkeys } = handshake(suite);

  const cl = new RecordLayer({ role: "client", keys: ckeys, now: now() });
  const gw = new RecordLayer({ role: "server", keys: gkeys, now: now() });
  let step = 5;
  const send = (from: RecordLayer, to: RecordLayer, frames: Frame[]) => {
    const dir = from === cl ? "C → G" : "G → C";
    const pt = encodeFrames(frames);
    const epoch = from.txEpoch, seq = from.txSeq;
    const rec = timed(
      String(step),
      dir,
      `seal  e${epoch}/s${seq} ${describe(frames)}`,
      () => from.seal(pt, now()),
      (r) => r.length,
    );
    const got = timed(
      String(step),
      dir,
      `open  (${pt.length} B plaintext)`,
      () => to.open(rec, now()),
      (r) => r.length,
    );
    step++;
    const decoded = decodeFrames(got);
    const last = frames[frames.length - 1];
    if (last.type === "key_update") {
      from.updateTx(now());
      to.updateRx();
    }
    return decoded;
  };

  // A POST with a small body, the response with SESSION_INFO first (§6.3).
  const reqHead = encodeRequestHead({
    method: "POST",
    scheme: "https",
    authority: "origin.example",
    path: "/echo",
    headers: [["content-type", "text/plain"], ["user-agent", "pqgate-demo"]],
  });
  const body = new TextEncoder().encode("hello over X-Wing");
  const req = send(cl, gw, [
    { type: "headers", stream: 1, endStream: false, payload: reqHead },
    ...dataFrames(1, body, true),
  ]);
  const head = decodeRequestHead((req[0] as { payload: Uint8Array }).payload, { maxBytes: 16384 });
  const resp = send(gw, cl, [
    {
      type: "session_info",
      info: {
        maxStreams: 100,
        maxHeaderBytes: 16384,
        maxBodyBytes: 0,
        idleTimeoutMs: 30_000,
        sessionLifetimeS: 86_400,
        sessionId: gkeys.sessionId,
        maxWindow: 16 * 1024 * 1024,
      },
    },
    {
      type: "headers",
      stream: 1,
      endStream: false,
      payload: encodeResponseHead({ status: 200, headers: [["content-type", "text/plain"]] }),
    },
    ...dataFrames(1, body, true),
  ]);
  if (resp[0].type !== "session_info") throw new Error("SESSION_INFO must come first");
  const info = resp[0].info;
  const status =
    decodeResponseHead((resp[1] as { payload: Uint8Array }).payload, { maxBytes: 16384 }).status;

  // KeyUpdate: the client updates and asks the gateway to update too (§5.3).
  send(cl, gw, [{ type: "key_update", updateRequested: true }]);
  send(gw, cl, [{ type: "key_update", updateRequested: false }]);

  // More traffic in epoch 1, including a full 16 KiB record.
  send(cl, gw, [{
    type: "headers",
    stream: 3,
    endStream: true,
    payload: encodeRequestHead({
      method: "GET",
      scheme: "https",
      authority: "origin.example",
      path: "/big",
      headers: [],
    }),
  }]);
  const big = random(16376);
  send(gw, cl, dataFrames(3, big, false));
  send(gw, cl, [{ type: "data", stream: 3, endStream: true, payload: new Uint8Array(0) }]);
  send(cl, gw, [{ type: "ping", data: random(8) }]);
  send(cl, gw, [{ type: "close", code: 1000, reason: "done" }]);

  return { gatewayKey, ckeys, head, status, info, cl, gw };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function print(suite: SuiteId, r: ReturnType<typeof session>, runs: Row[][]): void {
  const rows = runs[runs.length - 1];
  const med = (i: number) => median(runs.map((run) => run[i].us));
  const min = (i: number) => Math.min(...runs.map((run) => run[i].us));
  const { gatewayKey, ckeys, head, status, info, cl, gw } = r;
  const suiteName = suite === SUITE_XWING_AES256GCM
    ? "X-Wing + AES-256-GCM"
    : "X-Wing + ChaCha20-Poly1305";
  console.log(`pqgate/1 in-memory demo — suite ${suiteName}, pinned mode`);
  console.log(`gateway key id ${toHex(gatewayKey.keyId)}, pin ${pinFor(gatewayKey.publicKey)}`);
  console.log(`session id ${toHex(ckeys.sessionId)} (both sides agree)`);
  console.log(
    `request: ${head.method} ${head.scheme}://${head.authority}${head.path} → ${status}; ` +
      `SESSION_INFO max_streams=${info.maxStreams}\n`,
  );
  const w = { step: 4, dir: 7, what: 50, bytes: 7, us: 10 };
  const line = (c: string[]) =>
    c[0].padStart(w.step) + "  " + c[1].padEnd(w.dir) + "  " + c[2].padEnd(w.what) + "  " +
    c[3].padStart(w.bytes) +
    "  " + c[4].padStart(w.us) + "  " + c[5].padStart(w.us);
  console.log(
    `timings: median and minimum of ${runs.length} runs (after ${WARMUP_RUNS} warm-up runs)\n`,
  );
  console.log(line(["step", "dir", "operation", "bytes", "median µs", "min µs"]));
  console.log(line(["----", "-------", "-".repeat(w.what), "-------", "----------", "----------"]));
  rows.forEach((r, i) => {
    const what = r.what.length > w.what ? r.what.slice(0, w.what - 1) + "…" : r.what;
    console.log(
      line([
        r.step,
        r.dir,
        what,
        r.bytes === null ? "" : String(r.bytes),
        med(i).toFixed(0),
        min(i).toFixed(0),
      ]),
    );
  });
  const hsUs = rows.reduce(
    (a, r, i) => a + (["1", "2", "3", "4"].includes(r.step) ? med(i) : 0),
    0,
  );
  const hsBytes = rows.filter((r) => ["1", "2", "3"].includes(r.step)).reduce(
    (a, r) => a + (r.bytes ?? 0),
    0,
  );
  console.log(
    `\nhandshake: ${hsBytes} bytes on the wire, ${
      hsUs.toFixed(0)
    } µs of CPU (sum of medians, both sides, one thread)`,
  );
  console.log(
    `epochs now: client tx ${cl.txEpoch} / rx ${cl.rxEpoch}, gateway tx ${gw.txEpoch} / rx ${gw.rxEpoch}`,
  );
}

main();
